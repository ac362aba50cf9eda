//! Properties of the cookie codec, the record decoder and value decoding,
//! checked on generated inputs in both modes.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use proptest::prelude::*;
use sessions_core::backend::record::{self, Fields};
use sessions_core::codec::{Codec, DEFAULT_CLOCK_SKEW_SECS, DEFAULT_COOKIE_LIMIT, Mode, Times};
use sessions_core::store::Store;
use sessions_core::{CookieStore, Error, Key, KeyRing, Rejection, StoreConfig};

const NOW: u64 = 1_700_000_000;
const MODES: [Mode; 2] = [Mode::Sealed, Mode::Signed];

fn key(seed: u8) -> Key {
    Key::from_bytes(&std::array::from_fn::<u8, 32, _>(|i| seed.wrapping_add(i as u8 * 7))).unwrap()
}

fn codec(mode: Mode) -> Codec {
    Codec::new(KeyRing::from(key(1)), mode)
}

fn mode() -> impl Strategy<Value = Mode> {
    prop_oneof![Just(Mode::Sealed), Just(Mode::Signed)]
}

fn name() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_-]{1,20}"
}

/// Times a server would write at `NOW`: issued up to a day ago, with or
/// without an expiry still ahead.
fn times() -> impl Strategy<Value = Times> {
    (0..86_400u64, proptest::option::of(1..1_000_000_000u64))
        .prop_map(|(age, ahead)| Times { issued: NOW - age, expires: ahead.map(|a| NOW + a) })
}

fn small_payload() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..200)
}

/// The largest payload whose `name=value` still fits the default limit.
fn largest_payload(codec: &Codec, name: &str) -> usize {
    (0..DEFAULT_COOKIE_LIMIT).rev().find(|&n| name.len() + 1 + codec.encoded_len(n) <= codec.limit()).unwrap()
}

fn frame_of(value: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(value).unwrap()
}

fn value_of(frame: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(frame)
}

/// Polls a future that never waits: the cookie store does no I/O.
fn ready<F: Future>(future: F) -> F::Output {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("a cookie-store future was pending"),
    }
}

