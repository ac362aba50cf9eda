//! [`Fields`]: a session's fields by name, in one buffer.

use std::fmt;

use smallvec::SmallVec;

/// The fields of one session, by name: a map from UTF-8 names to opaque
/// bytes, kept in name order.
///
/// Names and values live back to back in one buffer beside a small sorted
/// index, so a record is one allocation (two past [`INLINE`](Self::INLINE)
/// fields), not one per name, one per value and one per tree node; and
/// writing a field over one at least as long writes in place.
///
/// ```
/// use sessions_core::backend::Fields;
///
/// let mut fields = Fields::from([("vname", b"ada".as_slice()), ("m", b"meta")]);
/// assert_eq!(fields.get("vname"), Some(&b"ada"[..]));
/// assert!(fields.insert("vname", b"grace"), "it replaced a field");
/// assert!(fields.remove("m"));
/// assert_eq!(fields.iter().collect::<Vec<_>>(), [("vname", &b"grace"[..])]);
/// ```
#[derive(Clone, Default)]
pub struct Fields {
    /// Names and values; bytes of replaced or removed fields stay until
    /// there are more of them than live ones.
    bytes: Vec<u8>,
    /// One per field, in name order.
    entries: SmallVec<[Entry; Fields::INLINE]>,
    /// Bytes of `bytes` no entry points at.
    stale: usize,
}

#[derive(Clone, Copy)]
struct Entry {
    /// The name's first eight bytes, big-endian and zero-padded: most
    /// names are shorter, so most comparisons are of this number alone.
    prefix: u64,
    name: Span,
    value: Span,
}

impl Entry {
    /// How the entry's name orders against `name`, whose prefix is
    /// `prefix`: byte order, as `str`'s.
    fn cmp(&self, bytes: &[u8], name: &[u8], prefix: u64) -> std::cmp::Ordering {
        match self.prefix.cmp(&prefix) {
            // Equal prefixes of names that both fit in one: the shorter
            // name is the other's prefix (it was padded with zeros).
            std::cmp::Ordering::Equal if self.name.len() <= 8 && name.len() <= 8 => self.name.len().cmp(&name.len()),
            std::cmp::Ordering::Equal => self.name.of(bytes).cmp(name),
            unequal => unequal,
        }
    }
}

fn prefix(name: &[u8]) -> u64 {
    match name.first_chunk::<8>() {
        Some(head) => u64::from_be_bytes(*head),
        // Shifted in a byte at a time: a copy of a length not known until
        // now would be a call to `memcpy`, on every lookup.
        // An empty name is zero, shifted or not.
        None => {
            name.iter().fold(0u64, |prefix, &b| (prefix << 8) | u64::from(b)).wrapping_shl(8 * (8 - name.len() as u32))
        }
    }
}

/// Where a name or a value is in the buffer. Offsets are 32 bits, so
/// that the index of a few fields fits beside the buffer in a few words:
/// a session's fields are bounded by its record limit (a megabyte by
/// default), far below the 4 GiB they could address.
#[derive(Clone, Copy)]
struct Span {
    at: u32,
    len: u32,
}

impl Span {
    fn of(self, bytes: &[u8]) -> &[u8] {
        &bytes[self.at as usize..self.at as usize + self.len as usize]
    }

    fn len(self) -> usize {
        self.len as usize
    }
}

/// The most bytes of names and values one [`Fields`] holds.
pub(crate) const MAX_BYTES: usize = u32::MAX as usize;

/// Below this many stale bytes a buffer is never compacted: rewriting it
/// would cost more than the bytes it frees.
const COMPACT_FLOOR: usize = 1024;

impl Fields {
    /// How many fields the index holds without an allocation of its own:
    /// the metadata, a user binding and one value.
    pub const INLINE: usize = 3;

    /// No fields.
    pub fn new() -> Fields {
        Fields::default()
    }

    /// No fields, with room for `fields` fields of `bytes` bytes of names
    /// and values in all.
    pub fn with_capacity(fields: usize, bytes: usize) -> Fields {
        Fields { bytes: Vec::with_capacity(bytes), entries: SmallVec::with_capacity(fields), stale: 0 }
    }

