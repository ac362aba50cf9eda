//! The SQL of each engine, built once per table. Plain text, the same
//! for every sqlx version.

use std::sync::Arc;

/// One statement: shared, so a driver that takes its SQL by value (sqlx
/// 0.9) gets it for the cost of a reference count.
pub(crate) type Sql = Arc<str>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    #[cfg(feature = "postgres")]
    Postgres,
    #[cfg(feature = "mysql")]
    MySql,
    #[cfg(feature = "sqlite")]
    Sqlite,
}

/// The statements for one table in one dialect, built once.
#[derive(Debug)]
pub(crate) struct Statements {
    pub(crate) migrate: Vec<Sql>,
    pub(crate) load: Sql,
    pub(crate) insert: Sql,
    pub(crate) purge_expired_one: Sql,
    pub(crate) compare_and_set: Sql,
    pub(crate) begin: &'static str,
    pub(crate) load_locked: Sql,
    pub(crate) delete: Sql,
    pub(crate) discard: Sql,
    pub(crate) touch: Sql,
    pub(crate) sweep: Sql,
}

impl Statements {
    pub(crate) fn new(dialect: Dialect, table: &str) -> Statements {
        let t = table;
        let (migrate, lock_suffix, begin) = match dialect {
            #[cfg(feature = "postgres")]
            Dialect::Postgres => (
                vec![
                    format!(
                        "CREATE TABLE IF NOT EXISTS {t} (id BYTEA PRIMARY KEY, data BYTEA NOT NULL, \
                         version BIGINT NOT NULL, expires BIGINT NOT NULL)"
                    ),
                    format!("CREATE INDEX IF NOT EXISTS {t}_expires_idx ON {t} (expires)"),
                ],
                " FOR UPDATE",
                "BEGIN",
            ),
            #[cfg(feature = "mysql")]
            Dialect::MySql => (
                vec![format!(
                    "CREATE TABLE IF NOT EXISTS {t} (id VARBINARY(32) NOT NULL PRIMARY KEY, data LONGBLOB NOT NULL, \
                     version BIGINT NOT NULL, expires BIGINT NOT NULL, INDEX {t}_expires_idx (expires))"
                )],
                " FOR UPDATE",
                "BEGIN",
            ),
            // SQLite has no row locks; BEGIN IMMEDIATE takes the database's
            // write lock before the read, which serializes writers the same way.
            #[cfg(feature = "sqlite")]
            Dialect::Sqlite => (
                vec![
                    format!(
                        "CREATE TABLE IF NOT EXISTS {t} (id BLOB PRIMARY KEY NOT NULL, data BLOB NOT NULL, \
                         version INTEGER NOT NULL, expires INTEGER NOT NULL)"
                    ),
                    format!("CREATE INDEX IF NOT EXISTS {t}_expires_idx ON {t} (expires)"),
                ],
                "",
                "BEGIN IMMEDIATE",
            ),
        };
        // MariaDB's optimizer may scan the `expires` index for
        // `id = ? AND expires > ?` when the table is small, locking a range
        // of rows instead of one: writers of one session then deadlock each
        // other. Statements that lock a row by id name the primary key.
        let by_id = match dialect {
            #[cfg(feature = "mysql")]
            Dialect::MySql => format!("{t} FORCE INDEX (PRIMARY)"),
            #[allow(unreachable_patterns)]
            _ => t.to_owned(),
        };
        let p = |sql: String| Sql::from(placeholders(dialect, &sql));
        Statements {
            migrate: migrate.into_iter().map(Sql::from).collect(),
            load: p(format!("SELECT data, version, expires FROM {t} WHERE id = ? AND expires > ?")),
            insert: p(format!("INSERT INTO {t} (id, data, version, expires) VALUES (?, ?, ?, ?)")),
            purge_expired_one: p(format!("DELETE FROM {t} WHERE id = ? AND expires <= ?")),
            compare_and_set: p(format!(
                "UPDATE {by_id} SET data = ?, version = version + 1, expires = ? \
                 WHERE id = ? AND version = ? AND expires > ?"
            )),
            begin,
            load_locked: p(format!(
                "SELECT data, version, expires FROM {by_id} WHERE id = ? AND expires > ?{lock_suffix}"
            )),
            delete: p(format!("DELETE FROM {t} WHERE id = ?")),
            discard: p(format!("DELETE FROM {t} WHERE id = ? AND version = ?")),
            touch: p(format!("UPDATE {by_id} SET expires = ? WHERE id = ? AND expires > ?")),
            sweep: p(format!("DELETE FROM {t} WHERE expires <= ?")),
        }
    }
}

/// PostgreSQL numbers its placeholders; the others take `?`.
pub(crate) fn placeholders(dialect: Dialect, sql: &str) -> String {
    match dialect {
        #[cfg(feature = "postgres")]
        Dialect::Postgres => {
            let mut out = String::with_capacity(sql.len() + 8);
            let mut n = 0;
            for c in sql.chars() {
                if c == '?' {
                    n += 1;
                    out.push('$');
                    out.push_str(&n.to_string());
                } else {
                    out.push(c);
                }
            }
            out
        }
        #[allow(unreachable_patterns)]
        _ => sql.to_owned(),
    }
}

/// Table names are spliced into statements (identifiers cannot be bound as
/// parameters), so only plain identifiers are accepted.
pub(crate) fn valid_table_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 48
}
