//! Seal-and-open round trips of a session record through the codec, in both
//! modes, against the floor: the raw primitives on the same data with no
//! framing, no cookie name, no times and no key ring.
//!
//! - `codec/sealed/<size>`: record encode, `Codec::encode`, `Codec::decode`,
//!   record decode, with `Mode::Sealed`.
//! - `codec/signed/<size>`: the same with `Mode::Signed`.
//! - `floor/xchacha/<size>`: bincode 2 of the map, XChaCha20-Poly1305 with a
//!   nonce from the OS generator (as the codec's), base64url; then back.
//! - `floor/blake3/<size>`: bincode 2, BLAKE3 keyed hash, base64url; then
//!   back (the floor of the signed mode).
//!
//! Sizes: `small` (3 string entries, ~60 B), `typical` (10, ~400 B),
//! `large` (20, ~2.5 KB).

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{Tag, XChaCha20Poly1305, XNonce};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use sessions_core::codec::{Codec, Mode, Times};
use sessions_core::record::{self, Fields};
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
    fields.insert("m".into(), vec![0xfc, 0x00, 0xf1, 0x53, 0x65, 0x00]);
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

fn floor_xchacha(cipher: &XChaCha20Poly1305, map: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut nonce = [0u8; 24];
    getrandom::fill(&mut nonce).unwrap();
    let mut buf = bincode::serde::encode_to_vec(map, bincode_config()).unwrap();
    let tag = cipher.encrypt_in_place_detached(XNonce::from_slice(&nonce), b"", &mut buf).unwrap();
    let mut frame = Vec::with_capacity(24 + buf.len() + 16);
    frame.extend_from_slice(&nonce);
    frame.extend_from_slice(&buf);
    frame.extend_from_slice(&tag);
    let text = URL_SAFE_NO_PAD.encode(&frame);

    let mut frame = URL_SAFE_NO_PAD.decode(black_box(&text)).unwrap();
    let tag_at = frame.len() - 16;
    let tag = Tag::clone_from_slice(&frame[tag_at..]);
    let (nonce, rest) = frame.split_at_mut(24);
    cipher.decrypt_in_place_detached(XNonce::from_slice(nonce), b"", &mut rest[..tag_at - 24], &tag).unwrap();
    bincode::serde::decode_from_slice(&rest[..tag_at - 24], bincode_config()).unwrap().0
}

fn floor_blake3(key: &[u8; 32], map: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut frame = bincode::serde::encode_to_vec(map, bincode_config()).unwrap();
    let mac = blake3::keyed_hash(key, &frame);
    frame.extend_from_slice(mac.as_bytes());
    let text = URL_SAFE_NO_PAD.encode(&frame);

    let frame = URL_SAFE_NO_PAD.decode(black_box(&text)).unwrap();
    let (body, mac) = frame.split_at(frame.len() - 32);
    assert!(blake3::keyed_hash(key, body) == <[u8; 32]>::try_from(mac).unwrap());
    bincode::serde::decode_from_slice(body, bincode_config()).unwrap().0
}

fn bench(c: &mut Criterion) {
    let ring = KeyRing::from(Key::generate());
    let sealed = Codec::new(ring.clone(), Mode::Sealed);
    let signed = Codec::new(ring, Mode::Signed);
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).unwrap();
    let cipher = XChaCha20Poly1305::new((&key).into());

    let sizes = [("small", data(3, 12)), ("typical", data(10, 32)), ("large", data(20, 116))];
    let mut group = c.benchmark_group("round_trip");
    for (size, map) in &sizes {
        let fields = fields(map);
        let bytes = record::encode(&fields).len() as u64;
        group.throughput(Throughput::Bytes(bytes));
        assert_eq!(codec_round_trip(&sealed, &fields), fields);
        assert_eq!(&floor_xchacha(&cipher, map), map);
        assert_eq!(&floor_blake3(&key, map), map);
        group.bench_with_input(BenchmarkId::new("codec/sealed", size), &fields, |b, f| {
            b.iter(|| codec_round_trip(&sealed, f))
        });
        group.bench_with_input(BenchmarkId::new("floor/xchacha", size), map, |b, m| {
            b.iter(|| floor_xchacha(&cipher, m))
        });
        group.bench_with_input(BenchmarkId::new("codec/signed", size), &fields, |b, f| {
            b.iter(|| codec_round_trip(&signed, f))
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
