//! A value written as one type and read as another is an error, never a
//! different value: for random pairs of types over the whole serde data
//! model, described at run time so that any two can meet.

use std::fmt;

use proptest::prelude::*;
use serde::Serialize;
use serde::de::{self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor};
use serde::ser::{
    SerializeMap, SerializeSeq, SerializeStruct, SerializeStructVariant, SerializeTuple, SerializeTupleVariant,
    Serializer,
};

use super::{SerialError, value_from_bytes_seed, value_to_bytes};

/// A type of the serde data model.
#[derive(Debug, Clone, PartialEq)]
enum Ty {
    Bool,
    I8,
    I16,
    I32,
    I64,
    I128,
    U8,
    U16,
    U32,
    U64,
    U128,
    F32,
    F64,
    Char,
    Str,
    Bytes,
    Unit,
    Option(Box<Ty>),
    Seq(Box<Ty>),
    Map(Box<Ty>, Box<Ty>),
    Tuple(Vec<Ty>),
    Struct { name: &'static str, fields: &'static [&'static str], types: Vec<Ty> },
    Enum { name: &'static str, variants: &'static [&'static str], kinds: Vec<VariantTy> },
}

#[derive(Debug, Clone, PartialEq)]
enum VariantTy {
    Unit,
    Newtype(Ty),
    Tuple(Vec<Ty>),
    Struct(&'static [&'static str], Vec<Ty>),
}

/// A value, without its type: two values of different types are equal
/// only when nothing of the types shows (`None`, an empty sequence).
#[derive(Debug, Clone)]
enum Val {
    Bool(bool),
    I8(i8),
    I16(i16),
    I32(i32),
    I64(i64),
    I128(i128),
    U8(u8),
    U16(u16),
    U32(u32),
    U64(u64),
    U128(u128),
    F32(f32),
    F64(f64),
    Char(char),
    Str(String),
    Bytes(Vec<u8>),
    Unit,
    None,
    Some(Box<Val>),
    Seq(Vec<Val>),
    Map(Vec<(Val, Val)>),
    Tuple(Vec<Val>),
    Struct(&'static str, Vec<(&'static str, Val)>),
    Variant(&'static str, u32, &'static str, Box<Payload>),
}

#[derive(Debug, Clone, PartialEq)]
enum Payload {
    Unit,
    Newtype(Val),
    Tuple(Vec<Val>),
    Struct(Vec<(&'static str, Val)>),
}

impl PartialEq for Val {
    fn eq(&self, other: &Val) -> bool {
        use Val::*;
        match (self, other) {
            // Bit for bit, so that a NaN equals itself.
            (F32(a), F32(b)) => a.to_bits() == b.to_bits(),
            (F64(a), F64(b)) => a.to_bits() == b.to_bits(),
            (Bool(a), Bool(b)) => a == b,
            (I8(a), I8(b)) => a == b,
            (I16(a), I16(b)) => a == b,
            (I32(a), I32(b)) => a == b,
            (I64(a), I64(b)) => a == b,
            (I128(a), I128(b)) => a == b,
            (U8(a), U8(b)) => a == b,
            (U16(a), U16(b)) => a == b,
            (U32(a), U32(b)) => a == b,
            (U64(a), U64(b)) => a == b,
            (U128(a), U128(b)) => a == b,
            (Char(a), Char(b)) => a == b,
            (Str(a), Str(b)) => a == b,
            (Bytes(a), Bytes(b)) => a == b,
            (Unit, Unit) | (None, None) => true,
            (Some(a), Some(b)) => a == b,
            (Seq(a), Seq(b)) | (Tuple(a), Tuple(b)) => a == b,
            (Map(a), Map(b)) => a == b,
            (Struct(n, a), Struct(m, b)) => n == m && a == b,
            (Variant(n, i, v, a), Variant(m, j, w, b)) => n == m && i == j && v == w && a == b,
            _ => false,
        }
    }
}

// --- Types and values at random ----------------------------------------------

const NAMES: &[&str] = &["A", "B", "Point", "User", "LongerNameThanEightBytes"];
const FIELD_SETS: &[&[&str]] = &[&["x"], &["y"], &["x", "y"], &["y", "x"], &["id", "name", "tags"], &["a", "b", "c"]];
const VARIANT_SETS: &[&[&str]] = &[&["On", "Off"], &["Off", "On"], &["A", "B", "C"], &["Only"]];

fn primitive() -> impl Strategy<Value = Ty> {
    prop_oneof![
        Just(Ty::Bool),
        Just(Ty::I8),
        Just(Ty::I16),
        Just(Ty::I32),
        Just(Ty::I64),
        Just(Ty::I128),
        Just(Ty::U8),
        Just(Ty::U16),
        Just(Ty::U32),
        Just(Ty::U64),
        Just(Ty::U128),
        Just(Ty::F32),
        Just(Ty::F64),
        Just(Ty::Char),
        Just(Ty::Str),
        Just(Ty::Bytes),
        Just(Ty::Unit),
    ]
}

fn ty() -> impl Strategy<Value = Ty> {
    primitive().prop_recursive(3, 24, 4, |inner| {
        let for_fields = inner.clone();
        let variant = prop_oneof![
            Just(VariantTy::Unit),
            inner.clone().prop_map(VariantTy::Newtype),
            proptest::collection::vec(inner.clone(), 0..3).prop_map(VariantTy::Tuple),
            proptest::sample::select(FIELD_SETS).prop_flat_map(move |fields| {
                proptest::collection::vec(for_fields.clone(), fields.len())
                    .prop_map(move |t| VariantTy::Struct(fields, t))
            }),
        ];
        prop_oneof![
            inner.clone().prop_map(|t| Ty::Option(Box::new(t))),
            inner.clone().prop_map(|t| Ty::Seq(Box::new(t))),
            (inner.clone(), inner.clone()).prop_map(|(k, v)| Ty::Map(Box::new(k), Box::new(v))),
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Ty::Tuple),
            (proptest::sample::select(NAMES), proptest::sample::select(FIELD_SETS)).prop_flat_map({
                let inner = inner.clone();
                move |(name, fields)| {
                    proptest::collection::vec(inner.clone(), fields.len()).prop_map(move |types| Ty::Struct {
                        name,
                        fields,
                        types,
                    })
                }
            }),
            (proptest::sample::select(NAMES), proptest::sample::select(VARIANT_SETS)).prop_flat_map(
                move |(name, variants)| {
                    proptest::collection::vec(variant.clone(), variants.len()).prop_map(move |kinds| Ty::Enum {
                        name,
                        variants,
                        kinds,
                    })
                }
            ),
        ]
    })
}

fn values(types: &[Ty]) -> BoxedStrategy<Vec<Val>> {
    types.iter().map(val).collect::<Vec<_>>().boxed()
}

fn val(ty: &Ty) -> BoxedStrategy<Val> {
    match ty {
        Ty::Bool => any::<bool>().prop_map(Val::Bool).boxed(),
        Ty::I8 => any::<i8>().prop_map(Val::I8).boxed(),
        Ty::I16 => any::<i16>().prop_map(Val::I16).boxed(),
        Ty::I32 => any::<i32>().prop_map(Val::I32).boxed(),
        Ty::I64 => any::<i64>().prop_map(Val::I64).boxed(),
        Ty::I128 => any::<i128>().prop_map(Val::I128).boxed(),
        // Small numbers often: one byte in bincode, the likeliest to read
        // as something else.
        Ty::U8 => prop_oneof![0..3u8, any::<u8>()].prop_map(Val::U8).boxed(),
        Ty::U16 => prop_oneof![0..3u16, any::<u16>()].prop_map(Val::U16).boxed(),
        Ty::U32 => prop_oneof![0..3u32, any::<u32>()].prop_map(Val::U32).boxed(),
        Ty::U64 => prop_oneof![0..3u64, any::<u64>()].prop_map(Val::U64).boxed(),
        Ty::U128 => any::<u128>().prop_map(Val::U128).boxed(),
        Ty::F32 => any::<u32>().prop_map(|b| Val::F32(f32::from_bits(b))).boxed(),
        Ty::F64 => any::<u64>().prop_map(|b| Val::F64(f64::from_bits(b))).boxed(),
        Ty::Char => any::<char>().prop_map(Val::Char).boxed(),
        Ty::Str => ".{0,4}".prop_map(Val::Str).boxed(),
        Ty::Bytes => proptest::collection::vec(any::<u8>(), 0..4).prop_map(Val::Bytes).boxed(),
        Ty::Unit => Just(Val::Unit).boxed(),
        Ty::Option(t) => {
            proptest::option::of(val(t)).prop_map(|v| v.map_or(Val::None, |v| Val::Some(Box::new(v)))).boxed()
        }
        Ty::Seq(t) => proptest::collection::vec(val(t), 0..3).prop_map(Val::Seq).boxed(),
        Ty::Map(k, v) => proptest::collection::vec((val(k), val(v)), 0..3).prop_map(Val::Map).boxed(),
        Ty::Tuple(types) => values(types).prop_map(Val::Tuple).boxed(),
        Ty::Struct { name, fields, types } => {
            let (name, fields) = (*name, *fields);
            values(types).prop_map(move |vs| Val::Struct(name, fields.iter().copied().zip(vs).collect())).boxed()
        }
        Ty::Enum { name, variants, kinds } => {
            let name = *name;
            let choices: Vec<BoxedStrategy<Val>> = kinds
                .iter()
                .enumerate()
                .map(|(i, kind)| {
                    let variant = variants[i];
                    let index = i as u32;
                    let payload: BoxedStrategy<Payload> = match kind {
                        VariantTy::Unit => Just(Payload::Unit).boxed(),
                        VariantTy::Newtype(t) => val(t).prop_map(Payload::Newtype).boxed(),
                        VariantTy::Tuple(types) => values(types).prop_map(Payload::Tuple).boxed(),
                        VariantTy::Struct(fields, types) => {
                            let fields = *fields;
                            values(types)
                                .prop_map(move |vs| Payload::Struct(fields.iter().copied().zip(vs).collect()))
                                .boxed()
                        }
                    };
                    payload.prop_map(move |p| Val::Variant(name, index, variant, Box::new(p))).boxed()
                })
                .collect();
            proptest::strategy::Union::new(choices).boxed()
        }
    }
}

// --- Writing a value ------------------------------------------------------------

impl Serialize for Val {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Val::Bool(v) => s.serialize_bool(*v),
            Val::I8(v) => s.serialize_i8(*v),
            Val::I16(v) => s.serialize_i16(*v),
            Val::I32(v) => s.serialize_i32(*v),
            Val::I64(v) => s.serialize_i64(*v),
            Val::I128(v) => s.serialize_i128(*v),
            Val::U8(v) => s.serialize_u8(*v),
            Val::U16(v) => s.serialize_u16(*v),
            Val::U32(v) => s.serialize_u32(*v),
            Val::U64(v) => s.serialize_u64(*v),
            Val::U128(v) => s.serialize_u128(*v),
            Val::F32(v) => s.serialize_f32(*v),
            Val::F64(v) => s.serialize_f64(*v),
            Val::Char(v) => s.serialize_char(*v),
            Val::Str(v) => s.serialize_str(v),
            Val::Bytes(v) => s.serialize_bytes(v),
            Val::Unit => s.serialize_unit(),
            Val::None => s.serialize_none(),
            Val::Some(v) => s.serialize_some(v),
            Val::Seq(vs) => {
                let mut seq = s.serialize_seq(Some(vs.len()))?;
                vs.iter().try_for_each(|v| seq.serialize_element(v))?;
                seq.end()
            }
            Val::Map(entries) => {
                let mut map = s.serialize_map(Some(entries.len()))?;
                entries.iter().try_for_each(|(k, v)| map.serialize_entry(k, v))?;
                map.end()
            }
            Val::Tuple(vs) => {
                let mut tuple = s.serialize_tuple(vs.len())?;
                vs.iter().try_for_each(|v| tuple.serialize_element(v))?;
                tuple.end()
            }
            Val::Struct(name, fields) => {
                let mut st = s.serialize_struct(name, fields.len())?;
                fields.iter().try_for_each(|(k, v)| st.serialize_field(k, v))?;
                st.end()
            }
            Val::Variant(name, index, variant, payload) => match &**payload {
                Payload::Unit => s.serialize_unit_variant(name, *index, variant),
                Payload::Newtype(v) => s.serialize_newtype_variant(name, *index, variant, v),
                Payload::Tuple(vs) => {
                    let mut tv = s.serialize_tuple_variant(name, *index, variant, vs.len())?;
                    vs.iter().try_for_each(|v| tv.serialize_field(v))?;
                    tv.end()
                }
                Payload::Struct(fields) => {
                    let mut sv = s.serialize_struct_variant(name, *index, variant, fields.len())?;
                    fields.iter().try_for_each(|(k, v)| sv.serialize_field(k, v))?;
                    sv.end()
                }
            },
        }
    }
}

// --- Reading a value as a type ----------------------------------------------------

/// Reads one value of its type, asking for exactly what a derived
/// `Deserialize` of that type would.
#[derive(Clone, Copy)]
struct Read<'t>(&'t Ty);

