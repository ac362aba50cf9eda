//! A connection to the primary that a group of Redis Sentinels names, which
//! follows a failover.
//!
//! The sentinels are asked for the primary of the service once, and again
//! only after a command met a sign that the primary it went to is gone or
//! is a primary no more: a dropped or refused connection, no answer within
//! the response timeout, or `READONLY` (a demoted primary that is now a
//! replica). The command that met it fails (the request answers 503); the
//! next one asks the sentinels, whose answer names the new primary once
//! they have promoted one, and the driver checks with `ROLE` that the
//! server it names is a primary before it is used.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::sentinel::SentinelClient;
use redis::{AsyncConnectionConfig, Cmd, ErrorKind, Pipeline, RedisError, RedisFuture, ServerErrorKind, Value};

/// Shared by every clone of the backend.
#[derive(Clone)]
pub(crate) struct SentinelConnection {
    shared: Arc<Shared>,
}

struct Shared {
    /// Asks the sentinels; locked while one lookup runs, so a burst of
    /// requests after a failover makes one lookup, not one each.
    sentinels: tokio::sync::Mutex<SentinelClient>,
    primary: Mutex<Option<Primary>>,
    config: AsyncConnectionConfig,
    response_timeout: Duration,
}

#[derive(Clone)]
struct Primary {
    /// Which lookup found it: a failure forgets the primary only if no
    /// later lookup replaced it meanwhile.
    lookup: u64,
    connection: MultiplexedConnection,
}

impl SentinelConnection {
    /// Looks up the primary and connects to it.
    pub(crate) async fn connect(
        sentinels: SentinelClient,
        connect_timeout: Duration,
        response_timeout: Duration,
    ) -> Result<SentinelConnection, RedisError> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(connect_timeout))
            .set_response_timeout(Some(response_timeout));
        let connection = SentinelConnection {
            shared: Arc::new(Shared {
                sentinels: tokio::sync::Mutex::new(sentinels),
                primary: Mutex::new(None),
                config,
                response_timeout,
            }),
        };
        connection.primary().await?;
        Ok(connection)
    }

    /// The connection to the current primary, looked up if there is none.
    async fn primary(&self) -> Result<Primary, RedisError> {
        if let Some(primary) = self.current() {
            return Ok(primary);
        }
        let mut sentinels = self.shared.sentinels.lock().await;
        // Another request may have made the lookup while this one waited.
        if let Some(primary) = self.current() {
            return Ok(primary);
        }
        let client = sentinels.async_get_client().await?;
        let connection = client.get_multiplexed_async_connection_with_config(&self.shared.config).await?;
        let mut slot = self.shared.primary.lock().unwrap_or_else(PoisonError::into_inner);
        let lookup = slot.as_ref().map_or(0, |p| p.lookup) + 1;
        let primary = Primary { lookup, connection };
        *slot = Some(primary.clone());
        tracing::debug!(lookup, "sessions-redis: connected to the primary the sentinels name");
        Ok(primary)
    }

    fn current(&self) -> Option<Primary> {
        self.shared.primary.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// After a failure that says the primary may have moved, the next
    /// request asks the sentinels again.
    fn forget(&self, lookup: u64, err: &RedisError) {
        let mut slot = self.shared.primary.lock().unwrap_or_else(PoisonError::into_inner);
        if slot.as_ref().is_some_and(|p| p.lookup == lookup) {
            tracing::warn!(error = %err, "sessions-redis: the primary failed; asking the sentinels again");
            *slot = None;
        }
    }

    async fn send<T, F, R>(&self, request: F) -> Result<T, RedisError>
    where
        F: FnOnce(MultiplexedConnection) -> R,
        R: Future<Output = Result<T, RedisError>>,
    {
        let primary = self.primary().await?;
        let lookup = primary.lookup;
        let result = match tokio::time::timeout(self.shared.response_timeout, request(primary.connection)).await {
            Ok(result) => result,
            Err(_) => Err(RedisError::from((ErrorKind::Io, "the primary did not answer within the response timeout"))),
        };
        if let Err(err) = &result
            && primary_may_have_moved(err)
        {
            self.forget(lookup, err);
        }
        result
    }
}

/// Failures after which the primary is looked up again.
fn primary_may_have_moved(err: &RedisError) -> bool {
    err.is_io_error()
        || err.is_connection_dropped()
        || err.is_connection_refusal()
        || err.is_timeout()
        || matches!(
            err.kind(),
            ErrorKind::Server(ServerErrorKind::ReadOnly | ServerErrorKind::MasterDown | ServerErrorKind::BusyLoading)
        )
}

impl ConnectionLike for SentinelConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(self.send(move |mut c| async move { c.req_packed_command(cmd).await }))
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(self.send(move |mut c| async move { c.req_packed_commands(cmd, offset, count).await }))
    }

    fn get_db(&self) -> i64 {
        self.current().map_or(0, |p| p.connection.get_db())
    }
}
