//! The cookie codec: payload bytes in, cookie value out, and back.
//!
//! A frame is authenticated as a whole together with the cookie name, so a
//! value cannot be edited, truncated, extended, moved to another cookie name
//! or replayed past its expiry. The layout is specified byte by byte in
//! `docs/wire-format.md`; the known-answer tests below freeze it.

mod aead;

use std::ops::Range;

// base64url without padding, strict (no padding, no other alphabet, no
// non-zero trailing bits), with SIMD picked at run time: three to ten times
// the speed of the `base64` crate on cookie-sized values.
use base64_simd::URL_SAFE_NO_PAD;

use self::aead::{NONCE_LEN, TAG_LEN as AEAD_TAG_LEN};
use crate::error::{BackendError, Error, Rejection, Result};
use crate::key::{DerivedKeys, KEY_ID_LEN, KeyRing};

/// Frame byte of a sealed frame: format version 1 (high nibble), mode 1.
const SEALED_V1: u8 = 0x11;
/// Frame byte of a signed frame: format version 1 (high nibble), mode 2.
const SIGNED_V1: u8 = 0x12;
const HEADER_LEN: usize = 1 + KEY_ID_LEN;
const TIMES_LEN: usize = 16;
const MAC_LEN: usize = 32;
/// Frames up to this length are put together on the stack when encoding,
/// and decoded there when a store only reads the payload: every session id,
/// and sessions of up to about 450 bytes.
const FRAME_ON_STACK: usize = 512;

/// The default limit for `name=value` of one cookie: what every browser keeps.
pub const DEFAULT_COOKIE_LIMIT: usize = 4096;
/// The default tolerance for an issue time ahead of this server's clock.
pub const DEFAULT_CLOCK_SKEW_SECS: u64 = 60;

/// How a frame is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Mode {
    /// XChaCha20-Poly1305 with a random 192-bit nonce: the client can
    /// neither read nor change the payload. The default for cookie sessions.
    #[default]
    Sealed,
    /// A BLAKE3 keyed hash: the client can read the payload but not change
    /// it. Enough for a random session id, and faster.
    Signed,
}

impl Mode {
    const fn frame_byte(self) -> u8 {
        match self {
            Mode::Sealed => SEALED_V1,
            Mode::Signed => SIGNED_V1,
        }
    }

    const fn overhead(self) -> usize {
        match self {
            Mode::Sealed => HEADER_LEN + NONCE_LEN + TIMES_LEN + AEAD_TAG_LEN,
            Mode::Signed => HEADER_LEN + TIMES_LEN + MAC_LEN,
        }
    }
}

/// When a frame was issued and when it stops being valid, in Unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Times {
    /// The moment of encoding.
    pub issued: u64,
    /// The authenticated expiry; `None` for no expiry.
    pub expires: Option<u64>,
}

/// A frame that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    /// The payload that was encoded.
    pub payload: Vec<u8>,
    /// Issue and expiry times from the frame.
    pub times: Times,
    /// Position in the ring of the key that opened it: 0 for the newest;
    /// anything else means the cookie should be re-issued under the newest.
    pub key_index: usize,
}

/// Seals or signs payloads into cookie values under a [`KeyRing`].
///
/// ```
/// use sessions_core::codec::{Codec, Mode, Times};
/// use sessions_core::{Key, KeyRing};
///
/// let codec = Codec::new(KeyRing::from(Key::generate()), Mode::Sealed);
/// let times = Times { issued: 1_700_000_000, expires: Some(1_700_003_600) };
/// let value = codec.encode("id", b"hello", times)?;
/// let opened = codec.decode("id", &value, 1_700_000_010)?;
/// assert_eq!(opened.payload, b"hello");
/// // The same value under another cookie name is refused.
/// assert!(codec.decode("other", &value, 1_700_000_010).is_err());
/// # Ok::<(), sessions_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Codec {
    ring: KeyRing,
    mode: Mode,
    limit: usize,
    skew: u64,
}

impl Codec {
    /// A codec with the default size limit (4096) and clock skew (60 s).
    pub fn new(ring: KeyRing, mode: Mode) -> Codec {
        Codec { ring, mode, limit: DEFAULT_COOKIE_LIMIT, skew: DEFAULT_CLOCK_SKEW_SECS }
    }

