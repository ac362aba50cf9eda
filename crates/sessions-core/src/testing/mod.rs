//! The backend conformance kit: every invariant of [`Backend`], as checks
//! any backend crate (ours or a third party's) runs against itself.
//!
//! Enable the `testing` feature in `[dev-dependencies]` and call
//! [`run_all`] from a test; each check panics with a message naming the
//! broken invariant.
//!
//! ```
//! use std::sync::Arc;
//! use sessions_core::backend::MemoryBackend;
//!
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
//! sessions_core::testing::run_all(Arc::new(MemoryBackend::new())).await;
//! # });
//! ```
//!
//! Beside the checks, what tests of backends and adapters share: the
//! services they need ([`service_url`]), random keys, backends that count,
//! fail or are down, and a counter of cookie encodes.

#[cfg(doc)]
use crate::backend::Backend;

mod checks;
mod cookie_encodes;
mod counting;
mod faults;
mod full;
mod headers;
mod keys;
mod lifecycle;
mod races;
mod services;
mod suite;
mod unavailable;
mod values;

pub use checks::{
    concurrent_distinct_keys_are_kept, concurrent_saves_of_loaded_records_are_kept, create_never_overwrites,
    create_then_load, delete_is_idempotent, expired_records_are_not_loaded, large_record_round_trips,
    log_out_everywhere_ends_every_session_of_a_user, record_limit_is_enforced, record_of_size, touch_never_creates,
    update_applies_only_the_patch, update_never_creates, update_racing_delete_does_not_resurrect,
    update_seen_keeps_what_others_wrote, update_with_clear_replaces_everything,
};
pub use cookie_encodes::CookieEncodes;
pub use counting::CountingBackend;
pub use faults::{Call, Failure, Fault, FaultyBackend, unlisted_bound_sessions};
pub use full::{FullStoreRun, SmallDisk, reader_outlasts_a_full_store};
pub use headers::header_pair;
pub use keys::random_key;
pub use lifecycle::{ModelRun, lifecycle_model, lifecycle_model_with_failures};
pub use races::{cycle_racing_logout_never_resurrects, take_racing_updates_loses_nothing};
pub use services::{ci_requires_services, service_url};
pub use suite::run_all;
pub use unavailable::UnavailableBackend;
pub use values::values_round_trip_through_the_store;
