//! How a session sits in the table: one item, four attributes.
//!
//! | attribute | type | holds |
//! |---|---|---|
//! | `id` | S | the storage key (the table's hash key) |
//! | `record` | B | a layout byte, then the record (`backend::record`) |
//! | `revision` | N | a random number, new at every write of the record |
//! | `expires` | N | Unix seconds after which the item is dead (the table's TTL attribute) |
//!
//! DynamoDB deletes an item some time after its `expires` (often days), so
//! an item is judged against the backend's clock on every read and in the
//! condition of every write; an expired item counts as absent.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use sessions_core::backend::record::{self, Fields};
use sessions_core::backend::{BackendError, RecordLimit};

/// The hash key.
pub(crate) const KEY: &str = "id";
/// The record, behind its layout byte.
pub(crate) const RECORD: &str = "record";
/// The revision compared by conditional writes.
pub(crate) const REVISION: &str = "revision";
/// The expiry, in Unix seconds: the attribute the table's TTL reads.
pub(crate) const EXPIRES: &str = "expires";

/// First byte of `record`: the layout of the rest, so a later layout can
/// be told apart instead of misread.
const RECORD_V1: u8 = 1;

/// DynamoDB's largest item, attribute names and values included.
pub(crate) const MAX_ITEM_BYTES: usize = 400 * 1024;
/// The largest record that fits an item: the item less room for the
/// attribute names, the key (43 bytes), the layout byte and two numbers.
pub(crate) const MAX_RECORD_BYTES: usize = MAX_ITEM_BYTES - 1024;

/// An item as DynamoDB returns it.
pub(crate) type Attributes = HashMap<String, AttributeValue>;

/// What a key's item holds, as seen at `now`.
#[derive(Debug)]
pub(crate) enum Found {
    /// No item.
    Absent,
    /// An item whose expiry has passed: absent to every caller.
    Expired,
    /// A live record.
    Live { fields: Fields, revision: u64, expires: u64 },
    /// An item this backend would not write: another layout, a torn
    /// record, a missing attribute, or a record over the limit. The
    /// revision, when it has one, lets it be deleted only if unchanged.
    Unreadable { revision: Option<u64>, error: BackendError },
}

/// Time left at `now` before `expires`.
pub(crate) fn ttl_left(expires: u64, now: u64) -> Duration {
    Duration::from_secs(expires.saturating_sub(now))
}

/// The attributes of a new item.
pub(crate) fn item(key: &str, fields: &Fields, revision: u64, expires: u64) -> Attributes {
    let mut bytes = Vec::with_capacity(1 + record::encoded_len(fields));
    bytes.push(RECORD_V1);
    bytes.extend_from_slice(&record::encode(fields));
    HashMap::from([
        (KEY.to_owned(), AttributeValue::S(key.to_owned())),
        (RECORD.to_owned(), AttributeValue::B(Blob::new(bytes))),
        (REVISION.to_owned(), number(revision)),
        (EXPIRES.to_owned(), number(expires)),
    ])
}

/// A number attribute.
pub(crate) fn number(n: u64) -> AttributeValue {
    AttributeValue::N(n.to_string())
}

/// A number attribute this backend wrote: digits of a `u64`.
fn read_number(attributes: &Attributes, name: &str) -> Option<u64> {
    match attributes.get(name) {
        Some(AttributeValue::N(text)) => text.parse().ok(),
        _ => None,
    }
}

