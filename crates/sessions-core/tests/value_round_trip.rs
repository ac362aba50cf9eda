//! Every value `Session::insert` accepts comes back equal from
//! `Session::get`, whatever its shape and size; and stored bytes that are
//! not a value of the requested type are an error, as far as the value
//! format can tell (see `serial`'s module documentation).
//!
//! The property tests run a modest number of cases by default so the file
//! stays fast in a debug build; set `PROPTEST_CASES` for a long run.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use proptest::collection::{btree_map, hash_map, vec};
use proptest::prelude::*;
use serde::de::{DeserializeOwned, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sessions_core::{Error, Session};

/// `cases` unless `PROPTEST_CASES` asks for another number.
fn config(cases: u32) -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = cases;
    }
    config
}

/// Stores `value` in a fresh session and reads it back as a `T`.
fn stored_and_read<S: Serialize + ?Sized, T: DeserializeOwned>(value: &S) -> Result<Option<T>, Error> {
    let session = Session::new_detached();
    session.insert("value", value).expect("every value here encodes");
    session.get("value")
}

/// Whether `value` comes back equal; the value is not printed, it may be
/// megabytes long.
fn round_trips<T: Serialize + DeserializeOwned + PartialEq>(value: &T) -> Result<(), String> {
    match stored_and_read::<T, T>(value) {
        Ok(Some(back)) if back == *value => Ok(()),
        Ok(Some(_)) => Err("came back different".into()),
        Ok(None) => Err("came back absent".into()),
        Err(e) => Err(e.to_string()),
    }
}

// --- A value of every kind of the serde data model ---------------------------

/// A byte buffer serialized as serde bytes (what `serde_bytes` does), not as
/// a sequence of `u8`.
#[derive(Clone, Debug, PartialEq)]
struct Bytes(Vec<u8>);

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct BytesVisitor;
        impl Visitor<'_> for BytesVisitor {
            type Value = Bytes;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a byte buffer")
            }
            fn visit_bytes<E>(self, v: &[u8]) -> Result<Bytes, E> {
                Ok(Bytes(v.to_vec()))
            }
            fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Bytes, E> {
                Ok(Bytes(v))
            }
        }
        deserializer.deserialize_byte_buf(BytesVisitor)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Ints {
    u8: u8,
    u16: u16,
    u32: u32,
    u64: u64,
    u128: u128,
    usize: usize,
    i8: i8,
    i16: i16,
    i32: i32,
    i64: i64,
    i128: i128,
    isize: isize,
}

/// Floats compared bit for bit, so NaNs of every payload must survive.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Floats(f32, f64);

