//! How one session value becomes bytes and back.
//!
//! Every use of bincode in the crate goes through this module, so the value
//! format can change in one place. A value is encoded with bincode 2's
//! `standard` configuration through serde, as `docs/wire-format.md`
//! describes. A session value (what `Session::insert` and `add_flash`
//! store) is preceded by the fingerprint of its serde shape; the session's
//! own fields (metadata, user binding) are bincode alone.
//!
//! # The shape check
//!
//! bincode carries no types: `42u64` is also the encoding of the `i64`
//! `21`, of the `u8` `42` and of an enum's variant 42. So at insert the
//! value's `Serialize` is run once more against a serializer that writes
//! nothing and folds every call it receives into 64 bits: each primitive
//! (integers of every width and sign are all distinct), `None` or `Some`,
//! a sequence, a map, a tuple of its length, and structs, tuple structs,
//! unit and newtype structs with their names, struct fields with their
//! names, enums with their name and the variant written (index and name)
//! and its kind. At get, every `deserialize_*` call the type's
//! `Deserialize` makes is folded the same way, on the decoder that reads
//! the bytes; the two folds are compared once the value is decoded and
//! before it is returned: a value decoded under another shape is dropped
//! and [`SerialError::OtherType`] returned. The extra pass touches no
//! memory, so it costs a few nanoseconds for a small value.
//!
//! Where the two sides legitimately see different things:
//!
//! - An `Option`: the writer says `None` or `Some`, the reader asks for an
//!   option and learns which from the bytes; both fold `None` or `Some`.
//!   A `None` has nothing of its type in it, so it reads as the `None` of
//!   any `Option<U>`, and an empty sequence or map as an empty one of any
//!   element type: the same value, never another.
//! - Owned and borrowed strings (and byte buffers) are one shape: `String`
//!   asks for `deserialize_string` and writes with `serialize_str`.
//! - Lengths of sequences and maps come from the bytes, which both sides
//!   read alike, so they are not folded; element shapes are. Tuples,
//!   arrays, tuple structs and structs fold their length.
//! - The shape is serde's, not Rust's: types that write and read the same
//!   calls are one shape (`Vec<u8>` and `VecDeque<u8>`, `BTreeMap` and
//!   `HashMap`, a struct and another of the same name and fields).
//!   Renaming a struct, enum, variant or field changes the shape: keep
//!   `#[serde(rename = "Old")]` to keep reading values stored before.
//! - `deserialize_any`, `deserialize_identifier` and
//!   `deserialize_ignored_any` are refused by bincode itself, so types that
//!   need them (untagged or internally tagged enums, `#[serde(flatten)]`,
//!   `serde_json::Value`) cannot be read, as before the check. Types whose
//!   `Serialize` skips fields (`#[serde(skip_serializing_if)]`) cannot be
//!   read back by bincode either.
//! - A struct with `#[serde(alias)]` fields lists the aliases among the
//!   field names its `Deserialize` gives, so its fields do not line up
//!   with those written: it is refused with `OtherType`. This is the price
//!   of comparing field names at all, which catches a struct whose fields
//!   of one type were reordered.
//! - A type whose own `Serialize` and `Deserialize` disagree on the calls
//!   they make (hand-written impls) is refused the same way.
//!
//! The fingerprint is not a security boundary: values are authenticated
//! (a cookie's MAC or seal, or our own storage), and 64 bits keep an
//! accidental collision between two shapes out of reach.
//!
//! # What a decode returns
//!
//! [`from_bytes`] gives back every value [`to_bytes`] encoded, and
//! [`value_from_bytes`] every value [`value_to_bytes`] encoded, of any size,
//! except for the types above.
//!
//! The bytes are refused, with an error and never a panic, unless they are
//! exactly one encoding of a value of the requested type: too short, bytes
//! left over, an integer written wider than the requested type, a `bool` or
//! an `Option` tag other than 0 or 1, an enum variant the type does not
//! have, a `char` or a string that is not UTF-8, or anything the type's own
//! `Deserialize` refuses; and, for a session value, another shape.
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