    /// The number of fields.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// There are no fields.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The value of field `name`.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.get_bytes(name.as_bytes())
    }

    /// [`get`](Self::get) by the name's bytes.
    pub(crate) fn get_bytes(&self, name: &[u8]) -> Option<&[u8]> {
        let at = self.find(name).ok()?;
        Some(self.entries[at].value.of(&self.bytes))
    }

    /// There is a field `name`.
    pub fn contains_key(&self, name: &str) -> bool {
        self.find(name.as_bytes()).is_ok()
    }

    /// Sets field `name` to `value`; returns whether it replaced one.
    ///
    /// # Panics
    ///
    /// If the names and values would pass 4 GiB: no record limit allows
    /// a session near that size.
    pub fn insert(&mut self, name: impl AsRef<str>, value: impl AsRef<[u8]>) -> bool {
        let (name, value) = (name.as_ref(), value.as_ref());
        match self.find(name.as_bytes()) {
            Ok(at) => {
                self.replace(at, value);
                true
            }
            Err(at) => {
                self.add(at, name, value);
                false
            }
        }
    }

    /// Adds field `name` unless there is one; returns whether it was added.
    /// Adding fields in name order is the fast path: the order records
    /// are written in.
    pub(crate) fn insert_new(&mut self, name: &str, value: &[u8]) -> bool {
        let key = prefix(name.as_bytes());
        let after_last = self.entries.last().is_none_or(|last| last.cmp(&self.bytes, name.as_bytes(), key).is_lt());
        if after_last {
            self.add(self.entries.len(), name, value);
            return true;
        }
        match self.find(name.as_bytes()) {
            Ok(_) => false,
            Err(at) => {
                self.add(at, name, value);
                true
            }
        }
    }

    /// Removes field `name`; returns whether there was one.
    pub fn remove(&mut self, name: &str) -> bool {
        match self.find(name.as_bytes()) {
            Ok(at) => {
                let entry = self.entries.remove(at);
                self.stale += entry.name.len() + entry.value.len();
                self.compact_if_stale();
                true
            }
            Err(_) => false,
        }
    }

    /// Keeps only the fields `keep` accepts.
    pub fn retain(&mut self, mut keep: impl FnMut(&str, &[u8]) -> bool) {
        let bytes = &self.bytes;
        let mut dropped = 0;
        self.entries.retain(|entry| {
            let kept = keep(name_of(bytes, entry), entry.value.of(bytes));
            if !kept {
                dropped += entry.name.len() + entry.value.len();
            }
            kept
        });
        self.stale += dropped;
        self.compact_if_stale();
    }

    /// Removes every field, keeping the buffers for reuse.
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.entries.clear();
        self.stale = 0;
    }

    /// The fields, in name order.
    pub fn iter(&self) -> Iter<'_> {
        Iter { bytes: &self.bytes, entries: self.entries.iter() }
    }

    /// [`iter`](Self::iter) with names as bytes, for the record format
    /// and other readers that need no `&str`: no name is checked again.
    pub(crate) fn iter_bytes(&self) -> impl DoubleEndedIterator<Item = (&[u8], &[u8])> + ExactSizeIterator + Clone {
        self.entries.iter().map(|entry| (entry.name.of(&self.bytes), entry.value.of(&self.bytes)))
    }

    /// The names, in order.
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &str> + ExactSizeIterator + Clone {
        self.iter().map(|(name, _)| name)
    }

    /// The values, in name order.
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &[u8]> + ExactSizeIterator + Clone {
        self.iter().map(|(_, value)| value)
    }

    fn find(&self, name: &[u8]) -> Result<usize, usize> {
        let key = prefix(name);
        self.entries.binary_search_by(|entry| entry.cmp(&self.bytes, name, key))
    }

    fn push(&mut self, bytes: &[u8]) -> Span {
        let end = self.bytes.len().saturating_add(bytes.len());
        assert!(end <= MAX_BYTES, "a session's fields hold at most 4 GiB");
        // Both fit in 32 bits, as `end` does.
        let span = Span { at: self.bytes.len() as u32, len: bytes.len() as u32 };
        self.bytes.extend_from_slice(bytes);
        span
    }

    fn add(&mut self, at: usize, name: &str, value: &[u8]) {
        // One reservation for both, so a field added to an empty map
        // allocates once.
        self.bytes.reserve(name.len() + value.len());
        let key = prefix(name.as_bytes());
        let name = self.push(name.as_bytes());
        let value = self.push(value);
        self.entries.insert(at, Entry { prefix: key, name, value });
    }

    fn replace(&mut self, at: usize, value: &[u8]) {
        let old = self.entries[at].value;
        if value.len() <= old.len() {
            let from = old.at as usize;
            self.bytes[from..from + value.len()].copy_from_slice(value);
            // No longer than the old value's, which fit.
            self.entries[at].value.len = value.len() as u32;
            self.stale += old.len() - value.len();
        } else {
            self.entries[at].value = self.push(value);
            self.stale += old.len();
        }
        self.compact_if_stale();
    }

    fn compact_if_stale(&mut self) {
        if self.stale <= COMPACT_FLOOR || self.stale <= self.bytes.len() / 2 {
            return;
        }
        let mut bytes = Vec::with_capacity(self.bytes.len() - self.stale);
        for entry in &mut self.entries {
            for span in [&mut entry.name, &mut entry.value] {
                // Within the old buffer's length, which fit.
                let at = bytes.len() as u32;
                bytes.extend_from_slice(span.of(&self.bytes));
                span.at = at;
            }
        }
        self.bytes = bytes;
        self.stale = 0;
    }
}