    /// Sets the largest `name=value` this codec writes or reads.
    pub fn with_limit(mut self, limit: usize) -> Codec {
        self.limit = limit;
        self
    }

    /// Sets how far in the future an issue time may lie (clock skew between
    /// servers sharing a key).
    pub fn with_clock_skew(mut self, secs: u64) -> Codec {
        self.skew = secs;
        self
    }

    /// The protection mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The size limit of `name=value`.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Length of the cookie value for a payload of `payload_len` bytes.
    pub fn encoded_len(&self, payload_len: usize) -> usize {
        ((payload_len + self.mode.overhead()) * 4).div_ceil(3)
    }

    /// Encodes `payload` as the value of cookie `name` under the newest key.
    ///
    /// Fails with [`Error::TooLarge`] before any cryptography when
    /// `name=value` would exceed the limit, and with [`Error::Backend`]
    /// (unavailable) when the operating system supplies no random nonce.
    pub fn encode(&self, name: &str, payload: &[u8], times: Times) -> Result<String> {
        let mut nonce = [0u8; NONCE_LEN];
        if self.mode == Mode::Sealed {
            fill_nonce(&mut nonce)?;
        }
        self.encode_with_nonce(name, payload, times, &nonce)
    }

    /// Encodes like [`Codec::encode`] but with a caller-chosen nonce (ignored
    /// in [`Mode::Signed`]).
    ///
    /// Only for known-answer vectors that freeze the wire format: reusing a
    /// nonce under one key breaks the confidentiality and integrity of
    /// XChaCha20-Poly1305. Never call it with anything but a fixed test nonce.
    #[doc(hidden)]
    pub fn encode_with_nonce(&self, name: &str, payload: &[u8], times: Times, nonce: &[u8; 24]) -> Result<String> {
        let mut value = String::new();
        self.append_with_nonce(name, payload, times, nonce, &mut value)?;
        Ok(value)
    }

    /// [`Codec::encode`], appending the value to `out` (a `Set-Cookie`
    /// header being written); `out` is left as it was on an error.
    pub(crate) fn encode_append(&self, name: &str, payload: &[u8], times: Times, out: &mut String) -> Result<()> {
        let mut nonce = [0u8; NONCE_LEN];
        if self.mode == Mode::Sealed {
            fill_nonce(&mut nonce)?;
        }
        self.append_with_nonce(name, payload, times, &nonce, out)
    }

    fn append_with_nonce(
        &self,
        name: &str,
        payload: &[u8],
        times: Times,
        nonce: &[u8; 24],
        out: &mut String,
    ) -> Result<()> {
        let size = name.len() + 1 + self.encoded_len(payload.len());
        if size > self.limit {
            return Err(Error::TooLarge { name: name.to_owned(), size, limit: self.limit });
        }
        let frame_len = payload.len() + self.mode.overhead();
        // Frames of session ids and of small sessions are put together on
        // the stack, so the header is the only allocation.
        if frame_len <= FRAME_ON_STACK {
            let mut frame = [0u8; FRAME_ON_STACK];
            self.fill_frame(&mut frame[..frame_len], name, payload, times, nonce)?;
            URL_SAFE_NO_PAD.encode_append(&frame[..frame_len], out);
        } else {
            let mut frame = vec![0u8; frame_len];
            self.fill_frame(&mut frame, name, payload, times, nonce)?;
            URL_SAFE_NO_PAD.encode_append(&frame, out);
        }
        Ok(())
    }

    /// Writes the frame of `payload` under the newest key into `frame`,
    /// which is exactly `payload.len() + overhead` bytes long.
    fn fill_frame(&self, frame: &mut [u8], name: &str, payload: &[u8], times: Times, nonce: &[u8; 24]) -> Result<()> {
        let key = self.ring.newest();
        let (header, rest) = frame.split_at_mut(HEADER_LEN);
        header[0] = self.mode.frame_byte();
        header[1..].copy_from_slice(&key.id);
        match self.mode {
            Mode::Sealed => {
                let (nonce_at, rest) = rest.split_at_mut(NONCE_LEN);
                nonce_at.copy_from_slice(nonce);
                let (body, tag_at) = rest.split_at_mut(rest.len() - AEAD_TAG_LEN);
                write_body(body, payload, times);
                let tag = with_associated_data(header, name, |aad| aead::seal(&key.seal, nonce, aad, body))
                    .map_err(|_| Error::Config("XChaCha20-Poly1305 refused to seal".into()))?;
                tag_at.copy_from_slice(&tag);
            }
            Mode::Signed => {
                let (body, mac_at) = rest.split_at_mut(rest.len() - MAC_LEN);
                write_body(body, payload, times);
                mac_at.copy_from_slice(mac(key, header, body, name).as_bytes());
            }
        }
        Ok(())
    }

