//! The checks of the conformance kit: each one invariant of [`Backend`],
//! panicking with a message that names it when the backend breaks it.

use std::sync::Arc;
use std::time::Duration;

use super::random_key;
use crate::BackendError;
use crate::backend::record::{Fields, encoded_len};
use crate::backend::{Backend, Patch, Seen, StorageKey, Stored};
use crate::store::Store;
use crate::{CookieOptions, Key, KeyRing, ServerStore, StoreConfig};

const TTL: Duration = Duration::from_secs(600);

fn fields(pairs: &[(&str, &[u8])]) -> Fields {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), v.to_vec())).collect()
}

/// A created record loads back unchanged, with a TTL no longer than asked.
pub async fn create_then_load(backend: &dyn Backend) {
    let key = random_key();
    let record = fields(&[("m", b"meta"), ("vname", b"ada"), ("v", b"")]);
    assert!(backend.create(&key, &record, TTL).await.expect("create"), "create of a new key must succeed");
    let stored = backend.load(&key).await.expect("load").expect("a created record must load");
    assert_eq!(stored.fields, record, "load must return exactly the created fields");
    if let Some(ttl) = stored.ttl {
        assert!(ttl <= TTL, "reported TTL {ttl:?} exceeds the {TTL:?} asked for");
    }
    assert!(backend.load(&random_key()).await.expect("load").is_none(), "an unknown key must load as None");
    backend.delete(&key).await.expect("delete");
}

/// `create` on an existing key returns false and leaves the record alone.
pub async fn create_never_overwrites(backend: &dyn Backend) {
    let key = random_key();
    assert!(backend.create(&key, &fields(&[("va", b"first")]), TTL).await.expect("create"));
    let again = backend.create(&key, &fields(&[("va", b"second")]), TTL).await.expect("create");
    assert!(!again, "create must report an existing key");
    let stored = backend.load(&key).await.expect("load").expect("record");
    assert_eq!(stored.fields, fields(&[("va", b"first")]), "create must never overwrite");
    backend.delete(&key).await.expect("delete");
}

/// `update` writes and removes only the fields of its patch.
pub async fn update_applies_only_the_patch(backend: &dyn Backend) {
    let key = random_key();
    let start = fields(&[("va", b"1"), ("vb", b"2"), ("vc", b"3")]);
    assert!(backend.create(&key, &start, TTL).await.expect("create"));
    let patch = Patch { clear: false, set: fields(&[("vb", b"22"), ("vd", b"4")]), remove: vec!["vc".into()] };
    assert!(backend.update(&key, &patch, TTL).await.expect("update"), "update of a live record must succeed");
    let stored = backend.load(&key).await.expect("load").expect("record");
    assert_eq!(stored.fields, fields(&[("va", b"1"), ("vb", b"22"), ("vd", b"4")]));
    backend.delete(&key).await.expect("delete");
}

/// `update` with `clear` keeps only the fields it sets.
pub async fn update_with_clear_replaces_everything(backend: &dyn Backend) {
    let key = random_key();
    assert!(backend.create(&key, &fields(&[("va", b"1"), ("vb", b"2")]), TTL).await.expect("create"));
    let patch = Patch { clear: true, set: fields(&[("m", b"meta")]), remove: vec![] };
    assert!(backend.update(&key, &patch, TTL).await.expect("update"));
    let stored = backend.load(&key).await.expect("load").expect("record");
    assert_eq!(stored.fields, fields(&[("m", b"meta")]), "clear must drop every field not set");
    backend.delete(&key).await.expect("delete");
}

/// `update` of an absent record returns false and creates nothing.
pub async fn update_never_creates(backend: &dyn Backend) {
    let key = random_key();
    let patch = Patch { clear: false, set: fields(&[("va", b"1")]), remove: vec![] };
    assert!(!backend.update(&key, &patch, TTL).await.expect("update"), "update must report a missing record");
    assert!(backend.load(&key).await.expect("load").is_none(), "update must never create a record");
}