use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor,
};
use serde::{Serialize, ser};

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
    /// The value was written as a type of another serde shape than the
    /// one it is read as.
    #[error("the value was stored as another type")]
    OtherType,
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

/// Encodes one value: bincode alone, for the session's own fields
/// (metadata, user binding), whose types never change.
pub(crate) fn to_bytes<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, SerialError> {
    Ok(bincode::serde::encode_to_vec(value, config())?)
}

/// Encodes one session value: its shape fingerprint, then its bincode.
pub(crate) fn value_to_bytes<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, SerialError> {
    let mut bytes = shape_of(value)?.to_le_bytes().to_vec();
    bincode::serde::encode_into_std_write(value, &mut bytes, config())?;
    Ok(bytes)
}

/// Encodes one session value, as [`value_to_bytes`], and hands its bytes
/// to `f`: from a buffer on the stack when the value is small (most
/// session values are), so that overwriting a value allocates nothing.
pub(crate) fn with_value_bytes<T: Serialize + ?Sized, R>(
    value: &T,
    f: impl FnOnce(&[u8]) -> R,
) -> Result<R, SerialError> {
    let mut small = [0u8; 128];
    small[..SHAPE_LEN].copy_from_slice(&shape_of(value)?.to_le_bytes());
    match bincode::serde::encode_into_slice(value, &mut small[SHAPE_LEN..], config()) {
        Ok(len) => Ok(f(&small[..SHAPE_LEN + len])),
        Err(bincode::error::EncodeError::UnexpectedEnd) => Ok(f(&value_to_bytes(value)?)),
        Err(e) => Err(e.into()),
    }
}

/// Decodes one value written by [`to_bytes`], refusing trailing bytes; see
/// the module documentation for what it allocates.
pub(crate) fn from_bytes<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, SerialError> {
    let (value, read, _) = decode(PhantomData::<T>, bytes)?;
    finish(value, read, bytes.len())
}

/// Decodes one session value written by [`value_to_bytes`]: an error, and
/// never a value, unless `T` has the shape the value was written with.
pub(crate) fn value_from_bytes<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, SerialError> {
    value_from_bytes_seed(PhantomData::<T>, bytes)
}

fn value_from_bytes_seed<'de, S: DeserializeSeed<'de>>(seed: S, bytes: &'de [u8]) -> Result<S::Value, SerialError> {
    let Some((stored, body)) = bytes.split_first_chunk::<SHAPE_LEN>() else {
        return Err(SerialError::OtherType);
    };
    let (value, read, shape) = decode(seed, body)?;
    // Compared before the value is handed out: a value decoded under
    // another shape is dropped here, unseen. Before the check for leftover
    // bytes, which a value of another type often has, so that the error
    // says what happened.
    if shape.finish() != u64::from_le_bytes(*stored) {
        return Err(SerialError::OtherType);
    }
    finish(value, read, body.len())
}

/// Decodes one value of `seed` from the start of `bytes`; returns it, the
/// bytes it took and the shape the decode asked for.
fn decode<'de, S: DeserializeSeed<'de>>(seed: S, bytes: &'de [u8]) -> Result<(S::Value, usize, Shape), SerialError> {
    let ctx = Ctx { hints: Cell::new(bytes.len() / BYTES_PER_HINTED_ELEMENT), shape: Cell::new(Shape::new()) };
    let seed = GuardedSeed { seed, ctx: &ctx };
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
                return Ok((value, read, ctx.shape.get()));
            })*
        };
    }
    with_limit!(1 << 16, 1 << 20, 1 << 24, 1 << 28);
    let cfg = config().with_limit::<{ usize::MAX }>();
    let (value, read) = bincode::serde::seed_decode_from_slice(seed, bytes, cfg)?;
    Ok((value, read, ctx.shape.get()))
}

fn finish<T>(value: T, read: usize, len: usize) -> Result<T, SerialError> {
    if read == len { Ok(value) } else { Err(SerialError::Trailing(len - read)) }
}

