//! How one session value becomes bytes and back.
//!
//! Every use of bincode in the crate goes through this module, so the value
//! format can change in one place. A value is encoded with bincode 2's
//! `standard` configuration through serde, as `docs/wire-format.md`
//! describes; decoding reads that format unchanged.
//!
//! # What a decode returns
//!
//! [`from_bytes`] gives back every value [`to_bytes`] encoded, of any size,
//! except for types that bincode cannot decode through serde at all: those
//! whose `Deserialize` needs a self-describing format (untagged or
//! internally tagged enums, `#[serde(flatten)]`, `serde_json::Value`) and
//! those whose `Serialize` skips fields (`#[serde(skip_serializing_if)]`).
//!
//! The bytes are refused, with an error and never a panic, unless they are
//! exactly one encoding of a value of the requested type: too short, bytes
//! left over, an integer written wider than the requested type, a `bool` or
//! an `Option` tag other than 0 or 1, an enum variant the type does not
//! have, a `char` or a string that is not UTF-8, or anything the type's own
//! `Deserialize` refuses. (bincode also reads integers written longer than
//! needed, which it never writes.) The format carries no types, so bytes
//! that also encode a value of the requested type decode as that value:
//! `42u64` read as an `i64` is `21` (zigzag), a narrower integer reads any
//! value that fits, a string reads as a `Vec<u8>` of its bytes, a struct as
//! a tuple of the same fields.
//!
//! # What a decode allocates
//!
//! No length read from the input is believed before its content is there:
//!
//! - A string or byte buffer is borrowed from the input once its whole
//!   length has been read, then copied: a forged length allocates nothing.
//! - A sequence or map length reaches serde's collection visitors only as a
//!   size hint, which we cap: the collections of one value are told, all
//!   together, to expect at most `len / 8` elements, for an input of `len`
//!   bytes. A vector reserves its element size per hinted element, so
//!   forged lengths reserve at most `len` bytes for `u64` elements,
//!   `3 × len` for strings and vectors, `16 × len` for any element of up to
//!   128 bytes. A hash map reserves up to 16/7 buckets per hinted element,
//!   each a byte larger than the entry: at most `16 × len` for entries of
//!   up to 55 bytes (a `(String, String)` entry is 48). Beyond its hint, a
//!   collection grows only as its elements are actually decoded.
//!
//! What the input length does not bound is what valid content needs: an
//! element that takes no bytes (a unit, an empty struct) can be claimed
//! billions of times by a few bytes, and decoding takes that long; and a
//! recursive type nests, and recurses, as deep as its bytes allow. Value
//! bytes only come from an authenticated cookie or from our own storage,
//! never straight from a client; the hostile-input test holds the
//! allocation bound.

use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;

use serde::Serialize;
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor,
};

