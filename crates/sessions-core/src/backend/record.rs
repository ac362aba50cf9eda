//! The stored form of a session: a flat map of named fields.
//!
//! Backends see a session as fields (`String` name, opaque bytes) so that
//! a save can write only the fields this request changed. What the names
//! mean is the session's business, not the backends': to a backend every
//! name and value is opaque.
//!
//! Serialized (by the cookie store and the memory and filesystem backends),
//! a record is:
//!
//! ```text
//! version: u8 = 2
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

use std::sync::Arc;

pub use super::fields::Fields;
use crate::error::BackendError;

/// Version 2: session values carry their shape fingerprint.
const RECORD_VERSION: u8 = 2;

/// The record size limit backends apply unless configured otherwise: 1 MiB
/// of [`encoded_len`].
pub const DEFAULT_MAX_RECORD_BYTES: usize = 1 << 20;

/// The changes one request made to a session: apply them to the record
/// as it is *now* in storage, not as it was loaded, so that concurrent
/// requests writing different keys keep each other's writes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Patch {
    /// Remove every field not named in `set` before applying the rest.
    pub clear: bool,
    /// Fields to write.
    pub set: Fields,
    /// Fields to remove.
    pub remove: Vec<String>,
}

impl Patch {
    /// Applies the patch to `fields` (for backends that read, modify and
    /// write whole records).
    pub fn apply(&self, fields: &mut Fields) {
        if self.clear {
            fields.clear();
        }
        for name in &self.remove {
            fields.remove(name);
        }
        for (name, value) in &self.set {
            fields.insert(name, value);
        }
    }
}

/// Serializes fields in the record format.
pub fn encode(fields: &Fields) -> Vec<u8> {
    encode_entries(fields.len(), fields.iter_bytes())
}

/// Serializes `count` fields, given in name order, in the record format.
pub(crate) fn encode_entries<'a>(count: usize, fields: impl Iterator<Item = (&'a [u8], &'a [u8])> + Clone) -> Vec<u8> {
    let size: usize = fields.clone().map(|(k, v)| k.len() + v.len() + 4).sum();
    let mut out = Vec::with_capacity(size + 11);
    out.push(RECORD_VERSION);
    put_varint(&mut out, count as u64);
    for (name, value) in fields {
        put_varint(&mut out, name.len() as u64);
        out.extend_from_slice(name);
        put_varint(&mut out, value.len() as u64);
        out.extend_from_slice(value);
    }
    out
}