/// LEB128, as the record format writes lengths.
fn varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn small_payloads_round_trip(mode in mode(), name in name(), payload in small_payload(), times in times()) {
        let codec = codec(mode);
        let value = codec.encode(&name, &payload, times).unwrap();
        let opened = codec.decode(&name, &value, NOW).unwrap();
        prop_assert_eq!(opened.payload, payload);
        prop_assert_eq!(opened.times, times);
        prop_assert_eq!(opened.key_index, 0);
    }

    #[test]
    fn near_limit_payloads_round_trip(mode in mode(), name in name(), short_by in 0..16usize, fill in any::<u8>()) {
        let codec = codec(mode);
        let len = largest_payload(&codec, &name) - short_by;
        let payload: Vec<u8> = (0..len).map(|i| fill.wrapping_add(i as u8)).collect();
        let value = codec.encode(&name, &payload, Times { issued: NOW, expires: None }).unwrap();
        prop_assert!(name.len() + 1 + value.len() <= DEFAULT_COOKIE_LIMIT);
        prop_assert_eq!(codec.decode(&name, &value, NOW).unwrap().payload, payload);
    }

    #[test]
    fn encoding_over_the_size_limit_is_too_large(mode in mode(), name in name(), extra in 1..2000usize) {
        let codec = codec(mode);
        let payload = vec![0u8; largest_payload(&codec, &name) + extra];
        let err = codec.encode(&name, &payload, Times { issued: NOW, expires: None }).unwrap_err();
        prop_assert!(matches!(err, Error::TooLarge { limit: DEFAULT_COOKIE_LIMIT, .. }), "{err:?}");
    }

    #[test]
    fn over_long_input_is_refused_before_decoding(mode in mode(), name in name(), extra in 1..10_000usize, c in any::<char>()) {
        // Any text at all, valid base64 or not: length alone decides.
        let value: String = std::iter::repeat_n(c, DEFAULT_COOKIE_LIMIT + extra).collect();
        prop_assert_eq!(codec(mode).decode(&name, &value, NOW), Err(Rejection::TooLong));
    }

    #[test]
    fn value_moved_to_another_cookie_name_is_forged(mode in mode(), from in name(), to in name(), payload in small_payload()) {
        prop_assume!(from != to);
        let codec = codec(mode);
        let value = codec.encode(&from, &payload, Times { issued: NOW, expires: None }).unwrap();
        prop_assert_eq!(codec.decode(&to, &value, NOW), Err(Rejection::Forged));
    }

    #[test]
    fn a_value_under_a_key_outside_the_ring_is_refused(mode in mode(), seed in 2..=255u8, payload in small_payload()) {
        let theirs = Codec::new(KeyRing::from(key(seed)), mode);
        let value = theirs.encode("s", &payload, Times { issued: NOW, expires: None }).unwrap();
        let refused = codec(mode).decode("s", &value, NOW).unwrap_err();
        prop_assert!(matches!(refused, Rejection::UnknownKey | Rejection::Forged), "{refused:?}");
    }

    #[test]
    fn a_value_under_an_older_key_of_the_ring_opens_with_its_position(
        mode in mode(), older in 2..=255u8, payload in small_payload()
    ) {
        let before = Codec::new(KeyRing::from(key(older)), mode);
        let value = before.encode("s", &payload, Times { issued: NOW, expires: None }).unwrap();
        let rotated = Codec::new(KeyRing::new([key(1), key(older)]).unwrap(), mode);
        let opened = rotated.decode("s", &value, NOW).unwrap();
        prop_assert_eq!(opened.key_index, 1);
        prop_assert_eq!(opened.payload, payload);
    }

    #[test]
    fn a_value_at_or_past_its_expiry_is_expired(mode in mode(), lifetime in 1..1_000_000u64, late in 0..1_000_000_000u64) {
        let codec = codec(mode);
        let value = codec.encode("s", b"x", Times { issued: NOW, expires: Some(NOW + lifetime) }).unwrap();
        prop_assert_eq!(codec.decode("s", &value, NOW + lifetime + late), Err(Rejection::Expired));
    }

    #[test]
    fn a_value_issued_beyond_the_clock_skew_is_from_the_future(mode in mode(), ahead in 1..1_000_000_000u64) {
        let codec = codec(mode);
        let issued = NOW + DEFAULT_CLOCK_SKEW_SECS + ahead;
        let value = codec.encode("s", b"x", Times { issued, expires: None }).unwrap();
        prop_assert_eq!(codec.decode("s", &value, NOW), Err(Rejection::FromTheFuture));
    }

    #[test]
    fn a_value_issued_within_the_clock_skew_opens(mode in mode(), ahead in 0..=DEFAULT_CLOCK_SKEW_SECS) {
        let codec = codec(mode);
        let value = codec.encode("s", b"x", Times { issued: NOW + ahead, expires: None }).unwrap();
        prop_assert!(codec.decode("s", &value, NOW).is_ok());
    }

    #[test]
    fn record_fields_round_trip(map in proptest::collection::btree_map(".{0,12}", proptest::collection::vec(any::<u8>(), 0..64), 0..12)) {
        let fields = Fields::from_iter(&map);
        let decoded = record::decode(&record::encode(&fields)).unwrap();
        prop_assert!(decoded.iter().eq(map.iter().map(|(n, v)| (n.as_str(), v.as_slice()))));
        prop_assert_eq!(decoded, fields);
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_record_decoder(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = record::decode(&bytes);
    }

    #[test]
    fn a_forged_field_length_is_corrupt(
        name in "[a-z]{1,8}", value in proptest::collection::vec(any::<u8>(), 0..64),
        excess in 1..=u64::MAX, forge_name in any::<bool>()
    ) {
        // One field whose name or value length claims more than all the
        // bytes that follow it, up to u64::MAX.
        let beyond = ((name.len() + value.len() + 12) as u64).saturating_add(excess);
        let mut bytes = vec![1u8, 1];
        varint(&mut bytes, if forge_name { beyond } else { name.len() as u64 });
        bytes.extend_from_slice(name.as_bytes());
        varint(&mut bytes, if forge_name { value.len() as u64 } else { beyond });
        bytes.extend_from_slice(&value);
        prop_assert!(record::decode(&bytes).is_err());
    }

    #[test]
    fn a_forged_field_count_is_corrupt(count in 2..=u64::MAX) {
        let mut fields = Fields::new();
        fields.insert("vk", b"v");
        let mut bytes = record::encode(&fields);
        let mut forged = vec![1u8];
        varint(&mut forged, count);
        forged.extend_from_slice(&bytes.split_off(2));
        prop_assert!(record::decode(&forged).is_err());
    }

    #[test]
    fn every_truncation_of_a_record_is_corrupt(map in proptest::collection::btree_map("[a-z]{1,6}", proptest::collection::vec(any::<u8>(), 1..16), 1..6)) {
        let bytes = record::encode(&Fields::from_iter(map));
        for cut in 0..bytes.len() {
            prop_assert!(record::decode(&bytes[..cut]).is_err(), "accepted a cut at {}", cut);
        }
    }

    #[test]
    fn appended_bytes_make_a_record_corrupt(extra in proptest::collection::vec(any::<u8>(), 1..16)) {
        let mut fields = Fields::new();
        fields.insert("vk", b"v");
        let mut bytes = record::encode(&fields);
        bytes.extend_from_slice(&extra);
        prop_assert!(record::decode(&bytes).is_err());
    }

    #[test]
    fn garbage_values_read_as_errors_or_values_never_panics(garbage in proptest::collection::vec(any::<u8>(), 0..64)) {
        let ring = KeyRing::from(key(1));
        // No absolute timeout: the session below was created at the epoch.
        let store = CookieStore::new(StoreConfig::new("s", ring.clone()).lifetime(sessions_core::BrowserSession::new().absolute_timeout(None))).unwrap();
        let mut fields = Fields::new();
        // Metadata of a browser-session cookie created at the epoch.
        fields.insert("m", vec![0, 0]);
        fields.insert("vjunk", garbage.clone());
        fields.insert("f_flash", garbage);
        let now = sessions_core::clock::Clock::now(&sessions_core::clock::SystemClock);
        let value = Codec::new(ring, Mode::Sealed)
            .encode("s", &record::encode(&fields), Times { issued: now, expires: None })
            .unwrap();
        let session = ready(store.load(&[&value])).unwrap();
        prop_assert!(!session.is_new(), "the authentic cookie was not loaded");
        let _ = session.get::<String>("junk");
        let _ = session.get::<u64>("junk");
        let _ = session.get::<Vec<String>>("junk");
        let _ = session.get::<(u8, Option<i64>, Vec<u8>)>("junk");
        let _ = session.flashes::<String>();
    }
}

