//! The HTTP-level conformance suite every `sessions` adapter passes: one
//! set of scenarios, written once against plain HTTP on loopback, run
//! against each framework's demo app for each built-in store.
//!
//! An adapter's demo provides a [`Launcher`]: given an [`AppConfig`] (the
//! demo's environment variables), start the app on a free port and return a
//! [`Running`] handle. [`conformance_tests!`] then expands to one test per
//! scenario and store:
//!
//! ```
//! use sessions_conformance::{AppConfig, Running, scenarios, store};
//!
//! fn launch(config: &AppConfig) -> Result<Running, String> {
//!     // Parse `config.env()` as the demo's `main` does, start the app on a
//!     // free port in the background, and return its address.
//!     Err(format!("start the app with {:?}", config.env()))
//! }
//!
//! // In `tests/conformance.rs`: the whole suite on every store, for a demo
//! // started with `sessions_conformance::demo(its_spawn)` or any launcher.
//! // sessions_conformance::conformance_tests!(launch);
//!
//! // Or one scenario on one store:
//! # fn one() {
//! sessions_conformance::run(launch, store("memory"), scenarios::counter_increments_across_requests);
//! # }
//! ```
//!
//! The demo routes the scenarios rely on are listed in the project README
//! (`/counter`, `/peek`, `/flash`, `/flashes`, `/login`, `/me`, `/logout`,
//! `/remember`, `/kv`, `/remove`, `/prefs`, `/both`, `/devices`,
//! `/devices/end`, `/devices/end-others`).
#![deny(missing_docs)]

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

mod client;
pub mod scenarios;

pub use client::{Client, Reply, SetCookie, form_encode};

/// The stores the suite runs on: demo-kit's one list.
pub use demo_kit::{STORES, Store};
// The suite's macro reaches the list through this crate.
#[doc(hidden)]
pub use demo_kit;

/// The store of the list named `name`; the suite's macro names them.
pub fn store(name: &str) -> &'static Store {
    Store::named(name).unwrap_or_else(|| panic!("no store named {name} in demo-kit's list"))
}

/// The launcher of a demo whose `spawn` starts it in the background, as
/// its binary would with the suite's environment.
pub fn demo(spawn: demo_kit::Spawn) -> impl Launcher + Copy + 'static {
    move |app: &AppConfig| {
        let server = demo_kit::launch(app.env(), spawn)?;
        Ok(Running::new(server.addr, server))
    }
}

/// How the suite wants an app started: what a demo reads from its
/// environment.
#[derive(Debug, Clone)]
pub struct AppConfig {
    /// `SESSION_KEYS`, newest first.
    pub keys: Vec<String>,
    /// `SESSION_STORE`.
    pub store: String,
    /// `SESSION_SECURE` (`false` sets it to `0`).
    pub secure: bool,
    /// `SESSION_TRANSPORT`, when set (`header:NAME`).
    pub transport: Option<String>,
    /// `SESSION_IDLE_SECS`, when set.
    pub idle_secs: Option<u64>,
    /// `SESSION_PARTITIONED=1` when true.
    pub partitioned: bool,
}

impl AppConfig {
    /// The environment variables of this configuration, listening on a
    /// free loopback port (`DEMO_ADDR=127.0.0.1:0`).
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env = vec![
            ("DEMO_ADDR".into(), "127.0.0.1:0".into()),
            ("SESSION_KEYS".into(), self.keys.join(",")),
            ("SESSION_STORE".into(), self.store.clone()),
            ("SESSION_SECURE".into(), if self.secure { "1" } else { "0" }.into()),
        ];
        if let Some(transport) = &self.transport {
            env.push(("SESSION_TRANSPORT".into(), transport.clone()));
        }
        if let Some(idle) = self.idle_secs {
            env.push(("SESSION_IDLE_SECS".into(), idle.to_string()));
        }
        if self.partitioned {
            env.push(("SESSION_PARTITIONED".into(), "1".into()));
        }
        env
    }
}

/// A started app: its address, and whatever keeps it running; dropping the
/// handle must stop the app.
pub struct Running {
    /// Where the app listens.
    pub addr: SocketAddr,
    _guard: Box<dyn Send>,
}

impl Running {
    /// An app at `addr` that stops when `guard` is dropped.
    pub fn new(addr: SocketAddr, guard: impl Send + 'static) -> Running {
        Running { addr, _guard: Box::new(guard) }
    }
}