/// What a request that loaded `stored` and made `patch` saves with
/// [`Backend::update_seen`]: the loaded fields with the patch applied, at
/// the loaded revision (or at a made-up one, which must be harmless, for a
/// backend that keeps none).
async fn save_loaded(backend: &dyn Backend, key: &StorageKey, stored: &Stored, patch: &Patch) -> bool {
    let mut after = stored.fields.clone();
    patch.apply(&mut after);
    let seen = Seen { revision: stored.revision.unwrap_or(u64::MAX), fields: &after };
    backend.update_seen(key, seen, patch, TTL).await.expect("update_seen")
}

/// `update_seen` writes the loaded record with its patch when nothing else
/// wrote it since; applies only the patch to what another request wrote
/// since the load; and never brings back a record deleted since.
pub async fn update_seen_keeps_what_others_wrote(backend: &dyn Backend) {
    let key = random_key();
    assert!(backend.create(&key, &fields(&[("va", b"1"), ("vb", b"1")]), TTL).await.expect("create"));
    let set = |name: &str, value: &[u8]| Patch { set: fields(&[(name, value)]), ..Patch::default() };

    let loaded = backend.load(&key).await.expect("load").expect("record");
    assert!(save_loaded(backend, &key, &loaded, &set("va", b"2")).await, "a save of a live record must land");
    let stored = backend.load(&key).await.expect("load").expect("record");
    assert_eq!(stored.fields, fields(&[("va", b"2"), ("vb", b"1")]));
    if let (Some(before), Some(after)) = (loaded.revision, stored.revision) {
        assert_ne!(before, after, "a write must move the revision on");
    }

    let loaded = backend.load(&key).await.expect("load").expect("record");
    assert!(backend.update(&key, &set("vb", b"3"), TTL).await.expect("update"));
    assert!(save_loaded(backend, &key, &loaded, &set("va", b"4")).await);
    let stored = backend.load(&key).await.expect("load").expect("record");
    assert_eq!(
        stored.fields,
        fields(&[("va", b"4"), ("vb", b"3")]),
        "a save of a record written since its load must keep that write"
    );

    let loaded = backend.load(&key).await.expect("load").expect("record");
    let clear = Patch { clear: true, set: fields(&[("m", b"meta")]), remove: vec![] };
    assert!(backend.update(&key, &set("vc", b"5"), TTL).await.expect("update"));
    assert!(save_loaded(backend, &key, &loaded, &clear).await);
    let stored = backend.load(&key).await.expect("load").expect("record");
    assert_eq!(stored.fields, fields(&[("m", b"meta")]), "clear must drop fields written since the load too");

    let loaded = backend.load(&key).await.expect("load").expect("record");
    backend.delete(&key).await.expect("delete");
    assert!(!save_loaded(backend, &key, &loaded, &set("va", b"6")).await, "a deleted record cannot be saved");
    assert!(backend.load(&key).await.expect("load").is_none(), "update_seen must never create a record");
}

/// `tasks` concurrent requests each load the record, write their own
/// field and save it with `update_seen`, `saves` times: every field must
/// survive with its last value, however the saves interleave.
pub async fn concurrent_saves_of_loaded_records_are_kept(backend: Arc<dyn Backend>, tasks: usize, saves: usize) {
    every_writer_is_kept(backend, tasks, saves, |backend, key, patch| async move {
        let loaded = backend.load(&key).await.expect("load").expect("record vanished under load");
        save_loaded(&*backend, &key, &loaded, &patch).await
    })
    .await;
}