/// The length of `encode(fields)`, computed without encoding: the size of a
/// record, as every backend's limit counts it.
///
/// ```
/// use sessions_core::backend::record::{Fields, encode, encoded_len};
///
/// let fields = Fields::from([("vname".to_owned(), b"ada".to_vec())]);
/// assert_eq!(encoded_len(&fields), encode(&fields).len());
/// ```
pub fn encoded_len(fields: &Fields) -> usize {
    fields.iter_bytes().fold(1 + varint_len(fields.len() as u64), |size, (name, value)| {
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
pub fn decode(bytes: &[u8]) -> Result<Fields, BackendError> {
    if bytes.len() > super::fields::MAX_BYTES {
        return Err(corrupt("larger than a session's fields can be"));
    }
    let reader = Reader::new(bytes)?;
    // The names and values are a part of the record: room for the whole
    // record, and an index for its count of fields (inline for a few), is
    // all the allocating a decode does.
    let mut fields = Fields::with_capacity(reader.left as usize, bytes.len());
    for field in reader {
        let (name, value) = field?;
        let name = std::str::from_utf8(name).map_err(|_| corrupt("field name is not UTF-8"))?;
        if !fields.insert_new(name, value) {
            return Err(corrupt("duplicate field"));
        }
    }
    Ok(fields)
}

/// [`encode`] into one shared allocation, for backends that keep records
/// serialized.
pub(crate) fn encode_shared(fields: &Fields) -> Arc<[u8]> {
    let mut out = Out::new(encoded_len(fields));
    out.put(&[RECORD_VERSION]);
    out.put_varint(fields.len() as u64);
    for (name, value) in fields.iter_bytes() {
        out.put_field(name, value);
    }
    out.finish()
}

fn corrupt(what: &str) -> BackendError {
    BackendError::Corrupt(format!("record: {what}"))
}

/// The fields of a serialized record, in the order they were written,
/// borrowed from it, names as bytes; a malformed record yields one error
/// and stops. Neither repeated names nor names that are not UTF-8 are
/// detected here.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    left: u64,
    failed: bool,
}

impl<'a> Reader<'a> {
    /// Reads the header; the fields follow as the iterator's items.
    pub(crate) fn new(mut bytes: &'a [u8]) -> Result<Reader<'a>, BackendError> {
        match bytes.split_first() {
            Some((&RECORD_VERSION, rest)) => bytes = rest,
            Some(_) => return Err(corrupt("unknown version")),
            None => return Err(corrupt("empty")),
        }
        let count = take_varint(&mut bytes).ok_or_else(|| corrupt("bad field count"))?;
        // Each field takes at least two bytes, so a count beyond that is forged.
        if count > (bytes.len() / 2) as u64 {
            return Err(corrupt("field count larger than the record"));
        }
        Ok(Reader { bytes, left: count, failed: false })
    }

    fn field(&mut self) -> Result<(&'a [u8], &'a [u8]), BackendError> {
        let name = take_slice(&mut self.bytes).ok_or_else(|| corrupt("truncated field name"))?;
        let value = take_slice(&mut self.bytes).ok_or_else(|| corrupt("truncated field value"))?;
        Ok((name, value))
    }
}

impl<'a> Iterator for Reader<'a> {
    type Item = Result<(&'a [u8], &'a [u8]), BackendError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let item = if self.left == 0 {
            if self.bytes.is_empty() {
                return None;
            }
            Err(corrupt("trailing bytes"))
        } else {
            self.left -= 1;
            self.field()
        };
        self.failed = item.is_err();
        Some(item)
    }
}

/// Applies `patch` to a serialized record and returns the result
/// serialized, without building the map of fields: the same bytes as
/// [`encode`] of the decoded record with the patch applied, in one shared
/// allocation. Backends that keep records serialized use it on `update`.
///
/// Records written by [`encode`] list their fields in name order, which is
/// what lets the patch be merged in one pass; a record that does not (or
/// that repeats a name) is refused as [`BackendError::Corrupt`], as
/// [`decode`] refuses a repeated name. Names are compared and copied as
/// bytes, so a name that is not UTF-8 is carried over as it is (and
/// refused by the next [`decode`]).
pub(crate) fn patch_encoded(record: &[u8], patch: &Patch) -> Result<Arc<[u8]>, BackendError> {
    // A session of a few values merges in one pass into a buffer on the
    // stack, then is copied once into its allocation. A larger one takes
    // two passes: the first sizes the output and counts its fields (the
    // count comes first), the second writes it.
    let mut small = [0u8; 1024];
    let mut body = Cursor { buf: &mut small, at: 0 };
    let mut count = 0u64;
    merge(record, patch, |name, value| {
        count += 1;
        body.put_field(name, value);
    })?;
    if let Some(body) = body.written() {
        let mut out = Out::new(1 + varint_len(count) + body.len());
        out.put(&[RECORD_VERSION]);
        out.put_varint(count);
        out.put(body);
        return Ok(out.finish());
    }
    let mut size = 0usize;
    merge(record, patch, |name, value| size = size.saturating_add(field_len(name.len(), value.len())))?;
    let mut out = Out::new(1 + varint_len(count) + size);
    out.put(&[RECORD_VERSION]);
    out.put_varint(count);
    merge(record, patch, |name, value| out.put_field(name, value))?;
    Ok(out.finish())
}

/// Fields written into a fixed buffer, until one does not fit.
struct Cursor<'a> {
    buf: &'a mut [u8],
    /// Bytes written; past the buffer's length once a field did not fit.
    at: usize,
}

impl Cursor<'_> {
    fn put(&mut self, bytes: &[u8]) {
        let end = self.at.saturating_add(bytes.len());
        if let Some(to) = self.buf.get_mut(self.at..end) {
            to.copy_from_slice(bytes);
        }
        self.at = end;
    }

    fn put_field(&mut self, name: &[u8], value: &[u8]) {
        self.put(varint(name.len() as u64).as_slice());
        self.put(name);
        self.put(varint(value.len() as u64).as_slice());
        self.put(value);
    }

    /// What was written, if it all fit.
    fn written(&self) -> Option<&[u8]> {
        self.buf.get(..self.at)
    }
}