impl PartialEq for Floats {
    fn eq(&self, other: &Self) -> bool {
        self.0.to_bits() == other.0.to_bits() && self.1.to_bits() == other.1.to_bits()
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Marker;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct NoFields {}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Wrapper(Box<Value>);

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Couple(char, Box<Value>);

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Record {
    id: u64,
    label: String,
    tags: Vec<String>,
    value: Box<Value>,
}

/// One variant per kind of the serde data model; enum variants of every
/// kind (unit, newtype, tuple, struct) among them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
enum Value {
    Unit,
    Nothing(()),
    Bool(bool),
    Ints(Ints),
    Floats(Floats),
    Char(char),
    Text(String),
    Bytes(Bytes),
    ByteSeq(Vec<u8>),
    Marker(Marker),
    NoFields(NoFields),
    Array([i16; 3]),
    Maybe(Option<Box<Value>>),
    Newtype(Wrapper),
    Tuple((u16, Box<Value>, i8)),
    TupleStruct(Couple),
    Pair(Box<Value>, Box<Value>),
    Fields { name: String, inner: Box<Value>, flag: Option<bool> },
    Record(Record),
    Seq(Vec<Value>),
    Map(BTreeMap<String, Value>),
    IntKeys(HashMap<i64, Value>),
    TupleKeys(BTreeMap<(u8, String), Value>),
}

/// Integers that are often an extreme or a varint boundary, else anything.
macro_rules! int {
    ($t:ty) => {{
        // Around bincode's largest one-byte integer (250) and its markers.
        #[allow(clippy::unnecessary_cast)]
        fn from_byte(b: u8) -> $t {
            b as $t
        }
        prop_oneof![
            Just(<$t>::MIN),
            Just(<$t>::MAX),
            Just(<$t>::default()),
            any::<u8>().prop_map(from_byte),
            any::<$t>()
        ]
    }};
}

fn ints() -> impl Strategy<Value = Ints> {
    (
        (int!(u8), int!(u16), int!(u32), int!(u64), int!(u128), int!(usize)),
        (int!(i8), int!(i16), int!(i32), int!(i64), int!(i128), int!(isize)),
    )
        .prop_map(|((u8, u16, u32, u64, u128, usize), (i8, i16, i32, i64, i128, isize))| Ints {
            u8,
            u16,
            u32,
            u64,
            u128,
            usize,
            i8,
            i16,
            i32,
            i64,
            i128,
            isize,
        })
}

fn floats() -> impl Strategy<Value = Floats> {
    let f32s = prop_oneof![any::<f32>(), any::<u32>().prop_map(f32::from_bits), Just(f32::NAN), Just(-0.0f32)];
    let f64s = prop_oneof![any::<f64>(), any::<u64>().prop_map(f64::from_bits), Just(f64::INFINITY), Just(-0.0)];
    (f32s, f64s).prop_map(|(a, b)| Floats(a, b))
}

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Unit),
        Just(Value::Nothing(())),
        any::<bool>().prop_map(Value::Bool),
        ints().prop_map(Value::Ints),
        floats().prop_map(Value::Floats),
        any::<char>().prop_map(Value::Char),
        any::<String>().prop_map(Value::Text),
        vec(any::<u8>(), 0..300).prop_map(|b| Value::Bytes(Bytes(b))),
        vec(any::<u8>(), 0..300).prop_map(Value::ByteSeq),
        Just(Value::Marker(Marker)),
        Just(Value::NoFields(NoFields {})),
        any::<[i16; 3]>().prop_map(Value::Array),
    ];
    leaf.prop_recursive(4, 96, 8, |inner| {
        let boxed = inner.clone().prop_map(Box::new);
        prop_oneof![
            proptest::option::of(boxed.clone()).prop_map(Value::Maybe),
            boxed.clone().prop_map(|v| Value::Newtype(Wrapper(v))),
            (int!(u16), boxed.clone(), int!(i8)).prop_map(Value::Tuple),
            (any::<char>(), boxed.clone()).prop_map(|(c, v)| Value::TupleStruct(Couple(c, v))),
            (boxed.clone(), boxed.clone()).prop_map(|(a, b)| Value::Pair(a, b)),
            (".{0,12}", boxed.clone(), proptest::option::of(any::<bool>()))
                .prop_map(|(name, inner, flag)| Value::Fields { name, inner, flag }),
            (int!(u64), ".{0,12}", vec(".{0,6}", 0..4), boxed)
                .prop_map(|(id, label, tags, value)| Value::Record(Record { id, label, tags, value })),
            vec(inner.clone(), 0..8).prop_map(Value::Seq),
            btree_map(".{0,8}", inner.clone(), 0..8).prop_map(Value::Map),
            hash_map(int!(i64), inner.clone(), 0..8).prop_map(Value::IntKeys),
            btree_map((any::<u8>(), ".{0,4}"), inner, 0..8).prop_map(Value::TupleKeys),
        ]
    })
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn values_of_every_kind_round_trip(value in value()) {
        prop_assert_eq!(round_trips(&value), Ok(()), "{:?}", value);
    }

    #[test]
    fn top_level_values_of_every_kind_round_trip(
        ints in ints(),
        floats in floats(),
        text in any::<String>(),
        c in any::<char>(),
        values in vec(value(), 0..4),
    ) {
        prop_assert_eq!(round_trips(&ints), Ok(()));
        prop_assert_eq!(round_trips(&floats), Ok(()));
        prop_assert_eq!(round_trips(&text), Ok(()));
        prop_assert_eq!(round_trips(&c), Ok(()));
        prop_assert_eq!(round_trips(&Some(c)), Ok(()));
        prop_assert_eq!(round_trips(&(ints.u128, ints.i128, c, text.clone())), Ok(()));
        prop_assert_eq!(round_trips(&values), Ok(()));
        let map: BTreeMap<String, Value> = values.into_iter().enumerate().map(|(i, v)| (i.to_string(), v)).collect();
        prop_assert_eq!(round_trips(&map), Ok(()));
        prop_assert_eq!(round_trips(&()), Ok(()));
    }
}

