//! The demos sweep the stores that keep expired records until something
//! deletes them: the filesystem store and the SQL stores. Without it,
//! anonymous traffic grows them by one record per visit for the records'
//! whole lifetime.

use std::path::Path;
use std::time::Duration;

use demo_kit::Config;
use sessions_core::backend::record::Fields;
use sessions_core::backend::{Backend, FilesystemBackend};
use sessions_core::testing::random_key;

/// How many records expire before the sweep, beside one that lives on.
const EXPIRED: usize = 20;

fn record() -> Fields {
    Fields::from([("vcount".to_owned(), b"1".to_vec())])
}

/// A path in the temporary directory, removed (with SQLite's `-wal` and
/// `-shm` files) when dropped, even by a failing test.
struct TempPath(std::path::PathBuf);

impl TempPath {
    fn new(tag: &str) -> TempPath {
        TempPath(std::env::temp_dir().join(format!("demo-kit-sweep-{tag}-{}", random_key().as_str())))
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.0.display()));
        }
    }
}

/// Writes `EXPIRED` records that are already expired, and one that is not.
async fn expired_and_live(backend: &dyn Backend) {
    for _ in 0..EXPIRED {
        assert!(backend.create(&random_key(), &record(), Duration::from_millis(1)).await.unwrap());
    }
    assert!(backend.create(&random_key(), &record(), Duration::from_secs(3600)).await.unwrap());
    // The records' expiry is on the wall clock, not on tokio's.
    std::thread::sleep(Duration::from_millis(20));
}

fn files_in(dir: &Path) -> usize {
    std::fs::read_dir(dir).unwrap().count()
}

#[tokio::test(start_paused = true)]
async fn a_demo_on_the_filesystem_store_deletes_expired_sessions() {
    let temp = TempPath::new("fs");
    let dir = &temp.0;
    // Files written before the demo starts; its first sweep runs at start.
    expired_and_live(&FilesystemBackend::new(dir).unwrap()).await;
    assert_eq!(files_in(dir), EXPIRED + 1);

    let config = Config::from_vars([("SESSION_STORE", format!("fs:{}", dir.display()))]).unwrap();
    let _backend = config.backend().await.unwrap().expect("a server store");
    // The sweep runs on the blocking pool, which holds the paused clock
    // while it works; the loop bounds the wait.
    for _ in 0..1000 {
        if files_in(dir) == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(files_in(dir), 1, "the expired sessions' files are gone, the live one stays");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_demo_on_an_sql_store_deletes_expired_sessions() {
    let path = TempPath::new("sqlite");
    let url = format!("sqlite:{}", path.0.display());
    // Rows written before the demo starts; its first sweep runs at start.
    let writer = sessions_sql::SqlBackend::connect(&url).await.unwrap();
    expired_and_live(&writer).await;
    let rows = || async {
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sessions").fetch_one(&pool).await.unwrap();
        pool.close().await;
        count
    };
    assert_eq!(rows().await, i64::try_from(EXPIRED + 1).unwrap());

    let config = Config::from_vars([("SESSION_STORE", url.as_str())]).unwrap();
    let _backend = config.backend().await.unwrap().expect("a server store");
    let mut left = 0;
    // A bound on the wait, not a measurement: the sweep runs at once.
    for _ in 0..200 {
        left = rows().await;
        if left == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(left, 1, "the expired rows are gone, the live one stays");
}