impl fmt::Debug for Running {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Running").field("addr", &self.addr).finish_non_exhaustive()
    }
}

/// Starts an app under test.
///
/// Starting twice with the same `store` string must reach the same stored
/// sessions, as a restart of a real server would: for the filesystem store
/// that is the directory; for the memory store an in-process launcher keeps
/// one backend across starts (the suite restarts apps to rotate keys).
///
/// Any `Fn(&AppConfig) -> Result<Running, String>` is a launcher.
pub trait Launcher: Send + Sync {
    /// Starts the app configured by `config` and returns once it accepts
    /// connections.
    fn launch(&self, config: &AppConfig) -> Result<Running, String>;
}

impl<F> Launcher for F
where
    F: Fn(&AppConfig) -> Result<Running, String> + Send + Sync,
{
    fn launch(&self, config: &AppConfig) -> Result<Running, String> {
        self(config)
    }
}

/// One scenario's world: the launcher, the store and its directory.
pub struct Ctx {
    launcher: Arc<dyn Launcher>,
    store: &'static Store,
    /// `SESSION_STORE` for every start of this scenario.
    spec: String,
    /// The filesystem store's directory, removed when the scenario ends.
    dir: Option<PathBuf>,
}

impl fmt::Debug for Ctx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ctx").field("store", &self.store).field("dir", &self.dir).finish_non_exhaustive()
    }
}

impl Ctx {
    /// The context of one scenario; `Err` names the variable a service
    /// store needs when it is unset.
    fn new(launcher: Arc<dyn Launcher>, store: &'static Store) -> Result<Ctx, String> {
        // A fresh key's public id is random enough to keep concurrent runs apart.
        let dir = std::env::temp_dir().join(format!("sessions-conformance-{}", random_key().id()));
        let spec = store.session_store(&dir)?;
        let dir = store.needs_dir().then_some(dir);
        if let Some(dir) = &dir {
            std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        Ok(Ctx { launcher, store, spec, dir })
    }

    /// The store under test.
    pub fn store(&self) -> &'static Store {
        self.store
    }

    /// The configuration for `keys`, on this scenario's store.
    pub fn config(&self, keys: &[String], secure: bool) -> AppConfig {
        AppConfig {
            keys: keys.to_vec(),
            store: self.spec.clone(),
            secure,
            transport: None,
            idle_secs: None,
            partitioned: false,
        }
    }

    /// Starts the app with `keys` and the main session carried in the
    /// [`scenarios::HEADER`] header (`SESSION_TRANSPORT=header:...`),
    /// plus a client that carries it there and keeps no cookie for it.
    pub fn start_header(&self, keys: &[String], idle_secs: Option<u64>) -> (Running, Client) {
        let config = AppConfig {
            transport: Some(format!("header:{}", scenarios::HEADER)),
            idle_secs,
            ..self.config(keys, false)
        };
        let app =
            self.launcher.launch(&config).unwrap_or_else(|e| panic!("the app did not start with {config:?}: {e}"));
        let client = Client::carrying(app.addr, scenarios::HEADER);
        (app, client)
    }

    /// Starts the app with `keys`, panicking if it does not start.
    pub fn start(&self, keys: &[String], secure: bool) -> Running {
        self.launch(&self.config(keys, secure))
    }

    /// Starts the app with `config`, panicking if it does not start.
    pub fn launch(&self, config: &AppConfig) -> Running {
        self.launcher.launch(config).unwrap_or_else(|e| panic!("the app did not start with {config:?}: {e}"))
    }

    /// Starts the app with a fresh key and `Secure` off, plus a client for it.
    pub fn start_fresh(&self) -> (Running, Client) {
        let app = self.start(&[random_key().to_base64()], false);
        let client = Client::new(app.addr);
        (app, client)
    }
}

impl Drop for Ctx {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// A fresh master key.
pub fn random_key() -> sessions_core::Key {
    sessions_core::Key::generate()
}

/// Runs one scenario against `launcher` on `store`, on a runtime of its
/// own, so the calling test needs no async runtime.
pub fn run<F, Fut>(launcher: impl Launcher + 'static, store: &'static Store, scenario: F)
where
    F: FnOnce(Ctx) -> Fut,
    Fut: Future<Output = ()>,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("cannot build a runtime for the scenario: {e}"));
    let ctx = match Ctx::new(Arc::new(launcher), store) {
        Ok(ctx) => ctx,
        Err(reason) if sessions_core::testing::ci_requires_services() => {
            panic!("the {} store is required under CI=true: {reason}", store.name)
        }
        Err(reason) => {
            eprintln!("skipped: the {} store is not available ({reason})", store.name);
            return;
        }
    };
    runtime.block_on(scenario(ctx));
}

