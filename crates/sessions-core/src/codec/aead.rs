//! XChaCha20-Poly1305, the AEAD of the sealed frame, from one of two
//! implementations that give the same bytes.
//!
//! XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha) is HChaCha20 of the key and
//! the first 16 nonce bytes, giving a subkey, then the ChaCha20-Poly1305 AEAD
//! of RFC 8439 under that subkey with the 12-byte nonce
//! `0x00000000 || nonce[16..24]`.
//!
//! - With the `ring` feature (default) on x86-64 and aarch64: HChaCha20 from
//!   the `chacha20` crate, then ring's ChaCha20-Poly1305, one pass of
//!   assembly over the data.
//! - Otherwise: the portable `chacha20poly1305` crate. It is also the
//!   reference the ring path is tested against: the `differential` tests
//!   below compare the two implementations, and
//!   `tests/codec_differential.rs` compares whole frames.
//!
//! Why not always the portable crate: `poly1305` picks an AVX2 backend at run
//! time whose set-up for each one-time key is slow, about 1.3 µs for a
//! 67-byte message against 0.16 µs when built for the CPU, and only the
//! application's build flags can change that. The reasons are recorded in
//! `docs/decisions/0005-ring-for-the-aead.md`, the costs in `docs/benchmarks.md`.

/// Length of the XChaCha20 nonce.
pub(super) const NONCE_LEN: usize = 24;
/// Length of the Poly1305 tag.
pub(super) const TAG_LEN: usize = 16;

/// The AEAD refused: a wrong tag on open, an impossible length on seal.
#[derive(Debug)]
pub(super) struct Refused;

#[cfg(all(feature = "ring", any(target_arch = "x86_64", target_arch = "aarch64")))]
pub(super) use self::assembly::{open, seal};
#[cfg(not(all(feature = "ring", any(target_arch = "x86_64", target_arch = "aarch64"))))]
pub(super) use self::portable::{open, seal};

/// HChaCha20, then ring's ChaCha20-Poly1305.
#[cfg(all(feature = "ring", any(target_arch = "x86_64", target_arch = "aarch64")))]
mod assembly {
    use chacha20::cipher::consts::U10;
    use chacha20::cipher::generic_array::GenericArray;
    use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, Tag, UnboundKey};
    use zeroize::Zeroizing;

    use super::{NONCE_LEN, Refused, TAG_LEN};

    /// Encrypts `in_out` in place and returns the tag.
    pub(in crate::codec) fn seal(
        key: &[u8; 32],
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        in_out: &mut [u8],
    ) -> Result<[u8; TAG_LEN], Refused> {
        let (key, nonce) = ietf(key, nonce)?;
        let tag = key.seal_in_place_separate_tag(nonce, Aad::from(aad), in_out).map_err(|_| Refused)?;
        let mut out = [0u8; TAG_LEN];
        out.copy_from_slice(tag.as_ref());
        Ok(out)
    }

    /// Checks `tag` and decrypts `in_out` in place; on a wrong tag `in_out`
    /// is left unspecified and must not be used.
    pub(in crate::codec) fn open(
        key: &[u8; 32],
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        in_out: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), Refused> {
        let (key, nonce) = ietf(key, nonce)?;
        key.open_in_place_separate_tag(nonce, Aad::from(aad), Tag::from(*tag), in_out, 0..)
            .map(|_| ())
            .map_err(|_| Refused)
    }

    /// The ChaCha20-Poly1305 key and nonce of one XChaCha20 nonce: the
    /// HChaCha20 subkey and `0x00000000 || nonce[16..24]`.
    fn ietf(key: &[u8; 32], nonce: &[u8; NONCE_LEN]) -> Result<(LessSafeKey, Nonce), Refused> {
        let subkey = Zeroizing::new(<[u8; 32]>::from(chacha20::hchacha::<U10>(
            key.into(),
            GenericArray::from_slice(&nonce[..16]),
        )));
        let key = LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, subkey.as_ref()).map_err(|_| Refused)?);
        let mut ietf = [0u8; 12];
        ietf[4..].copy_from_slice(&nonce[16..]);
        Ok((key, Nonce::assume_unique_for_key(ietf)))
    }
}

/// The `chacha20poly1305` crate's XChaCha20-Poly1305. Also built for the
/// tests, as the reference of the assembly path.
#[cfg(any(test, not(all(feature = "ring", any(target_arch = "x86_64", target_arch = "aarch64")))))]
mod portable {
    use chacha20poly1305::aead::{AeadInPlace, KeyInit};
    use chacha20poly1305::{Tag, XChaCha20Poly1305, XNonce};