/// `tasks` tasks write their own field of one record `writes` times each,
/// through `write` (which answers whether the record was there); then
/// every field must hold its last value.
async fn every_writer_is_kept<F, W>(backend: Arc<dyn Backend>, tasks: usize, writes: usize, write: W)
where
    W: Fn(Arc<dyn Backend>, StorageKey, Patch) -> F + Clone + Send + 'static,
    F: std::future::Future<Output = bool> + Send,
{
    let key = random_key();
    assert!(backend.create(&key, &fields(&[("m", b"meta")]), TTL).await.expect("create"));
    let mut handles = Vec::new();
    for task in 0..tasks {
        let (backend, key, write) = (Arc::clone(&backend), key.clone(), write.clone());
        handles.push(tokio::spawn(async move {
            for n in 0..writes {
                let patch =
                    Patch { set: fields(&[(&format!("vtask{task}"), n.to_string().as_bytes())]), ..Patch::default() };
                assert!(write(Arc::clone(&backend), key.clone(), patch).await, "record vanished under load");
            }
        }));
    }
    for handle in handles {
        handle.await.expect("writer task panicked");
    }
    let stored = backend.load(&key).await.expect("load").expect("record");
    let last = (writes - 1).to_string();
    let lost: Vec<usize> =
        (0..tasks).filter(|t| stored.fields.get(&format!("vtask{t}")) != Some(last.as_bytes())).collect();
    assert!(lost.is_empty(), "{} of {tasks} concurrent writers lost their write: {lost:?}", lost.len());
    backend.delete(&key).await.expect("delete");
}

/// `touch` of an absent record returns false and creates nothing; of a
/// live one, keeps its fields.
pub async fn touch_never_creates(backend: &dyn Backend) {
    let key = random_key();
    assert!(!backend.touch(&key, TTL).await.expect("touch"), "touch must report a missing record");
    assert!(backend.load(&key).await.expect("load").is_none(), "touch must never create a record");
    let record = fields(&[("va", b"1")]);
    assert!(backend.create(&key, &record, Duration::from_secs(60)).await.expect("create"));
    assert!(backend.touch(&key, TTL).await.expect("touch"));
    let stored = backend.load(&key).await.expect("load").expect("record");
    assert_eq!(stored.fields, record, "touch must not change the fields");
    if let Some(ttl) = stored.ttl {
        assert!(ttl > Duration::from_secs(60), "touch must extend the TTL (now {ttl:?})");
    }
    backend.delete(&key).await.expect("delete");
}

/// Deleted records are gone; deleting twice is fine.
pub async fn delete_is_idempotent(backend: &dyn Backend) {
    let key = random_key();
    assert!(backend.create(&key, &fields(&[("va", b"1")]), TTL).await.expect("create"));
    backend.delete(&key).await.expect("delete");
    assert!(backend.load(&key).await.expect("load").is_none(), "a deleted record must not load");
    backend.delete(&key).await.expect("deleting an absent record is not an error");
}

/// A record of a few hundred kilobytes with binary values round-trips.
pub async fn large_record_round_trips(backend: &dyn Backend) {
    let key = random_key();
    let big: Vec<u8> = (0..=255u8).cycle().take(256 * 1024).collect();
    let record = fields(&[("vbig", &big), ("vnul", b"\0\xff\0"), ("v\u{e9}t\u{e9}", b"unicode name")]);
    assert!(backend.create(&key, &record, TTL).await.expect("create"));
    assert_eq!(backend.load(&key).await.expect("load").expect("record").fields, record);
    backend.delete(&key).await.expect("delete");
}

/// A record of exactly `size` bytes of [`encoded_len`] (at least 16): a
/// metadata field and one padding value.
pub fn record_of_size(size: usize) -> Fields {
    // The padding's length prefix grows by a byte at each power of 128, so
    // some sizes cannot be reached by the value alone; a longer name
    // shifts the boundary.
    for name_len in 1..8 {
        let name = format!("v{}", "p".repeat(name_len));
        let mut record = fields(&[("m", b"meta")]);
        record.insert(name.clone(), Vec::new());
        let Some(mut len) = size.checked_sub(encoded_len(&record)) else { break };
        loop {
            record.insert(name.clone(), (0..len).map(|i| (i % 251) as u8).collect::<Vec<u8>>());
            match encoded_len(&record).cmp(&size) {
                std::cmp::Ordering::Equal => return record,
                std::cmp::Ordering::Greater if len > 0 => len -= 1,
                _ => break,
            }
        }
    }
    panic!("no record of exactly {size} bytes can be built");
}