// --- The shape ---------------------------------------------------------------
//
// A value's shape is the sequence of serde calls its `Serialize` makes (on
// the way in) or its `Deserialize` asks for (on the way out), folded into
// 64 bits. `docs/wire-format.md` specifies the events and the fold, so
// that the fingerprints are part of the format.

/// Bytes of the shape fingerprint before a session value's bincode.
pub(crate) const SHAPE_LEN: usize = 8;

/// The shape events. An event is one word: its code in the low byte, and
/// a length or index, where it has one, above it.
mod event {
    pub(super) const BOOL: u64 = 1;
    pub(super) const I8: u64 = 2;
    pub(super) const I16: u64 = 3;
    pub(super) const I32: u64 = 4;
    pub(super) const I64: u64 = 5;
    pub(super) const I128: u64 = 6;
    pub(super) const U8: u64 = 7;
    pub(super) const U16: u64 = 8;
    pub(super) const U32: u64 = 9;
    pub(super) const U64: u64 = 10;
    pub(super) const U128: u64 = 11;
    pub(super) const F32: u64 = 12;
    pub(super) const F64: u64 = 13;
    pub(super) const CHAR: u64 = 14;
    pub(super) const STR: u64 = 15;
    pub(super) const BYTES: u64 = 16;
    pub(super) const NONE: u64 = 17;
    pub(super) const SOME: u64 = 18;
    pub(super) const UNIT: u64 = 19;
    pub(super) const UNIT_STRUCT: u64 = 20;
    pub(super) const NEWTYPE_STRUCT: u64 = 21;
    pub(super) const SEQ: u64 = 22;
    pub(super) const TUPLE: u64 = 23;
    pub(super) const TUPLE_STRUCT: u64 = 24;
    pub(super) const MAP: u64 = 25;
    pub(super) const STRUCT: u64 = 26;
    pub(super) const FIELD: u64 = 27;
    pub(super) const ENUM: u64 = 28;
    pub(super) const VARIANT: u64 = 29;
    pub(super) const UNIT_VARIANT: u64 = 30;
    pub(super) const NEWTYPE_VARIANT: u64 = 31;
    pub(super) const TUPLE_VARIANT: u64 = 32;
    pub(super) const STRUCT_VARIANT: u64 = 33;
    /// A call no value is written with (`deserialize_any`, ...).
    pub(super) const ANY: u64 = 34;

    pub(super) const fn with_len(code: u64, len: usize) -> u64 {
        code | (len as u64) << 8
    }
}

/// The running fold of shape events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Shape(u64);

impl Shape {
    /// Any odd 64-bit constant would do: the golden ratio's.
    const MUL: u64 = 0x9e37_79b9_7f4a_7c15;

    const fn new() -> Shape {
        Shape(0)
    }

    /// Folds one word in. Each step is a bijection of the state for a
    /// given word (xor, an odd multiply, an xor-shift), so two shapes of
    /// the same length that differ in one event never fold alike.
    fn see(&mut self, word: u64) {
        let x = (self.0 ^ word).wrapping_mul(Self::MUL);
        self.0 = x ^ (x >> 32);
    }

    /// Folds in an event with a name: the event, the name's length, then
    /// its bytes in little-endian words of 8, the last one zero-padded.
    fn see_named(&mut self, event: u64, name: &str) {
        self.see(event);
        self.see(name.len() as u64);
        for chunk in name.as_bytes().chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.see(u64::from_le_bytes(word));
        }
    }

    fn finish(self) -> u64 {
        self.0
    }
}

/// The shape fingerprint of a value, from a pass of its `Serialize` that
/// writes nothing.
fn shape_of<T: Serialize + ?Sized>(value: &T) -> Result<u64, SerialError> {
    let mut shape = Shape::new();
    value.serialize(&mut shape).map_err(|e| bincode::error::EncodeError::OtherString(e.0))?;
    Ok(shape.finish())
}

/// A `Serialize` implementation's own error, met while taking its shape.
#[derive(Debug)]
struct ShapeError(String);