    /// Opens the value of cookie `name`, checking authenticity, the cookie
    /// name and the authenticated times against `now` (Unix seconds).
    pub fn decode(&self, name: &str, value: &str, now: u64) -> Result<Opened, Rejection> {
        self.check_length(name, value)?;
        let mut frame = URL_SAFE_NO_PAD.decode_to_vec(value).map_err(|_| Rejection::Malformed)?;
        let (payload, times, key_index) = self.open_frame(name, &mut frame, now)?;
        frame.truncate(payload.end);
        frame.drain(..payload.start);
        Ok(Opened { payload: frame, times, key_index })
    }

    /// Opens like [`Codec::decode`], handing the payload to `f` instead of
    /// returning it: a value whose frame fits `FRAME_ON_STACK` bytes (an
    /// id cookie, a small session) is decoded on the stack, so a store that
    /// only reads the payload allocates nothing to open it.
    pub(crate) fn decode_with<R>(
        &self,
        name: &str,
        value: &str,
        now: u64,
        f: impl FnOnce(&[u8], Times, usize) -> R,
    ) -> Result<R, Rejection> {
        self.check_length(name, value)?;
        let len = URL_SAFE_NO_PAD.decoded_length(value.as_bytes()).map_err(|_| Rejection::Malformed)?;
        if len > FRAME_ON_STACK {
            let opened = self.decode(name, value, now)?;
            return Ok(f(&opened.payload, opened.times, opened.key_index));
        }
        let mut buffer = [0u8; FRAME_ON_STACK];
        let frame = URL_SAFE_NO_PAD
            .decode(value.as_bytes(), base64_simd::Out::from_slice(&mut buffer[..len]))
            .map_err(|_| Rejection::Malformed)?;
        let (payload, times, key_index) = self.open_frame(name, frame, now)?;
        Ok(f(&frame[payload], times, key_index))
    }

    /// Refuses, before any decoding, a value over the limit or too short to
    /// hold a frame: an oversized value costs nothing.
    fn check_length(&self, name: &str, value: &str) -> Result<(), Rejection> {
        if name.len() + 1 + value.len() > self.limit {
            return Err(Rejection::TooLong);
        }
        if value.len() < self.encoded_len(0) {
            return Err(Rejection::Malformed);
        }
        Ok(())
    }

    /// Checks a decoded frame in place (a sealed one is decrypted where it
    /// lies) and returns where its payload is, its times and the index of
    /// the key that opened it.
    fn open_frame(&self, name: &str, frame: &mut [u8], now: u64) -> Result<(Range<usize>, Times, usize), Rejection> {
        if frame.len() < self.mode.overhead() {
            return Err(Rejection::Malformed);
        }
        if frame[0] != self.mode.frame_byte() {
            return Err(Rejection::UnknownVersion);
        }
        let (index, key) = self.ring.find(&frame[1..HEADER_LEN]).ok_or(Rejection::UnknownKey)?;
        let body = match self.mode {
            Mode::Sealed => {
                let tag_at = frame.len() - AEAD_TAG_LEN;
                let (head, rest) = frame.split_at_mut(HEADER_LEN + NONCE_LEN);
                let (ciphertext, tag) = rest.split_at_mut(tag_at - HEADER_LEN - NONCE_LEN);
                let nonce = <&[u8; NONCE_LEN]>::try_from(&head[HEADER_LEN..]).map_err(|_| Rejection::Malformed)?;
                let tag = <&[u8; AEAD_TAG_LEN]>::try_from(&*tag).map_err(|_| Rejection::Malformed)?;
                with_associated_data(&head[..HEADER_LEN], name, |aad| {
                    aead::open(&key.seal, nonce, aad, ciphertext, tag)
                })
                .map_err(|_| Rejection::Forged)?;
                HEADER_LEN + NONCE_LEN..tag_at
            }
            Mode::Signed => {
                let tag_at = frame.len() - MAC_LEN;
                let expected = mac(key, &frame[..HEADER_LEN], &frame[HEADER_LEN..tag_at], name);
                // `blake3::Hash` compares in constant time.
                if expected != <[u8; MAC_LEN]>::try_from(&frame[tag_at..]).map_err(|_| Rejection::Malformed)? {
                    return Err(Rejection::Forged);
                }
                HEADER_LEN..tag_at
            }
        };
        let times = read_times(&frame[body.end - TIMES_LEN..body.end]);
        if times.expires.is_some_and(|e| now >= e) {
            return Err(Rejection::Expired);
        }
        if times.issued > now.saturating_add(self.skew) {
            return Err(Rejection::FromTheFuture);
        }
        Ok((body.start..body.end - TIMES_LEN, times, index))
    }
}

