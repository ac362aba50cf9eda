//! Master keys, the purpose keys derived from them, and the key ring.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::{Error, Result};

/// Minimum length of a master key in bytes.
pub const MIN_KEY_LEN: usize = 32;
/// Length of a key id in a frame.
pub(crate) const KEY_ID_LEN: usize = 4;

// Context strings for `blake3::derive_key`. They are part of the wire format:
// changing one invalidates every cookie and every stored session.
const CONTEXT_KEY_ID: &str = "sessions-rs 2026-11 v1 key id";
const CONTEXT_SEAL: &str = "sessions-rs 2026-11 v1 cookie seal";
const CONTEXT_MAC: &str = "sessions-rs 2026-11 v1 cookie mac";
const CONTEXT_HANDLE: &str = "sessions-rs 2026-12 v1 session handle";

/// A secret master key: at least 32 random bytes.
///
/// Every purpose key (encryption, MAC, key id) is derived from it
/// with BLAKE3's key derivation, so one secret is all an application keeps.
/// The bytes are zeroized on drop and never printed.
///
/// ```
/// use sessions_core::Key;
///
/// let key = Key::generate();
/// let text = key.to_base64();
/// let again: Key = text.parse()?;
/// assert_eq!(key.id(), again.id());
/// assert!(Key::from_bytes(&[0u8; 32]).is_err());
/// # Ok::<(), sessions_core::Error>(())
/// ```
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Key {
    master: Vec<u8>,
}

impl Key {
    /// Generates a fresh 32-byte key from the operating system's RNG.
    ///
    /// # Panics
    ///
    /// Panics if the operating system has no random source, which no
    /// supported platform lacks; [`Key::try_generate`] reports it instead.
    pub fn generate() -> Key {
        Self::try_generate().expect("the operating system RNG failed")
    }

    /// Generates a fresh 32-byte key, reporting a failing OS RNG as an error.
    pub fn try_generate() -> Result<Key> {
        let mut bytes = Zeroizing::new([0u8; MIN_KEY_LEN]);
        getrandom::fill(bytes.as_mut()).map_err(|_| Error::Key("the operating system RNG failed"))?;
        Key::from_bytes(bytes.as_ref())
    }

    /// Uses `bytes` as a master key.
    ///
    /// Refuses keys shorter than [`MIN_KEY_LEN`] and keys that are plainly
    /// not random: fewer than eight distinct byte values, which catches
    /// all-zero keys, repeated characters and short patterns.
    pub fn from_bytes(bytes: &[u8]) -> Result<Key> {
        if bytes.len() < MIN_KEY_LEN {
            return Err(Error::Key("a master key needs at least 32 bytes"));
        }
        let mut seen = [false; 256];
        for &b in bytes {
            seen[usize::from(b)] = true;
        }
        if seen.iter().filter(|s| **s).count() < 8 {
            return Err(Error::Key("the key bytes are not random (too few distinct values)"));
        }
        Ok(Key { master: bytes.to_vec() })
    }

    /// Parses a key written as base64url (padded or not).
    pub fn from_base64(text: &str) -> Result<Key> {
        let trimmed = text.trim().trim_end_matches('=');
        let bytes = Zeroizing::new(URL_SAFE_NO_PAD.decode(trimmed).map_err(|_| Error::Key("not valid base64url"))?);
        Key::from_bytes(&bytes)
    }

    /// Parses a key written as hexadecimal.
    pub fn from_hex(text: &str) -> Result<Key> {
        let text = text.trim().as_bytes();
        if !text.len().is_multiple_of(2) {
            return Err(Error::Key("hex key has an odd number of digits"));
        }
        let mut bytes = Zeroizing::new(Vec::with_capacity(text.len() / 2));
        for pair in text.chunks_exact(2) {
            let hi = hex_digit(pair[0]).ok_or(Error::Key("not valid hexadecimal"))?;
            let lo = hex_digit(pair[1]).ok_or(Error::Key("not valid hexadecimal"))?;
            bytes.push(hi << 4 | lo);
        }
        Key::from_bytes(&bytes)
    }

    /// The key as unpadded base64url, the form `cargo xtask keygen` prints.
    pub fn to_base64(&self) -> String {
        URL_SAFE_NO_PAD.encode(&self.master)
    }

