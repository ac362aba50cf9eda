//! The stored form of a session: a flat map of named fields.
//!
//! Backends see a session as fields (`String` name, opaque bytes) so that
//! a save can write only the fields this request changed. The session model
//! names its fields with a one-letter prefix: `v<key>` for values,
//! `f<queue>#<24 hex digits>` for each flash message (one field per message,
//! so concurrent requests keep each other's), `m` for metadata and `u` for
//! the user the session belongs to.
//!
//! Serialized (by the cookie store and the memory and filesystem backends),
//! a record is:
//!
//! ```text
//! version: u8 = 1
//! count:   varint
//! count × { name_len: varint, name: UTF-8, value_len: varint, value }
//! ```
//!
//! Varints are unsigned LEB128 of at most 10 bytes. Every length is checked
//! against the bytes that remain before anything is allocated, so a forged
//! length costs nothing.
//!
//! The size of a record, for every backend's size limit, is the length of
//! this serialized form ([`encoded_len`]), whether or not the backend stores
//! it serialized: one definition, so a record one backend accepts is
//! accepted by every backend with the same limit.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::BackendError;

/// The fields of one session, by name.
pub type Fields = BTreeMap<String, Vec<u8>>;

const RECORD_V1: u8 = 1;

/// The record size limit backends apply unless configured otherwise: 1 MiB
/// of [`encoded_len`].
pub const DEFAULT_MAX_RECORD_BYTES: usize = 1 << 20;

/// Field name of the metadata.
pub(crate) const META_FIELD: &str = "m";
/// Prefix of value fields.
pub(crate) const VALUE_PREFIX: char = 'v';
/// Field name of the user binding (`Session::set_user`).
pub(crate) const USER_FIELD: &str = "u";
/// Field name of when a server session's id was minted (Unix seconds,
/// written only when a renewal timeout is configured).
pub(crate) const ID_SINCE_FIELD: &str = "i";
/// Prefix of flash-queue fields.
pub(crate) const FLASH_PREFIX: char = 'f';

/// Session metadata, stored in field `m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Meta {
    /// When the session was created (Unix seconds); the absolute timeout
    /// counts from here.
    pub(crate) created: u64,
    /// `Some(secs)`: a persistent cookie with that Max-Age; `None`: a
    /// browser-session cookie.
    pub(crate) max_age: Option<u64>,
}

impl Meta {
    /// The metadata as stored in field `m`.
    pub(crate) fn encode(&self) -> Vec<u8> {
        // A two-field struct of integers cannot fail to encode.
        crate::serial::to_bytes(self).unwrap_or_default()
    }

    /// The metadata of a record, if it has a readable `m` field.
    pub(crate) fn of(fields: &Fields) -> Option<Meta> {
        crate::serial::from_bytes(fields.get(META_FIELD)?).ok()
    }
}

/// The user binding of a record (field `u`): the user id and when it was
/// bound (Unix seconds).
pub(crate) fn user_of(fields: &Fields) -> Option<(String, u64)> {
    crate::serial::from_bytes(fields.get(USER_FIELD)?).ok()
}

/// True when a record holds anything worth keeping: a value, a flash or a
/// user binding. A record of metadata alone is an emptied session.
pub(crate) fn holds_data(fields: &Fields) -> bool {
    fields.keys().any(|name| name != META_FIELD && name != ID_SINCE_FIELD)
}

/// Serializes fields in the record format.
pub fn encode(fields: &Fields) -> Vec<u8> {
    let size: usize = fields.iter().map(|(k, v)| k.len() + v.len() + 4).sum();
    let mut out = Vec::with_capacity(size + 11);
    out.push(RECORD_V1);
    put_varint(&mut out, fields.len() as u64);
    for (name, value) in fields {
        put_varint(&mut out, name.len() as u64);
        out.extend_from_slice(name.as_bytes());
        put_varint(&mut out, value.len() as u64);
        out.extend_from_slice(value);
    }
    out
}

/// The length of `encode(fields)`, computed without encoding: the size of a
/// record, as every backend's limit counts it.
///
/// ```
/// use sessions_core::record::{Fields, encode, encoded_len};
///
/// let fields = Fields::from([("vname".to_owned(), b"ada".to_vec())]);
/// assert_eq!(encoded_len(&fields), encode(&fields).len());
/// ```
pub fn encoded_len(fields: &Fields) -> usize {
    fields.iter().fold(1 + varint_len(fields.len() as u64), |size, (name, value)| {
        size.saturating_add(field_len(name.len(), value.len()))
    })
}