impl fmt::Display for ShapeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ShapeError {}

impl ser::Error for ShapeError {
    fn custom<M: fmt::Display>(msg: M) -> Self {
        ShapeError(msg.to_string())
    }
}

macro_rules! see_primitive {
    ($($method:ident($ty:ty) => $event:expr;)*) => {
        $(fn $method(self, _: $ty) -> Result<(), ShapeError> {
            self.see($event);
            Ok(())
        })*
    };
}

impl ser::Serializer for &mut Shape {
    type Ok = ();
    type Error = ShapeError;
    type SerializeSeq = Self;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Self;
    type SerializeMap = Self;
    type SerializeStruct = Self;
    type SerializeStructVariant = Self;

    see_primitive! {
        serialize_bool(bool) => event::BOOL;
        serialize_i8(i8) => event::I8;
        serialize_i16(i16) => event::I16;
        serialize_i32(i32) => event::I32;
        serialize_i64(i64) => event::I64;
        serialize_i128(i128) => event::I128;
        serialize_u8(u8) => event::U8;
        serialize_u16(u16) => event::U16;
        serialize_u32(u32) => event::U32;
        serialize_u64(u64) => event::U64;
        serialize_u128(u128) => event::U128;
        serialize_f32(f32) => event::F32;
        serialize_f64(f64) => event::F64;
        serialize_char(char) => event::CHAR;
        serialize_str(&str) => event::STR;
        serialize_bytes(&[u8]) => event::BYTES;
    }

    fn serialize_none(self) -> Result<(), ShapeError> {
        self.see(event::NONE);
        Ok(())
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), ShapeError> {
        self.see(event::SOME);
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), ShapeError> {
        self.see(event::UNIT);
        Ok(())
    }

    fn serialize_unit_struct(self, name: &'static str) -> Result<(), ShapeError> {
        self.see_named(event::UNIT_STRUCT, name);
        Ok(())
    }

    fn serialize_unit_variant(self, name: &'static str, index: u32, variant: &'static str) -> Result<(), ShapeError> {
        self.see_variant(name, index, variant);
        self.see(event::UNIT_VARIANT);
        Ok(())
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, name: &'static str, value: &T) -> Result<(), ShapeError> {
        self.see_named(event::NEWTYPE_STRUCT, name);
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), ShapeError> {
        self.see_variant(name, index, variant);
        self.see(event::NEWTYPE_VARIANT);
        value.serialize(self)
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Self, ShapeError> {
        self.see(event::SEQ);
        Ok(self)
    }

    fn serialize_tuple(self, len: usize) -> Result<Self, ShapeError> {
        self.see(event::with_len(event::TUPLE, len));
        Ok(self)
    }

    fn serialize_tuple_struct(self, name: &'static str, len: usize) -> Result<Self, ShapeError> {
        self.see_named(event::with_len(event::TUPLE_STRUCT, len), name);
        Ok(self)
    }

    fn serialize_tuple_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self, ShapeError> {
        self.see_variant(name, index, variant);
        self.see(event::with_len(event::TUPLE_VARIANT, len));
        Ok(self)
    }

    fn serialize_map(self, _: Option<usize>) -> Result<Self, ShapeError> {
        self.see(event::MAP);
        Ok(self)
    }

    fn serialize_struct(self, name: &'static str, len: usize) -> Result<Self, ShapeError> {
        self.see_named(event::with_len(event::STRUCT, len), name);
        Ok(self)
    }

    fn serialize_struct_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self, ShapeError> {
        self.see_variant(name, index, variant);
        self.see(event::with_len(event::STRUCT_VARIANT, len));
        Ok(self)
    }

    /// As bincode's serializer answers: types that write themselves
    /// differently for people must take the same branch in both passes.
    fn is_human_readable(&self) -> bool {
        false
    }
}

impl Shape {
    fn see_variant(&mut self, name: &str, index: u32, variant: &str) {
        self.see_named(event::ENUM, name);
        self.see_named(event::with_len(event::VARIANT, index as usize), variant);
    }
}

impl ser::SerializeSeq for &mut Shape {
    type Ok = ();
    type Error = ShapeError;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ShapeError> {
        value.serialize(&mut **self)
    }