struct ReadVisitor<'t>(&'t Ty);

impl<'de> DeserializeSeed<'de> for Read<'_> {
    type Value = Val;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Val, D::Error> {
        let v = ReadVisitor(self.0);
        match self.0 {
            Ty::Bool => d.deserialize_bool(v),
            Ty::I8 => d.deserialize_i8(v),
            Ty::I16 => d.deserialize_i16(v),
            Ty::I32 => d.deserialize_i32(v),
            Ty::I64 => d.deserialize_i64(v),
            Ty::I128 => d.deserialize_i128(v),
            Ty::U8 => d.deserialize_u8(v),
            Ty::U16 => d.deserialize_u16(v),
            Ty::U32 => d.deserialize_u32(v),
            Ty::U64 => d.deserialize_u64(v),
            Ty::U128 => d.deserialize_u128(v),
            Ty::F32 => d.deserialize_f32(v),
            Ty::F64 => d.deserialize_f64(v),
            Ty::Char => d.deserialize_char(v),
            Ty::Str => d.deserialize_string(v),
            Ty::Bytes => d.deserialize_byte_buf(v),
            Ty::Unit => d.deserialize_unit(v),
            Ty::Option(_) => d.deserialize_option(v),
            Ty::Seq(_) => d.deserialize_seq(v),
            Ty::Map(..) => d.deserialize_map(v),
            Ty::Tuple(types) => d.deserialize_tuple(types.len(), v),
            Ty::Struct { name, fields, .. } => d.deserialize_struct(name, fields, v),
            Ty::Enum { name, variants, .. } => d.deserialize_enum(name, variants, v),
        }
    }
}