/// A fresh random nonce from the operating system, on every seal.
///
/// Not a generator kept in process memory: `fork()` copies its state into
/// the child, which then repeats the parent's nonces, and one repeated
/// nonce under a key gives away the XOR of two plaintexts and lets the
/// key's tags be forged. The kernel's generator is not copied by a fork
/// and is reseeded when a virtual machine is cloned. It costs one system
/// call, 0.25 to 0.4 µs: since the AEAD became ring's, that is a quarter of
/// a small cookie's seal and open (glibc 2.41 and later answer from the
/// vDSO on Linux 6.11 and later, without the call). A per-thread generator
/// reseeded when the pid changes would still make a system call to read
/// the pid (libc no longer caches it), and would repeat nonces in a cloned
/// virtual machine.
fn fill_nonce(nonce: &mut [u8; NONCE_LEN]) -> Result<()> {
    getrandom::fill(nonce).map_err(|e| Error::Backend(BackendError::unavailable(format!("OS RNG failed: {e}"))))
}

/// Runs `f` on the AEAD associated data: frame byte, key id, then the
/// cookie name. The first two have fixed lengths, so the name is
/// unambiguous. Built on the stack for names up to 123 bytes, so sealing and
/// opening allocate nothing for it.
fn with_associated_data<R>(header: &[u8], name: &str, f: impl FnOnce(&[u8]) -> R) -> R {
    const ON_STACK: usize = 128;
    let len = header.len() + name.len();
    if len <= ON_STACK {
        let mut aad = [0u8; ON_STACK];
        aad[..header.len()].copy_from_slice(header);
        aad[header.len()..len].copy_from_slice(name.as_bytes());
        f(&aad[..len])
    } else {
        let mut aad = Vec::with_capacity(len);
        aad.extend_from_slice(header);
        aad.extend_from_slice(name.as_bytes());
        f(&aad)
    }
}

/// The MAC over a signed frame. The long body goes first so BLAKE3 hashes it
/// from a chunk boundary; the fixed-width trailer of lengths and header that
/// follows makes the split between body and name unambiguous.
///
/// An input of one BLAKE3 chunk (1 KiB) or less, which is every id cookie
/// and most signed sessions, is put together on the stack and hashed in one
/// call: the incremental hasher's set-up and five updates cost more than
/// the compression itself at these sizes. Both give the same hash (BLAKE3
/// hashes the concatenated input however it is split).
fn mac(key: &DerivedKeys, header: &[u8], body: &[u8], name: &str) -> blake3::Hash {
    const ONE_CHUNK: usize = 1024;
    let name_len = (name.len() as u64).to_le_bytes();
    let body_len = (body.len() as u64).to_le_bytes();
    let parts = [body, name.as_bytes(), &name_len, &body_len, header];
    let len: usize = parts.iter().map(|part| part.len()).sum();
    if len <= ONE_CHUNK {
        let mut input = [0u8; ONE_CHUNK];
        let mut at = 0;
        for part in parts {
            input[at..at + part.len()].copy_from_slice(part);
            at += part.len();
        }
        return blake3::keyed_hash(&key.mac, &input[..len]);
    }
    let mut hasher = blake3::Hasher::new_keyed(&key.mac);
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize()
}