    fn end(self) -> Result<(), ShapeError> {
        Ok(())
    }
}

impl ser::SerializeTuple for &mut Shape {
    type Ok = ();
    type Error = ShapeError;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ShapeError> {
        value.serialize(&mut **self)
    }

    fn end(self) -> Result<(), ShapeError> {
        Ok(())
    }
}

impl ser::SerializeTupleStruct for &mut Shape {
    type Ok = ();
    type Error = ShapeError;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ShapeError> {
        value.serialize(&mut **self)
    }

    fn end(self) -> Result<(), ShapeError> {
        Ok(())
    }
}

impl ser::SerializeTupleVariant for &mut Shape {
    type Ok = ();
    type Error = ShapeError;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ShapeError> {
        value.serialize(&mut **self)
    }

    fn end(self) -> Result<(), ShapeError> {
        Ok(())
    }
}

impl ser::SerializeMap for &mut Shape {
    type Ok = ();
    type Error = ShapeError;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), ShapeError> {
        key.serialize(&mut **self)
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ShapeError> {
        value.serialize(&mut **self)
    }

    fn end(self) -> Result<(), ShapeError> {
        Ok(())
    }
}

impl ser::SerializeStruct for &mut Shape {
    type Ok = ();
    type Error = ShapeError;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), ShapeError> {
        self.see_named(event::FIELD, key);
        value.serialize(&mut **self)
    }

    fn end(self) -> Result<(), ShapeError> {
        Ok(())
    }
}

impl ser::SerializeStructVariant for &mut Shape {
    type Ok = ();
    type Error = ShapeError;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), ShapeError> {
        self.see_named(event::FIELD, key);
        value.serialize(&mut **self)
    }

    fn end(self) -> Result<(), ShapeError> {
        Ok(())
    }
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

/// What one decode shares at every depth.
struct Ctx {
    /// What is left of the value's hint budget, in elements.
    hints: Cell<usize>,
    /// The shape asked for so far.
    shape: Cell<Shape>,
}

impl Ctx {
    fn see(&self, event: u64) {
        let mut shape = self.shape.get();
        shape.see(event);
        self.shape.set(shape);
    }

    fn see_named(&self, event: u64, name: &str) {
        let mut shape = self.shape.get();
        shape.see_named(event, name);
        self.shape.set(shape);
    }
}

/// The decoder, or a nested one, behind the guard.
struct Guarded<'h, D> {
    inner: D,
    ctx: &'h Ctx,
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
    /// A struct or struct variant with these fields: each element read is
    /// seen as the field at its position.
    Fields(&'static [&'static str]),
    /// An enum with these variants.
    Enum(&'static [&'static str]),
}

struct Guard<'h, V> {
    visitor: V,
    ctx: &'h Ctx,
    kind: Kind,
}

struct GuardedSeed<'h, S> {
    seed: S,
    ctx: &'h Ctx,
}

struct GuardedSeq<'h, A> {
    inner: A,
    ctx: &'h Ctx,
    /// The most this sequence may hint, or `None` when its length comes
    /// from the type.
    cap: Option<usize>,
    /// The fields of a struct, empty for any other sequence.
    fields: &'static [&'static str],
    /// Elements read so far.
    at: usize,
}

struct GuardedMap<'h, A> {
    inner: A,
    ctx: &'h Ctx,
    cap: Option<usize>,
}

struct GuardedEnum<'h, A> {
    inner: A,
    ctx: &'h Ctx,
    variants: &'static [&'static str],
}

struct GuardedVariant<'h, A> {
    inner: A,
    ctx: &'h Ctx,
}