proptest! {
    // Each case decodes every mutation of one cookie: fewer cases.
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn every_single_bit_flip_of_the_frame_is_refused(mode in mode(), payload in small_payload(), times in times()) {
        let codec = codec(mode);
        let frame = frame_of(&codec.encode("s", &payload, times).unwrap());
        for bit in 0..frame.len() * 8 {
            let mut flipped = frame.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            prop_assert!(codec.decode("s", &value_of(&flipped), NOW).is_err(), "accepted a flip of bit {}", bit);
        }
    }

    #[test]
    fn every_single_bit_flip_of_the_text_is_refused(mode in mode(), payload in small_payload(), times in times()) {
        let codec = codec(mode);
        let value = codec.encode("s", &payload, times).unwrap().into_bytes();
        for bit in 0..value.len() * 8 {
            let mut flipped = value.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            // A flip of the top bit leaves ASCII; the header parser would
            // hand that on as the replacement character.
            let text = String::from_utf8_lossy(&flipped);
            prop_assert!(codec.decode("s", &text, NOW).is_err(), "accepted a flip of bit {}", bit);
        }
    }

    #[test]
    fn every_truncation_is_refused(mode in mode(), payload in small_payload(), times in times()) {
        let codec = codec(mode);
        let value = codec.encode("s", &payload, times).unwrap();
        for cut in 0..value.len() {
            prop_assert!(codec.decode("s", &value[..cut], NOW).is_err(), "accepted text cut at {}", cut);
        }
        let frame = frame_of(&value);
        for cut in 0..frame.len() {
            prop_assert!(codec.decode("s", &value_of(&frame[..cut]), NOW).is_err(), "accepted frame cut at {}", cut);
        }
    }

    #[test]
    fn appended_bytes_are_refused(
        mode in mode(), payload in small_payload(), extra in proptest::collection::vec(any::<u8>(), 1..32),
        text in "[A-Za-z0-9_=+/-]{1,8}"
    ) {
        let codec = codec(mode);
        let value = codec.encode("s", &payload, Times { issued: NOW, expires: None }).unwrap();
        let longer = format!("{value}{text}");
        prop_assert!(codec.decode("s", &longer, NOW).is_err());
        let mut frame = frame_of(&value);
        frame.extend_from_slice(&extra);
        prop_assert!(codec.decode("s", &value_of(&frame), NOW).is_err());
    }
}

#[test]
fn empty_payload_round_trips_in_both_modes() {
    for mode in MODES {
        let codec = codec(mode);
        let value = codec.encode("s", b"", Times { issued: NOW, expires: None }).unwrap();
        assert_eq!(codec.decode("s", &value, NOW).unwrap().payload, b"", "{mode:?}");
    }
}

#[test]
fn the_largest_payload_that_fits_round_trips_and_one_more_byte_is_too_large() {
    for mode in MODES {
        let codec = codec(mode);
        let len = largest_payload(&codec, "session");
        let times = Times { issued: NOW, expires: None };
        let value = codec.encode("session", &vec![7u8; len], times).unwrap();
        assert_eq!(codec.decode("session", &value, NOW).unwrap().payload.len(), len);
        assert!(matches!(codec.encode("session", &vec![7u8; len + 1], times), Err(Error::TooLarge { .. })), "{mode:?}");
    }
}