/// Writes `payload || times` into `body`, exactly as long as the two.
fn write_body(body: &mut [u8], payload: &[u8], times: Times) {
    let (payload_at, times_at) = body.split_at_mut(payload.len());
    payload_at.copy_from_slice(payload);
    times_at[..8].copy_from_slice(&times.issued.to_le_bytes());
    // Zero on the wire means "no expiry". An expiry at the epoch is past for
    // every real clock, so it is written as second 1 instead of silently
    // turning into "never expires".
    let expires = times.expires.map_or(0, |e| e.max(1));
    times_at[8..].copy_from_slice(&expires.to_le_bytes());
}

fn read_times(bytes: &[u8]) -> Times {
    let mut issued = [0u8; 8];
    let mut expires = [0u8; 8];
    issued.copy_from_slice(&bytes[..8]);
    expires.copy_from_slice(&bytes[8..16]);
    let expires = u64::from_le_bytes(expires);
    Times { issued: u64::from_le_bytes(issued), expires: (expires != 0).then_some(expires) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Key;

    fn codec(mode: Mode) -> Codec {
        Codec::new(KeyRing::from(Key::generate()), mode)
    }

    /// The one-call MAC of a short input is the incremental hash of the
    /// same parts, on both sides of the one-chunk limit.
    #[test]
    fn the_mac_is_the_hash_of_the_parts_in_order() {
        let keys = DerivedKeys::new(&Key::generate());
        let header = [1u8, 2, 3, 4, 5];
        for body_len in (0..40).chain(960..1060).chain([4000]) {
            let body: Vec<u8> = (0..body_len).map(|i| (i * 7) as u8).collect();
            for name in ["", "id", "a-cookie-name-of-some-length"] {
                let mut reference = blake3::Hasher::new_keyed(&keys.mac);
                reference.update(&body);
                reference.update(name.as_bytes());
                reference.update(&(name.len() as u64).to_le_bytes());
                reference.update(&(body.len() as u64).to_le_bytes());
                reference.update(&header);
                assert_eq!(mac(&keys, &header, &body, name), reference.finalize(), "{body_len} {name}");
            }
        }
    }

    /// Opening on the stack and opening into a `Vec` agree on every value,
    /// on both sides of the stack buffer's size, whether it opens or not;
    /// and a value encoded into a header being written is the value
    /// `encode` gives.
    #[test]
    fn decoding_on_the_stack_and_on_the_heap_agree() {
        let times = Times { issued: 1_000, expires: Some(2_000) };
        for mode in [Mode::Sealed, Mode::Signed] {
            let codec = codec(mode);
            for len in [0, 1, 100, FRAME_ON_STACK - mode.overhead(), FRAME_ON_STACK - mode.overhead() + 1, 2_000] {
                let payload: Vec<u8> = (0..len).map(|i| (i * 31) as u8).collect();
                let value = codec.encode("s", &payload, times).unwrap();
                let mut header = String::from("s=");
                codec.encode_append("s", &payload, times, &mut header).unwrap();
                assert_eq!(header.len(), 2 + value.len(), "{mode:?} {len}");
                let mut tampered = value.clone().into_bytes();
                let at = tampered.len() / 2;
                tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };
                let tampered = String::from_utf8(tampered).unwrap();
                for (name, value, now) in
                    [("s", &value, 1_500), ("other", &value, 1_500), ("s", &value, 2_000), ("s", &tampered, 1_500)]
                {
                    let heap = codec.decode(name, value, now).map(|o| (o.payload, o.times, o.key_index));
                    let stack = codec.decode_with(name, value, now, |p, t, k| (p.to_vec(), t, k));
                    assert_eq!(stack, heap, "{mode:?} {len} {name} {now}");
                }
                assert_eq!(codec.decode_with("s", &value, 1_500, |p, _, _| p.to_vec()), Ok(payload));
            }
            for junk in [
                "",
                "!!!!",
                &"A".repeat(5_000),
                "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            ] {
                let heap = codec.decode("s", junk, 1_500).map(|o| o.payload);
                assert_eq!(codec.decode_with("s", junk, 1_500, |p, _, _| p.to_vec()), heap, "{junk:?}");
            }
        }
    }

    #[test]
    fn an_expiry_at_the_epoch_never_means_no_expiry() {
        for mode in [Mode::Sealed, Mode::Signed] {
            let codec = codec(mode);
            let value = codec.encode("s", b"x", Times { issued: 0, expires: Some(0) }).unwrap();
            assert_eq!(codec.decode("s", &value, 5), Err(Rejection::Expired), "{mode:?}");
        }
    }
}