/// Takes up to `claimed` elements from the budget for one collection.
fn grant(hints: &Cell<usize>, claimed: Option<usize>, kind: Kind) -> Option<usize> {
    match kind {
        Kind::Counted => {
            let granted = claimed.unwrap_or(0).min(hints.get());
            hints.set(hints.get() - granted);
            Some(granted)
        }
        Kind::Plain | Kind::Owned | Kind::Fields(_) | Kind::Enum(_) => None,
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
        self.seed.deserialize(Guarded { inner: deserializer, ctx: self.ctx })
    }
}

macro_rules! forward_deserialize {
    ($($method:ident($($arg:ident: $ty:ty),*) => $event:expr;)*) => {
        $(fn $method<V: Visitor<'de>>(self, $($arg: $ty,)* visitor: V) -> Result<V::Value, D::Error> {
            self.ctx.see($event);
            self.inner.$method($($arg,)* Guard { visitor, ctx: self.ctx, kind: Kind::Plain })
        })*
    };
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Guarded<'_, D> {
    type Error = D::Error;

    // bincode refuses `any`, `identifier` and `ignored_any`: they are seen
    // as a shape no value is written with.
    forward_deserialize! {
        deserialize_any() => event::ANY;
        deserialize_bool() => event::BOOL;
        deserialize_i8() => event::I8;
        deserialize_i16() => event::I16;
        deserialize_i32() => event::I32;
        deserialize_i64() => event::I64;
        deserialize_i128() => event::I128;
        deserialize_u8() => event::U8;
        deserialize_u16() => event::U16;
        deserialize_u32() => event::U32;
        deserialize_u64() => event::U64;
        deserialize_u128() => event::U128;
        deserialize_f32() => event::F32;
        deserialize_f64() => event::F64;
        deserialize_char() => event::CHAR;
        deserialize_str() => event::STR;
        deserialize_bytes() => event::BYTES;
        deserialize_unit() => event::UNIT;
        deserialize_tuple(len: usize) => event::with_len(event::TUPLE, len);
        deserialize_identifier() => event::ANY;
        deserialize_ignored_any() => event::ANY;
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        // Seen when the decoder finds which it is: `visit_none` or `visit_some`.
        self.inner.deserialize_option(Guard { visitor, ctx: self.ctx, kind: Kind::Plain })
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(self, name: &'static str, visitor: V) -> Result<V::Value, D::Error> {
        self.ctx.see_named(event::UNIT_STRUCT, name);
        self.inner.deserialize_unit_struct(name, Guard { visitor, ctx: self.ctx, kind: Kind::Plain })
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, name: &'static str, visitor: V) -> Result<V::Value, D::Error> {
        self.ctx.see_named(event::NEWTYPE_STRUCT, name);
        self.inner.deserialize_newtype_struct(name, Guard { visitor, ctx: self.ctx, kind: Kind::Plain })
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.ctx.see_named(event::with_len(event::TUPLE_STRUCT, len), name);
        self.inner.deserialize_tuple_struct(name, len, Guard { visitor, ctx: self.ctx, kind: Kind::Plain })
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.ctx.see_named(event::with_len(event::STRUCT, fields.len()), name);
        self.inner.deserialize_struct(name, fields, Guard { visitor, ctx: self.ctx, kind: Kind::Fields(fields) })
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.ctx.see_named(event::ENUM, name);
        self.inner.deserialize_enum(name, variants, Guard { visitor, ctx: self.ctx, kind: Kind::Enum(variants) })
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.ctx.see(event::STR);
        self.inner.deserialize_str(Guard { visitor, ctx: self.ctx, kind: Kind::Owned })
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.ctx.see(event::BYTES);
        self.inner.deserialize_bytes(Guard { visitor, ctx: self.ctx, kind: Kind::Owned })
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.ctx.see(event::SEQ);
        self.inner.deserialize_seq(Guard { visitor, ctx: self.ctx, kind: Kind::Counted })
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.ctx.see(event::MAP);
        self.inner.deserialize_map(Guard { visitor, ctx: self.ctx, kind: Kind::Counted })
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
            _ => self.visitor.visit_str(v),
        }
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<V::Value, E> {
        match self.kind {
            Kind::Owned => self.visitor.visit_string(v.to_owned()),
            _ => self.visitor.visit_borrowed_str(v),
        }
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<V::Value, E> {
        match self.kind {
            Kind::Owned => self.visitor.visit_byte_buf(v.to_vec()),
            _ => self.visitor.visit_bytes(v),
        }
    }

    fn visit_borrowed_bytes<E: de::Error>(self, v: &'de [u8]) -> Result<V::Value, E> {
        match self.kind {
            Kind::Owned => self.visitor.visit_byte_buf(v.to_vec()),
            _ => self.visitor.visit_borrowed_bytes(v),
        }
    }

    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        self.ctx.see(event::NONE);
        self.visitor.visit_none()
    }

    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        self.visitor.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<V::Value, D::Error> {
        self.ctx.see(event::SOME);
        self.visitor.visit_some(Guarded { inner: deserializer, ctx: self.ctx })
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, deserializer: D) -> Result<V::Value, D::Error> {
        self.visitor.visit_newtype_struct(Guarded { inner: deserializer, ctx: self.ctx })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        let cap = grant(&self.ctx.hints, seq.size_hint(), self.kind);
        let fields = match self.kind {
            Kind::Fields(fields) => fields,
            _ => &[],
        };
        self.visitor.visit_seq(GuardedSeq { inner: seq, ctx: self.ctx, cap, fields, at: 0 })
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        let cap = grant(&self.ctx.hints, map.size_hint(), self.kind);
        self.visitor.visit_map(GuardedMap { inner: map, ctx: self.ctx, cap })
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<V::Value, A::Error> {
        let variants = match self.kind {
            Kind::Enum(variants) => variants,
            _ => &[],
        };
        self.visitor.visit_enum(GuardedEnum { inner: data, ctx: self.ctx, variants })
    }
}

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for GuardedSeq<'_, A> {
    type Error = A::Error;

    fn next_element_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<Option<S::Value>, A::Error> {
        // A struct's elements are its fields in order: each is seen with
        // the name its position has in the type read.
        if let Some(name) = self.fields.get(self.at) {
            self.ctx.see_named(event::FIELD, name);
        }
        self.at += 1;
        self.inner.next_element_seed(GuardedSeed { seed, ctx: self.ctx })
    }

    fn size_hint(&self) -> Option<usize> {
        capped(self.inner.size_hint(), self.cap)
    }
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for GuardedMap<'_, A> {
    type Error = A::Error;

    fn next_key_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<Option<S::Value>, A::Error> {
        self.inner.next_key_seed(GuardedSeed { seed, ctx: self.ctx })
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, A::Error> {
        self.inner.next_value_seed(GuardedSeed { seed, ctx: self.ctx })
    }

    fn size_hint(&self) -> Option<usize> {
        capped(self.inner.size_hint(), self.cap)
    }
}

impl<'h, 'de, A: EnumAccess<'de>> EnumAccess<'de> for GuardedEnum<'h, A> {
    type Error = A::Error;
    type Variant = GuardedVariant<'h, A::Variant>;

    fn variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<(S::Value, Self::Variant), A::Error> {
        let seed = VariantSeed { seed, ctx: self.ctx, variants: self.variants };
        let (value, variant) = self.inner.variant_seed(seed)?;
        Ok((value, GuardedVariant { inner: variant, ctx: self.ctx }))
    }
}

