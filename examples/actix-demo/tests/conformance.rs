//! The conformance suite against the actix demo, for the cookie, memory and
//! filesystem stores.

use sessions_conformance::{AppConfig, Running};

/// Starts the demo as `demo-actix` would with `app`'s environment.
fn launch(app: &AppConfig) -> Result<Running, String> {
    let server = demo_kit::launch(app.env(), actix_demo::spawn)?;
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
#[cfg(feature = "redb")]
sessions_conformance::conformance_tests!(server redb_store, sessions_conformance::StoreKind::Redb, launch);
#[cfg(feature = "memcached")]
sessions_conformance::conformance_tests!(server memcached_store, sessions_conformance::StoreKind::Memcached, launch);
