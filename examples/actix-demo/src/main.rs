//! `demo-actix`: the sessions demo app on actix-web, configured by the
//! environment (see the `demo-kit` crate).

#[actix_web::main]
async fn main() -> std::process::ExitCode {
    demo_kit::main("actix", |listener, demo| actix_demo::serve(listener, demo, None)).await
}