/// Known-answer vectors: fixed keys, names, payloads, times and nonces, and
/// the exact cookie values they give. They are the vectors of
/// `docs/wire-format.md` (checked there against an independent
/// implementation); if one of these tests fails, the wire format changed and
/// every cookie in the wild would be refused.
#[cfg(test)]
mod known_answers {
    use super::*;
    use crate::Key;
    use crate::backend::record::{self, Fields};
    use crate::hex;
    use crate::id::SessionId;
    use crate::key::DerivedKeys;
    use crate::session::layout::Meta;

    const ISSUED: u64 = 1_700_000_000;
    const EXPIRES: u64 = 1_700_086_400;

    /// Master key A: the bytes 0x00..=0x1f.
    fn key_a() -> Key {
        Key::from_bytes(&(0u8..32).collect::<Vec<_>>()).unwrap()
    }

    /// Master key B: the bytes 0x20..=0x3f.
    fn key_b() -> Key {
        Key::from_bytes(&(32u8..64).collect::<Vec<_>>()).unwrap()
    }

    /// The nonce 0x40..=0x57.
    fn nonce() -> [u8; 24] {
        std::array::from_fn(|i| 0x40 + i as u8)
    }

    /// The session id 0x80..=0x9f.
    fn session_id() -> [u8; 32] {
        std::array::from_fn(|i| 0x80 + i as u8)
    }

    const RECORD: &str = "0202016d0bfc00f1536501fc805101000576757365720ce5641d30de21404503616461";
    const SEALED: &str = "EVjUg01AQUJDREVGR0hJSktMTU5PUFFSU1RVVlfnU-MlMPekHu8wEP5JEhtUFzZIRIXDTIF5FfMLCIh1e94WO0efgMQSdrZax1Nz8qtSNNRYG9skaF1gxOLuEGF4FD0N";
    const SIGNED: &str = "EljUg02AgYKDhIWGh4iJiouMjY6PkJGSk5SVlpeYmZqbnJ2enwDxU2UAAAAAAAAAAAAAAABtjFm--ElGOHtA2P9FtEhUEX03ev3rc5L3tJx2DTnhFg";
    const SEALED_UNDER_B: &str = "EbGHTo1AQUJDREVGR0hJSktMTU5PUFFSU1RVVlc_PlRMWZnO29rl6sH48a1wnpUBd9woO-vCpWm43PyrrA";

    fn record_bytes() -> Vec<u8> {
        let mut fields = Fields::new();
        let meta = Meta { created: ISSUED, max_age: Some(86_400) };
        fields.insert("m", crate::serial::to_bytes(&meta).unwrap());
        fields.insert("vuser", crate::serial::value_to_bytes("ada").unwrap());
        record::encode(&fields)
    }

    #[test]
    fn purpose_keys_of_key_a_are_frozen() {
        let keys = DerivedKeys::new(&key_a());
        assert_eq!(hex::encode(&keys.id), "58d4834d");
        assert_eq!(hex::encode(&keys.seal), "bbf322134398df4c4f37dd6a59a8703a2af1608d55f87885ba63a88e9ec9689b");
        assert_eq!(hex::encode(&keys.mac), "d187bed20aae0e501a1031126b46c3b29b3d7fab347631ade91c201aaa0c5838");
    }

    #[test]
    fn user_index_key_is_frozen() {
        let index = crate::id::user_index_key("ada");
        assert_eq!(index.as_str(), "e97a1659ba749823c2f892eb4b4e06ca180ccef7f48d292c838539b87a54c061");
    }

    #[test]
    fn key_id_of_key_b_is_frozen() {
        assert_eq!(key_b().id(), "b1874e8d");
    }

    #[test]
    fn record_format_is_frozen() {
        assert_eq!(hex::encode(&record_bytes()), RECORD);
    }