impl<'de, A: VariantAccess<'de>> VariantAccess<'de> for GuardedVariant<'_, A> {
    type Error = A::Error;

    fn unit_variant(self) -> Result<(), A::Error> {
        self.ctx.see(event::UNIT_VARIANT);
        self.inner.unit_variant()
    }

    fn newtype_variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<S::Value, A::Error> {
        self.ctx.see(event::NEWTYPE_VARIANT);
        self.inner.newtype_variant_seed(GuardedSeed { seed, ctx: self.ctx })
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, A::Error> {
        self.ctx.see(event::with_len(event::TUPLE_VARIANT, len));
        self.inner.tuple_variant(len, Guard { visitor, ctx: self.ctx, kind: Kind::Plain })
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        self.ctx.see(event::with_len(event::STRUCT_VARIANT, fields.len()));
        self.inner.struct_variant(fields, Guard { visitor, ctx: self.ctx, kind: Kind::Fields(fields) })
    }
}

/// Reads an enum's variant identifier, seeing the variant chosen: bincode
/// hands the identifier over as the variant's index (a `u32`).
struct VariantSeed<'h, S> {
    seed: S,
    ctx: &'h Ctx,
    variants: &'static [&'static str],
}

struct VariantIndex<'h, D> {
    inner: D,
    ctx: &'h Ctx,
    variants: &'static [&'static str],
}