/// Bytes one field takes in the record format.
fn field_len(name_len: usize, value_len: usize) -> usize {
    varint_len(name_len as u64) + name_len + varint_len(value_len as u64) + value_len
}

fn varint_len(n: u64) -> usize {
    // 7 bits per byte; zero still takes one byte.
    (u64::BITS - n.leading_zeros()).div_ceil(7).max(1) as usize
}

/// Parses the record format, refusing anything this library did not write.
pub fn decode(mut bytes: &[u8]) -> Result<Fields, BackendError> {
    let corrupt = |what: &str| BackendError::Corrupt(format!("record: {what}"));
    match bytes.split_first() {
        Some((&RECORD_V1, rest)) => bytes = rest,
        Some(_) => return Err(corrupt("unknown version")),
        None => return Err(corrupt("empty")),
    }
    let count = take_varint(&mut bytes).ok_or_else(|| corrupt("bad field count"))?;
    // Each field takes at least two bytes, so a count beyond that is forged.
    if count > (bytes.len() / 2) as u64 {
        return Err(corrupt("field count larger than the record"));
    }
    let mut fields = Fields::new();
    for _ in 0..count {
        let name = take_slice(&mut bytes).ok_or_else(|| corrupt("truncated field name"))?;
        let name = std::str::from_utf8(name).map_err(|_| corrupt("field name is not UTF-8"))?;
        let value = take_slice(&mut bytes).ok_or_else(|| corrupt("truncated field value"))?;
        if fields.insert(name.to_owned(), value.to_vec()).is_some() {
            return Err(corrupt("duplicate field"));
        }
    }
    if !bytes.is_empty() {
        return Err(corrupt("trailing bytes"));
    }
    Ok(fields)
}

fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn take_varint(bytes: &mut &[u8]) -> Option<u64> {
    let mut n: u64 = 0;
    for i in 0..10 {
        let (&b, rest) = bytes.split_first()?;
        *bytes = rest;
        let part = u64::from(b & 0x7f);
        if i == 9 && b > 1 {
            return None;
        }
        n |= part << (7 * i);
        if b & 0x80 == 0 {
            return Some(n);
        }
    }
    None
}

fn take_slice<'a>(bytes: &mut &'a [u8]) -> Option<&'a [u8]> {
    let len = usize::try_from(take_varint(bytes)?).ok()?;
    if len > bytes.len() {
        return None;
    }
    let (head, rest) = bytes.split_at(len);
    *bytes = rest;
    Some(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip() {
        let mut fields = Fields::new();
        fields.insert("vcount".into(), vec![1, 2, 3]);
        fields.insert("m".into(), vec![0; 300]);
        fields.insert("v".into(), vec![]);
        assert_eq!(decode(&encode(&fields)).unwrap(), fields);
        assert_eq!(decode(&encode(&Fields::new())).unwrap(), Fields::new());
    }

    #[test]
    fn encoded_len_is_the_length_of_the_encoding() {
        let mut fields = Fields::new();
        assert_eq!(encoded_len(&fields), encode(&fields).len());
        // Lengths on both sides of every varint width the tests can afford.
        for len in [0, 1, 127, 128, 129, 16_383, 16_384, 16_385, 2_097_151, 2_097_152] {
            fields.insert(format!("v{len}"), vec![7; len]);
            assert_eq!(encoded_len(&fields), encode(&fields).len(), "with a value of {len} bytes");
        }
        fields.insert("n".repeat(200), vec![]);
        assert_eq!(encoded_len(&fields), encode(&fields).len());
        // Field counts across the first varint boundary.
        let mut many = Fields::new();
        for n in 0..300 {
            many.insert(format!("f{n}"), vec![1]);
            assert_eq!(encoded_len(&many), encode(&many).len(), "with {} fields", many.len());
        }
        for n in [0, 1, 127, 128, 16_383, 16_384, u64::MAX] {
            let mut out = Vec::new();
            put_varint(&mut out, n);
            assert_eq!(varint_len(n), out.len(), "varint of {n}");
        }
    }

    #[test]
    fn forged_lengths_and_truncations_are_corrupt() {
        let mut fields = Fields::new();
        fields.insert("vkey".into(), b"value".to_vec());
        let bytes = encode(&fields);
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "truncated at {cut}");
        }
        let mut forged = vec![RECORD_V1, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        forged.extend_from_slice(b"x");
        assert!(decode(&forged).is_err());
        let mut many = vec![RECORD_V1];
        put_varint(&mut many, u64::MAX);
        assert!(decode(&many).is_err());
        let mut appended = bytes.clone();
        appended.push(0);
        assert!(decode(&appended).is_err());
    }
}
