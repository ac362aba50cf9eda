//! Every test of one sqlx version's `SqlBackend` but the stress tests;
//! `sql.rs` compiles it once for each version enabled, and `driver!()`
//! names the version this copy is for.

use std::sync::Arc;
use std::time::Duration;

use sessions_core::backend::record::Fields;
use sessions_core::backend::{Backend, BackendError, Sweep};
use sessions_core::testing::{self, service_url};

driver!();
use driver::SqlBackend;
// Statements behind the backend's back, whichever sqlx it is built on.
use sessions_sql::sqlx08::sqlx;

const TTL: Duration = Duration::from_secs(600);

pub(crate) fn random_hex() -> String {
    let mut bytes = [0u8; 6];
    getrandom::fill(&mut bytes).unwrap();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A backend on its own fresh table, dropped again by [`TestTable::drop_table`].
pub(crate) struct TestTable {
    pub(crate) backend: SqlBackend,
    pub(crate) url: String,
    sqlite_file: Option<std::path::PathBuf>,
}

impl TestTable {
    pub(crate) async fn new(url: &str, tag: &str) -> TestTable {
        let table = format!("t_{tag}_{}", random_hex());
        let backend = SqlBackend::builder().table(&table).connect(url).await.expect("connect");
        TestTable { backend, url: url.to_owned(), sqlite_file: None }
    }

    pub(crate) async fn sqlite_file(tag: &str) -> TestTable {
        let path = std::env::temp_dir().join(format!("sessions-sql-test-{tag}-{}.db", random_hex()));
        let url = format!("sqlite:{}", path.display());
        let mut table = TestTable::new(&url, tag).await;
        table.sqlite_file = Some(path);
        table
    }

    /// Writes `data` into a row behind the backend's back.
    async fn overwrite_data(&self, key: &sessions_core::backend::StorageKey, data: &[u8]) {
        let table = self.backend.table();
        let id = &key.as_bytes()[..];
        if self.url.starts_with("postgres") {
            let pool = sqlx::PgPool::connect(&self.url).await.unwrap();
            let statement = format!("UPDATE {table} SET data = $1 WHERE id = $2");
            sqlx::query(&statement).bind(data).bind(id).execute(&pool).await.unwrap();
        } else if self.url.starts_with("mysql") {
            let pool = sqlx::MySqlPool::connect(&self.url).await.unwrap();
            let statement = format!("UPDATE {table} SET data = ? WHERE id = ?");
            sqlx::query(&statement).bind(data).bind(id).execute(&pool).await.unwrap();
        } else {
            let pool = sqlx::SqlitePool::connect(&self.url).await.unwrap();
            let statement = format!("UPDATE {table} SET data = ? WHERE id = ?");
            sqlx::query(&statement).bind(data).bind(id).execute(&pool).await.unwrap();
        }
    }

    pub(crate) fn backend(&self) -> Arc<dyn Backend> {
        Arc::new(self.backend.clone())
    }

    pub(crate) async fn drop_table(self) {
        if let Some(path) = &self.sqlite_file {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
            return;
        }
        if self.url.starts_with("sqlite") {
            return;
        }
        let statement = format!("DROP TABLE {}", self.backend.table());
        let dropped = if self.url.starts_with("postgres") {
            let pool = sqlx::PgPool::connect(&self.url).await.unwrap();
            sqlx::query(&statement).execute(&pool).await.map(drop)
        } else {
            let pool = sqlx::MySqlPool::connect(&self.url).await.unwrap();
            sqlx::query(&statement).execute(&pool).await.map(drop)
        };
        dropped.expect("drop the test table");
    }
}

fn one_field(name: &str, value: &[u8]) -> Fields {
    Fields::from([(name.to_owned(), value.to_vec())])
}

async fn kit(url: &str, tag: &str) {
    let table = TestTable::new(url, tag).await;
    testing::run_all(table.backend()).await;
    table.drop_table().await;
}

/// Small enough that the kit's records stay quick to write.
const KIT_LIMIT: usize = 64 << 10;

async fn record_limit(url: &str, tag: &str) {
    let table = TestTable::new(url, tag).await;
    let limited = SqlBackend::builder()
        .table(table.backend.table())
        .max_record_bytes(KIT_LIMIT)
        .connect(url)
        .await
        .expect("connect");
    testing::record_limit_is_enforced(&limited, KIT_LIMIT).await;
    table.drop_table().await;
}

/// A row written while the limit was higher, or holding bytes this library
/// did not write, loads as absent and is deleted, so it cannot fail every
/// request that names it until it expires.
async fn unreadable_rows(table: TestTable) {
    let strict = SqlBackend::builder()
        .table(table.backend.table())
        .max_record_bytes(KIT_LIMIT)
        .connect(&table.url)
        .await
        .expect("connect");
    let key = testing::random_key();
    assert!(table.backend.create(&key, &testing::record_of_size(KIT_LIMIT + 1), TTL).await.unwrap());
    assert!(strict.load(&key).await.unwrap().is_none(), "a row over the limit must not load");
    assert!(table.backend.load(&key).await.unwrap().is_none(), "a row over the limit is deleted on load");

    assert!(table.backend.create(&key, &testing::record_of_size(KIT_LIMIT + 1), TTL).await.unwrap());
    let patch = sessions_core::backend::Patch { set: one_field("va", b"1"), ..Default::default() };
    assert!(!strict.update(&key, &patch, TTL).await.unwrap(), "a row over the limit is no record to update");
    assert!(table.backend.load(&key).await.unwrap().is_none(), "a row over the limit is deleted on update");

    let fits = testing::record_of_size(KIT_LIMIT);
    assert!(table.backend.create(&key, &fits, TTL).await.unwrap());
    assert_eq!(strict.load(&key).await.unwrap().map(|s| s.fields), Some(fits), "a row within the limit loads");

    for op in ["load", "update"] {
        let junk = testing::random_key();
        assert!(table.backend.create(&junk, &one_field("va", b"1"), TTL).await.unwrap());
        table.overwrite_data(&junk, b"\xffnot a record").await;
        let found = match op {
            "load" => table.backend.load(&junk).await.unwrap().is_some(),
            _ => table.backend.update(&junk, &patch, TTL).await.unwrap(),
        };
        assert!(!found, "{op}: a corrupt row is no record");
        assert!(!table.backend.touch(&junk, TTL).await.unwrap(), "{op}: a corrupt row is deleted");
    }
    table.drop_table().await;
}

async fn expiry(url: &str, tag: &str) {
    let table = TestTable::new(url, tag).await;
    testing::expired_records_are_not_loaded(&*table.backend()).await;
    table.drop_table().await;
}

async fn race(url: &str, tag: &str) {
    let table = TestTable::new(url, tag).await;
    testing::update_racing_delete_does_not_resurrect(table.backend()).await;
    table.drop_table().await;
}

// PostgreSQL

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_passes_the_conformance_kit() {
    let Some(url) = service_url("SESSIONS_POSTGRES_URL") else { return };
    kit(&url, "kit").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_bounds_whole_records() {
    let Some(url) = service_url("SESSIONS_POSTGRES_URL") else { return };
    record_limit(&url, "limit").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_discards_rows_it_cannot_load() {
    let Some(url) = service_url("SESSIONS_POSTGRES_URL") else { return };
    unreadable_rows(TestTable::new(&url, "unreadable").await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_expires_records() {
    let Some(url) = service_url("SESSIONS_POSTGRES_URL") else { return };
    expiry(&url, "exp").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_update_racing_logout_does_not_resurrect() {
    let Some(url) = service_url("SESSIONS_POSTGRES_URL") else { return };
    race(&url, "race").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_save_blocked_by_a_held_row_lock_fails_as_unavailable() {
    let Some(url) = service_url("SESSIONS_POSTGRES_URL") else { return };
    let table = format!("t_blocked_{}", random_hex());
    let backend =
        SqlBackend::builder().table(&table).request_timeout(Duration::from_millis(300)).connect(&url).await.unwrap();
    let key = testing::random_key();
    assert!(backend.create(&key, &one_field("va", b"1"), TTL).await.unwrap());

    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let mut holder = pool.begin().await.unwrap();
    sqlx::query(&format!("SELECT 1 FROM {table} WHERE id = $1 FOR UPDATE"))
        .bind(&key.as_bytes()[..])
        .execute(&mut *holder)
        .await
        .unwrap();
    let patch = sessions_core::backend::Patch { set: one_field("vb", b"2"), ..Default::default() };
    let blocked = tokio::time::timeout(Duration::from_secs(10), backend.update(&key, &patch, TTL))
        .await
        .expect("a save behind a held lock must give up at the request timeout, not hang");
    assert!(matches!(blocked, Err(BackendError::Unavailable(_))), "{blocked:?}");

    holder.rollback().await.unwrap();
    assert!(backend.update(&key, &patch, TTL).await.unwrap(), "the save must succeed once the lock is released");
    sqlx::query(&format!("DROP TABLE {table}")).execute(&pool).await.unwrap();
}

// MariaDB / MySQL

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mysql_passes_the_conformance_kit() {
    let Some(url) = service_url("SESSIONS_MYSQL_URL") else { return };
    kit(&url, "kit").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mysql_bounds_whole_records() {
    let Some(url) = service_url("SESSIONS_MYSQL_URL") else { return };
    record_limit(&url, "limit").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mysql_discards_rows_it_cannot_load() {
    let Some(url) = service_url("SESSIONS_MYSQL_URL") else { return };
    unreadable_rows(TestTable::new(&url, "unreadable").await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mysql_expires_records() {
    let Some(url) = service_url("SESSIONS_MYSQL_URL") else { return };
    expiry(&url, "exp").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mysql_update_racing_logout_does_not_resurrect() {
    let Some(url) = service_url("SESSIONS_MYSQL_URL") else { return };
    race(&url, "race").await;
}

// SQLite, always

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_in_memory_passes_the_conformance_kit() {
    kit("sqlite::memory:", "kit").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_in_memory_bounds_whole_records() {
    let backend = SqlBackend::builder().max_record_bytes(KIT_LIMIT).connect("sqlite::memory:").await.unwrap();
    testing::record_limit_is_enforced(&backend, KIT_LIMIT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_file_bounds_whole_records() {
    let table = TestTable::sqlite_file("limit").await;
    record_limit(&table.url, "limit").await;
    table.drop_table().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_file_discards_rows_it_cannot_load() {
    unreadable_rows(TestTable::sqlite_file("unreadable").await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_in_memory_expires_records() {
    expiry("sqlite::memory:", "exp").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_file_passes_the_conformance_kit() {
    let table = TestTable::sqlite_file("kit").await;
    testing::run_all(table.backend()).await;
    table.drop_table().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_file_update_racing_logout_does_not_resurrect() {
    let table = TestTable::sqlite_file("race").await;
    testing::update_racing_delete_does_not_resurrect(table.backend()).await;
    table.drop_table().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_file_keeps_sessions_across_reconnects() {
    let table = TestTable::sqlite_file("reopen").await;
    let key = testing::random_key();
    assert!(table.backend.create(&key, &one_field("va", b"1"), TTL).await.unwrap());
    let url = format!("sqlite:{}", table.sqlite_file.as_ref().unwrap().display());
    let reopened = SqlBackend::builder().table(table.backend.table()).connect(&url).await.unwrap();
    assert_eq!(reopened.load(&key).await.unwrap().map(|s| s.fields), Some(one_field("va", b"1")));
    table.drop_table().await;
}

// On the application's own pool, of the sqlx this backend is built on

async fn serves_a_session(backend: &SqlBackend) {
    let key = testing::random_key();
    assert!(backend.create(&key, &one_field("va", b"1"), TTL).await.unwrap());
    let patch = sessions_core::backend::Patch { set: one_field("vb", b"2"), ..Default::default() };
    assert!(backend.update(&key, &patch, TTL).await.unwrap());
    let stored = backend.load(&key).await.unwrap().expect("the session is stored");
    assert_eq!(stored.fields, Fields::from([("va".to_owned(), b"1".to_vec()), ("vb".to_owned(), b"2".to_vec())]));
}

#[tokio::test]
async fn postgres_backend_on_the_applications_own_pool_serves() {
    let Some(url) = service_url("SESSIONS_POSTGRES_URL") else { return };
    let pool = driver::sqlx::PgPool::connect(&url).await.unwrap();
    let table = format!("t_own_{}", random_hex());
    let backend = SqlBackend::builder().table(&table).postgres(pool).await.unwrap();
    serves_a_session(&backend).await;
    TestTable { backend, url, sqlite_file: None }.drop_table().await;
}

#[tokio::test]
async fn mysql_backend_on_the_applications_own_pool_serves() {
    let Some(url) = service_url("SESSIONS_MYSQL_URL") else { return };
    let pool = driver::sqlx::MySqlPool::connect(&url).await.unwrap();
    let table = format!("t_own_{}", random_hex());
    let backend = SqlBackend::builder().table(&table).mysql(pool).await.unwrap();
    serves_a_session(&backend).await;
    TestTable { backend, url, sqlite_file: None }.drop_table().await;
}

#[tokio::test]
async fn sqlite_backend_on_the_applications_own_pool_serves() {
    // One connection: each connection to `:memory:` is a database of its own.
    let pool = driver::sqlx::sqlite::SqlitePoolOptions::new().max_connections(1).connect("sqlite::memory:");
    let backend = SqlBackend::builder().sqlite(pool.await.unwrap()).await.unwrap();
    serves_a_session(&backend).await;
}

// Behaviour common to every engine, checked on SQLite

#[tokio::test]
async fn sweep_expired_removes_only_expired_rows() {
    let backend = SqlBackend::connect("sqlite::memory:").await.unwrap();
    let (old, live) = (testing::random_key(), testing::random_key());
    assert!(backend.create(&old, &one_field("va", b"1"), Duration::from_millis(1)).await.unwrap());
    assert!(backend.create(&live, &one_field("va", b"1"), TTL).await.unwrap());
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(backend.sweep_expired().await.unwrap(), 1);
    assert!(backend.load(&live).await.unwrap().is_some(), "a live row must survive the sweep");
    assert_eq!(backend.sweep_expired().await.unwrap(), 0, "the expired row must be gone");
}

#[tokio::test]
async fn the_sweeper_deletes_expired_rows_in_the_background() {
    let backend = SqlBackend::connect("sqlite::memory:").await.unwrap();
    assert!(backend.create(&testing::random_key(), &one_field("va", b"1"), Duration::from_millis(1)).await.unwrap());
    let sweeper = backend.spawn_sweeper(Duration::from_millis(20));
    let mut swept = false;
    for _ in 0..200 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        // Nothing else deletes rows here, so 0 means the sweeper got there first.
        if backend.sweep_expired().await.unwrap() == 0 {
            swept = true;
            break;
        }
    }
    drop(sweeper);
    assert!(swept, "the sweeper never deleted the expired row");
}

#[tokio::test]
async fn a_record_over_the_size_limit_is_refused_before_the_driver() {
    let backend = SqlBackend::builder().max_record_bytes(1024).connect("sqlite::memory:").await.unwrap();
    let key = testing::random_key();
    let err = backend.create(&key, &one_field("vbig", &[7; 2048]), TTL).await.unwrap_err();
    assert!(matches!(err, BackendError::TooLarge { limit: 1024, .. }), "{err:?}");
    assert!(backend.load(&key).await.unwrap().is_none(), "nothing may be written");
}

#[tokio::test]
async fn table_names_that_are_not_plain_identifiers_are_refused() {
    for bad in ["sessions; DROP TABLE users", "a-b", "1abc", "", "quoted\"name", &"x".repeat(49)] {
        let result = SqlBackend::builder().table(bad).connect("sqlite::memory:").await;
        assert!(matches!(result, Err(driver::Error::Config(_))), "{bad:?} was accepted");
    }
}

#[tokio::test]
async fn without_migration_on_start_the_table_is_created_by_migrate() {
    let backend =
        SqlBackend::builder().migrate_on_start(false).table("later").connect("sqlite::memory:").await.unwrap();
    let key = testing::random_key();
    assert!(backend.load(&key).await.is_err(), "the table must not exist before migrate");
    backend.migrate().await.unwrap();
    backend.migrate().await.expect("migrate must be safe to run twice");
    assert!(backend.create(&key, &one_field("va", b"1"), TTL).await.unwrap());
}

#[tokio::test]
async fn unknown_url_schemes_are_refused() {
    let result = SqlBackend::connect("oracle://db/app").await;
    assert!(matches!(result, Err(driver::Error::UnsupportedUrl(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn apps_starting_together_on_a_fresh_postgres_table_all_migrate() {
    let Some(url) = service_url("SESSIONS_POSTGRES_URL") else { return };
    let table = format!("t_race_{}", random_hex());
    let starts: Vec<_> = (0..8)
        .map(|_| {
            let (url, table) = (url.clone(), table.clone());
            tokio::spawn(async move { SqlBackend::builder().table(&table).connect(&url).await })
        })
        .collect();
    let mut backends = Vec::new();
    for start in starts {
        backends.push(start.await.unwrap().expect("every app starts"));
    }
    let first = TestTable { backend: backends.remove(0), url, sqlite_file: None };
    first.drop_table().await;
}

/// A URL like `url` that reaches its server through `relay` (`host:port`),
/// and the server's own `host:port`.
fn relayed(url: &str, relay: Option<&str>) -> (String, String) {
    let (scheme, rest) = url.split_once("://").expect("a URL with a scheme");
    let (user, rest) = rest.split_once('@').map_or((String::new(), rest), |(u, r)| (format!("{u}@"), r));
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let port = if scheme.starts_with("postgres") { 5432 } else { 3306 };
    let upstream = if host.contains(':') { host.to_owned() } else { format!("{host}:{port}") };
    (format!("{scheme}://{user}{}/{path}", relay.unwrap_or(&upstream)), upstream)
}

/// The round-trip target for a networked store, counted on the wire: one round
/// trip to load a session, one to save a change, none for a request that
/// only read. The first pass warms each connection's prepared statements.
/// sqlx pings a connection when it goes back to the pool, after the
/// request's answer: that is counted apart, one per statement.
async fn round_trips(url: &str, tag: &str) {
    let table = TestTable::new(url, tag).await;
    let (_, upstream) = relayed(url, None);
    let (relay, trips) = sessions_testkit::relay::RoundTrips::relay(upstream).await;
    let (through, _) = relayed(url, Some(&relay));
    let backend = SqlBackend::builder().table(table.backend.table()).connect(&through).await.expect("connect");
    let backend: Arc<dyn Backend> = Arc::new(backend);
    sessions_testkit::relay::store_round_trips(Arc::clone(&backend), &trips, 5).await;
    let counted = sessions_testkit::relay::store_round_trips(backend, &trips, 20).await;
    assert_eq!((counted.load, counted.changed_save, counted.unchanged_save), (1.0, 1.0, 0.0), "{counted:?}");
    assert_eq!(counted.after_the_request, 1.5, "one release ping per statement: {counted:?}");
    table.drop_table().await;
}

#[tokio::test]
async fn postgres_loads_and_saves_a_change_in_one_round_trip_each() {
    let Some(url) = service_url("SESSIONS_POSTGRES_URL") else { return };
    round_trips(&url, "trips").await;
}

#[tokio::test]
async fn mysql_loads_and_saves_a_change_in_one_round_trip_each() {
    let Some(url) = service_url("SESSIONS_MYSQL_URL") else { return };
    round_trips(&url, "trips").await;
}