/// Expands to the whole suite for `launcher`: one module per store of
/// demo-kit's list ([`STORES`]), one `#[test]` per scenario, the
/// server-only scenarios in the server stores' modules only. A store that
/// runs as a service reads its URL from its `SESSIONS_*_URL` variable and
/// is skipped without it (a failure under `CI=true`).
///
/// ```
/// # fn spawn(_: &demo_kit::Config, _: Option<std::sync::Arc<dyn sessions_core::backend::Backend>>) -> std::io::Result<demo_kit::Background> { Err(std::io::ErrorKind::Unsupported.into()) }
/// sessions_conformance::conformance_tests!(sessions_conformance::demo(spawn));
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! conformance_tests {
    // Listed first: a list given back by `with_stores!` must not be read
    // as the launcher expression of the arm below.
    ([@stores ($launcher:expr)] $($name:ident: $spec:literal, $side:ident;)*) => {
        $($crate::conformance_tests!(@side $side $name, $launcher);)*
    };
    ($launcher:expr) => {
        $crate::demo_kit::with_stores!($crate::conformance_tests, @stores ($launcher));
    };
    (@side client $module:ident, $launcher:expr) => {
        $crate::conformance_tests!(@store $module, $launcher; [devices_need_a_server_store]);
    };
    // The server-only scenarios of both transports.
    (@side server $module:ident, $launcher:expr) => {
        $crate::conformance_tests!(@store $module, $launcher; [
            old_id_is_unknown_after_login,
            replayed_cookie_after_logout_is_anonymous,
            concurrent_writes_of_distinct_keys_are_all_kept,
            header_old_value_is_unknown_after_login_and_logout,
            devices_are_listed_and_the_caller_marked,
            ending_a_device_makes_its_next_request_anonymous,
            ending_the_other_devices_leaves_only_this_one,
            another_users_handle_cannot_end_their_session,
        ]);
    };
    // The second list: the scenarios of this kind of store only.
    (@store $module:ident, $launcher:expr; [$($server:ident),* $(,)?]) => {
        mod $module {
            #[allow(unused_imports)]
            use super::*;
            $crate::conformance_tests!(@tests $module, $launcher; [
                counter_increments_across_requests,
                peek_sends_no_set_cookie,
                flash_is_read_once,
                login_changes_the_session_id,
                logout_ends_the_session,
                tampered_cookie_yields_a_fresh_session,
                garbage_cookie_yields_a_fresh_session,
                remember_me_toggles_max_age,
                two_sessions_are_used_in_one_request,
                rotated_key_accepts_old_cookie_and_reissues_it,
                cookie_attributes_are_secure_by_default,
                secure_attribute_can_be_turned_off,
                partitioned_cookies_carry_the_attribute,
                session_responses_vary_on_cookie,
                set_cookie_responses_are_not_cached,
                kv_lists_string_values,
                home_page_shows_the_sessions,
                cross_site_login_and_logout_are_refused_and_change_nothing,
                origin_of_another_host_is_refused,
                requests_without_fetch_headers_pass,
                form_body_over_64_kib_is_refused_with_413,
                get_changes_nothing,
                kv_refuses_the_demos_own_keys,
                every_response_forbids_framing_and_sniffing,
                header_counter_travels_without_cookies,
                header_login_changes_the_value_and_keeps_the_data,
                header_logout_answers_an_empty_value,
                header_tampered_value_yields_a_fresh_session,
                header_bad_values_yield_a_fresh_session,
                header_rotated_key_reissues_the_value,
                header_idle_session_expires,
                header_cross_site_request_passes_unless_a_cookie_rides_on_it,
                $($server,)*
            ]);
        }
    };
    (@tests $module:ident, $launcher:expr; [$($name:ident),* $(,)?]) => {
        $(
            #[test]
            fn $name() {
                $crate::run($launcher, $crate::store(stringify!($module)), $crate::scenarios::$name);
            }
        )*
    };
}
