//! How sessions sit in the file: two tables and the bytes of one entry.

use redb::{ReadableTable, StorageError, Table, TableDefinition};
use sessions_core::BackendError;
use sessions_core::backend::RecordLimit;
use sessions_core::backend::record::{self, Fields};

/// Storage key → entry (`version || LE64(expires) || record`).
pub(crate) const SESSIONS: TableDefinition<'static, &[u8; 32], &[u8]> = TableDefinition::new("sessions-v1");
/// (expires, storage key) → nothing: the sweep reads only what expired.
pub(crate) const EXPIRY: TableDefinition<'static, (u64, &[u8; 32]), ()> = TableDefinition::new("expiry-v1");

/// First byte of every entry: the layout of the rest, so a later layout can
/// be told apart instead of misread.
const ENTRY_V1: u8 = 1;
/// The version byte and the expiry in front of the record.
pub(crate) const HEADER: usize = 1 + 8;

/// What a key's entry holds.
#[derive(Debug)]
pub(crate) enum Found {
    /// No entry.
    Absent,
    /// An entry whose expiry has passed.
    Expired { expires: u64 },
    /// A live record.
    Live { expires: u64, fields: Fields },
    /// An entry that is not a record this backend would write (another
    /// layout, torn by a bug, or over the record limit).
    Unreadable { expires: Option<u64>, error: BackendError },
}

/// The entry for `fields` (already checked against the limit) expiring at
/// `expires`.
pub(crate) fn entry(fields: &Fields, expires: u64) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(HEADER + record::encoded_len(fields));
    bytes.push(ENTRY_V1);
    bytes.extend_from_slice(&expires.to_le_bytes());
    bytes.extend_from_slice(&record::encode(fields));
    bytes
}

/// The expiry in an entry's header, if it has one this version wrote.
pub(crate) fn expiry_of(bytes: &[u8]) -> Option<u64> {
    match bytes.split_first() {
        Some((&ENTRY_V1, rest)) => rest.first_chunk::<8>().map(|e| u64::from_le_bytes(*e)),
        _ => None,
    }
}

/// Reads an entry. Never decodes more than a record under `limit` can be.
pub(crate) fn read(bytes: Option<&[u8]>, now: u64, limit: usize) -> Found {
    let Some(bytes) = bytes else { return Found::Absent };
    let expires = expiry_of(bytes);
    let unreadable = |what: String| Found::Unreadable { expires, error: BackendError::Corrupt(what) };
    let Some(expires) = expires else {
        return unreadable("session entry of an unknown layout or shorter than its header".into());
    };
    if now >= expires {
        return Found::Expired { expires };
    }
    let record = &bytes[HEADER..];
    if !RecordLimit::new(limit).admits(record.len()) {
        return unreadable(format!("session record of {} bytes is over the limit of {limit}", record.len()));
    }
    match record::decode(record) {
        Ok(fields) => Found::Live { expires, fields },
        Err(error) => Found::Unreadable { expires: Some(expires), error },
    }
}

/// What the sessions table holds: entries, and bytes of keys and entries.
/// Counted when the file is opened and kept by every write.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Usage {
    pub(crate) entries: u64,
    pub(crate) bytes: u64,
}

/// The bytes an entry of `len` bytes counts for: its key and its value.
pub(crate) fn footprint(len: usize) -> u64 {
    32 + len as u64
}

/// The configured total bounds; `None` for no bound.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Bounds {
    pub(crate) max_entries: Option<u64>,
    pub(crate) max_bytes: Option<u64>,
}

/// The two tables of a write transaction, and the usage the transaction
/// brings them to.
pub(crate) struct Tables<'t> {
    pub(crate) sessions: Table<'t, &'static [u8; 32], &'static [u8]>,
    pub(crate) expiry: Table<'t, (u64, &'static [u8; 32]), ()>,
    pub(crate) usage: Usage,
    pub(crate) bounds: Bounds,
}

