//! `demo-actix`: the sessions demo app on actix-web, configured by the
//! environment (see the `demo-kit` crate).

#[actix_web::main]
async fn main() -> std::process::ExitCode {
    demo_kit::main("demo-actix", |listener, registry| actix_demo::serve(listener, registry, None)).await
}
