//! `demo-axum`: the sessions demo app on axum, configured by the
//! environment (see the `demo-kit` crate).

#[tokio::main]
async fn main() -> std::process::ExitCode {
    demo_kit::main("axum", |listener, demo| async move {
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        axum_demo::serve(listener, demo, shutdown).await
    })
    .await
}