    use super::{NONCE_LEN, Refused, TAG_LEN};

    /// Encrypts `in_out` in place and returns the tag.
    pub(in crate::codec) fn seal(
        key: &[u8; 32],
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        in_out: &mut [u8],
    ) -> Result<[u8; TAG_LEN], Refused> {
        XChaCha20Poly1305::new(key.into())
            .encrypt_in_place_detached(XNonce::from_slice(nonce), aad, in_out)
            .map(Into::into)
            .map_err(|_| Refused)
    }

    /// Checks `tag` and decrypts `in_out` in place; on a wrong tag `in_out`
    /// is left unspecified and must not be used.
    pub(in crate::codec) fn open(
        key: &[u8; 32],
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        in_out: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), Refused> {
        XChaCha20Poly1305::new(key.into())
            .decrypt_in_place_detached(XNonce::from_slice(nonce), aad, in_out, Tag::from_slice(tag))
            .map_err(|_| Refused)
    }
}

/// The assembly path against the portable crate, on random keys, nonces,
/// associated data and payloads from empty to several kilobytes.
#[cfg(all(test, all(feature = "ring", any(target_arch = "x86_64", target_arch = "aarch64"))))]
mod differential {
    use proptest::prelude::*;

    use super::{NONCE_LEN, TAG_LEN, assembly, portable};

    fn data() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..=64),
            proptest::collection::vec(any::<u8>(), 0..=1024),
            proptest::collection::vec(any::<u8>(), 0..=6000),
        ]
    }

    /// The signature of `seal` in both implementations.
    type Seal = fn(&[u8; 32], &[u8; NONCE_LEN], &[u8], &mut [u8]) -> Result<[u8; TAG_LEN], super::Refused>;

    fn sealed(
        seal: Seal,
        key: &[u8; 32],
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        plaintext: &[u8],
    ) -> (Vec<u8>, [u8; TAG_LEN]) {
        let mut ciphertext = plaintext.to_vec();
        let tag = seal(key, nonce, aad, &mut ciphertext).unwrap();
        (ciphertext, tag)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn both_seal_to_the_same_bytes(
            key in any::<[u8; 32]>(), nonce in any::<[u8; NONCE_LEN]>(),
            aad in proptest::collection::vec(any::<u8>(), 0..300), plaintext in data()
        ) {
            prop_assert_eq!(
                sealed(assembly::seal, &key, &nonce, &aad, &plaintext),
                sealed(portable::seal, &key, &nonce, &aad, &plaintext)
            );
        }

        #[test]
        fn each_opens_what_the_other_seals(
            key in any::<[u8; 32]>(), nonce in any::<[u8; NONCE_LEN]>(),
            aad in proptest::collection::vec(any::<u8>(), 0..300), plaintext in data()
        ) {
            let (mut by_assembly, tag) = sealed(assembly::seal, &key, &nonce, &aad, &plaintext);
            portable::open(&key, &nonce, &aad, &mut by_assembly, &tag).unwrap();
            prop_assert_eq!(&by_assembly, &plaintext);
            let (mut by_portable, tag) = sealed(portable::seal, &key, &nonce, &aad, &plaintext);
            assembly::open(&key, &nonce, &aad, &mut by_portable, &tag).unwrap();
            prop_assert_eq!(&by_portable, &plaintext);
        }

        #[test]
        fn both_refuse_a_tampered_byte(
            key in any::<[u8; 32]>(), nonce in any::<[u8; NONCE_LEN]>(),
            aad in proptest::collection::vec(any::<u8>(), 0..300), plaintext in data(),
            at in any::<prop::sample::Index>(), xor in 1..=255u8
        ) {
            // One byte of the associated data, the ciphertext or the tag.
            let (ciphertext, tag) = sealed(assembly::seal, &key, &nonce, &aad, &plaintext);
            let mut message = [&aad[..], &ciphertext, &tag].concat();
            let at = at.index(message.len());
            message[at] ^= xor;
            let (aad, rest) = message.split_at(aad.len());
            let (ciphertext, tag) = rest.split_at(ciphertext.len());
            let tag: [u8; TAG_LEN] = tag.try_into().unwrap();
            prop_assert!(assembly::open(&key, &nonce, aad, &mut ciphertext.to_vec(), &tag).is_err());
            prop_assert!(portable::open(&key, &nonce, aad, &mut ciphertext.to_vec(), &tag).is_err());
        }
    }
}
