//! `demo-warp`: the sessions demo app on warp, configured by the
//! environment (see the `demo-kit` crate).

#[tokio::main]
async fn main() -> std::process::ExitCode {
    demo_kit::main("warp", |listener, demo| async move {
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        warp_demo::serve(listener, demo, shutdown).await
    })
    .await
}
