//! `demo-rocket`: the sessions demo app on rocket, configured by the
//! environment (see the `demo-kit` crate).

#[rocket::main]
async fn main() -> std::process::ExitCode {
    demo_kit::main("rocket", |listener, demo| rocket_demo::serve(listener, demo, None)).await
}
