//! Revoking the sessions of a user, including cookie sessions that no
//! server holds.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;

use crate::clock::{self, Clock};
use crate::error::BackendError;

/// Tells a store from when on a user's sessions are valid.
///
/// A cookie session cannot be deleted on the server: a copy of the cookie
/// stays valid until its authenticated expiry. With a revocation hook, every
/// load of a session bound to a user ([`Session::set_user`]) asks for the
/// user's "not valid before" time, and a session bound earlier is refused
/// (a fresh session is handed out). Applications typically keep that time
/// in their users table and set it on "log out everywhere" or a password
/// change. An error fails the request closed (`503`), never open.
///
/// [`Session::set_user`]: crate::Session::set_user
#[async_trait]
pub trait Revocation: Send + Sync + Debug + 'static {
    /// Sessions of `user` bound before this time (Unix seconds) are revoked.
    async fn not_before(&self, user: &str) -> Result<Option<u64>, BackendError>;
}

/// An in-process [`Revocation`]: enough for one server, and for tests.
///
/// ```
/// use sessions_core::revocation::{Revocation, RevocationList};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let list = RevocationList::new();
/// list.revoke("ada");
/// assert!(list.not_before("ada").await.unwrap().is_some());
/// assert_eq!(list.not_before("bob").await.unwrap(), None);
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct RevocationList {
    users: Arc<RwLock<HashMap<String, u64>>>,
    clock: Arc<dyn Clock>,
}

impl Default for RevocationList {
    fn default() -> Self {
        RevocationList::new()
    }
}

impl RevocationList {
    /// An empty list on the system clock.
    pub fn new() -> Self {
        RevocationList { users: Arc::default(), clock: clock::system() }
    }

    /// An empty list on another clock (tests).
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        RevocationList { users: Arc::default(), clock }
    }

    /// Revokes every session of `user` bound up to now.
    pub fn revoke(&self, user: &str) {
        let now = self.clock.now();
        // Bound "before now + 1": a session bound in this very second is
        // revoked too, since times are whole seconds.
        self.users.write().unwrap_or_else(|p| p.into_inner()).insert(user.to_owned(), now + 1);
    }
}

#[async_trait]
impl Revocation for RevocationList {
    async fn not_before(&self, user: &str) -> Result<Option<u64>, BackendError> {
        Ok(self.users.read().unwrap_or_else(|p| p.into_inner()).get(user).copied())
    }
}
