//! The backend conformance kit and the SQL-specific behaviour of
//! `SqlBackend`, against real databases: PostgreSQL and MariaDB/MySQL from
//! `SESSIONS_POSTGRES_URL` / `SESSIONS_MYSQL_URL`, SQLite always (a file and
//! in memory). Every test uses its own table, so tests run in parallel.
//!
//! The tests are written once (`sql/suite.rs`) and compiled for each sqlx
//! version: `sqlx08::...` on `sessions_sql::sqlx08`, `sqlx09::...` on
//! `sessions_sql::sqlx09` (the crate's dev-dependency on itself turns both
//! on). The stress tests (`sql/stress.rs`) run on the default driver
//! only. Statements the tests run behind a backend's back go through sqlx
//! 0.8 for both.

/// Names the sqlx version of the suite declared next: each `mod` below
/// sees the definition just before it.
macro_rules! driver {
    () => {
        use sessions_sql::sqlx08 as driver;
    };
}
#[path = "sql/suite.rs"]
mod sqlx08;

macro_rules! driver {
    () => {
        use sessions_sql::sqlx09 as driver;
    };
}
#[path = "sql/suite.rs"]
#[allow(clippy::duplicate_mod)]
mod sqlx09;

// The stress tests, on the default driver.
use self::sqlx08 as default;
#[path = "sql/stress.rs"]
mod stress;

/// Both versions serve one table side by side: an application can move
/// from one sqlx to the other, or run both, without touching its sessions.
mod both {
    use std::time::Duration;

    use sessions_core::backend::record::Fields;
    use sessions_core::backend::{Backend, Patch};
    use sessions_core::testing::{self, service_url};

    use super::sqlx08::TestTable;

    const TTL: Duration = Duration::from_secs(600);

    fn one_field(name: &str, value: &[u8]) -> Fields {
        Fields::from([(name.to_owned(), value.to_vec())])
    }

    /// A session made through sqlx 0.8 is refused a second create, changed
    /// and taken through 0.9, and gone for 0.8 after.
    async fn one_table_served_by_both(table: TestTable) {
        let old = table.backend.clone();
        let new = sessions_sql::sqlx09::SqlBackend::builder().table(old.table()).connect(&table.url).await.unwrap();
        let key = testing::random_key();
        assert!(old.create(&key, &one_field("va", b"1"), TTL).await.unwrap());
        assert!(!new.create(&key, &one_field("va", b"2"), TTL).await.unwrap(), "one key, one row");
        let patch = Patch { set: one_field("vb", b"2"), ..Patch::default() };
        assert!(new.update(&key, &patch, TTL).await.unwrap());
        let seen = old.load(&key).await.unwrap().expect("written through 0.9, read through 0.8");
        assert_eq!(seen.fields.get("vb"), Some(&b"2"[..]));
        let taken = new.take(&key).await.unwrap().expect("taken through 0.9");
        assert_eq!(taken.fields, seen.fields);
        assert!(old.load(&key).await.unwrap().is_none(), "taken through 0.9, gone for 0.8");
        table.drop_table().await;
    }

    #[tokio::test]
    async fn postgres_table_is_served_by_both_sqlx_versions() {
        let Some(url) = service_url("SESSIONS_POSTGRES_URL") else { return };
        one_table_served_by_both(TestTable::new(&url, "both").await).await;
    }

    #[tokio::test]
    async fn mysql_table_is_served_by_both_sqlx_versions() {
        let Some(url) = service_url("SESSIONS_MYSQL_URL") else { return };
        one_table_served_by_both(TestTable::new(&url, "both").await).await;
    }

    #[tokio::test]
    async fn sqlite_file_is_served_by_both_sqlx_versions() {
        one_table_served_by_both(TestTable::sqlite_file("both").await).await;
    }
}