    #[test]
    fn sealed_encoding_is_frozen() {
        let codec = Codec::new(KeyRing::from(key_a()), Mode::Sealed);
        let times = Times { issued: ISSUED, expires: Some(EXPIRES) };
        assert_eq!(codec.encode_with_nonce("session", &record_bytes(), times, &nonce()).unwrap(), SEALED);
    }

    #[test]
    fn sealed_vector_decodes_to_its_record_and_times() {
        let codec = Codec::new(KeyRing::from(key_a()), Mode::Sealed);
        let opened = codec.decode("session", SEALED, ISSUED + 100).unwrap();
        assert_eq!(hex::encode(&opened.payload), RECORD);
        assert_eq!(opened.times, Times { issued: ISSUED, expires: Some(EXPIRES) });
        assert_eq!(opened.key_index, 0);
    }

    #[test]
    fn sealed_vector_expires_at_its_authenticated_expiry() {
        let codec = Codec::new(KeyRing::from(key_a()), Mode::Sealed);
        assert_eq!(codec.decode("session", SEALED, EXPIRES - 1).map(|o| o.key_index), Ok(0));
        assert_eq!(codec.decode("session", SEALED, EXPIRES), Err(Rejection::Expired));
    }

    #[test]
    fn signed_encoding_is_frozen() {
        let codec = Codec::new(KeyRing::from(key_a()), Mode::Signed);
        let times = Times { issued: ISSUED, expires: None };
        assert_eq!(codec.encode_with_nonce("id", &session_id(), times, &nonce()).unwrap(), SIGNED);
    }

    #[test]
    fn signed_encoding_ignores_the_nonce() {
        let codec = Codec::new(KeyRing::from(key_a()), Mode::Signed);
        let times = Times { issued: ISSUED, expires: None };
        assert_eq!(codec.encode("id", &session_id(), times).unwrap(), SIGNED);
    }

    #[test]
    fn signed_vector_decodes_to_its_id_without_expiry() {
        let codec = Codec::new(KeyRing::from(key_a()), Mode::Signed);
        let opened = codec.decode("id", SIGNED, u64::MAX).unwrap();
        assert_eq!(opened.payload, session_id());
        assert_eq!(opened.times, Times { issued: ISSUED, expires: None });
    }

    #[test]
    fn storage_key_of_the_vector_id_is_frozen() {
        let id = SessionId::from_payload(&session_id()).unwrap();
        let storage = id.storage_key();
        assert_eq!(storage.as_str(), "f32c931163839851c7589c843f15de292619230f48ffaa42659415ae05a05d82");
        assert_eq!(storage.forward().as_str(), "a3282cd3bcc5b0a9cf7eb3b48a273eb083aa181355549727111553ce961caa31");
    }

    #[test]
    fn empty_payload_under_key_b_is_frozen() {
        let codec = Codec::new(KeyRing::from(key_b()), Mode::Sealed);
        let times = Times { issued: ISSUED, expires: None };
        assert_eq!(codec.encode_with_nonce("session", b"", times, &nonce()).unwrap(), SEALED_UNDER_B);
    }

    #[test]
    fn vector_under_an_older_key_opens_with_its_ring_position() {
        let codec = Codec::new(KeyRing::new([key_a(), key_b()]).unwrap(), Mode::Sealed);
        let opened = codec.decode("session", SEALED_UNDER_B, ISSUED).unwrap();
        assert_eq!(opened.payload, b"");
        assert_eq!(opened.key_index, 1);
    }

    #[test]
    fn vectors_are_refused_under_another_cookie_name() {
        let ring = KeyRing::new([key_a(), key_b()]).unwrap();
        let sealed = Codec::new(ring.clone(), Mode::Sealed);
        let signed = Codec::new(ring, Mode::Signed);
        assert_eq!(sealed.decode("Session", SEALED, ISSUED), Err(Rejection::Forged));
        assert_eq!(signed.decode("ids", SIGNED, ISSUED), Err(Rejection::Forged));
    }

    #[test]
    fn vectors_are_refused_by_the_other_mode() {
        let ring = KeyRing::from(key_a());
        assert_eq!(
            Codec::new(ring.clone(), Mode::Signed).decode("session", SEALED, ISSUED),
            Err(Rejection::UnknownVersion)
        );
        assert_eq!(Codec::new(ring, Mode::Sealed).decode("id", SIGNED, ISSUED), Err(Rejection::UnknownVersion));
    }
}
