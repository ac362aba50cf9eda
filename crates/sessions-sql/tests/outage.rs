//! PostgreSQL stopped and started under a running backend, on a private
//! cluster the test creates with `initdb` on a free loopback port (the
//! shared service is not touched): calls fail as `Unavailable` while it is
//! down, a breaker turns the wait of every call into a wait of the first,
//! the pool serves again after the restart, and every acknowledged write
//! is still there. And SQLite on a disk that fills.
//!
//! The tests are written once (`outage/suite.rs`) and compiled for each
//! sqlx version, as `sqlx08::...` and `sqlx09::...`.

/// Names the sqlx version of the suite declared next: each `mod` below
/// sees the definition just before it.
macro_rules! driver {
    () => {
        use sessions_sql::sqlx08 as driver;
    };
}
#[path = "outage/suite.rs"]
mod sqlx08;

macro_rules! driver {
    () => {
        use sessions_sql::sqlx09 as driver;
    };
}
#[path = "outage/suite.rs"]
#[allow(clippy::duplicate_mod)]
mod sqlx09;