proptest! {
    #![proptest_config(config(32))]

    /// Integers cost bincode's limit accounting up to 16 times their
    /// encoded size: long sequences of small ones at every length.
    #[test]
    fn long_sequences_of_small_integers_round_trip(len in 0usize..6_000, max in prop_oneof![Just(0u64), Just(250), Just(70_000), Just(u64::MAX)], seed in any::<u64>()) {
        let mut rng = Rng(seed | 1);
        let u64s: Vec<u64> = (0..len).map(|_| rng.next() % (max.saturating_add(1)).max(1)).collect();
        prop_assert_eq!(round_trips(&u64s), Ok(()), "{} u64s up to {}", len, max);
        let u128s: Vec<u128> = u64s.iter().map(|&n| u128::from(n)).collect();
        prop_assert_eq!(round_trips(&u128s), Ok(()), "{} u128s up to {}", len, max);
        let i128s: Vec<i128> = u64s.iter().map(|&n| -i128::from(n)).collect();
        prop_assert_eq!(round_trips(&i128s), Ok(()), "{} i128s down to -{}", len, max);
        let nested: Vec<Vec<u32>> = u64s.chunks(7).map(|c| c.iter().map(|&n| n as u32).collect()).collect();
        prop_assert_eq!(round_trips(&nested), Ok(()), "{} u32s in chunks", len);
    }
}

// --- Sizes --------------------------------------------------------------------

/// A small deterministic generator: large buffers are built from a seed
/// rather than drawn byte by byte.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut bytes = vec![0; len.next_multiple_of(8)];
        for chunk in bytes.chunks_exact_mut(8) {
            chunk.copy_from_slice(&self.next().to_le_bytes());
        }
        bytes.truncate(len);
        bytes
    }

    /// Printable ASCII.
    fn text(&mut self, len: usize) -> String {
        let mut bytes = self.bytes(len);
        for b in &mut bytes {
            *b = b' ' + *b % 95;
        }
        String::from_utf8(bytes).expect("ASCII")
    }
}

/// A buffer of `len` random bytes round trips as bytes, as a sequence of
/// `u8` when `as_sequence` (decoded one element at a time, a long one takes
/// a second in a debug build) and, printable, as a string.
fn buffers_round_trip(len: usize, seed: u64, as_sequence: bool) -> Result<(), String> {
    let mut rng = Rng(seed | 1);
    let bytes = rng.bytes(len);
    round_trips(&Bytes(bytes.clone())).map_err(|e| format!("{len} bytes as bytes: {e}"))?;
    if as_sequence {
        round_trips(&bytes).map_err(|e| format!("{len} bytes as a sequence: {e}"))?;
    }
    round_trips(&rng.text(len)).map_err(|e| format!("{len} bytes as a string: {e}"))
}

const BOUNDARIES: [usize; 4] = [256, 4096, 65536, 1 << 20];

/// Every length within 24 bytes of the sizes where the decode limit
/// steps. As a sequence, every one of them around the smaller sizes; around
/// the larger ones, one length inside the window the old limit refused and
/// the boundary itself.
#[test]
fn buffers_of_every_length_around_the_size_boundaries_round_trip() {
    for boundary in BOUNDARIES {
        for len in boundary - 24..=boundary + 24 {
            let as_sequence = boundary <= 4096 || len == boundary - 6 || len == boundary;
            assert_eq!(buffers_round_trip(len, len as u64, as_sequence), Ok(()));
        }
    }
}

#[test]
fn sixteen_mebibyte_values_round_trip() {
    let boundary = 1usize << 24;
    let mut rng = Rng(7);
    for len in [boundary - 9, boundary - 1, boundary, boundary + 1] {
        let bytes = rng.bytes(len);
        assert_eq!(round_trips(&Bytes(bytes)), Ok(()), "{len} bytes");
    }
    assert_eq!(round_trips(&rng.text(boundary - 5)), Ok(()), "a string of 16 MiB");
}