impl Tables<'_> {
    /// Whether `bytes` may be written under `key` within the bounds:
    /// `Full` (and nothing to write) when the entry would take the table
    /// over one. Replacing an entry by one no larger always fits, so a
    /// store at its bound still saves sessions that do not grow.
    pub(crate) fn room(&self, key: &[u8; 32], len: usize) -> Result<Result<(), BackendError>, StorageError> {
        let Bounds { max_entries, max_bytes } = self.bounds;
        if max_entries.is_none() && max_bytes.is_none() {
            return Ok(Ok(()));
        }
        let old = self.sessions.get(key)?.map(|entry| entry.value().len());
        let (entries, grows) = match old {
            Some(old) => (self.usage.entries, len > old),
            None => (self.usage.entries + 1, true),
        };
        if let Some(max) = max_entries.filter(|&max| old.is_none() && entries > max) {
            return Ok(Err(BackendError::Full(format!("the session file holds its maximum of {max} sessions"))));
        }
        let bytes = self.usage.bytes.saturating_sub(old.map_or(0, footprint)) + footprint(len);
        if let Some(max) = max_bytes.filter(|&max| grows && bytes > max) {
            return Ok(Err(BackendError::Full(format!(
                "the session file would hold {bytes} bytes of sessions, over its maximum of {max}"
            ))));
        }
        Ok(Ok(()))
    }

    fn counted_in(&mut self, len: usize) {
        self.usage.entries += 1;
        self.usage.bytes += footprint(len);
    }

    fn counted_out(&mut self, len: usize) {
        self.usage.entries = self.usage.entries.saturating_sub(1);
        self.usage.bytes = self.usage.bytes.saturating_sub(footprint(len));
    }

    /// The entry under `key`, read.
    pub(crate) fn find(&self, key: &[u8; 32], now: u64, limit: usize) -> Result<Found, StorageError> {
        let entry = self.sessions.get(key)?;
        Ok(read(entry.as_ref().map(|e| e.value()), now, limit))
    }

    /// The raw entry under `key`.
    pub(crate) fn raw(&self, key: &[u8; 32]) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.sessions.get(key)?.map(|e| e.value().to_vec()))
    }

    /// Writes `bytes` (an entry expiring at `expires`) under `key`, in place
    /// of an entry that expired at `old`, keeping the expiry index in step.
    pub(crate) fn put(
        &mut self,
        key: &[u8; 32],
        bytes: &[u8],
        expires: u64,
        old: Option<u64>,
    ) -> Result<(), StorageError> {
        if let Some(old) = old.filter(|&old| old != expires) {
            self.expiry.remove((old, key))?;
        }
        let replaced = self.sessions.insert(key, bytes)?.map(|entry| entry.value().len());
        if let Some(len) = replaced {
            self.counted_out(len);
        }
        self.counted_in(bytes.len());
        self.expiry.insert((expires, key), ())?;
        Ok(())
    }

    /// Removes the entry under `key` and its index entry; true if there was one.
    pub(crate) fn remove(&mut self, key: &[u8; 32]) -> Result<bool, StorageError> {
        let (expires, len) = match self.sessions.remove(key)? {
            Some(old) => (expiry_of(old.value()), old.value().len()),
            None => return Ok(false),
        };
        self.counted_out(len);
        if let Some(expires) = expires {
            self.expiry.remove((expires, key))?;
        }
        Ok(true)
    }

    /// Removes up to `at_most` entries expired at `now`; returns how many
    /// entries went and whether more index entries remain to look at.
    pub(crate) fn sweep(&mut self, now: u64, at_most: usize) -> Result<(u64, bool), StorageError> {
        let due: Vec<(u64, [u8; 32])> = self
            .expiry
            .range(..=(now, &[0xff; 32]))?
            .take(at_most + 1)
            .map(|item| {
                item.map(|(k, _)| {
                    let (expires, key) = k.value();
                    (expires, *key)
                })
            })
            .collect::<Result<_, _>>()?;
        let more = due.len() > at_most;
        let mut removed = 0;
        for (expires, key) in due.into_iter().take(at_most) {
            self.expiry.remove((expires, &key))?;
            // Entries and index change together in one transaction; the
            // check keeps a sweep from removing a live session should they
            // ever disagree.
            let current = self.sessions.get(&key)?.map(|e| expiry_of(e.value()));
            if matches!(current, Some(Some(e)) if e <= now) {
                let len = self.sessions.remove(&key)?.map(|entry| entry.value().len());
                if let Some(len) = len {
                    self.counted_out(len);
                }
                removed += 1;
            }
        }
        Ok((removed, more))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> Fields {
        Fields::from([("m".to_owned(), b"meta".to_vec()), ("vname".to_owned(), b"ada".to_vec())])
    }

    #[test]
    fn an_entry_reads_back_live_until_its_expiry() {
        let bytes = entry(&fields(), 100);
        assert_eq!(expiry_of(&bytes), Some(100));
        assert!(matches!(read(Some(&bytes), 99, 1 << 20), Found::Live { expires: 100, fields: f } if f == fields()));
        assert!(matches!(read(Some(&bytes), 100, 1 << 20), Found::Expired { expires: 100 }));
    }

    #[test]
    fn foreign_short_and_oversized_entries_are_unreadable() {
        for bytes in [&b""[..], &[2, 0, 0, 0, 0, 0, 0, 0, 255][..], &[1, 0, 0][..]] {
            assert!(matches!(read(Some(bytes), 0, 1 << 20), Found::Unreadable { .. }), "{bytes:?}");
        }
        let bytes = entry(&fields(), u64::MAX);
        assert!(matches!(read(Some(&bytes), 0, 4), Found::Unreadable { expires: Some(u64::MAX), .. }));
        let mut torn = bytes.clone();
        torn.truncate(torn.len() - 1);
        assert!(matches!(read(Some(&torn), 0, 1 << 20), Found::Unreadable { .. }));
    }
}