/// Written values hold a few elements; bytes of another type read as a
/// sequence of elements that take no bytes (units) can claim billions.
fn too_long<E: de::Error>(len: usize) -> Result<(), E> {
    if len > 64 { Err(E::custom("longer than any value written here")) } else { Ok(()) }
}

/// Reads the elements of `types` in order, refusing a shorter sequence.
fn read_all<'de, A: SeqAccess<'de>>(seq: &mut A, types: &[Ty]) -> Result<Vec<Val>, A::Error> {
    types
        .iter()
        .enumerate()
        .map(|(i, t)| seq.next_element_seed(Read(t))?.ok_or_else(|| de::Error::invalid_length(i, &"more")))
        .collect()
}

impl<'de> Visitor<'de> for ReadVisitor<'_> {
    type Value = Val;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Val, E> {
        Ok(Val::Bool(v))
    }
    fn visit_i8<E: de::Error>(self, v: i8) -> Result<Val, E> {
        Ok(Val::I8(v))
    }
    fn visit_i16<E: de::Error>(self, v: i16) -> Result<Val, E> {
        Ok(Val::I16(v))
    }
    fn visit_i32<E: de::Error>(self, v: i32) -> Result<Val, E> {
        Ok(Val::I32(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Val, E> {
        Ok(Val::I64(v))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Val, E> {
        Ok(Val::I128(v))
    }
    fn visit_u8<E: de::Error>(self, v: u8) -> Result<Val, E> {
        Ok(Val::U8(v))
    }
    fn visit_u16<E: de::Error>(self, v: u16) -> Result<Val, E> {
        Ok(Val::U16(v))
    }
    fn visit_u32<E: de::Error>(self, v: u32) -> Result<Val, E> {
        Ok(Val::U32(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Val, E> {
        Ok(Val::U64(v))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Val, E> {
        Ok(Val::U128(v))
    }
    fn visit_f32<E: de::Error>(self, v: f32) -> Result<Val, E> {
        Ok(Val::F32(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Val, E> {
        Ok(Val::F64(v))
    }
    fn visit_char<E: de::Error>(self, v: char) -> Result<Val, E> {
        Ok(Val::Char(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Val, E> {
        Ok(Val::Str(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Val, E> {
        Ok(Val::Str(v))
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Val, E> {
        Ok(Val::Bytes(v.to_vec()))
    }
    fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Val, E> {
        Ok(Val::Bytes(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Val, E> {
        Ok(Val::Unit)
    }
    fn visit_none<E: de::Error>(self) -> Result<Val, E> {
        Ok(Val::None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Val, D::Error> {
        let Ty::Option(t) = self.0 else { return Err(de::Error::custom("not an option")) };
        Ok(Val::Some(Box::new(Read(t).deserialize(d)?)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Val, A::Error> {
        match self.0 {
            Ty::Seq(t) => {
                let mut out = Vec::new();
                while let Some(v) = seq.next_element_seed(Read(t))? {
                    out.push(v);
                    too_long(out.len())?;
                }
                Ok(Val::Seq(out))
            }
            Ty::Tuple(types) => Ok(Val::Tuple(read_all(&mut seq, types)?)),
            Ty::Struct { name, fields, types } => {
                Ok(Val::Struct(name, fields.iter().copied().zip(read_all(&mut seq, types)?).collect()))
            }
            _ => Err(de::Error::custom("not a sequence")),
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Val, A::Error> {
        let Ty::Map(k, v) = self.0 else { return Err(de::Error::custom("not a map")) };
        let mut out = Vec::new();
        while let Some(key) = map.next_key_seed(Read(k))? {
            out.push((key, map.next_value_seed(Read(v))?));
            too_long(out.len())?;
        }
        Ok(Val::Map(out))
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Val, A::Error> {
        let Ty::Enum { name, variants, kinds } = self.0 else { return Err(de::Error::custom("not an enum")) };
        let (index, access) = data.variant_seed(std::marker::PhantomData::<u32>)?;
        let (Some(variant), Some(kind)) = (variants.get(index as usize), kinds.get(index as usize)) else {
            return Err(de::Error::custom("no such variant"));
        };
        let payload = match kind {
            VariantTy::Unit => access.unit_variant().map(|()| Payload::Unit)?,
            VariantTy::Newtype(t) => Payload::Newtype(access.newtype_variant_seed(Read(t))?),
            VariantTy::Tuple(types) => {
                match access.tuple_variant(types.len(), ReadVisitor(&Ty::Tuple(types.clone())))? {
                    Val::Tuple(vs) => Payload::Tuple(vs),
                    _ => unreachable!("a tuple reads as a tuple"),
                }
            }
            VariantTy::Struct(fields, types) => {
                let ty = Ty::Struct { name: "", fields, types: types.clone() };
                match access.struct_variant(fields, ReadVisitor(&ty))? {
                    Val::Struct(_, fs) => Payload::Struct(fs),
                    _ => unreachable!("a struct reads as a struct"),
                }
            }
        };
        Ok(Val::Variant(name, index, variant, Box::new(payload)))
    }
}

fn read_as(bytes: &[u8], ty: &Ty) -> Result<Val, SerialError> {
    value_from_bytes_seed(Read(ty), bytes)
}

fn pair() -> impl Strategy<Value = (Ty, Val, Ty)> {
    (ty(), ty()).prop_filter("two distinct types", |(a, b)| a != b).prop_flat_map(|(a, b)| {
        let value = val(&a);
        (Just(a), value, Just(b))
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn a_value_read_as_another_type_is_an_error_never_another_value((written, value, read) in pair()) {
        let bytes = value_to_bytes(&value).unwrap();
        prop_assert_eq!(read_as(&bytes, &written).ok(), Some(value.clone()), "read as its own type");
        if let Ok(other) = read_as(&bytes, &read) {
            // Only a value with nothing of its type in it may read as
            // another type: `None`, an empty sequence or map.
            prop_assert_eq!(&other, &value, "{:?} written as {:?} read as {:?}", value, written, read);
        }
    }
}

/// A primitive value of each kind, as a `Val`.
fn one_of_each_primitive() -> Vec<Val> {
    vec![
        Val::Bool(true),
        Val::I8(1),
        Val::I16(1),
        Val::I32(1),
        Val::I64(1),
        Val::I128(1),
        Val::U8(1),
        Val::U16(1),
        Val::U32(1),
        Val::U64(1),
        Val::U128(1),
        Val::F32(1.0),
        Val::F64(1.0),
        Val::Char('a'),
        Val::Str("a".into()),
        Val::Bytes(vec![1]),
        Val::Unit,
    ]
}

#[test]
fn every_primitive_read_as_every_other_primitive_is_an_error() {
    let types = [
        Ty::Bool,
        Ty::I8,
        Ty::I16,
        Ty::I32,
        Ty::I64,
        Ty::I128,
        Ty::U8,
        Ty::U16,
        Ty::U32,
        Ty::U64,
        Ty::U128,
        Ty::F32,
        Ty::F64,
        Ty::Char,
        Ty::Str,
        Ty::Bytes,
        Ty::Unit,
    ];
    for (i, value) in one_of_each_primitive().iter().enumerate() {
        let bytes = value_to_bytes(value).unwrap();
        for (j, ty) in types.iter().enumerate() {
            let read = read_as(&bytes, ty);
            if i == j {
                assert_eq!(read.ok().as_ref(), Some(value));
            } else {
                assert!(read.is_err(), "{value:?} read as {ty:?}: {read:?}");
            }
        }
    }
}
