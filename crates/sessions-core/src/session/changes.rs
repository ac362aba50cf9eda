//! What a request did to a session, handed to the store at save time as
//! neutral facts, and the store's outcome, handed back.
//!
//! The session knows what changed; each store decides, in its own file,
//! what its storage must do about it. Neither reaches into the other: a
//! store calls [`Session::changes`] once, deriving its own plan from the
//! [`Facts`] under the session's lock, applies the plan with no lock held,
//! and reports one [`Outcome`] to [`Session::commit`].

use super::layout::{META_FIELD, Meta, USER_FIELD};
use super::{Session, Status, flashes};
use crate::backend::Fields;
use crate::backend::Patch;
use crate::id::SessionId;
use crate::options::CookieOptions;

/// What a request did to one session, read under its lock: what a store
/// derives its plan from. Reading the fields costs nothing; a copy, a
/// patch or the whole record serialized is made only when a store asks.
pub(crate) struct Facts<'a> {
    state: &'a super::State,
}

impl Facts<'_> {
    /// Where the session stands: kept, cycled, destroyed or reset.
    pub(crate) fn status(&self) -> Status {
        self.state.status
    }

    /// This request changed a value, a flash or the metadata, or cleared
    /// the session.
    pub(crate) fn modified(&self) -> bool {
        self.state.is_modified()
    }

    /// The session holds no data now (only its metadata, if anything).
    pub(crate) fn empty(&self) -> bool {
        !self.state.has_data()
    }

    /// This request cleared the session: the record must lose whatever it
    /// holds now, not only what this request saw.
    pub(crate) fn cleared(&self) -> bool {
        self.state.cleared
    }

    /// The request brought a valid cookie for this session.
    pub(crate) fn loaded(&self) -> bool {
        self.state.loaded
    }

    /// The cookie must be sent again even if nothing changed (an old key,
    /// a sliding expiry that moved).
    pub(crate) fn reissue(&self) -> bool {
        self.state.reissue
    }

    /// The stored record's life must be extended (a sliding idle timeout).
    pub(crate) fn touch_due(&self) -> bool {
        self.state.touch_due
    }

    /// The server-side id the request loaded.
    pub(crate) fn id(&self) -> Option<&SessionId> {
        self.state.id.as_ref()
    }

    /// The revision of the record as loaded, on a versioned backend.
    pub(crate) fn revision(&self) -> Option<u64> {
        self.state.revision
    }

    /// Every field, as the session holds it now.
    pub(crate) fn fields(&self) -> &Fields {
        &self.state.fields
    }

    /// This request's changes as a patch of the stored record.
    pub(crate) fn patch(&self) -> Patch {
        self.state.patch()
    }

    /// The whole record, serialized as a cookie carries it.
    pub(crate) fn whole_record(&self) -> Vec<u8> {
        flashes::encode_folded(&self.state.fields)
    }
}

/// This request's changes to one session, taken under one lock: the
/// store's own plan `P`, and what every store needs beside it.
#[derive(Debug)]
pub(crate) struct Changes<P> {
    pub(crate) plan: P,
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
    /// Takes this request's changes, with the plan the store derives from
    /// their [`Facts`] under the same lock.
    pub(crate) fn changes<P>(&self, plan: impl FnOnce(&Facts<'_>) -> P) -> Changes<P> {
        let state = self.lock();
        let modified = state.is_modified();
        let emptied = !state.has_data();
        Changes {
            plan: plan(&Facts { state: &state }),
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
        // Clearing must not drop the metadata.
        let meta = self.fields.get(META_FIELD).filter(|_| self.cleared);
        // Sized first, so that the fields set are one allocation.
        let (count, bytes) = (self.dirty.names())
            .filter_map(|name| Some((name, self.fields.get_bytes(name)?)))
            .chain(meta.map(|meta| (META_FIELD.as_bytes(), meta)))
            .fold((0, 0), |(count, bytes), (name, value)| (count + 1, bytes + name.len() + value.len()));
        let mut patch = Patch { clear: self.cleared, set: Fields::with_capacity(count, bytes), remove: Vec::new() };
        for name in self.dirty.iter() {
            match self.fields.get(name) {
                Some(value) => {
                    patch.set.insert(name, value);
                }
                None => patch.remove.push(name.to_owned()),
            }
        }
        if let Some(meta) = meta {
            patch.set.insert(META_FIELD, meta);
        }
        patch
    }
}