/// Reads an item. Never decodes a record over `limit`, never panics on
/// what the table holds.
pub(crate) fn read(attributes: Option<&Attributes>, now: u64, limit: RecordLimit) -> Found {
    let Some(attributes) = attributes.filter(|a| !a.is_empty()) else { return Found::Absent };
    let revision = read_number(attributes, REVISION);
    let unreadable = |what: String| Found::Unreadable { revision, error: BackendError::Corrupt(what) };
    let Some(expires) = read_number(attributes, EXPIRES) else {
        return unreadable(format!("session item without a numeric `{EXPIRES}` attribute"));
    };
    if now >= expires {
        return Found::Expired;
    }
    let Some(revision) = revision else {
        return unreadable(format!("session item without a numeric `{REVISION}` attribute"));
    };
    let bytes = match attributes.get(RECORD) {
        Some(AttributeValue::B(blob)) => blob.as_ref(),
        _ => return unreadable(format!("session item without a binary `{RECORD}` attribute")),
    };
    let record = match bytes.split_first() {
        Some((&RECORD_V1, record)) => record,
        _ => return unreadable("session record of an unknown layout".into()),
    };
    if !limit.admits(record.len()) {
        return unreadable(format!(
            "session record of {} bytes is over the limit of {}",
            record.len(),
            limit.max_bytes()
        ));
    }
    match record::decode(record) {
        Ok(fields) => Found::Live { fields, revision, expires },
        Err(error) => Found::Unreadable { revision: Some(revision), error },
    }
}

/// The expiry of a record written at `now` with `ttl`: whole seconds,
/// rounded up.
pub(crate) fn expiry(now: u64, ttl: Duration) -> u64 {
    now.saturating_add(ttl.as_secs()).saturating_add(u64::from(ttl.subsec_nanos() > 0))
}

/// A fresh revision: random, so a record deleted and made again under the
/// same key never comes back at a revision someone loaded before.
pub(crate) fn new_revision() -> Result<u64, BackendError> {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).map_err(|e| BackendError::unavailable(format!("no randomness for a revision: {e}")))?;
    Ok(u64::from_le_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> Fields {
        Fields::from([("va".to_owned(), b"1".to_vec())])
    }

    const LIMIT: RecordLimit = RecordLimit::new(1024);

    #[test]
    fn an_item_reads_back_until_it_expires() {
        let item = item("k", &fields(), 7, 100);
        match read(Some(&item), 99, LIMIT) {
            Found::Live { fields: f, revision: 7, expires: 100 } => assert_eq!(f, fields()),
            other => panic!("{other:?}"),
        }
        assert!(matches!(read(Some(&item), 100, LIMIT), Found::Expired));
        assert!(matches!(read(None, 0, LIMIT), Found::Absent));
    }

    #[test]
    fn malformed_items_are_unreadable_never_a_panic() {
        let good = item("k", &fields(), 7, 100);
        let without = |name: &str| {
            let mut item = good.clone();
            item.remove(name);
            item
        };
        let with = |name: &str, value: AttributeValue| {
            let mut item = good.clone();
            item.insert(name.to_owned(), value);
            item
        };
        for bad in [
            without(EXPIRES),
            without(REVISION),
            without(RECORD),
            with(EXPIRES, AttributeValue::S("100".into())),
            with(EXPIRES, AttributeValue::N("-1".into())),
            with(REVISION, AttributeValue::N("1.5".into())),
            with(RECORD, AttributeValue::S("x".into())),
            with(RECORD, AttributeValue::B(Blob::new(Vec::new()))),
            with(RECORD, AttributeValue::B(Blob::new(vec![9, 1, 2]))),
            with(RECORD, AttributeValue::B(Blob::new(vec![RECORD_V1, 0xff, 0xff, 0xff]))),
        ] {
            assert!(matches!(read(Some(&bad), 50, LIMIT), Found::Unreadable { .. }), "{bad:?}");
        }
    }

    #[test]
    fn a_record_over_the_limit_is_unreadable() {
        let big = Fields::from([("va".to_owned(), vec![0; 2000])]);
        let item = item("k", &big, 1, 100);
        assert!(matches!(read(Some(&item), 50, LIMIT), Found::Unreadable { revision: Some(1), .. }));
    }

    #[test]
    fn expiry_rounds_up_and_saturates() {
        assert_eq!(expiry(10, Duration::from_millis(1500)), 12);
        assert_eq!(expiry(10, Duration::from_secs(5)), 15);
        assert_eq!(expiry(u64::MAX - 1, Duration::MAX), u64::MAX);
    }
}