/// Lengths up to a little over 16 MiB, most of them near a boundary.
fn length() -> impl Strategy<Value = usize> {
    let near = |b: usize| b - 32..b + 32;
    prop_oneof![
        4 => 0usize..1024,
        4 => near(256),
        4 => near(4096),
        4 => near(65536),
        2 => near(1 << 20),
        1 => near(1 << 24),
        1 => 0usize..(1 << 24) + 64,
    ]
}

proptest! {
    #![proptest_config(config(24))]

    #[test]
    fn buffers_of_any_size_round_trip(len in length(), seed in any::<u64>()) {
        prop_assert_eq!(buffers_round_trip(len, seed, len <= 70_000), Ok(()));
    }
}

#[test]
fn a_hundred_small_numbers_round_trip() {
    let numbers: Vec<u64> = (0..100).collect();
    assert_eq!(round_trips(&numbers), Ok(()));
}

// --- Flash queues ---------------------------------------------------------------

#[test]
fn five_hundred_one_byte_flashes_come_back() {
    let session = Session::new_detached();
    for i in 0..500u32 {
        session.add_flash(&((i % 200) as u8)).unwrap_or_else(|e| panic!("flash {i}: {e}"));
    }
    let flashes: Vec<u8> = session.flashes().unwrap();
    assert_eq!(flashes, (0..500u32).map(|i| (i % 200) as u8).collect::<Vec<_>>());
}

fn flash_item() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        60 => vec(any::<u8>(), 0..4),
        2 => vec(any::<u8>(), 0..300),
        1 => vec(any::<u8>(), 240..270),
    ]
}

proptest! {
    // Each flash rewrites the whole queue: a case costs the square of its
    // length.
    #![proptest_config(config(8))]

    #[test]
    fn flash_queues_of_varied_items_come_back(items in vec(flash_item(), 1..500), texts in vec(".{0,40}", 1..50)) {
        let session = Session::new_detached();
        let fail = |e: Error| TestCaseError::fail(e.to_string());
        for item in &items {
            session.add_flash(item).map_err(fail)?;
        }
        for text in &texts {
            session.add_flash_to("notes", text).map_err(fail)?;
        }
        prop_assert_eq!(session.flashes::<Vec<u8>>().map_err(fail)?, items);
        prop_assert_eq!(session.flashes_from::<String>("notes").map_err(fail)?, texts);
        prop_assert!(session.is_empty());
    }
}

// --- What a wrong type gets ------------------------------------------------------

