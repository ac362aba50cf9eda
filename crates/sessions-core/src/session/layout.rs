//! How a session lays out its record: the names of its fields and the
//! metadata it keeps. Backends never look at this; the session and the
//! stores do.
//!
//! Field names take a one-letter prefix: `v<key>` for values,
//! `f<queue>#<24 hex digits>` for each flash message (one field per
//! message, so concurrent requests keep each other's), `m` for metadata,
//! `u` for the user the session belongs to, `i` for when a server
//! session's id was minted, and `s` for when a server session bound to a
//! user was last seen.

use serde::{Deserialize, Serialize};

use crate::backend::Fields;

/// Field name of the metadata.
pub(crate) const META_FIELD: &str = "m";
/// Prefix of value fields.
pub(crate) const VALUE_PREFIX: char = 'v';
/// Field name of the user binding (`Session::set_user`).
pub(crate) const USER_FIELD: &str = "u";
/// Field name of when a server session's id was minted (Unix seconds,
/// written only when a renewal timeout is configured).
pub(crate) const ID_SINCE_FIELD: &str = "i";
/// Field name of when a server session bound to a user was last seen (Unix
/// seconds): written with every save of such a session that writes, so the
/// user's list of sessions can say when each was last used.
pub(crate) const SEEN_FIELD: &str = "s";
/// Prefix of flash-queue fields.
pub(crate) const FLASH_PREFIX: char = 'f';

/// Session metadata, stored in field `m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Meta {
    /// When the session was created (Unix seconds); the absolute timeout
    /// counts from here.
    pub(crate) created: u64,
    /// `Some(secs)`: a persistent cookie with that Max-Age; `None`: a
    /// browser-session cookie.
    pub(crate) max_age: Option<u64>,
}

impl Meta {
    /// The metadata as stored in field `m`.
    pub(crate) fn encode(&self) -> Vec<u8> {
        // A two-field struct of integers cannot fail to encode.
        crate::serial::to_bytes(self).unwrap_or_default()
    }

    /// The metadata of a record, if it has a readable `m` field.
    pub(crate) fn of(fields: &Fields) -> Option<Meta> {
        crate::serial::from_bytes(fields.get(META_FIELD)?).ok()
    }
}

/// The user binding of a record (field `u`): the user id and when it was
/// bound (Unix seconds).
pub(crate) fn user_of(fields: &Fields) -> Option<(String, u64)> {
    crate::serial::from_bytes(fields.get(USER_FIELD)?).ok()
}

/// When a server session bound to a user was last seen (field `s`), if it
/// says.
pub(crate) fn seen_of(fields: &Fields) -> Option<u64> {
    crate::serial::from_bytes(fields.get(SEEN_FIELD)?).ok()
}

/// True when a record holds anything worth keeping: a value, a flash or a
/// user binding. A record of metadata alone (and the store's own times) is
/// an emptied session.
pub(crate) fn holds_data(fields: &Fields) -> bool {
    let own = [META_FIELD, ID_SINCE_FIELD, SEEN_FIELD].map(str::as_bytes);
    fields.iter_bytes().any(|(name, _)| !own.contains(&name))
}
