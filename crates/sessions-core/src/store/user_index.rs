//! The index of a user's server-side sessions, kept as an ordinary record
//! in the same backend, so every backend supports "log out everywhere"
//! without a method of its own.
//!
//! The index of a user is a record whose field names are the storage keys
//! of that user's sessions. Adding and removing a session is a patch of one
//! field, so concurrent logins of one user do not lose each other.
//!
//! A session is added before its record says whose it is, and removed only
//! after its record is gone, so a live session bound to a user is always
//! listed, whichever call of a save fails. An entry may therefore name a
//! record not written yet: each entry holds when it was added, and one
//! younger than [`PENDING_GRACE`] is never pruned for want of a record.

use std::time::Duration;

use crate::backend::{Backend, Fields, Patch, Retention, StorageKey};
use crate::error::Result;

/// An index lives this long after its last addition. A session active for
/// longer without a new login drops out of "log out everywhere"; the
/// absolute timeout is the way to bound session lifetimes below this.
pub(crate) const INDEX_TTL: Duration = Duration::from_secs(400 * 24 * 3600);

/// An index with more entries than this is pruned of ended sessions when a
/// session is added.
pub(crate) const PRUNE_ABOVE: usize = 16;

/// How long an entry is kept whatever its record says: longer than any
/// save takes between adding the entry and writing the record.
pub(crate) const PENDING_GRACE: u64 = 120;

/// Records `session`, added at `now` (Unix seconds), in the index stored
/// under `index`.
pub(crate) async fn add(backend: &dyn Backend, index: &StorageKey, session: &StorageKey, now: u64) -> Result<()> {
    let mut set = Fields::new();
    set.insert(session.as_str(), now.to_le_bytes());
    let patch = Patch { set: set.clone(), ..Patch::default() };
    // Update first (the common case: the user has other sessions); create
    // otherwise; update again if a concurrent login created it in between.
    if update(backend, index, &patch).await?
        || backend.create_retained(index, &set, INDEX_TTL, Retention::Index).await?
    {
        return Ok(());
    }
    update(backend, index, &patch).await?;
    Ok(())
}

/// Applies `patch` to the index, which stays an [`Index`](Retention::Index)
/// for backends that evict.
async fn update(backend: &dyn Backend, index: &StorageKey, patch: &Patch) -> Result<bool> {
    Ok(backend.update_retained(index, None, patch, INDEX_TTL, Retention::Index).await?)
}

/// Removes `session` from the index stored under `index`.
pub(crate) async fn remove(backend: &dyn Backend, index: &StorageKey, session: &StorageKey) -> Result<()> {
    let patch = Patch { remove: vec![session.as_str()], ..Patch::default() };
    update(backend, index, &patch).await?;
    Ok(())
}

/// Removes every one of `sessions` from the index stored under `index`, in
/// one write.
pub(crate) async fn remove_all(backend: &dyn Backend, index: &StorageKey, sessions: &[StorageKey]) -> Result<()> {
    if sessions.is_empty() {
        return Ok(());
    }
    let patch = Patch { remove: sessions.iter().map(StorageKey::as_str).collect(), ..Patch::default() };
    update(backend, index, &patch).await?;
    Ok(())
}

/// The storage keys listed in the index stored under `index`, each with
/// when it was added (0 for an entry written before entries held it).
pub(crate) async fn members(backend: &dyn Backend, index: &StorageKey) -> Result<Vec<(StorageKey, u64)>> {
    let Some(stored) = backend.load(index).await? else {
        return Ok(Vec::new());
    };
    let added = |value: &[u8]| value.try_into().map_or(0, u64::from_le_bytes);
    Ok(stored.fields.iter().filter_map(|(k, v)| StorageKey::parse(k).map(|key| (key, added(v)))).collect())
}
