//! `demo-axum`: the sessions demo app on axum, configured by the environment
//! (see the `demo-config` crate).

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    demo_config::init_logging();
    let config = match demo_config::Config::from_env() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("demo-axum: {err}");
            return ExitCode::FAILURE;
        }
    };
    if config.keys_generated {
        eprintln!("demo-axum: SESSION_KEYS is unset; using a random key, so sessions will not survive a restart");
    }
    let result = async {
        let registry = config.registry().await.map_err(|e| e.to_string())?;
        let listener = tokio::net::TcpListener::bind(config.addr).await.map_err(|e| e.to_string())?;
        eprintln!("demo-axum: {}", config.describe());
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        axum_demo::serve(listener, registry, shutdown).await.map_err(|e| e.to_string())
    };
    match result.await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("demo-axum: {err}");
            ExitCode::FAILURE
        }
    }
}