/// An unsigned LEB128 varint, on the stack.
struct Varint {
    bytes: [u8; 10],
    len: usize,
}

impl Varint {
    fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

fn varint(mut n: u64) -> Varint {
    let mut out = Varint { bytes: [0; 10], len: 0 };
    while n >= 0x80 {
        out.bytes[out.len] = (n as u8) | 0x80;
        n >>= 7;
        out.len += 1;
    }
    out.bytes[out.len] = n as u8;
    out.len += 1;
    out
}

/// Calls `emit` with each field of `record` with `patch` applied, in name
/// order.
fn merge(record: &[u8], patch: &Patch, mut emit: impl FnMut(&[u8], &[u8])) -> Result<(), BackendError> {
    // A request removes a handful of fields at most; past a few, look them
    // up in a sorted copy rather than scanning.
    let mut sorted: Vec<&[u8]> = Vec::new();
    if patch.remove.len() > 8 {
        sorted = patch.remove.iter().map(String::as_bytes).collect();
        sorted.sort_unstable();
    }
    let removed = |name: &[u8]| {
        if sorted.is_empty() {
            patch.remove.iter().any(|r| r.as_bytes() == name)
        } else {
            sorted.binary_search(&name).is_ok()
        }
    };
    let mut set = patch.set.iter_bytes().peekable();
    let mut previous: Option<&[u8]> = None;
    for field in Reader::new(record)? {
        let (name, value) = field?;
        if previous.is_some_and(|p| p >= name) {
            return Err(corrupt("fields out of order or repeated"));
        }
        previous = Some(name);
        while let Some((set_name, set_value)) = set.next_if(|&(n, _)| n < name) {
            emit(set_name, set_value);
        }
        if let Some((set_name, set_value)) = set.next_if(|&(n, _)| n == name) {
            emit(set_name, set_value);
        } else if !patch.clear && !removed(name) {
            emit(name, value);
        }
    }
    for (name, value) in set {
        emit(name, value);
    }
    Ok(())
}

/// A record being written into a shared allocation of its exact size.
struct Out {
    buf: Arc<[u8]>,
    at: usize,
}

impl Out {
    fn new(len: usize) -> Out {
        // Collected from an iterator of known length, an `Arc<[u8]>` is one
        // allocation; from a `Vec` it would be a second one and a copy.
        Out { buf: std::iter::repeat_n(0, len).collect(), at: 0 }
    }

    fn put(&mut self, bytes: &[u8]) {
        // Just made, so not shared.
        if let Some(buf) = Arc::get_mut(&mut self.buf) {
            buf[self.at..self.at + bytes.len()].copy_from_slice(bytes);
        }
        self.at += bytes.len();
    }

    fn put_varint(&mut self, n: u64) {
        self.put(varint(n).as_slice());
    }

    fn put_field(&mut self, name: &[u8], value: &[u8]) {
        self.put_varint(name.len() as u64);
        self.put(name);
        self.put_varint(value.len() as u64);
        self.put(value);
    }

