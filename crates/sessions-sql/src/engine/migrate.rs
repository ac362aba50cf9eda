//! Creation of the table and its index.

use std::time::Duration;

use super::SqlBackend;
use super::driver;
use super::error::Error;
use super::pool::{Pool, with_pool};

/// How often a migration statement is retried after a failure, for apps
/// racing to create the same table on a fresh database.
const MIGRATE_RETRIES: u32 = 3;

impl SqlBackend {
    /// Creates the table and its expiry index if they do not exist. Safe to
    /// run on every start.
    pub async fn migrate(&self) -> Result<(), Error> {
        for statement in &self.sql.migrate {
            // `CREATE ... IF NOT EXISTS` is not atomic on PostgreSQL: apps
            // starting together on a fresh database can both try to create
            // the table, and the loser fails on a catalog constraint. A
            // retry then finds the table made and succeeds.
            let mut attempt = 0;
            loop {
                let done = with_pool!(self, pool => driver::query(statement).execute(pool).await.map(drop));
                match done {
                    Ok(()) => break,
                    Err(_) if attempt < MIGRATE_RETRIES => {
                        attempt += 1;
                        tokio::time::sleep(Duration::from_millis(50 * u64::from(attempt))).await;
                    }
                    Err(err) => return Err(err.into()),
                }
            }
        }
        Ok(())
    }
}