struct IndexVisitor<'h, V> {
    visitor: V,
    ctx: &'h Ctx,
    variants: &'static [&'static str],
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for VariantSeed<'_, S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<S::Value, D::Error> {
        self.seed.deserialize(VariantIndex { inner: deserializer, ctx: self.ctx, variants: self.variants })
    }
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for VariantIndex<'_, D> {
    type Error = D::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.inner.deserialize_any(IndexVisitor { visitor, ctx: self.ctx, variants: self.variants })
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

impl<'de, V: Visitor<'de>> Visitor<'de> for IndexVisitor<'_, V> {
    type Value = V::Value;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.visitor.expecting(formatter)
    }

    fn visit_u32<E: de::Error>(self, v: u32) -> Result<V::Value, E> {
        self.see(u64::from(v));
        self.visitor.visit_u32(v)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<V::Value, E> {
        self.see(v);
        self.visitor.visit_u64(v)
    }
}

impl<V> IndexVisitor<'_, V> {
    /// The variant's index and, if the type read has it, its name: an
    /// enum whose variants were reordered or renamed is another shape.
    fn see(&self, index: u64) {
        let name = usize::try_from(index).ok().and_then(|at| self.variants.get(at)).copied().unwrap_or("");
        self.ctx.see_named(event::with_len(event::VARIANT, usize::try_from(index).unwrap_or(usize::MAX)), name);
    }
}

#[cfg(test)]
mod type_pairs;

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
    fn a_session_value_is_its_shape_fingerprint_then_its_bincode() {
        // Pinned, as docs/wire-format.md gives them: the fold is part of
        // the stored format.
        let hex = |v: &dyn Fn() -> Result<Vec<u8>, SerialError>| crate::hex::encode(&v().unwrap());
        assert_eq!(hex(&|| value_to_bytes(&42u64)), "ec19c2d63ec12a2e2a");
        assert_eq!(hex(&|| value_to_bytes("ada")), "e5641d30de21404503616461");
        assert_eq!(hex(&|| value_to_bytes(&Some(7u8))), "75427265b659dc820107");
        assert_eq!(value_from_bytes::<u64>(&value_to_bytes(&42u64).unwrap()).unwrap(), 42);
    }

    #[test]
    fn a_value_read_as_another_type_is_refused_before_its_leftover_bytes() {
        let bytes = value_to_bytes("hello").unwrap();
        assert!(matches!(value_from_bytes::<u8>(&bytes), Err(SerialError::OtherType)));
        assert!(matches!(value_from_bytes::<i64>(&value_to_bytes(&42u64).unwrap()), Err(SerialError::OtherType)));
        // Shorter than a fingerprint.
        assert!(matches!(value_from_bytes::<u8>(&[1, 2, 3]), Err(SerialError::OtherType)));
        // A value of the right shape with bytes after it.
        let mut bytes = value_to_bytes(&1u8).unwrap();
        bytes.push(0);
        assert!(matches!(value_from_bytes::<u8>(&bytes), Err(SerialError::Trailing(1))));
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
        for len in [0, 1, 100, 117, 118, 119, 120, 121, 1000] {
            let value = "x".repeat(len);
            let bytes = with_value_bytes(&value, <[u8]>::to_vec).unwrap();
            assert_eq!(bytes, value_to_bytes(&value).unwrap(), "a string of {len} bytes");
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
