//! Public handles of server sessions: what an application shows a user to
//! name one of their sessions ("this laptop", "sign out that phone").

use std::fmt;
use std::str::FromStr;

use crate::backend::StorageKey;

/// Bytes of a handle: 128 bits, which no one guesses.
const HANDLE_LEN: usize = 16;

/// A public name for one of a user's server-side sessions, as listed by
/// [`ServerStore::user_sessions`](crate::ServerStore::user_sessions): safe
/// to put in a page, a form or a JSON answer.
///
/// It is a keyed hash (BLAKE3, under a purpose key derived from the
/// store's newest master key) of the session's storage key, itself a
/// one-way hash of the session id. So it reveals neither the id (which
/// would let its holder take the session over) nor the storage key (which
/// names the record in the backend and in the server's logs), and it
/// cannot be computed without the master key. It changes when the
/// session's id is cycled (at login) and when a new master key is put
/// first in the ring.
///
/// A handle names a session only among one user's sessions:
/// [`ServerStore::destroy_user_session_by_handle`](crate::ServerStore::destroy_user_session_by_handle)
/// looks for it in that user's list alone, so a handle of another user's
/// session ends nothing.
///
/// It is written as 32 lowercase hex digits and parsed back from them:
///
/// ```
/// use sessions_core::store::SessionHandle;
///
/// let handle: SessionHandle = "00112233445566778899aabbccddeeff".parse()?;
/// assert_eq!(handle.to_string(), "00112233445566778899aabbccddeeff");
/// assert!("not a handle".parse::<SessionHandle>().is_err());
/// # Ok::<(), sessions_core::store::InvalidHandle>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionHandle([u8; HANDLE_LEN]);

impl SessionHandle {
    /// The handle of the session stored under `key`, keyed by `handle_key`.
    pub(crate) fn of(handle_key: &[u8; 32], key: &StorageKey) -> SessionHandle {
        let hash = blake3::keyed_hash(handle_key, key.as_bytes());
        let mut out = [0u8; HANDLE_LEN];
        out.copy_from_slice(&hash.as_bytes()[..HANDLE_LEN]);
        SessionHandle(out)
    }
}

impl fmt::Display for SessionHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::hex::encode(&self.0))
    }
}

impl fmt::Debug for SessionHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionHandle({self})")
    }
}

/// Text that is not a [`SessionHandle`]: a handle is 32 hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a session handle is 32 hex digits")]
pub struct InvalidHandle;

impl FromStr for SessionHandle {
    type Err = InvalidHandle;

    fn from_str(text: &str) -> Result<SessionHandle, InvalidHandle> {
        let text = text.trim().as_bytes();
        if text.len() != 2 * HANDLE_LEN {
            return Err(InvalidHandle);
        }
        let digit = |c: u8| match c {
            b'0'..=b'9' => Ok(c - b'0'),
            b'a'..=b'f' => Ok(c - b'a' + 10),
            b'A'..=b'F' => Ok(c - b'A' + 10),
            _ => Err(InvalidHandle),
        };
        let mut out = [0u8; HANDLE_LEN];
        for (byte, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
            *byte = digit(pair[0])? << 4 | digit(pair[1])?;
        }
        Ok(SessionHandle(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handle_is_neither_the_storage_key_nor_computable_without_the_master_key() {
        let key = StorageKey::from_bytes([7; 32]);
        let (a, b) = (SessionHandle::of(&[1; 32], &key), SessionHandle::of(&[2; 32], &key));
        assert_ne!(a, b, "another master key, another handle");
        assert!(!key.as_str().contains(&a.to_string()), "no part of the storage key");
        assert_eq!(a, SessionHandle::of(&[1; 32], &key), "stable for one key");
        assert_eq!(a.to_string().parse::<SessionHandle>(), Ok(a));
    }

    #[test]
    fn only_32_hex_digits_parse() {
        for bad in ["", "00", "g0112233445566778899aabbccddeeff", "00112233445566778899aabbccddeeff00"] {
            assert_eq!(bad.parse::<SessionHandle>(), Err(InvalidHandle), "{bad:?}");
        }
    }
}