    /// The public 4-byte id written into frames, as 8 hex digits.
    ///
    /// Safe to log: it is a one-way derivation of the key.
    pub fn id(&self) -> String {
        crate::hex::encode(&self.derive(CONTEXT_KEY_ID)[..KEY_ID_LEN])
    }

    fn derive(&self, context: &str) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(blake3::derive_key(context, &self.master))
    }
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Parses a key in either written form, telling them apart by one rule:
/// text (without surrounding whitespace) made only of hex digits, of even
/// length and at least 64 digits long, is hexadecimal; anything else is
/// base64url.
///
/// A hex key of 32 or more bytes is therefore always read as the bytes it
/// spells, never as base64url (64 hex digits are also valid base64url, of
/// 48 other bytes). `cargo xtask keygen` prints 43 base64url characters,
/// an odd length, so its keys are never taken for hex. A base64url key of
/// another length that happens to use only hex digits would be, but for a
/// random key of 32 bytes or more that chance is below 2⁻⁶⁰; use
/// [`Key::from_base64`] to force the reading.
///
/// ```
/// use sessions_core::Key;
///
/// let hex: Key = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f".parse()?;
/// assert_eq!(hex.id(), Key::from_bytes(&(0u8..32).collect::<Vec<_>>())?.id());
/// # Ok::<(), sessions_core::Error>(())
/// ```
impl FromStr for Key {
    type Err = Error;

    fn from_str(text: &str) -> Result<Key> {
        if is_hex_form(text.trim()) { Key::from_hex(text) } else { Key::from_base64(text) }
    }
}

/// The rule of [`Key::from_str`] for hexadecimal.
fn is_hex_form(text: &str) -> bool {
    text.len() >= 2 * MIN_KEY_LEN && text.len().is_multiple_of(2) && text.bytes().all(|b| b.is_ascii_hexdigit())
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key").field("id", &self.id()).finish_non_exhaustive()
    }
}

/// The purpose keys of one master key.
#[derive(Clone, ZeroizeOnDrop)]
pub(crate) struct DerivedKeys {
    #[zeroize(skip)]
    pub(crate) id: [u8; KEY_ID_LEN],
    pub(crate) seal: [u8; 32],
    pub(crate) mac: [u8; 32],
    /// Keys the public handles of server sessions
    /// ([`SessionHandle`](crate::store::SessionHandle)).
    pub(crate) handle: [u8; 32],
}

impl DerivedKeys {
    pub(crate) fn new(key: &Key) -> DerivedKeys {
        let mut id = [0u8; KEY_ID_LEN];
        id.copy_from_slice(&key.derive(CONTEXT_KEY_ID)[..KEY_ID_LEN]);
        DerivedKeys {
            id,
            seal: *key.derive(CONTEXT_SEAL),
            mac: *key.derive(CONTEXT_MAC),
            handle: *key.derive(CONTEXT_HANDLE),
        }
    }
}

/// The keys a server accepts, newest first.
///
/// The newest key seals and signs everything written; every key of the ring
/// opens and verifies. To rotate, prepend a new key and keep the old ones
/// until every cookie they sealed has expired; cookies read under an older
/// key are re-issued under the newest on their next save.
///
/// ```
/// use sessions_core::{Key, KeyRing};
///
/// let old = Key::generate();
/// let new = Key::generate();
/// let ring = KeyRing::new([new, old])?;
/// assert_eq!(ring.len(), 2);
/// # Ok::<(), sessions_core::Error>(())
/// ```
#[derive(Clone)]
pub struct KeyRing {
    keys: Vec<DerivedKeys>,
}

impl KeyRing {
    /// Builds a ring from keys ordered newest first.
    ///
    /// Fails when the list is empty or two keys share an id (the same key
    /// given twice, or a 1-in-4-billion collision: generate another key).
    pub fn new(keys: impl IntoIterator<Item = Key>) -> Result<KeyRing> {
        let keys: Vec<DerivedKeys> = keys.into_iter().map(|k| DerivedKeys::new(&k)).collect();
        if keys.is_empty() {
            return Err(Error::Key("a key ring needs at least one key"));
        }
        for (i, a) in keys.iter().enumerate() {
            if keys[..i].iter().any(|b| b.id == a.id) {
                return Err(Error::Key("two keys of the ring share an id (a key given twice?)"));
            }
        }
        Ok(KeyRing { keys })
    }