fn expect_too_large(result: Result<bool, BackendError>, size: usize, limit: usize, what: &str) {
    match result {
        Err(BackendError::TooLarge { size: s, limit: l }) => {
            assert_eq!(l, limit, "{what}: TooLarge must name the configured limit");
            assert_eq!(s, size, "{what}: TooLarge must give the record's encoded size");
        }
        other => panic!("{what}: a record of {size} bytes over the limit of {limit} must be TooLarge, got {other:?}"),
    }
}

/// The backend, configured with a record size limit of `limit` bytes (at
/// least 1024), bounds whole records by [`encoded_len`]:
/// - a record of exactly `limit` bytes is created and loads back, and can
///   have a value replaced by one of the same size;
/// - one byte more is [`BackendError::TooLarge`] on `create`, and nothing
///   is stored;
/// - an `update` that would take a record past the limit is `TooLarge` and
///   leaves the record as it was;
/// - many small updates cannot grow a record past the limit either, and
///   after a `clear` it can grow again.
pub async fn record_limit_is_enforced(backend: &dyn Backend, limit: usize) {
    assert!(limit >= 1024, "run the record limit check with a limit of at least 1024 bytes");

    let key = random_key();
    let mut at_limit = record_of_size(limit);
    assert!(
        backend.create(&key, &at_limit, TTL).await.expect("create at the limit"),
        "a record of exactly the limit ({limit} bytes) must be created"
    );
    let stored = backend.load(&key).await.expect("load").expect("a record at the limit must load");
    assert_eq!(stored.fields, at_limit, "a record at the limit must load back unchanged");

    let (pad, value) = at_limit.iter().find(|(name, _)| name.starts_with("vp")).expect("padding field");
    let same_size = Patch { set: Fields::from([(pad, vec![0xa5; value.len()])]), ..Patch::default() };
    assert!(
        backend.update(&key, &same_size, TTL).await.expect("update at the limit"),
        "replacing a value by one of the same size keeps the record at the limit and must be accepted"
    );
    same_size.apply(&mut at_limit);
    assert_eq!(backend.load(&key).await.expect("load").expect("record").fields, at_limit);

    let grow = Patch { set: fields(&[("vx", b"")]), ..Patch::default() };
    let mut grown = at_limit.clone();
    grow.apply(&mut grown);
    expect_too_large(backend.update(&key, &grow, TTL).await, encoded_len(&grown), limit, "update past the limit");
    let stored = backend.load(&key).await.expect("load").expect("a refused update must leave the record");
    assert_eq!(stored.fields, at_limit, "a refused update must leave the record as it was");
    backend.delete(&key).await.expect("delete");

    let over_key = random_key();
    expect_too_large(backend.create(&over_key, &record_of_size(limit + 1), TTL).await, limit + 1, limit, "create");
    assert!(backend.load(&over_key).await.expect("load").is_none(), "a refused create must store nothing");

    // Each patch is small; together they would be four times the limit.
    let key = random_key();
    let mut expected = fields(&[("m", b"meta")]);
    assert!(backend.create(&key, &expected, TTL).await.expect("create"));
    let step = limit / 16;
    let mut refused = 0;
    for round in 0..2 {
        for n in 0..64u8 {
            let patch = Patch { set: Fields::from([(format!("v{n}"), vec![n; step])]), ..Patch::default() };
            let mut next = expected.clone();
            patch.apply(&mut next);
            let result = backend.update(&key, &patch, TTL).await;
            if encoded_len(&next) <= limit {
                assert!(result.expect("a small update within the limit"), "a record vanished under updates");
                expected = next;
            } else {
                expect_too_large(result, encoded_len(&next), limit, "one of many small updates");
                refused += 1;
            }
        }
        let stored = backend.load(&key).await.expect("load").expect("record");
        assert_eq!(stored.fields, expected, "round {round}: refused updates must leave no trace");
        assert!(encoded_len(&stored.fields) <= limit, "small updates grew a record past the limit");
        // A clear makes room: the record can grow to the limit again.
        let clear = Patch { clear: true, set: fields(&[("m", b"meta")]), remove: vec![] };
        assert!(backend.update(&key, &clear, TTL).await.expect("update with clear"));
        clear.apply(&mut expected);
    }
    assert!(refused > 0, "the updates never reached the limit");
    backend.delete(&key).await.expect("delete");
}

