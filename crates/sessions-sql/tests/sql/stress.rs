//! The stress tests: 64 writers saving 1000 times each, on every engine.
//! They are the slowest tests of the crate and exercise the database more
//! than the driver, so they run on one sqlx version, the default (0.8);
//! the conformance kit, with its concurrent writers, runs on both.

use sessions_core::testing::{self, service_url};

use super::default::TestTable;

async fn writers(url: &str, tag: &str) {
    let table = TestTable::new(url, tag).await;
    testing::concurrent_distinct_keys_are_kept(table.backend(), 64, 1000).await;
    table.drop_table().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_keeps_every_key_of_64_writers_saving_1000_times() {
    let Some(url) = service_url("SESSIONS_POSTGRES_URL") else { return };
    writers(&url, "writers").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mysql_keeps_every_key_of_64_writers_saving_1000_times() {
    let Some(url) = service_url("SESSIONS_MYSQL_URL") else { return };
    writers(&url, "writers").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_in_memory_keeps_every_key_of_64_writers_saving_1000_times() {
    writers("sqlite::memory:", "writers").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_file_keeps_every_key_of_64_writers_saving_1000_times() {
    let table = TestTable::sqlite_file("writers").await;
    testing::concurrent_distinct_keys_are_kept(table.backend(), 64, 1000).await;
    table.drop_table().await;
}
