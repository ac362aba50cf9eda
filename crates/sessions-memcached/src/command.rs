//! The four meta commands the backend speaks, and what their answers mean.
//!
//! - `mg <key> v c t`: the value, its CAS token and its remaining TTL;
//! - `ms <key> <len> T<ttl> ME` (add: only if absent) and
//!   `ms <key> <len> T<ttl> C<cas>` (set only if the CAS token still
//!   matches, never create: `NF` when the item is gone);
//! - `md <key> [C<cas>]`: delete, optionally only if unchanged;
//! - `mg <key> T<ttl> s`: touch, without reading the value.

use std::time::Duration;

use async_memcached::{Client, Error as ClientError, ErrorKind, MetaProtocol, MetaValue, Status};
use sessions_core::BackendError;

use crate::pool::{Outcome, Pool};

/// An item as read.
#[derive(Debug)]
pub(crate) struct Item {
    pub(crate) data: Vec<u8>,
    pub(crate) cas: u64,
    pub(crate) ttl: Option<Duration>,
}

/// A conditional command that did not apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// `NS`: an add found the key taken.
    NotStored,
    /// `EX`: the CAS token no longer matches; someone wrote in between.
    Changed,
    /// `NF`: the item is gone.
    Gone,
}

/// How a store refusal reads: a server error other than a refusal.
pub(crate) enum ServerSaid {
    /// `SERVER_ERROR out of memory`: the server cannot make room (started
    /// with `-M`, or its memory is all in use).
    OutOfMemory(String),
    /// `SERVER_ERROR object too large for cache`: over the server's item
    /// size limit (`-I`).
    TooLarge(String),
}

/// A command's answer: refused, said by the server, or done.
pub(crate) type Answer<T> = Result<Result<T, Refused>, ServerSaid>;

/// Reads what an error means, and whether the connection is still in step.
fn classify<T>(client: Client, result: Result<T, ClientError>) -> (Client, Outcome<Answer<T>>) {
    let outcome = match result {
        Ok(value) => Outcome::Done(Ok(Ok(value))),
        Err(ClientError::Protocol(Status::NotStored)) => Outcome::Done(Ok(Err(Refused::NotStored))),
        Err(ClientError::Protocol(Status::Exists)) => Outcome::Done(Ok(Err(Refused::Changed))),
        Err(ClientError::Protocol(Status::NotFound)) => Outcome::Done(Ok(Err(Refused::Gone))),
        Err(ClientError::Protocol(Status::Error(ErrorKind::Server(message)))) if message.contains("out of memory") => {
            Outcome::Done(Err(ServerSaid::OutOfMemory(message)))
        }
        Err(ClientError::Protocol(Status::Error(ErrorKind::Server(message)))) if message.contains("too large") => {
            Outcome::Done(Err(ServerSaid::TooLarge(message)))
        }
        Err(error) => Outcome::Broken(BackendError::unavailable(format!("memcached: {error}"))),
    };
    (client, outcome)
}

/// `mg`: the item under `key`, or `None`.
pub(crate) async fn get(pool: &Pool, key: &str) -> Result<Option<Item>, BackendError> {
    let answer = pool
        .run(|mut client| async move {
            let result = client.meta_get(key, false, None, Some(&["v", "c", "t"])).await;
            classify(client, result)
        })
        .await?;
    match answer {
        Ok(Ok(Some(value))) => item(value).map(Some),
        Ok(Ok(None) | Err(Refused::Gone)) => Ok(None),
        Ok(Err(refused)) => Err(BackendError::unavailable(format!("memcached answered a read with {refused:?}"))),
        Err(ServerSaid::OutOfMemory(message) | ServerSaid::TooLarge(message)) => {
            Err(BackendError::unavailable(format!("memcached: {message}")))
        }
    }
}

fn item(value: MetaValue) -> Result<Item, BackendError> {
    let cas = value.cas.ok_or_else(|| BackendError::unavailable("memcached answered `mg` without a CAS token"))?;
    // `t-1`: no expiry (an item this backend did not write).
    let ttl = value.ttl_remaining.and_then(|t| u64::try_from(t).ok()).map(Duration::from_secs);
    Ok(Item { data: value.data.unwrap_or_default(), cas, ttl })
}

/// `ms` with `flags` (`T<ttl>` and `ME` or `C<cas>`).
pub(crate) async fn set(pool: &Pool, key: &str, value: &[u8], flags: &[&str]) -> Result<Answer<()>, BackendError> {
    pool.run(|mut client| async move {
        let result = client.meta_set(key, value, false, None, Some(flags)).await.map(drop);
        classify(client, result)
    })
    .await
}

/// `md`, only if the item's CAS token is still `cas` when given.
pub(crate) async fn delete(pool: &Pool, key: &str, cas: Option<u64>) -> Result<Result<(), Refused>, BackendError> {
    let flag = cas.map(|cas| format!("C{cas}"));
    let flags: Vec<&str> = flag.iter().map(String::as_str).collect();
    let answer = pool
        .run(|mut client| async move {
            let result = client.meta_delete(key, false, None, Some(&flags)).await.map(drop);
            classify(client, result)
        })
        .await?;
    answer.map_err(|(ServerSaid::OutOfMemory(message) | ServerSaid::TooLarge(message))| {
        BackendError::unavailable(format!("memcached: {message}"))
    })
}

/// `mg <key> T<ttl> s`: sets the TTL of an existing item; false if none.
pub(crate) async fn touch(pool: &Pool, key: &str, exptime: u64) -> Result<bool, BackendError> {
    let ttl = format!("T{exptime}");
    let answer = pool
        .run(|mut client| async move {
            // `s` makes a hit answer `HD s<size>`, told apart from a miss.
            let result = client.meta_get(key, false, None, Some(&[ttl.as_str(), "s"])).await;
            classify(client, result)
        })
        .await?;
    match answer {
        Ok(Ok(found)) => Ok(found.is_some()),
        Ok(Err(_)) => Ok(false),
        Err(ServerSaid::OutOfMemory(message) | ServerSaid::TooLarge(message)) => {
            Err(BackendError::unavailable(format!("memcached: {message}")))
        }
    }
}