/// Why a value did not serialize or deserialize.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SerialError {
    /// The value's `Serialize` implementation failed.
    #[error("{0}")]
    Encode(#[from] bincode::error::EncodeError),
    /// The bytes are not a valid encoding of the requested type.
    #[error("{0}")]
    Decode(#[from] bincode::error::DecodeError),
    /// Bytes were left over after the value: the stored value has another type.
    #[error("{0} trailing bytes after the value")]
    Trailing(usize),
}

const fn config() -> bincode::config::Configuration {
    bincode::config::standard()
}

/// Input bytes per element the collections of a value may be told to
/// expect.
///
/// Eight keeps what forged lengths reserve within `16 × len` for the
/// element types sessions hold (see the module documentation). Valid
/// values whose elements average fewer bytes (a `Vec<u8>` read as a
/// sequence, small numbers) get a smaller hint than their length and grow
/// their collection a few times instead.
const BYTES_PER_HINTED_ELEMENT: usize = 8;

/// The most bincode's decode limit is charged per input byte of a valid
/// value, read off bincode 2.0.1's serde decoder: an integer is charged its
/// in-memory size before it is read (16 for `u128`/`i128`, 8 for
/// `u64`/`i64` and for every length prefix, 4 for an enum variant index)
/// and takes at least one byte; a string or byte buffer is charged its
/// length and takes that many bytes after its prefix; `u8`, `i8`, `bool`,
/// an `Option` tag, a `char` and the floats are charged the bytes they
/// take; units, structs and tuples are charged nothing and take nothing.
/// No charge is ever taken back on this path, so a valid value of `n`
/// bytes is charged at most `16 × n`.
const MAX_CHARGE_PER_BYTE: usize = 16;

/// Encodes one value.
pub(crate) fn to_bytes<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, SerialError> {
    Ok(bincode::serde::encode_to_vec(value, config())?)
}

/// Encodes one value and hands its bytes to `f`: into a buffer on the
/// stack when the value is small (most session values are), so that
/// overwriting a value allocates nothing.
pub(crate) fn with_bytes<T: Serialize + ?Sized, R>(value: &T, f: impl FnOnce(&[u8]) -> R) -> Result<R, SerialError> {
    let mut small = [0u8; 128];
    match bincode::serde::encode_into_slice(value, &mut small, config()) {
        Ok(len) => Ok(f(&small[..len])),
        Err(bincode::error::EncodeError::UnexpectedEnd) => Ok(f(&to_bytes(value)?)),
        Err(e) => Err(e.into()),
    }
}

/// Decodes one value, refusing trailing bytes; see the module documentation
/// for what it allocates.
pub(crate) fn from_bytes<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, SerialError> {
    let hints = Cell::new(bytes.len() / BYTES_PER_HINTED_ELEMENT);
    let seed = GuardedSeed { seed: PhantomData::<T>, hints: &hints };
    // The limit allocates nothing on this path (see `Guarded`); it stays as
    // a second line in case bincode's borrowed decoding ever allocates what
    // it claims. It is a type parameter, so it comes from a short ladder:
    // the first step at or above the most a valid value can be charged.
    let charge = bytes.len().saturating_mul(MAX_CHARGE_PER_BYTE);
    macro_rules! with_limit {
        ($($limit:expr),*) => {
            $(if charge <= $limit {
                let cfg = config().with_limit::<{ $limit }>();
                let (value, read) = bincode::serde::seed_decode_from_slice(seed, bytes, cfg)?;
                return finish(value, read, bytes.len());
            })*
        };
    }
    with_limit!(1 << 16, 1 << 20, 1 << 24, 1 << 28);
    let cfg = config().with_limit::<{ usize::MAX }>();
    let (value, read) = bincode::serde::seed_decode_from_slice(seed, bytes, cfg)?;
    finish(value, read, bytes.len())
}

fn finish<T>(value: T, read: usize, len: usize) -> Result<T, SerialError> {
    if read == len { Ok(value) } else { Err(SerialError::Trailing(len - read)) }
}

// --- The guard ---------------------------------------------------------------
//
// bincode's serde decoder hands a sequence or map length straight to the
// visitor as its size hint, and serde's collections reserve up to 1 MiB
// from it before reading an element. And asked for an owned string or byte
// buffer, it allocates the claimed length before checking the bytes are
// there. The guard wraps the decoder, and every visitor, access and seed
// it passes on, so that at every depth the hints are capped and owned
// strings and buffers are read borrowed, then copied.

/// The decoder, or a nested one, behind the guard. `hints` is what is left
/// of the value's hint budget, in elements.
struct Guarded<'h, D> {
    inner: D,
    hints: &'h Cell<usize>,
}

/// What a wrapped visitor changes.
#[derive(Clone, Copy)]
enum Kind {
    /// Nothing: lengths from the type (tuples, structs) or no length at all.
    Plain,
    /// A sequence or map whose length came from the input: its size hint
    /// is taken from the budget.
    Counted,
    /// An owned string or buffer was asked for and a borrowed one is read:
    /// hand the visitor an owned copy.
    Owned,
}

struct Guard<'h, V> {
    visitor: V,
    hints: &'h Cell<usize>,
    kind: Kind,
}

struct GuardedSeed<'h, S> {
    seed: S,
    hints: &'h Cell<usize>,
}

struct GuardedSeq<'h, A> {
    inner: A,
    hints: &'h Cell<usize>,
    /// The most this sequence may hint, or `None` when its length comes
    /// from the type.
    cap: Option<usize>,
}

struct GuardedMap<'h, A> {
    inner: A,
    hints: &'h Cell<usize>,
    cap: Option<usize>,
}

struct GuardedEnum<'h, A> {
    inner: A,
    hints: &'h Cell<usize>,
}

struct GuardedVariant<'h, A> {
    inner: A,
    hints: &'h Cell<usize>,
}

/// Takes up to `claimed` elements from the budget for one collection.
fn grant(hints: &Cell<usize>, claimed: Option<usize>, kind: Kind) -> Option<usize> {
    match kind {
        Kind::Counted => {
            let granted = claimed.unwrap_or(0).min(hints.get());
            hints.set(hints.get() - granted);
            Some(granted)
        }
        Kind::Plain | Kind::Owned => None,
    }
}

