//! The whole kit in one call.

use std::sync::Arc;

use super::{
    ModelRun, concurrent_distinct_keys_are_kept, concurrent_saves_of_loaded_records_are_kept, create_never_overwrites,
    create_then_load, cycle_racing_logout_never_resurrects, delete_is_idempotent, large_record_round_trips,
    lifecycle_model, lifecycle_model_with_failures, log_out_everywhere_ends_every_session_of_a_user,
    take_racing_updates_loses_nothing, touch_never_creates, update_applies_only_the_patch, update_never_creates,
    update_racing_delete_does_not_resurrect, update_seen_keeps_what_others_wrote,
    update_with_clear_replaces_everything, values_round_trip_through_the_store,
};
#[cfg(doc)]
use super::{expired_records_are_not_loaded, record_limit_is_enforced};
use crate::backend::Backend;

/// Runs every check of the kit, the lifecycle model
/// ([`lifecycle_model`], sized by [`ModelRun::from_env`]) and the same
/// model with failures injected ([`lifecycle_model_with_failures`])
/// included, except
/// those that wait for real time to pass
/// ([`expired_records_are_not_loaded`]) or need to know the backend's
/// configuration ([`record_limit_is_enforced`]); run those separately.
pub async fn run_all(backend: Arc<dyn Backend>) {
    create_then_load(&*backend).await;
    create_never_overwrites(&*backend).await;
    update_applies_only_the_patch(&*backend).await;
    update_with_clear_replaces_everything(&*backend).await;
    update_never_creates(&*backend).await;
    update_seen_keeps_what_others_wrote(&*backend).await;
    touch_never_creates(&*backend).await;
    delete_is_idempotent(&*backend).await;
    large_record_round_trips(&*backend).await;
    concurrent_distinct_keys_are_kept(Arc::clone(&backend), 32, 20).await;
    concurrent_saves_of_loaded_records_are_kept(Arc::clone(&backend), 16, 20).await;
    update_racing_delete_does_not_resurrect(Arc::clone(&backend)).await;
    log_out_everywhere_ends_every_session_of_a_user(Arc::clone(&backend)).await;
    take_racing_updates_loses_nothing(Arc::clone(&backend)).await;
    values_round_trip_through_the_store(Arc::clone(&backend)).await;
    cycle_racing_logout_never_resurrects(Arc::clone(&backend)).await;
    let now = crate::clock::Clock::now(&crate::clock::SystemClock);
    lifecycle_model(Arc::clone(&backend), crate::clock::ManualClock::new(now), ModelRun::from_env()).await;
    lifecycle_model_with_failures(backend, crate::clock::ManualClock::new(now), ModelRun::with_failures_from_env())
        .await;
}
