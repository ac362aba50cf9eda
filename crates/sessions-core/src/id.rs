//! Server-side session ids and the storage keys derived from them.

use std::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::error::BackendError;

/// Length of a session id in bytes: 256 bits from the OS RNG.
pub(crate) const ID_LEN: usize = 32;

/// A random server-side session id. It only ever travels inside an
/// authenticated cookie; backends see the [`StorageKey`] derived from it.
/// It carries its storage key, derived once when the id is made: a request
/// needs it on load, on save and in its log events.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub(crate) struct SessionId {
    bytes: [u8; ID_LEN],
    #[zeroize(skip)]
    key: StorageKey,
}

impl SessionId {
    /// Draws a fresh id from the operating system's RNG.
    pub(crate) fn generate() -> Result<SessionId, BackendError> {
        let mut bytes = [0u8; ID_LEN];
        getrandom::fill(&mut bytes).map_err(|e| BackendError::unavailable(format!("OS RNG failed: {e}")))?;
        Ok(SessionId::new(bytes))
    }

    pub(crate) fn from_payload(payload: &[u8]) -> Option<SessionId> {
        payload.try_into().ok().map(SessionId::new)
    }

    fn new(bytes: [u8; ID_LEN]) -> SessionId {
        SessionId { key: StorageKey(derive(&STORAGE, &bytes)), bytes }
    }

    pub(crate) fn as_bytes(&self) -> &[u8; ID_LEN] {
        &self.bytes
    }

    /// The key a backend stores this session under: a one-way hash of the
    /// id, so a dump of the storage does not hand out live session ids.
    ///
    /// It depends on the id alone, not on the signing keys: a key rotation
    /// re-signs the cookie and never moves the record.
    pub(crate) fn storage_key(&self) -> &StorageKey {
        &self.key
    }
}

/// A BLAKE3 `derive_key` context, hashed once per process: `derive_key`
/// hashes its context string on every call, which doubled the cost of
/// each storage key.
struct Context {
    context: &'static str,
    key: std::sync::OnceLock<blake3::hazmat::ContextKey>,
}

impl Context {
    const fn new(context: &'static str) -> Context {
        Context { context, key: std::sync::OnceLock::new() }
    }
}

/// `blake3::derive_key(context.context, material)`, from the hashed context.
fn derive(context: &Context, material: &[u8]) -> [u8; 32] {
    use blake3::hazmat::HasherExt;
    let key = context.key.get_or_init(|| blake3::hazmat::hash_derive_key_context(context.context));
    *blake3::Hasher::new_from_context_key(key).update(material).finalize().as_bytes()
}

static STORAGE: Context = Context::new(CONTEXT_STORAGE);
static FORWARD: Context = Context::new(CONTEXT_FORWARD);
static USER_INDEX: Context = Context::new(CONTEXT_USER_INDEX);

/// The BLAKE3 `derive_key` context of storage keys (`docs/wire-format.md`).
const CONTEXT_STORAGE: &str = "sessions-rs 2026-11 v2 storage id";
/// The context of forwarding records (`docs/wire-format.md`).
const CONTEXT_FORWARD: &str = "sessions-rs 2026-11 v2 forward";

impl StorageKey {
    /// Where a cycled session leaves the address of its successor: derived
    /// from the old storage key, so only a store holding that key finds it.
    pub(crate) fn forward(&self) -> StorageKey {
        StorageKey(derive(&FORWARD, &self.0))
    }
}

/// The storage key of the index of `user`'s sessions.
///
/// Like a session's storage key it depends on no signing key, so a key
/// rotation never strands an index: "log out everywhere" finds every
/// session however many rotations ago it was indexed. It is not keyed
/// because it hides nothing a dump does not already show: session records
/// hold their user binding.
pub(crate) fn user_index_key(user: &str) -> StorageKey {
    StorageKey(derive(&USER_INDEX, user.as_bytes()))
}

/// The context of user-index keys (`docs/wire-format.md`).
const CONTEXT_USER_INDEX: &str = "sessions-rs 2026-11 v2 user index";

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionId(..)")
    }
}

/// The name a backend stores one session under: 32 bytes, written as 64
/// lowercase hex digits.
///
/// It is a one-way hash of the session id, never client input, so it is safe
/// as a file name, a Redis key or an SQL value.
///
/// ```
/// use sessions_core::backend::StorageKey;
///
/// let key = StorageKey::from_bytes([0xab; 32]);
/// assert_eq!(key.as_str().len(), 64);
/// assert!(key.as_str().chars().all(|c| c.is_ascii_hexdigit()));
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StorageKey([u8; 32]);

impl StorageKey {
    /// A storage key from raw bytes (for tests and tools).
    pub fn from_bytes(bytes: [u8; 32]) -> StorageKey {
        StorageKey(bytes)
    }

    /// Parses the 64-hex-digit form; anything else (path separators, dots,
    /// NUL, other lengths) is refused.
    pub fn parse(text: &str) -> Option<StorageKey> {
        let text = text.as_bytes();
        if text.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (byte, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
            let digit = |c: u8| match c {
                b'0'..=b'9' => Some(c - b'0'),
                b'a'..=b'f' => Some(c - b'a' + 10),
                _ => None,
            };
            *byte = digit(pair[0])? << 4 | digit(pair[1])?;
        }
        Some(StorageKey(out))
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The 64-hex-digit form.
    pub fn as_str(&self) -> String {
        crate::hex::encode(&self.0)
    }
}

impl fmt::Display for StorageKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_str())
    }
}

impl fmt::Debug for StorageKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StorageKey({})", self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_million_ids_do_not_collide() {
        let mut seen = std::collections::HashSet::with_capacity(1_000_000);
        for _ in 0..1_000_000 {
            let id = SessionId::generate().unwrap();
            assert!(seen.insert(*id.as_bytes()), "two ids collided");
            assert_eq!(id.storage_key().as_bytes(), &blake3::derive_key(CONTEXT_STORAGE, id.as_bytes()));
        }
    }

    #[test]
    fn hashed_contexts_derive_what_derive_key_derives() {
        for material in [&b""[..], b"ada", &[7; 32], &[1; 1000]] {
            for (context, name) in
                [(&STORAGE, CONTEXT_STORAGE), (&FORWARD, CONTEXT_FORWARD), (&USER_INDEX, CONTEXT_USER_INDEX)]
            {
                assert_eq!(derive(context, material), blake3::derive_key(name, material), "{name}");
            }
        }
    }

    #[test]
    fn only_lowercase_hex_of_the_right_length_parses() {
        let key = StorageKey::from_bytes([0x5a; 32]);
        assert_eq!(StorageKey::parse(&key.as_str()), Some(key));
        for bad in ["../etc/passwd", "", "/abs", "a\0b", &"A".repeat(64), &"0".repeat(63), &"..".repeat(32)] {
            assert_eq!(StorageKey::parse(bad), None, "{bad:?}");
        }
    }
}
