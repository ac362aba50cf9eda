//! The conformance suite against the axum demo, for the cookie, memory and
//! filesystem stores.

use std::sync::{Arc, OnceLock};

use demo_config::{Config, StoreSpec};
use sessions_conformance::{AppConfig, Running};
use sessions_core::backend::{Backend, MemoryBackend};

/// Starts the demo as `demo-axum` would with `app`'s environment. The
/// memory store keeps one backend for the whole test binary, so that a
/// restarted app (key rotation) finds its sessions as a reload would.
fn launch(app: &AppConfig) -> Result<Running, String> {
    static MEMORY: OnceLock<Arc<dyn Backend>> = OnceLock::new();
    let config = Config::from_vars(app.env()).map_err(|e| e.to_string())?;
    let backend =
        (config.store == StoreSpec::Memory).then(|| Arc::clone(MEMORY.get_or_init(|| Arc::new(MemoryBackend::new()))));
    let server = axum_demo::spawn(&config, backend).map_err(|e| e.to_string())?;
    Ok(Running::new(server.addr, server))
}

sessions_conformance::conformance_tests!(launch);
