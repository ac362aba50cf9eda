//! Seal-and-open round trips of a session record through the codec, in both
//! modes, against the floor: the raw primitives on the same data with no
//! framing, no cookie name, no times and no key ring.
//!
//! - `codec/sealed/<size>`: record encode, `Codec::encode`, `Codec::decode`,
//!   record decode, with `Mode::Sealed`.
//! - `codec/signed/<size>`: the same with `Mode::Signed`.
//! - `floor/xchacha/<size>`: bincode 2 of the map, XChaCha20-Poly1305 with a
//!   nonce from the OS generator (as the codec's), base64url; then back.
//!   The primitives are the codec's: HChaCha20 and ring's ChaCha20-Poly1305
//!   with the `ring` feature (default), the `chacha20poly1305` crate without
//!   it; base64url from `base64-simd`.
//! - `floor/blake3/<size>`: bincode 2, BLAKE3 keyed hash, base64url; then
//!   back (the floor of the signed mode).
//! - `peer/private_jar/<size>`: the peer of the sealed mode, cookie 0.18's
//!   `PrivateJar` (AES-256-GCM, the cookie name as associated data) with the
//!   map as serde_json: add to a jar, take the value, decrypt it, parse it.
//! - `peer/signed_jar/<size>`: the peer of the signed mode, cookie 0.18's
//!   `SignedJar` (HMAC-SHA256 of the value) with serde_json, the same way.
//!
//! Targets (the performance targets of `docs/benchmarks.md`): `codec/sealed` at or below `peer/private_jar`, and
//! `codec/signed` at or below 0.7× `peer/signed_jar`, at every size.
//!
//! Sizes: `small` (3 string entries, ~60 B), `typical` (10, ~400 B),
//! `large` (20, ~2.5 KB).
//!
//! `--no-default-features --features memory,filesystem` benches the
//! portable AEAD (codec and floor) against the same peers.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Duration;

use base64_simd::URL_SAFE_NO_PAD;
use cookie::{Cookie, CookieJar};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use sessions_core::backend::record::{self, Fields};
use sessions_core::codec::{Codec, Mode, Times};
use sessions_core::{Key, KeyRing};

const NOW: u64 = 1_700_000_000;

/// The session data: `entries` string values of `value_len` characters.
fn data(entries: usize, value_len: usize) -> BTreeMap<String, String> {
    (0..entries).map(|i| (format!("key{i}"), format!("{i:x>value_len$}"))).collect()
}

fn bincode_config() -> bincode::config::Configuration {
    bincode::config::standard()
}

/// The same data as a session holds it: each value bincode-encoded under
/// `v<key>`, plus the metadata field.
fn fields(map: &BTreeMap<String, String>) -> Fields {
    let mut fields = Fields::new();
    fields.insert("m", vec![0xfc, 0x00, 0xf1, 0x53, 0x65, 0x00]);
    for (k, v) in map {
        fields.insert(format!("v{k}"), bincode::serde::encode_to_vec(v, bincode_config()).unwrap());
    }
    fields
}

fn codec_round_trip(codec: &Codec, fields: &Fields) -> Fields {
    let value = codec.encode("session", &record::encode(fields), Times { issued: NOW, expires: None }).unwrap();
    let opened = codec.decode("session", black_box(&value), NOW).unwrap();
    record::decode(&opened.payload).unwrap()
}

/// XChaCha20-Poly1305 as the codec computes it, in place, tag returned.
#[cfg(all(feature = "ring", any(target_arch = "x86_64", target_arch = "aarch64")))]
mod xchacha {
    use chacha20::cipher::consts::U10;
    use chacha20::cipher::generic_array::GenericArray;
    use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, Tag, UnboundKey};

    fn ietf(key: &[u8; 32], nonce: &[u8; 24]) -> (LessSafeKey, Nonce) {
        let subkey: [u8; 32] = chacha20::hchacha::<U10>(key.into(), GenericArray::from_slice(&nonce[..16])).into();
        let mut ietf = [0u8; 12];
        ietf[4..].copy_from_slice(&nonce[16..]);
        (LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, &subkey).unwrap()), Nonce::assume_unique_for_key(ietf))
    }

    pub fn seal(key: &[u8; 32], nonce: &[u8; 24], in_out: &mut [u8]) -> [u8; 16] {
        let (key, nonce) = ietf(key, nonce);
        key.seal_in_place_separate_tag(nonce, Aad::empty(), in_out).unwrap().as_ref().try_into().unwrap()
    }

    pub fn open(key: &[u8; 32], nonce: &[u8; 24], in_out: &mut [u8], tag: &[u8; 16]) {
        let (key, nonce) = ietf(key, nonce);
        key.open_in_place_separate_tag(nonce, Aad::empty(), Tag::from(*tag), in_out, 0..).unwrap();
    }
}

/// XChaCha20-Poly1305 as the codec computes it, in place, tag returned.
#[cfg(not(all(feature = "ring", any(target_arch = "x86_64", target_arch = "aarch64"))))]
mod xchacha {
    use chacha20poly1305::aead::{AeadInPlace, KeyInit};
    use chacha20poly1305::{Tag, XChaCha20Poly1305, XNonce};