    /// Parses a comma-separated list of keys, newest first, as taken from
    /// an environment variable such as `SESSION_KEYS`. Each key is base64url
    /// or hexadecimal, told apart as the `FromStr` implementation of
    /// [`Key`] describes.
    pub fn parse_list(list: &str) -> Result<KeyRing> {
        let keys = list.split(',').filter(|s| !s.trim().is_empty()).map(str::parse).collect::<Result<Vec<Key>>>()?;
        KeyRing::new(keys)
    }

    /// Number of keys in the ring.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Always false: a ring holds at least one key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub(crate) fn newest(&self) -> &DerivedKeys {
        &self.keys[0]
    }

    /// The key with this id and its position (0 = newest). Rings hold a
    /// handful of keys, so a scan of 4-byte ids beats a hash map.
    pub(crate) fn find(&self, id: &[u8]) -> Option<(usize, &DerivedKeys)> {
        self.keys.iter().enumerate().find(|(_, k)| k.id == id)
    }
}

impl From<Key> for KeyRing {
    fn from(key: Key) -> KeyRing {
        KeyRing { keys: vec![DerivedKeys::new(&key)] }
    }
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<String> = self.keys.iter().map(|k| crate::hex::encode(&k.id)).collect();
        f.debug_struct("KeyRing").field("key_ids", &ids).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_patterned_keys_are_refused() {
        assert!(Key::from_bytes(&[7u8; 31]).is_err());
        assert!(Key::from_bytes(&[0u8; 64]).is_err());
        assert!(Key::from_bytes(b"abababababababababababababababab").is_err());
        assert!(Key::from_bytes(b"0123456789abcdef0123456789abcdef").is_ok());
    }

    #[test]
    fn base64_and_hex_parse_to_the_same_key() {
        let key = Key::generate();
        let hex = crate::hex::encode(&key.master);
        assert_eq!(Key::from_hex(&hex).unwrap().master, key.master);
        assert_eq!(key.to_base64().parse::<Key>().unwrap().master, key.master);
        assert!("not a key".parse::<Key>().is_err());
    }

    #[test]
    fn sixty_four_hex_digits_are_the_32_bytes_they_spell() {
        let spelled: Vec<u8> = (0u8..32).collect();
        let lower = crate::hex::encode(&spelled);
        assert_eq!(lower.len(), 64);
        for text in [lower.clone(), lower.to_uppercase(), format!("  {lower}\n")] {
            assert_eq!(text.parse::<Key>().unwrap().master, spelled, "{text:?}");
        }
        // Key A of the wire-format vectors, by its frozen id.
        assert_eq!(lower.parse::<Key>().unwrap().id(), "58d4834d");
        let ring = KeyRing::parse_list(&format!("{}, {lower}", Key::generate().to_base64())).unwrap();
        assert_eq!(ring.find(&DerivedKeys::new(&Key::from_bytes(&spelled).unwrap()).id).map(|(i, _)| i), Some(1));
        // Longer hex keys too.
        let long: Vec<u8> = (0u8..48).collect();
        assert_eq!(crate::hex::encode(&long).parse::<Key>().unwrap().master, long);
    }

    #[test]
    fn keygen_output_parses_to_the_key_it_printed() {
        // What `cargo xtask keygen` prints, many times over: never read as hex.
        for _ in 0..1000 {
            let key = Key::try_generate().unwrap();
            let printed = key.to_base64();
            assert_eq!(printed.len(), 43);
            assert_eq!(printed.parse::<Key>().unwrap().master, key.master);
            assert_eq!(KeyRing::parse_list(&printed).unwrap().newest().id, DerivedKeys::new(&key).id);
        }
    }

    #[test]
    fn debug_never_prints_key_bytes() {
        let key = Key::from_bytes(b"0123456789abcdef0123456789abcdef").unwrap();
        let shown = format!("{key:?}");
        assert!(!shown.contains("0123456789"));
        assert!(!shown.contains(&key.to_base64()));
    }

    #[test]
    fn purpose_keys_are_distinct() {
        let d = DerivedKeys::new(&Key::generate());
        assert_ne!(d.seal, d.mac);
        assert!(d.handle != d.seal && d.handle != d.mac);
    }

    #[test]
    fn duplicate_keys_in_a_ring_are_refused() {
        let key = Key::generate();
        assert!(KeyRing::new([key.clone(), key]).is_err());
        assert!(KeyRing::new(Vec::<Key>::new()).is_err());
    }
}
