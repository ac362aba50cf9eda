//! The sealed codec against a reference XChaCha20-Poly1305: the portable
//! `chacha20poly1305` crate applied to the frame of `docs/wire-format.md`,
//! built here from the specification alone.
//!
//! The codec seals with ring's ChaCha20-Poly1305 after HChaCha20 (feature
//! `ring`, the default, on x86-64 and aarch64) or with the portable crate;
//! either way, on random keys, nonces, cookie names and payloads from empty
//! to several kilobytes, it must write the reference's bytes, each must open
//! the other's output, and both must refuse a tampered byte.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{Tag, XChaCha20Poly1305, XNonce};
use proptest::prelude::*;
use sessions_core::codec::{Codec, Mode, Times};
use sessions_core::{Key, KeyRing};

const SEALED_V1: u8 = 0x11;
/// Where the nonce, the ciphertext and the tag start in a sealed frame.
const NONCE_AT: usize = 5;
const CIPHERTEXT_AT: usize = NONCE_AT + 24;
const TAG_LEN: usize = 16;

/// A limit far above any payload generated here, so none is too large.
const LIMIT: usize = 1 << 16;

/// The sealed frame of `docs/wire-format.md` section 2, with the portable
/// crate as the AEAD.
struct Reference {
    seal_key: [u8; 32],
    header: [u8; NONCE_AT],
}

impl Reference {
    fn new(master: &[u8; 32]) -> Reference {
        let id = blake3::derive_key("sessions-rs 2026-11 v1 key id", master);
        let mut header = [SEALED_V1, 0, 0, 0, 0];
        header[1..].copy_from_slice(&id[..4]);
        Reference { seal_key: blake3::derive_key("sessions-rs 2026-11 v1 cookie seal", master), header }
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new((&self.seal_key).into())
    }

    fn aad(header: &[u8], name: &str) -> Vec<u8> {
        [header, name.as_bytes()].concat()
    }

    /// `0x11 || key_id || nonce || ciphertext || tag`.
    fn seal(&self, name: &str, payload: &[u8], times: Times, nonce: &[u8; 24]) -> Vec<u8> {
        let mut body = payload.to_vec();
        body.extend_from_slice(&times.issued.to_le_bytes());
        body.extend_from_slice(&times.expires.unwrap_or(0).to_le_bytes());
        let tag = self
            .cipher()
            .encrypt_in_place_detached(XNonce::from_slice(nonce), &Self::aad(&self.header, name), &mut body)
            .unwrap();
        [&self.header[..], nonce, &body, &tag].concat()
    }

    /// The plaintext (payload and times) of a frame, if it authenticates.
    fn open(&self, name: &str, frame: &[u8]) -> Option<Vec<u8>> {
        if frame.len() < CIPHERTEXT_AT + TAG_LEN {
            return None;
        }
        let tag_at = frame.len() - TAG_LEN;
        let mut body = frame[CIPHERTEXT_AT..tag_at].to_vec();
        self.cipher()
            .decrypt_in_place_detached(
                XNonce::from_slice(&frame[NONCE_AT..CIPHERTEXT_AT]),
                &Self::aad(&frame[..NONCE_AT], name),
                &mut body,
                Tag::from_slice(&frame[tag_at..]),
            )
            .ok()?;
        Some(body)
    }
}

fn codec(master: &[u8; 32]) -> Codec {
    Codec::new(KeyRing::from(Key::from_bytes(master).unwrap()), Mode::Sealed).with_limit(LIMIT)
}

/// 32 random bytes the codec accepts as a master key (it refuses keys with
/// fewer than eight distinct byte values).
fn master() -> impl Strategy<Value = [u8; 32]> {
    any::<[u8; 32]>().prop_filter("a random-looking key", |k| Key::from_bytes(k).is_ok())
}

/// Cookie names from one character to well past the 123 bytes the codec
/// keeps on the stack for the associated data.
fn name() -> impl Strategy<Value = String> {
    "[A-Za-z0-9!#$%&'*+.^_`|~-]{1,300}"
}

/// Payloads from empty to several kilobytes, with the short end (the
/// sizes of real cookies) drawn more often.
fn payload() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..=64),
        proptest::collection::vec(any::<u8>(), 0..=1024),
        proptest::collection::vec(any::<u8>(), 0..=6000),
    ]
}

/// Any issue time, with no expiry or one after it (so a frame opens at its
/// issue time).
fn times() -> impl Strategy<Value = Times> {
    (0..u64::MAX / 2, proptest::option::of(1..u64::MAX / 2))
        .prop_map(|(issued, lifetime)| Times { issued, expires: lifetime.map(|l| issued + l) })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn sealed_frames_are_the_bytes_of_the_reference(
        master in master(), nonce in any::<[u8; 24]>(), name in name(), payload in payload(), times in times()
    ) {
        let value = codec(&master).encode_with_nonce(&name, &payload, times, &nonce).unwrap();
        let expected = Reference::new(&master).seal(&name, &payload, times, &nonce);
        prop_assert_eq!(URL_SAFE_NO_PAD.decode(&value).unwrap(), expected);
    }

    #[test]
    fn the_reference_opens_what_the_codec_seals(
        master in master(), name in name(), payload in payload(), times in times()
    ) {
        // A nonce from the operating system, as in production.
        let value = codec(&master).encode(&name, &payload, times).unwrap();
        let plaintext = Reference::new(&master).open(&name, &URL_SAFE_NO_PAD.decode(&value).unwrap());
        prop_assert_eq!(plaintext.as_deref().map(|p| &p[..payload.len()]), Some(&payload[..]));
    }

    #[test]
    fn the_codec_opens_what_the_reference_seals(
        master in master(), nonce in any::<[u8; 24]>(), name in name(), payload in payload(), times in times()
    ) {
        let frame = Reference::new(&master).seal(&name, &payload, times, &nonce);
        let opened = codec(&master).decode(&name, &URL_SAFE_NO_PAD.encode(&frame), times.issued).unwrap();
        prop_assert_eq!(opened.payload, payload);
        prop_assert_eq!(opened.times, times);
    }

    #[test]
    fn a_tampered_byte_is_refused_by_both(
        master in master(), nonce in any::<[u8; 24]>(), name in name(), payload in payload(),
        at in any::<prop::sample::Index>(), xor in 1..=255u8
    ) {
        let times = Times { issued: 1_700_000_000, expires: None };
        let codec = codec(&master);
        let reference = Reference::new(&master);
        let mut frame = URL_SAFE_NO_PAD.decode(codec.encode_with_nonce(&name, &payload, times, &nonce).unwrap()).unwrap();
        let at = at.index(frame.len());
        frame[at] ^= xor;
        prop_assert!(codec.decode(&name, &URL_SAFE_NO_PAD.encode(&frame), times.issued).is_err());
        prop_assert!(reference.open(&name, &frame).is_none());
    }
}

#[test]
fn an_empty_payload_seals_to_the_reference_frame() {
    let master: [u8; 32] = std::array::from_fn(|i| i as u8);
    let times = Times { issued: 0, expires: None };
    let value = codec(&master).encode_with_nonce("s", b"", times, &[0; 24]).unwrap();
    assert_eq!(URL_SAFE_NO_PAD.decode(value).unwrap(), Reference::new(&master).seal("s", b"", times, &[0; 24]));
}
