//! The names of the fields a request changed.
//!
//! A request usually changes one or two fields with short names. Kept in a
//! set of owned strings, marking the first one cost two allocations (the
//! name and the set's node) on every request that writes; kept here, names
//! that fit together in `INLINE` bytes cost none.

/// Bytes of names (each with a four-byte length) held without allocating.
const INLINE: usize = 46;

/// A set of field names, in the order they were first marked.
#[derive(Debug, Clone)]
pub(crate) struct Dirty {
    /// Each name as its length (four bytes, little-endian) and its bytes;
    /// on the heap once the inline buffer is full.
    bytes: Bytes,
}

#[derive(Debug, Clone)]
enum Bytes {
    Inline { len: u8, buffer: [u8; INLINE] },
    Heap(Vec<u8>),
}

impl Default for Dirty {
    fn default() -> Self {
        Dirty { bytes: Bytes::Inline { len: 0, buffer: [0; INLINE] } }
    }
}

impl Dirty {
    fn as_bytes(&self) -> &[u8] {
        match &self.bytes {
            Bytes::Inline { len, buffer } => &buffer[..usize::from(*len)],
            Bytes::Heap(bytes) => bytes,
        }
    }

    /// The marked names, as the bytes they were written from.
    pub(crate) fn names(&self) -> impl Iterator<Item = &[u8]> {
        let mut rest = self.as_bytes();
        std::iter::from_fn(move || {
            let (len, tail) = rest.split_first_chunk::<4>()?;
            let (name, tail) = tail.split_at(u32::from_le_bytes(*len) as usize);
            rest = tail;
            Some(name)
        })
    }

    /// The marked names.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &str> {
        // Only whole `&str`s are ever written.
        self.names().filter_map(|name| std::str::from_utf8(name).ok())
    }

    /// Whether `name` is marked: compared as bytes, on every write, with no
    /// UTF-8 check of the names already marked.
    pub(crate) fn contains(&self, name: &str) -> bool {
        self.names().any(|marked| marked == name.as_bytes())
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.as_bytes().is_empty()
    }

    /// Marks `name`; a name already marked is not marked twice.
    pub(crate) fn insert(&mut self, name: &str) {
        if self.contains(name) {
            return;
        }
        // A name is a key of a record, which a size limit (a `usize`, but
        // far below 4 GiB in any configuration) bounds.
        let len = u32::try_from(name.len()).unwrap_or(u32::MAX).to_le_bytes();
        self.push(&len, name.as_bytes());
    }

    fn push(&mut self, len: &[u8; 4], name: &[u8]) {
        let entry = 4 + name.len();
        match &mut self.bytes {
            Bytes::Inline { len: used, buffer } if usize::from(*used) + entry <= INLINE => {
                let at = usize::from(*used);
                buffer[at..at + 4].copy_from_slice(len);
                buffer[at + 4..at + entry].copy_from_slice(name);
                *used = u8::try_from(at + entry).unwrap_or(u8::MAX);
            }
            Bytes::Inline { len: used, buffer } => {
                let mut heap = Vec::with_capacity(usize::from(*used) + entry + INLINE);
                heap.extend_from_slice(&buffer[..usize::from(*used)]);
                heap.extend_from_slice(len);
                heap.extend_from_slice(name);
                self.bytes = Bytes::Heap(heap);
            }
            Bytes::Heap(heap) => {
                heap.extend_from_slice(len);
                heap.extend_from_slice(name);
            }
        }
    }

    pub(crate) fn clear(&mut self) {
        *self = Dirty::default();
    }

    /// Keeps the names for which `keep` is true.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&str) -> bool) {
        let kept: Vec<String> = self.iter().filter(|name| keep(name)).map(str::to_owned).collect();
        self.clear();
        for name in &kept {
            self.insert(name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Dirty;

    /// Against a model: the set of names in the order first marked.
    #[test]
    fn behaves_as_an_ordered_set_inline_and_on_the_heap() {
        let names = ["v:count", "_m", "", "v:a", "f:_flash\u{0}00", "v:count", "v:x".repeat(20).leak(), "_m", "v:é"];
        for take in 0..=names.len() {
            let mut dirty = Dirty::default();
            let mut model: Vec<&str> = Vec::new();
            for name in &names[..take] {
                dirty.insert(name);
                if !model.contains(name) {
                    model.push(name);
                }
                assert_eq!(dirty.iter().collect::<Vec<_>>(), model);
                assert!(dirty.contains(name));
            }
            assert_eq!(dirty.is_empty(), model.is_empty());
            assert!(!dirty.contains("v:absent"));
            dirty.retain(|name| name.starts_with("v:"));
            model.retain(|name| name.starts_with("v:"));
            assert_eq!(dirty.iter().collect::<Vec<_>>(), model);
            dirty.clear();
            assert!(dirty.is_empty() && dirty.iter().next().is_none());
        }
    }
}