    pub fn seal(key: &[u8; 32], nonce: &[u8; 24], in_out: &mut [u8]) -> [u8; 16] {
        XChaCha20Poly1305::new(key.into())
            .encrypt_in_place_detached(XNonce::from_slice(nonce), b"", in_out)
            .unwrap()
            .into()
    }

    pub fn open(key: &[u8; 32], nonce: &[u8; 24], in_out: &mut [u8], tag: &[u8; 16]) {
        XChaCha20Poly1305::new(key.into())
            .decrypt_in_place_detached(XNonce::from_slice(nonce), b"", in_out, Tag::from_slice(tag))
            .unwrap();
    }
}

fn floor_xchacha(key: &[u8; 32], map: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut nonce = [0u8; 24];
    getrandom::fill(&mut nonce).unwrap();
    let mut buf = bincode::serde::encode_to_vec(map, bincode_config()).unwrap();
    let tag = xchacha::seal(key, &nonce, &mut buf);
    let mut frame = Vec::with_capacity(24 + buf.len() + 16);
    frame.extend_from_slice(&nonce);
    frame.extend_from_slice(&buf);
    frame.extend_from_slice(&tag);
    let text = URL_SAFE_NO_PAD.encode_to_string(&frame);

    let mut frame = URL_SAFE_NO_PAD.decode_to_vec(black_box(&text)).unwrap();
    let tag_at = frame.len() - 16;
    let (nonce, rest) = frame.split_at_mut(24);
    let (body, tag) = rest.split_at_mut(tag_at - 24);
    xchacha::open(key, (&*nonce).try_into().unwrap(), body, (&*tag).try_into().unwrap());
    bincode::serde::decode_from_slice(body, bincode_config()).unwrap().0
}

fn floor_blake3(key: &[u8; 32], map: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut frame = bincode::serde::encode_to_vec(map, bincode_config()).unwrap();
    let mac = blake3::keyed_hash(key, &frame);
    frame.extend_from_slice(mac.as_bytes());
    let text = URL_SAFE_NO_PAD.encode_to_string(&frame);

    let frame = URL_SAFE_NO_PAD.decode_to_vec(black_box(&text)).unwrap();
    let (body, mac) = frame.split_at(frame.len() - 32);
    assert!(blake3::keyed_hash(key, body) == <[u8; 32]>::try_from(mac).unwrap());
    bincode::serde::decode_from_slice(body, bincode_config()).unwrap().0
}

fn peer_private_jar(key: &cookie::Key, map: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut jar = CookieJar::new();
    jar.private_mut(key).add(Cookie::new("session", serde_json::to_string(map).unwrap()));
    let value = jar.get("session").unwrap().value().to_owned();
    let opened = jar.private(key).decrypt(Cookie::new("session", black_box(value))).unwrap();
    serde_json::from_str(opened.value()).unwrap()
}

fn peer_signed_jar(key: &cookie::Key, map: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut jar = CookieJar::new();
    jar.signed_mut(key).add(Cookie::new("session", serde_json::to_string(map).unwrap()));
    let value = jar.get("session").unwrap().value().to_owned();
    let opened = jar.signed(key).verify(Cookie::new("session", black_box(value))).unwrap();
    serde_json::from_str(opened.value()).unwrap()
}

fn bench(c: &mut Criterion) {
    let ring = KeyRing::from(Key::generate());
    let sealed = Codec::new(ring.clone(), Mode::Sealed);
    let signed = Codec::new(ring, Mode::Signed);
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).unwrap();
    let jar_key = cookie::Key::generate();

    let sizes = [("small", data(3, 12)), ("typical", data(10, 32)), ("large", data(20, 116))];
    let mut group = c.benchmark_group("round_trip");
    for (size, map) in &sizes {
        let fields = fields(map);
        let bytes = record::encode(&fields).len() as u64;
        group.throughput(Throughput::Bytes(bytes));
        assert_eq!(codec_round_trip(&sealed, &fields), fields);
        assert_eq!(&floor_xchacha(&key, map), map);
        assert_eq!(&floor_blake3(&key, map), map);
        assert_eq!(&peer_private_jar(&jar_key, map), map);
        assert_eq!(&peer_signed_jar(&jar_key, map), map);
        // Each codec next to its peer, so a change in machine load between
        // the two shows as little as possible in their ratio.
        group.bench_with_input(BenchmarkId::new("codec/sealed", size), &fields, |b, f| {
            b.iter(|| codec_round_trip(&sealed, f))
        });
        group.bench_with_input(BenchmarkId::new("peer/private_jar", size), map, |b, m| {
            b.iter(|| peer_private_jar(&jar_key, m))
        });
        group.bench_with_input(BenchmarkId::new("floor/xchacha", size), map, |b, m| b.iter(|| floor_xchacha(&key, m)));
        group.bench_with_input(BenchmarkId::new("codec/signed", size), &fields, |b, f| {
            b.iter(|| codec_round_trip(&signed, f))
        });
        group.bench_with_input(BenchmarkId::new("peer/signed_jar", size), map, |b, m| {
            b.iter(|| peer_signed_jar(&jar_key, m))
        });
        group.bench_with_input(BenchmarkId::new("floor/blake3", size), map, |b, m| b.iter(|| floor_blake3(&key, m)));
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(4));
    targets = bench
}
criterion_main!(benches);
