//! The conformance suite against the actix demo, for the cookie, memory and
//! filesystem stores.

use std::sync::{Arc, OnceLock};

use demo_config::{Config, StoreSpec};
use sessions_conformance::{AppConfig, Running};
use sessions_core::backend::{Backend, MemoryBackend};

/// Starts the demo as `demo-actix` would with `app`'s environment. The
/// memory store keeps one backend for the whole test binary, so that a
/// restarted app (key rotation) finds its sessions as a reload would.
fn launch(app: &AppConfig) -> Result<Running, String> {
    static MEMORY: OnceLock<Arc<dyn Backend>> = OnceLock::new();
    let config = Config::from_vars(app.env()).map_err(|e| e.to_string())?;
    let backend =
        (config.store == StoreSpec::Memory).then(|| Arc::clone(MEMORY.get_or_init(|| Arc::new(MemoryBackend::new()))));
    let server = actix_demo::spawn(&config, backend).map_err(|e| e.to_string())?;
    Ok(Running::new(server.addr, server))
}

sessions_conformance::conformance_tests!(launch);

// The network stores, when the demo is built with their feature; the
// service stores read their URL from SESSIONS_*_URL and skip without it.
#[cfg(feature = "sql")]
sessions_conformance::conformance_tests!(server sqlite, sessions_conformance::StoreKind::Sqlite, launch);
#[cfg(feature = "sql")]
sessions_conformance::conformance_tests!(server postgres, sessions_conformance::StoreKind::Postgres, launch);
#[cfg(feature = "sql")]
sessions_conformance::conformance_tests!(server mysql, sessions_conformance::StoreKind::MySql, launch);
#[cfg(feature = "redis")]
sessions_conformance::conformance_tests!(server redis_store, sessions_conformance::StoreKind::Redis, launch);