fn name_of<'a>(bytes: &'a [u8], entry: &Entry) -> &'a str {
    // Names are only ever written from a `&str`.
    std::str::from_utf8(entry.name.of(bytes)).unwrap_or_default()
}

/// The fields of a [`Fields`], in name order: made by [`Fields::iter`].
#[derive(Clone)]
pub struct Iter<'a> {
    bytes: &'a [u8],
    entries: std::slice::Iter<'a, Entry>,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a str, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        self.entries.next().map(|entry| (name_of(self.bytes, entry), entry.value.of(self.bytes)))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.entries.size_hint()
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.entries.next_back().map(|entry| (name_of(self.bytes, entry), entry.value.of(self.bytes)))
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl fmt::Debug for Iter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.clone()).finish()
    }
}

impl<'a> IntoIterator for &'a Fields {
    type Item = (&'a str, &'a [u8]);
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl<N: AsRef<str>, V: AsRef<[u8]>> Extend<(N, V)> for Fields {
    fn extend<I: IntoIterator<Item = (N, V)>>(&mut self, fields: I) {
        for (name, value) in fields {
            self.insert(name, value);
        }
    }
}

impl<N: AsRef<str>, V: AsRef<[u8]>> FromIterator<(N, V)> for Fields {
    fn from_iter<I: IntoIterator<Item = (N, V)>>(fields: I) -> Fields {
        let mut out = Fields::new();
        out.extend(fields);
        out
    }
}

impl<N: AsRef<str>, V: AsRef<[u8]>, const LEN: usize> From<[(N, V); LEN]> for Fields {
    fn from(fields: [(N, V); LEN]) -> Fields {
        fields.into_iter().collect()
    }
}

/// The value of a field known to be there.
///
/// # Panics
///
/// If there is no such field, as a map's index does.
impl std::ops::Index<&str> for Fields {
    type Output = [u8];

