//! What a request did to a session, handed to the store at save time, and
//! the store's outcome, handed back.
//!
//! The session decides what changed; the store decides how its storage
//! applies it. Neither reaches into the other: a store calls
//! [`Session::changes`] once, under one lock, applies the [`Changes`] with
//! no lock held, and reports an [`Outcome`] to [`Session::commit`].

use super::layout::{META_FIELD, Meta, USER_FIELD};
use super::{Session, Status, flashes};
use crate::backend::Fields;
use crate::backend::Patch;
use crate::id::SessionId;
use crate::options::CookieOptions;

/// What the store must do with the session's record.
#[derive(Debug)]
pub(crate) enum Plan {
    /// Nothing to write.
    Keep,
    /// Extend the stored record's life (a sliding idle timeout).
    Touch,
    /// Apply this request's changes to the stored record, as it is now.
    Patch(Patch),
    /// Store this whole record: a session seen for the first time.
    Write(Fields),
    /// Put this whole record, serialized, in the cookie (a cookie store's
    /// plan for any change): encoded under the lock, with no copy of the
    /// fields.
    Whole(Vec<u8>),
    /// Move the stored record under a new id, applying this patch.
    Cycle(Patch),
    /// End the stored session (`destroy`), and any successor a concurrent
    /// cycle is moving it to.
    End,
    /// Delete the stored record, which `clear` emptied; a record another
    /// request has since moved is left alone.
    Empty,
    /// End the stored session, then store this record as a fresh one.
    Replace(Fields),
}

/// This request's changes to one session, taken under one lock.
#[derive(Debug)]
pub(crate) struct Changes {
    pub(crate) plan: Plan,
    /// The request brought a valid cookie: ending the session must tell
    /// the browser.
    pub(crate) loaded: bool,
    /// The server-side id the request loaded.
    pub(crate) id: Option<SessionId>,
    pub(crate) meta: Meta,
    pub(crate) options: Option<CookieOptions>,
    /// The user the session is bound to now, and as it was loaded.
    pub(crate) user: Option<String>,
    pub(crate) loaded_user: Option<String>,
    /// This request wrote the user binding (perhaps to what it was): the
    /// record's binding is now `user`, whatever concurrent requests did.
    pub(crate) user_written: bool,
    /// The cookie must be sent again even if the record is unchanged.
    pub(crate) reissue: bool,
    /// This request left the session empty: the browser drops its cookie,
    /// whatever concurrent requests may still have added to the record.
    pub(crate) emptied: bool,
    /// For a [`Plan::Patch`] of a record loaded at a revision: that
    /// revision and the record it should become (the loaded fields with the
    /// patch applied), so a versioned backend can write it in one step.
    pub(crate) seen: Option<(u64, Fields)>,
}

/// How the store applied the changes.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Stored under the same id (or in the cookie).
    Saved,
    /// Stored under this new id.
    Renamed(SessionId),
    /// The session is over: destroyed or emptied by this request, or ended
    /// elsewhere while this request ran. Later saves send nothing.
    Ended,
}

impl Session {
    /// Takes this request's changes. `whole`: the store keeps the whole
    /// record in the cookie, so it needs all fields, serialized
    /// ([`Plan::Whole`]), rather than a patch.
    pub(crate) fn changes(&self, whole: bool) -> Changes {
        let state = self.lock();
        let modified = state.is_modified();
        let emptied = !state.has_data();
        let plan = match state.status {
            Status::Destroyed => Plan::End,
            Status::Reset if emptied => Plan::End,
            Status::Reset if whole => Plan::Whole(flashes::encode_folded(&state.fields)),
            Status::Reset => Plan::Replace(state.fields.clone()),
            _ if whole && emptied => {
                if state.loaded && (modified || state.status == Status::Cycle) {
                    Plan::End
                } else {
                    Plan::Keep
                }
            }
            _ if whole => {
                let due = modified || state.reissue || state.status == Status::Cycle || !state.loaded;
                if due { Plan::Whole(flashes::encode_folded(&state.fields)) } else { Plan::Keep }
            }
            _ if state.id.is_none() => {
                if emptied {
                    Plan::Keep
                } else {
                    Plan::Write(state.fields.clone())
                }
            }
            // Applied to the record as it is now, which may hold what
            // other requests saved since this one loaded it.
            Status::Cycle => Plan::Cycle(state.patch()),
            // `clear` empties the record whatever it holds now.
            _ if emptied && state.cleared => Plan::Empty,
            _ if modified => Plan::Patch(state.patch()),
            _ if state.touch_due => Plan::Touch,
            _ => Plan::Keep,
        };
        let seen = match (&plan, state.revision) {
            (Plan::Patch(_), Some(revision)) => Some((revision, state.fields.clone())),
            _ => None,
        };
        Changes {
            seen,
            plan,
            loaded: state.loaded,
            id: state.id.clone(),
            meta: state.meta,
            options: state.options.clone(),
            user: state.user(),
            loaded_user: state.loaded_user.clone(),
            user_written: state.cleared || state.dirty.contains(USER_FIELD),
            reissue: state.reissue,
            emptied: emptied && modified,
        }
    }

    /// Records the store's outcome: what was taken is now saved (or the
    /// session is over).
    pub(crate) fn commit(&self, outcome: Outcome) {
        let mut state = self.lock();
        state.dirty.clear();
        state.cleared = false;
        state.reissue = false;
        state.touch_due = false;
        // Whatever the store did, the record is no longer at the revision
        // this request loaded.
        state.revision = None;
        match outcome {
            Outcome::Saved | Outcome::Renamed(_) => {
                state.loaded_user = state.user();
                state.loaded = true;
                state.status = Status::Active;
                if let Outcome::Renamed(id) = outcome {
                    state.id = Some(id);
                }
            }
            Outcome::Ended => {
                state.loaded_user = None;
                state.loaded = false;
                state.id = None;
                state.fields.retain(|name, _| name == META_FIELD);
            }
        }
    }
}

impl super::State {
    /// This request's changes as a patch of the stored record.
    fn patch(&self) -> Patch {
        let mut patch = Patch { clear: self.cleared, ..Patch::default() };
        for name in &self.dirty {
            match self.fields.get(name) {
                Some(value) => {
                    patch.set.insert(name.clone(), value.clone());
                }
                None => patch.remove.push(name.clone()),
            }
        }
        if patch.clear {
            // Clearing must not drop the metadata.
            if let Some(meta) = self.fields.get(META_FIELD) {
                patch.set.insert(META_FIELD.into(), meta.clone());
            }
        }
        patch
    }
}
