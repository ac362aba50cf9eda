//! `demo-actix`: the sessions demo app on actix-web, configured by the
//! environment (see the `demo-config` crate).

use std::process::ExitCode;

#[actix_web::main]
async fn main() -> ExitCode {
    demo_config::init_logging();
    let config = match demo_config::Config::from_env() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("demo-actix: {err}");
            return ExitCode::FAILURE;
        }
    };
    if config.keys_generated {
        eprintln!("demo-actix: SESSION_KEYS is unset; using a random key, so sessions will not survive a restart");
    }
    let result = async {
        let registry = config.registry().await.map_err(|e| e.to_string())?;
        let listener = std::net::TcpListener::bind(config.addr).map_err(|e| e.to_string())?;
        eprintln!("demo-actix: {}", config.describe());
        actix_demo::serve(listener, registry).await.map_err(|e| e.to_string())
    };
    match result.await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("demo-actix: {err}");
            ExitCode::FAILURE
        }
    }
}