fn capped(hint: Option<usize>, cap: Option<usize>) -> Option<usize> {
    match cap {
        Some(cap) => hint.map(|hint| hint.min(cap)),
        None => hint,
    }
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for GuardedSeed<'_, S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<S::Value, D::Error> {
        self.seed.deserialize(Guarded { inner: deserializer, hints: self.hints })
    }
}

macro_rules! forward_deserialize {
    ($($method:ident($($arg:ident: $ty:ty),*);)*) => {
        $(fn $method<V: Visitor<'de>>(self, $($arg: $ty,)* visitor: V) -> Result<V::Value, D::Error> {
            self.inner.$method($($arg,)* Guard { visitor, hints: self.hints, kind: Kind::Plain })
        })*
    };
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Guarded<'_, D> {
    type Error = D::Error;

    forward_deserialize! {
        deserialize_any();
        deserialize_bool();
        deserialize_i8();
        deserialize_i16();
        deserialize_i32();
        deserialize_i64();
        deserialize_i128();
        deserialize_u8();
        deserialize_u16();
        deserialize_u32();
        deserialize_u64();
        deserialize_u128();
        deserialize_f32();
        deserialize_f64();
        deserialize_char();
        deserialize_str();
        deserialize_bytes();
        deserialize_option();
        deserialize_unit();
        deserialize_unit_struct(name: &'static str);
        deserialize_newtype_struct(name: &'static str);
        deserialize_tuple(len: usize);
        deserialize_tuple_struct(name: &'static str, len: usize);
        deserialize_struct(name: &'static str, fields: &'static [&'static str]);
        deserialize_enum(name: &'static str, variants: &'static [&'static str]);
        deserialize_identifier();
        deserialize_ignored_any();
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.inner.deserialize_str(Guard { visitor, hints: self.hints, kind: Kind::Owned })
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.inner.deserialize_bytes(Guard { visitor, hints: self.hints, kind: Kind::Owned })
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.inner.deserialize_seq(Guard { visitor, hints: self.hints, kind: Kind::Counted })
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.inner.deserialize_map(Guard { visitor, hints: self.hints, kind: Kind::Counted })
    }

    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

macro_rules! forward_visit {
    ($($method:ident($ty:ty);)*) => {
        $(fn $method<E: de::Error>(self, v: $ty) -> Result<V::Value, E> {
            self.visitor.$method(v)
        })*
    };
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Guard<'_, V> {
    type Value = V::Value;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.visitor.expecting(formatter)
    }

    forward_visit! {
        visit_bool(bool);
        visit_i8(i8);
        visit_i16(i16);
        visit_i32(i32);
        visit_i64(i64);
        visit_i128(i128);
        visit_u8(u8);
        visit_u16(u16);
        visit_u32(u32);
        visit_u64(u64);
        visit_u128(u128);
        visit_f32(f32);
        visit_f64(f64);
        visit_char(char);
        visit_string(String);
        visit_byte_buf(Vec<u8>);
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<V::Value, E> {
        match self.kind {
            Kind::Owned => self.visitor.visit_string(v.to_owned()),
            Kind::Plain | Kind::Counted => self.visitor.visit_str(v),
        }
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<V::Value, E> {
        match self.kind {
            Kind::Owned => self.visitor.visit_string(v.to_owned()),
            Kind::Plain | Kind::Counted => self.visitor.visit_borrowed_str(v),
        }
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<V::Value, E> {
        match self.kind {
            Kind::Owned => self.visitor.visit_byte_buf(v.to_vec()),
            Kind::Plain | Kind::Counted => self.visitor.visit_bytes(v),
        }
    }

    fn visit_borrowed_bytes<E: de::Error>(self, v: &'de [u8]) -> Result<V::Value, E> {
        match self.kind {
            Kind::Owned => self.visitor.visit_byte_buf(v.to_vec()),
            Kind::Plain | Kind::Counted => self.visitor.visit_borrowed_bytes(v),
        }
    }

    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        self.visitor.visit_none()
    }

    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        self.visitor.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<V::Value, D::Error> {
        self.visitor.visit_some(Guarded { inner: deserializer, hints: self.hints })
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, deserializer: D) -> Result<V::Value, D::Error> {
        self.visitor.visit_newtype_struct(Guarded { inner: deserializer, hints: self.hints })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        let cap = grant(self.hints, seq.size_hint(), self.kind);
        self.visitor.visit_seq(GuardedSeq { inner: seq, hints: self.hints, cap })
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        let cap = grant(self.hints, map.size_hint(), self.kind);
        self.visitor.visit_map(GuardedMap { inner: map, hints: self.hints, cap })
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<V::Value, A::Error> {
        self.visitor.visit_enum(GuardedEnum { inner: data, hints: self.hints })
    }
}

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for GuardedSeq<'_, A> {
    type Error = A::Error;

    fn next_element_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<Option<S::Value>, A::Error> {
        self.inner.next_element_seed(GuardedSeed { seed, hints: self.hints })
    }

    fn size_hint(&self) -> Option<usize> {
        capped(self.inner.size_hint(), self.cap)
    }
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for GuardedMap<'_, A> {
    type Error = A::Error;

    fn next_key_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<Option<S::Value>, A::Error> {
        self.inner.next_key_seed(GuardedSeed { seed, hints: self.hints })
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, A::Error> {
        self.inner.next_value_seed(GuardedSeed { seed, hints: self.hints })
    }

    fn size_hint(&self) -> Option<usize> {
        capped(self.inner.size_hint(), self.cap)
    }
}

impl<'h, 'de, A: EnumAccess<'de>> EnumAccess<'de> for GuardedEnum<'h, A> {
    type Error = A::Error;
    type Variant = GuardedVariant<'h, A::Variant>;

    fn variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<(S::Value, Self::Variant), A::Error> {
        let (value, variant) = self.inner.variant_seed(GuardedSeed { seed, hints: self.hints })?;
        Ok((value, GuardedVariant { inner: variant, hints: self.hints }))
    }
}

impl<'de, A: VariantAccess<'de>> VariantAccess<'de> for GuardedVariant<'_, A> {
    type Error = A::Error;

    fn unit_variant(self) -> Result<(), A::Error> {
        self.inner.unit_variant()
    }

    fn newtype_variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<S::Value, A::Error> {
        self.inner.newtype_variant_seed(GuardedSeed { seed, hints: self.hints })
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, A::Error> {
        self.inner.tuple_variant(len, Guard { visitor, hints: self.hints, kind: Kind::Plain })
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        self.inner.struct_variant(fields, Guard { visitor, hints: self.hints, kind: Kind::Plain })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};

    use serde::{Deserialize, Serializer};

    use super::*;

    #[test]
    fn values_round_trip() {
        let v = (7u32, String::from("hello"), vec![1u8, 2, 3]);
        let bytes = to_bytes(&v).unwrap();
        assert_eq!(from_bytes::<(u32, String, Vec<u8>)>(&bytes).unwrap(), v);
    }

    #[test]
    fn the_encoding_is_bincode_standard() {
        // Values stored by earlier versions must keep decoding: the bytes
        // are pinned, not just the round trip.
        #[derive(Serialize)]
        enum E {
            _A,
            B(i32),
        }
        let value = (300u64, "ab", Some(true), -1i32, 'é', 1.5f32, [1u8, 2], E::B(-2), u128::MAX);
        let mut expected = vec![251, 0x2c, 0x01, 2, b'a', b'b', 1, 1, 1, 0xc3, 0xa9, 0, 0, 0xc0, 0x3f, 1, 2, 1, 3, 254];
        expected.extend([0xff; 16]);
        assert_eq!(to_bytes(&value).unwrap(), expected);
    }

    #[test]
    fn forged_length_prefix_is_refused() {
        // 0xFD followed by a u64 is bincode's varint for a huge length.
        let mut forged = vec![0xFD];
        forged.extend_from_slice(&u64::MAX.to_le_bytes());
        assert!(from_bytes::<Vec<u8>>(&forged).is_err());
        assert!(from_bytes::<String>(&forged).is_err());
        assert!(from_bytes::<Vec<String>>(&forged).is_err());
        assert!(from_bytes::<HashMap<String, u64>>(&forged).is_err());
    }

    #[test]
    fn small_and_large_values_encode_alike_on_the_stack_or_not() {
        for len in [0, 1, 100, 125, 126, 127, 128, 129, 1000] {
            let value = "x".repeat(len);
            let bytes = with_bytes(&value, <[u8]>::to_vec).unwrap();
            assert_eq!(bytes, to_bytes(&value).unwrap(), "a string of {len} bytes");
        }
    }

    #[test]
    fn trailing_bytes_are_refused() {
        let mut bytes = to_bytes(&1u8).unwrap();
        bytes.push(0);
        assert!(matches!(from_bytes::<u8>(&bytes), Err(SerialError::Trailing(1))));
    }

    /// The size hints one decode of a `Probe` saw, outermost first.
    fn hints_seen(bytes: &[u8]) -> Vec<Option<usize>> {
        thread_local! {
            static SEEN: std::cell::RefCell<Vec<Option<usize>>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        /// A sequence of itself that records its hint, then reads its elements.
        struct Probe;
        impl<'de> Deserialize<'de> for Probe {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Probe, D::Error> {
                struct ProbeVisitor;
                impl<'de> Visitor<'de> for ProbeVisitor {
                    type Value = Probe;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str("a probe")
                    }
                    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Probe, A::Error> {
                        SEEN.with(|seen| seen.borrow_mut().push(seq.size_hint()));
                        while seq.next_element::<Probe>()?.is_some() {}
                        Ok(Probe)
                    }
                }
                deserializer.deserialize_seq(ProbeVisitor)
            }
        }
        SEEN.with(|seen| seen.borrow_mut().clear());
        let _ = from_bytes::<Probe>(bytes);
        SEEN.with(|seen| seen.borrow().clone())
    }

    #[test]
    fn length_prefixes_share_one_hint_per_eight_input_bytes() {
        // Nested sequences, each claiming u64::MAX elements, then junk.
        let mut forged = Vec::new();
        for _ in 0..4 {
            forged.push(0xFD);
            forged.extend_from_slice(&u64::MAX.to_le_bytes());
        }
        forged.extend([0xff; 100]);
        assert_eq!(hints_seen(&forged), [Some(forged.len() / 8), Some(0), Some(0), Some(0)]);
        // Lengths within the budget are passed on exactly.
        let within = [&[3u8, 0, 0, 0][..], &[0xff; 100]].concat();
        assert_eq!(hints_seen(&within), [Some(3), Some(0), Some(0), Some(0)]);
    }

    #[test]
    fn owned_strings_and_buffers_are_copied_from_the_input() {
        #[derive(Debug, PartialEq)]
        struct Buf(Vec<u8>);
        impl Serialize for Buf {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_bytes(&self.0)
            }
        }
        impl<'de> Deserialize<'de> for Buf {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Buf, D::Error> {
                struct BufVisitor;
                impl Visitor<'_> for BufVisitor {
                    type Value = Buf;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str("bytes")
                    }
                    fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Buf, E> {
                        Ok(Buf(v))
                    }
                }
                deserializer.deserialize_byte_buf(BufVisitor)
            }
        }
        let value = (Buf(vec![0, 1, 255]), String::from("né"), BTreeMap::from([(String::from("k"), Buf(vec![7]))]));
        let bytes = to_bytes(&value).unwrap();
        assert_eq!(from_bytes::<(Buf, String, BTreeMap<String, Buf>)>(&bytes).unwrap(), value);
        // A length beyond the input, as an owned buffer and string.
        assert!(from_bytes::<Buf>(&[0xFC, 0xff, 0xff, 0xff, 0x7f, 1, 2, 3]).is_err());
        assert!(from_bytes::<String>(&[0xFC, 0xff, 0xff, 0xff, 0x7f, b'a']).is_err());
    }

    /// `N` zeros as a tuple of `u128`: each is one byte charged 16, the
    /// most any input byte is charged.
    #[derive(Debug)]
    struct Zeros<const N: usize>;

    impl<const N: usize> Serialize for Zeros<N> {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            use serde::ser::SerializeTuple;
            let mut tuple = serializer.serialize_tuple(N)?;
            for _ in 0..N {
                tuple.serialize_element(&0u128)?;
            }
            tuple.end()
        }
    }

    impl<'de, const N: usize> Deserialize<'de> for Zeros<N> {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct ZerosVisitor<const N: usize>;
            impl<'de, const N: usize> Visitor<'de> for ZerosVisitor<N> {
                type Value = Zeros<N>;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    write!(f, "{N} zeros")
                }
                fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Zeros<N>, A::Error> {
                    for i in 0..N {
                        match seq.next_element::<u128>()? {
                            Some(0) => {}
                            _ => return Err(de::Error::invalid_length(i, &self)),
                        }
                    }
                    Ok(Zeros)
                }
            }
            deserializer.deserialize_tuple(N, ZerosVisitor::<N>)
        }
    }

    fn zeros_round_trip<const N: usize>() {
        let bytes = to_bytes(&Zeros::<N>).unwrap();
        assert_eq!(bytes.len(), N);
        if let Err(e) = from_bytes::<Zeros<N>>(&bytes) {
            panic!("{N} zeros: {e}");
        }
    }

    #[test]
    fn the_limit_holds_the_most_charged_values_at_every_step() {
        // Charged exactly the first steps of the limit ladder, and one
        // input byte (16 charged) past them.
        zeros_round_trip::<4096>();
        zeros_round_trip::<4097>();
        zeros_round_trip::<65536>();
        zeros_round_trip::<65537>();
    }
}