    fn finish(self) -> Arc<[u8]> {
        debug_assert_eq!(self.at, self.buf.len(), "a record's size was computed wrong");
        self.buf
    }
}

pub(crate) fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

pub(crate) fn take_varint(bytes: &mut &[u8]) -> Option<u64> {
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

pub(crate) fn take_slice<'a>(bytes: &mut &'a [u8]) -> Option<&'a [u8]> {
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
        fields.insert("vcount", vec![1, 2, 3]);
        fields.insert("m", vec![0; 300]);
        fields.insert("v", vec![]);
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
    fn a_patch_merged_into_the_bytes_equals_the_patch_applied_to_the_fields() {
        let stored = Fields::from([
            ("m".to_owned(), vec![1; 12]),
            ("u".to_owned(), b"ada".to_vec()),
            ("va".to_owned(), vec![1]),
            ("vc".to_owned(), vec![3]),
            ("ve".to_owned(), vec![]),
        ]);
        let names = ["", "m", "u", "v", "va", "vb", "vc", "vd", "ve", "vf", "z"];
        // Patches that set, remove or leave each name, with and without
        // `clear`, over the stored record and an empty one.
        for record in [stored.clone(), Fields::new()] {
            for clear in [false, true] {
                // Every 7th of the 3^11 choices keeps the test quick.
                for choice in (0..3usize.pow(names.len() as u32)).step_by(7) {
                    let mut patch = Patch { clear, ..Patch::default() };
                    let mut c = choice;
                    for name in names {
                        match c % 3 {
                            1 => {
                                patch.set.insert(name, name.as_bytes().repeat(2));
                            }
                            2 => patch.remove.push(name.to_owned()),
                            _ => {}
                        }
                        c /= 3;
                    }
                    let mut expected = record.clone();
                    patch.apply(&mut expected);
                    assert_eq!(*patch_encoded(&encode(&record), &patch).unwrap(), *encode(&expected), "{patch:?}");
                }
            }
        }
        // Many removals take the sorted path.
        let many = Fields::from_iter((0..40).map(|n| (format!("v{n:02}"), vec![n])));
        let patch = Patch { remove: (0..40).step_by(3).map(|n| format!("v{n:02}")).collect(), ..Patch::default() };
        let mut expected = many.clone();
        patch.apply(&mut expected);
        assert_eq!(*patch_encoded(&encode(&many), &patch).unwrap(), *encode(&expected));
        assert_eq!(*encode_shared(&many), *encode(&many));
        // Larger than the buffer on the stack: the two-pass path.
        let large = Fields::from_iter((0..40).map(|n| (format!("v{n:02}"), vec![n; 100])));
        for patch in [patch, Patch { set: Fields::from([("v00".to_owned(), vec![9; 3000])]), ..Patch::default() }] {
            let mut expected = large.clone();
            patch.apply(&mut expected);
            assert_eq!(*patch_encoded(&encode(&large), &patch).unwrap(), *encode(&expected));
        }
    }

    #[test]
    fn a_patch_refuses_a_record_out_of_order_or_corrupt() {
        let field = |out: &mut Vec<u8>, name: &str, value: &[u8]| {
            put_varint(out, name.len() as u64);
            out.extend_from_slice(name.as_bytes());
            put_varint(out, value.len() as u64);
            out.extend_from_slice(value);
        };
        let mut unordered = vec![RECORD_VERSION, 2];
        field(&mut unordered, "vb", b"1");
        field(&mut unordered, "va", b"2");
        assert!(decode(&unordered).is_ok(), "order is not required to decode");
        assert!(patch_encoded(&unordered, &Patch::default()).is_err());
        let mut repeated = vec![RECORD_VERSION, 2];
        field(&mut repeated, "va", b"1");
        field(&mut repeated, "va", b"2");
        assert!(decode(&repeated).is_err());
        assert!(patch_encoded(&repeated, &Patch::default()).is_err());
        let bytes = encode(&Fields::from([("vkey".to_owned(), b"value".to_vec())]));
        for cut in 0..bytes.len() {
            assert!(patch_encoded(&bytes[..cut], &Patch::default()).is_err(), "truncated at {cut}");
        }
        let mut appended = bytes.clone();
        appended.push(0);
        assert!(patch_encoded(&appended, &Patch::default()).is_err());
    }

    #[test]
    fn forged_lengths_and_truncations_are_corrupt() {
        let mut fields = Fields::new();
        fields.insert("vkey", b"value");
        let bytes = encode(&fields);
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "truncated at {cut}");
        }
        let mut forged = vec![RECORD_VERSION, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        forged.extend_from_slice(b"x");
        assert!(decode(&forged).is_err());
        let mut many = vec![RECORD_VERSION];
        put_varint(&mut many, u64::MAX);
        assert!(decode(&many).is_err());
        let mut appended = bytes.clone();
        appended.push(0);
        assert!(decode(&appended).is_err());
    }
}
