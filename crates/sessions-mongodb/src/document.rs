//! A session as one MongoDB document, and how a document read back is
//! judged.
//!
//! ```text
//! { _id: "<storage key, 64 hex digits>",
//!   v:   1,                  layout version (int32)
//!   rev: <int64>,            revision: random when created, +1 per save
//!   exp: <date>,             expiry; a TTL index on it removes the document
//!   r:   <binary>            the record, in `sessions_core`'s record format }
//! ```
//!
//! The record is kept as one binary value rather than one BSON field per
//! session field: field names are opaque to a backend and may hold `.`,
//! `$` or characters a BSON key cannot, and a save rewrites the record
//! under a revision check anyway.

use mongodb::bson::spec::BinarySubtype;
use mongodb::bson::{Binary, Bson, DateTime, Document, doc};
use sessions_core::backend::record::{self, Fields};
use sessions_core::backend::{BackendError, RecordLimit};

/// The key of the storage key.
pub(crate) const ID: &str = "_id";
/// The key of the layout version.
pub(crate) const VERSION: &str = "v";
/// The key of the revision.
pub(crate) const REVISION: &str = "rev";
/// The key of the expiry, which the TTL index is on.
pub(crate) const EXPIRES: &str = "exp";
/// The key of the record.
pub(crate) const RECORD: &str = "r";
/// The only layout so far.
pub(crate) const LAYOUT_V1: i32 = 1;

/// What a document read from the collection is, at the backend's time.
#[derive(Debug)]
pub(crate) enum Found {
    /// No document under the key.
    Absent,
    /// A document whose expiry has passed: absent to every call, whether
    /// MongoDB's TTL monitor removed it yet or not.
    Expired,
    /// A session.
    Live { revision: i64, expires_ms: i64, fields: Fields },
    /// A document this backend did not write, of another layout, or over
    /// the record limit. `revision` is its `rev` value as it is, so that
    /// it can be removed only if no one rewrote it since.
    Unreadable { revision: Option<Bson>, error: BackendError },
}

/// Judges `document` at `now_ms` (Unix milliseconds): expiry first, then
/// the layout and the record, which is decoded only for a live session.
pub(crate) fn read(document: Option<Document>, now_ms: i64, limit: RecordLimit) -> Found {
    let Some(document) = document else { return Found::Absent };
    let unreadable = |what: String| Found::Unreadable {
        revision: document.get(REVISION).cloned(),
        error: BackendError::Corrupt(format!("MongoDB session document: {what}")),
    };
    let expires_ms = match document.get(EXPIRES) {
        Some(Bson::DateTime(expires)) => expires.timestamp_millis(),
        _ => return unreadable(format!("no `{EXPIRES}` date")),
    };
    if expires_ms <= now_ms {
        return Found::Expired;
    }
    match document.get(VERSION) {
        Some(Bson::Int32(LAYOUT_V1)) => {}
        _ => return unreadable("an unknown layout".into()),
    }
    let Some(Bson::Int64(revision)) = document.get(REVISION) else {
        return unreadable(format!("no `{REVISION}` number"));
    };
    let bytes = match document.get(RECORD) {
        Some(Bson::Binary(Binary { subtype: BinarySubtype::Generic, bytes })) => bytes,
        _ => return unreadable(format!("no `{RECORD}` binary")),
    };
    if let Err(error) = limit.check_len(bytes.len()) {
        return unreadable(error.to_string());
    }
    match record::decode(bytes) {
        Ok(fields) => Found::Live { revision: *revision, expires_ms, fields },
        Err(error) => unreadable(error.to_string()),
    }
}

/// The whole document of a session, as `create` writes it.
pub(crate) fn document(key: &str, revision: i64, expires_ms: i64, fields: &Fields) -> Document {
    doc! {
        ID: key,
        VERSION: LAYOUT_V1,
        REVISION: revision,
        EXPIRES: DateTime::from_millis(expires_ms),
        RECORD: record_value(fields),
    }
}

/// The `$set` of a save: the record, its next revision and expiry.
pub(crate) fn save(revision: i64, expires_ms: i64, fields: &Fields) -> Document {
    doc! {
        "$set": {
            VERSION: LAYOUT_V1,
            REVISION: next_revision(revision),
            EXPIRES: DateTime::from_millis(expires_ms),
            RECORD: record_value(fields),
        }
    }
}

fn record_value(fields: &Fields) -> Binary {
    Binary { subtype: BinarySubtype::Generic, bytes: record::encode(fields) }
}

/// The revision a save writes after `revision`.
pub(crate) fn next_revision(revision: i64) -> i64 {
    revision.checked_add(1).unwrap_or(1)
}

/// The revision of a new document: random, so that a session deleted and
/// created again under the same key does not start at a revision a
/// request may have loaded before (its save would then overwrite the new
/// session). Positive and far from `i64::MAX`.
pub(crate) fn first_revision() -> i64 {
    let mut bytes = [0u8; 8];
    // Without the OS's randomness, the clock's nanoseconds still make a
    // collision unlikely; a revision is a guard against a race, not a secret.
    if getrandom::fill(&mut bytes).is_err() {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        bytes = (nanos as u64).to_le_bytes();
    }
    (u64::from_le_bytes(bytes) >> 2) as i64 + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    fn fields() -> Fields {
        Fields::from([("vname".to_owned(), b"ada".to_vec())])
    }

    #[test]
    fn a_written_document_reads_back_live_until_its_expiry() {
        let document = document("k", 7, NOW + 1000, &fields());
        match read(Some(document.clone()), NOW, RecordLimit::default()) {
            Found::Live { revision: 7, expires_ms, fields: read } => {
                assert_eq!((expires_ms, read), (NOW + 1000, fields()));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(read(Some(document), NOW + 1000, RecordLimit::default()), Found::Expired));
        assert!(matches!(read(None, NOW, RecordLimit::default()), Found::Absent));
    }

    #[test]
    fn malformed_documents_are_unreadable_never_a_panic() {
        let good = document("k", 7, NOW + 1000, &fields());
        let mut cases = Vec::new();
        for key in [EXPIRES, VERSION, REVISION, RECORD] {
            let mut missing = good.clone();
            missing.remove(key);
            cases.push(missing);
            let mut wrong = good.clone();
            wrong.insert(key, "text");
            cases.push(wrong);
        }
        let mut torn = good.clone();
        torn.insert(RECORD, Binary { subtype: BinarySubtype::Generic, bytes: vec![2, 5, 1] });
        cases.push(torn);
        let mut other_layout = good.clone();
        other_layout.insert(VERSION, 2);
        cases.push(other_layout);
        for case in cases {
            let found = read(Some(case.clone()), NOW, RecordLimit::default());
            assert!(matches!(found, Found::Unreadable { .. }), "{case}: {found:?}");
        }
        let over = read(Some(good), NOW, RecordLimit::new(4));
        assert!(matches!(over, Found::Unreadable { revision: Some(Bson::Int64(7)), .. }), "{over:?}");
    }

    #[test]
    fn revisions_start_random_and_positive_and_never_overflow() {
        let (a, b) = (first_revision(), first_revision());
        assert!(a > 0 && b > 0 && a != b);
        assert!(a < i64::MAX / 2);
        assert_eq!(next_revision(i64::MAX), 1);
    }
}