    fn index(&self, name: &str) -> &[u8] {
        match self.get(name) {
            Some(value) => value,
            None => panic!("no field {name:?}"),
        }
    }
}

impl PartialEq for Fields {
    fn eq(&self, other: &Fields) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for Fields {}

impl fmt::Debug for Fields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u8, Vec<u8>),
        InsertNew(u8, Vec<u8>),
        Remove(u8),
        Retain(u8),
        Clear,
    }

    fn name(n: u8) -> String {
        // Names of several lengths that share prefixes, so order and
        // lookups are tested across them.
        format!("v{}", "ab".repeat(usize::from(n % 4))) + &(n / 4).to_string()
    }

    fn op() -> impl Strategy<Value = Op> {
        let value = prop::collection::vec(any::<u8>(), 0..1500);
        prop_oneof![
            6 => (0..24u8, value.clone()).prop_map(|(n, v)| Op::Insert(n, v)),
            2 => (0..24u8, value).prop_map(|(n, v)| Op::InsertNew(n, v)),
            3 => (0..24u8).prop_map(Op::Remove),
            1 => (0..24u8).prop_map(Op::Retain),
            1 => Just(Op::Clear),
        ]
    }

    proptest! {
        /// Every operation does to `Fields` what it does to a sorted map,
        /// through replacements that fit in place, that do not, and the
        /// compactions they cause.
        #[test]
        fn fields_behave_as_a_sorted_map(ops in prop::collection::vec(op(), 0..120)) {
            let mut fields = Fields::new();
            let mut model: BTreeMap<String, Vec<u8>> = BTreeMap::new();
            for op in ops {
                match op {
                    Op::Insert(n, v) => {
                        prop_assert_eq!(fields.insert(name(n), &v), model.insert(name(n), v).is_some());
                    }
                    Op::InsertNew(n, v) => {
                        let absent = !model.contains_key(&name(n));
                        if absent {
                            model.insert(name(n), v.clone());
                        }
                        prop_assert_eq!(fields.insert_new(&name(n), &v), absent);
                    }
                    Op::Remove(n) => prop_assert_eq!(fields.remove(&name(n)), model.remove(&name(n)).is_some()),
                    Op::Retain(n) => {
                        let keep = |name: &str, value: &[u8]| name.len() % 2 == usize::from(n % 2) || value.len() > 700;
                        fields.retain(keep);
                        model.retain(|name, value| keep(name, value));
                    }
                    Op::Clear => {
                        fields.clear();
                        model.clear();
                    }
                }
                prop_assert_eq!(fields.len(), model.len());
                prop_assert!(fields.iter().eq(model.iter().map(|(n, v)| (n.as_str(), v.as_slice()))));
                prop_assert!(fields.iter().rev().eq(model.iter().rev().map(|(n, v)| (n.as_str(), v.as_slice()))));
                for n in 0..24 {
                    prop_assert_eq!(fields.get(&name(n)), model.get(&name(n)).map(Vec::as_slice));
                }
                // Stale bytes stay bounded by the live ones, past the floor.
                let live: usize = model.iter().map(|(n, v)| n.len() + v.len()).sum();
                prop_assert!(fields.bytes.len() <= 2 * live + 2 * COMPACT_FLOOR + 1500);
                prop_assert_eq!(fields.bytes.len(), live + fields.stale);
            }
        }
    }

    proptest! {
        /// Names compared by their prefix first order as bytes do, across
        /// the eight-byte edge, zero bytes (the padding's value) and empty
        /// names.
        #[test]
        fn names_order_as_their_bytes(a in "[\\x00\\x01a]{0,11}", b in "[\\x00\\x01a]{0,11}") {
            let mut fields = Fields::new();
            fields.insert(&a, b"");
            let entry = fields.entries[0];
            prop_assert_eq!(entry.cmp(&fields.bytes, b.as_bytes(), prefix(b.as_bytes())), a.as_bytes().cmp(b.as_bytes()));
        }
    }

    #[test]
    fn equal_fields_compare_equal_whatever_their_history() {
        let mut replaced = Fields::from([("va", vec![1; 40]), ("vb", vec![2])]);
        replaced.insert("va", [3]);
        replaced.remove("vb");
        replaced.insert("vb", [2]);
        replaced.insert("va", [1; 40]);
        assert_eq!(replaced, Fields::from([("vb", [2].as_slice()), ("va", &[1; 40])]));
        assert_ne!(replaced, Fields::from([("va", [1; 40].as_slice())]));
        assert_eq!(format!("{:?}", Fields::from([("a", [1, 2])])), r#"{"a": [1, 2]}"#);
    }
}