/// A record whose TTL has passed is not returned. Waits about two seconds.
pub async fn expired_records_are_not_loaded(backend: &dyn Backend) {
    let key = random_key();
    assert!(backend.create(&key, &fields(&[("va", b"1")]), Duration::from_secs(1)).await.expect("create"));
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert!(backend.load(&key).await.expect("load").is_none(), "an expired record must not load");
    assert!(
        !backend.update(&key, &Patch { set: fields(&[("vb", b"2")]), ..Patch::default() }, TTL).await.expect("update"),
        "update must not revive an expired record"
    );
}

/// `tasks` concurrent writers each write their own field `writes` times
/// into one record: every field must survive with its last value.
pub async fn concurrent_distinct_keys_are_kept(backend: Arc<dyn Backend>, tasks: usize, writes: usize) {
    every_writer_is_kept(backend, tasks, writes, |backend, key, patch| async move {
        backend.update(&key, &patch, TTL).await.expect("update")
    })
    .await;
}

/// Updates racing a delete never bring the record back.
pub async fn update_racing_delete_does_not_resurrect(backend: Arc<dyn Backend>) {
    for round in 0..20 {
        let key = random_key();
        assert!(backend.create(&key, &fields(&[("va", b"1")]), TTL).await.expect("create"));
        let writers: Vec<_> = (0..4)
            .map(|w| {
                let backend = Arc::clone(&backend);
                let key = key.clone();
                tokio::spawn(async move {
                    for n in 0..10 {
                        let patch = Patch {
                            set: fields(&[(&format!("vw{w}"), format!("{n}").as_bytes())]),
                            ..Patch::default()
                        };
                        let _ = backend.update(&key, &patch, TTL).await.expect("update");
                    }
                })
            })
            .collect();
        backend.delete(&key).await.expect("delete");
        for writer in writers {
            writer.await.expect("writer task panicked");
        }
        assert!(
            backend.load(&key).await.expect("load").is_none(),
            "round {round}: an update racing a delete resurrected the record"
        );
    }
}

/// Through a [`ServerStore`] on the backend: a user's sessions are listed
/// and "log out everywhere" deletes all of them and no one else's, so the
/// user index the store keeps as ordinary records works on this backend.
pub async fn log_out_everywhere_ends_every_session_of_a_user(backend: Arc<dyn Backend>) {
    let config =
        StoreConfig::new("id", KeyRing::from(Key::generate())).cookie_options(CookieOptions::new().secure(false));
    let store = ServerStore::new(config, backend).expect("a valid store");
    let suffix = random_key().as_str();
    let (ada, bob) = (format!("ada-{suffix}"), format!("bob-{suffix}"));
    let login = |user: String| {
        let store = &store;
        async move {
            let session = store.load(&[]).await.expect("load");
            session.cycle_id();
            session.set_user(Some(&user)).expect("bind");
            let header = store.save(&session).await.expect("save").expect("a new session sets a cookie");
            let pair = header.split(';').next().unwrap_or_default();
            pair.split_once('=').map(|(_, v)| v.to_owned()).unwrap_or_default()
        }
    };
    let (laptop, phone, other) = (login(ada.clone()).await, login(ada.clone()).await, login(bob.clone()).await);
    assert_eq!(store.user_sessions(&ada).await.expect("list").len(), 2, "both of ada's sessions are listed");
    assert_eq!(store.destroy_user_sessions(&ada).await.expect("log out everywhere"), 2);
    for cookie in [&laptop, &phone] {
        assert!(store.load(&[cookie]).await.expect("load").is_new(), "a logged-out cookie is anonymous");
    }
    let session = store.load(&[&other]).await.expect("load");
    assert_eq!(session.user().as_deref(), Some(bob.as_str()), "other users keep their sessions");
    assert!(store.user_sessions(&ada).await.expect("list").is_empty());
    assert_eq!(store.destroy_user_sessions(&bob).await.expect("clean up"), 1);
}