/// Reads a stored value as another type; `Ok(None)` never happens here.
fn read_as<S: Serialize + ?Sized, T: DeserializeOwned>(value: &S) -> Result<T, String> {
    match stored_and_read::<S, T>(value) {
        Ok(Some(value)) => Ok(value),
        Ok(None) => panic!("the value vanished"),
        Err(Error::Value { action: "decoded", .. }) => Err("Error::Value".into()),
        Err(other) => panic!("not a value error: {other}"),
    }
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
enum Two {
    A,
    B,
}

#[test]
fn bytes_that_are_no_value_of_the_type_are_an_error() {
    // Too wide for the type: bincode writes 300 as a u16 marker and two
    // bytes, and a u8 is one raw byte, so two bytes are left over.
    assert!(read_as::<_, u8>(&300u64).is_err());
    assert!(read_as::<_, u16>(&70_000u32).is_err());
    assert!(read_as::<_, u32>(&u64::MAX).is_err());
    assert!(read_as::<_, u64>(&u128::MAX).is_err());
    // Leftover bytes: a string's length read as a number.
    assert!(read_as::<_, u32>("hello").is_err());
    assert!(read_as::<_, u8>(&(1u8, 2u8)).is_err());
    // Too short.
    assert!(read_as::<_, (u8, u8)>(&1u8).is_err());
    assert!(read_as::<_, String>(&3u8).is_err());
    // Invalid encodings of the requested type.
    assert!(read_as::<_, bool>(&2u8).is_err());
    assert!(read_as::<_, Option<u8>>(&2u8).is_err());
    assert!(read_as::<_, Two>(&2u32).is_err());
    assert!(read_as::<_, char>(&0xffu8).is_err());
    assert!(read_as::<_, char>(&[0xedu8, 0xa0, 0x80]).is_err());
    assert!(read_as::<_, String>(&Bytes(vec![0xff, 0xfe])).is_err());
    assert!(read_as::<_, std::num::NonZeroU32>(&0u32).is_err());
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct User {
    id: u64,
    group: u64,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Reordered {
    group: u64,
    id: u64,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename = "User")]
struct SameFieldsOtherOrder {
    group: u64,
    id: u64,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
enum Swapped {
    B,
    A,
}

#[test]
fn a_value_read_as_another_type_is_an_error() {
    // Each of these bytes is also a valid encoding of the type read: the
    // shape stored with the value is what tells them apart.
    assert_eq!(read_as::<_, i64>(&42u64), Err("Error::Value".into()));
    assert_eq!(read_as::<_, u8>(&42u64), Err("Error::Value".into()));
    assert_eq!(read_as::<_, u64>(&300u16), Err("Error::Value".into()));
    assert_eq!(read_as::<_, i32>(&-7i64), Err("Error::Value".into()));
    assert_eq!(read_as::<_, Vec<u8>>("ab"), Err("Error::Value".into()));
    assert_eq!(read_as::<_, Bytes>("ab"), Err("Error::Value".into()));
    assert_eq!(read_as::<_, String>(&Bytes(b"ab".to_vec())), Err("Error::Value".into()));
    assert_eq!(read_as::<_, (u8, u8, u8)>("ab"), Err("Error::Value".into()));
    assert_eq!(read_as::<_, Two>(&1u8), Err("Error::Value".into()));
    assert_eq!(read_as::<_, Option<bool>>(&(true, false)), Err("Error::Value".into()));
    assert_eq!(read_as::<_, bool>(&1u8), Err("Error::Value".into()));
    assert_eq!(read_as::<_, char>(&97u8), Err("Error::Value".into()));
    assert_eq!(read_as::<_, f32>(&1u32), Err("Error::Value".into()));
    assert_eq!(read_as::<_, ()>(&()), Ok(()));
    // Structs of the same field types: another name, another order, or a
    // tuple of the same fields.
    let user = User { id: 1, group: 2 };
    assert_eq!(read_as::<_, Reordered>(&user), Err("Error::Value".into()));
    assert_eq!(read_as::<_, SameFieldsOtherOrder>(&user), Err("Error::Value".into()));
    assert_eq!(read_as::<_, (u64, u64)>(&user), Err("Error::Value".into()));
    assert_eq!(read_as::<_, User>(&(1u64, 2u64)), Err("Error::Value".into()));
    // Enums whose variants moved.
    assert_eq!(read_as::<_, Swapped>(&Two::A), Err("Error::Value".into()));
    // Collections of another element type, when they hold an element.
    assert_eq!(read_as::<_, Vec<i8>>(&vec![1u8]), Err("Error::Value".into()));
    assert_eq!(
        read_as::<_, BTreeMap<String, u8>>(&BTreeMap::from([("a".to_owned(), 1u16)])),
        Err("Error::Value".into())
    );
    assert_eq!(read_as::<_, Option<u16>>(&Some(1u8)), Err("Error::Value".into()));
    // What has nothing of its type in it reads as the same value.
    assert_eq!(read_as::<_, Option<String>>(&None::<u8>), Ok(None));
    assert_eq!(read_as::<_, Vec<String>>(&Vec::<u8>::new()), Ok(Vec::new()));
    // Types of the same serde shape are the same to the check.
    assert_eq!(read_as::<_, std::collections::VecDeque<u8>>(&vec![1u8, 2]), Ok([1, 2].into()));
}

#[test]
fn flashes_read_as_another_type_are_an_error() {
    let session = Session::new_detached();
    session.add_flash(&42u64).unwrap();
    assert!(matches!(session.flashes::<i64>(), Err(Error::Value { .. })));
}
