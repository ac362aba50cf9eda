//! A small pool of connections to one memcached server.
//!
//! The text protocol answers requests in order on a connection, and the
//! client runs one request at a time on each; a pool lets concurrent
//! requests run side by side. A connection that failed, timed out or was
//! cancelled mid-request is dropped, never reused: unread bytes of its
//! answer would be taken for the next request's.

use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use async_memcached::Client;
use sessions_core::BackendError;
use tokio::sync::Semaphore;

/// What one request on a connection came to.
pub(crate) enum Outcome<T> {
    /// Answered; the connection is in step and goes back to the pool.
    Done(T),
    /// Failed in a way that leaves the connection in doubt.
    Broken(BackendError),
}

pub(crate) struct Pool {
    /// `host:port`.
    address: String,
    /// The address as the client takes it.
    dsn: String,
    idle: Mutex<Vec<Client>>,
    permits: Semaphore,
    connect_timeout: Duration,
    request_timeout: Duration,
}

impl Pool {
    pub(crate) fn new(address: String, size: usize, connect_timeout: Duration, request_timeout: Duration) -> Pool {
        Pool {
            dsn: format!("tcp://{address}"),
            address,
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(size.max(1)),
            connect_timeout,
            request_timeout,
        }
    }

    /// Runs one request on a pooled connection (a new one if none is
    /// idle), bounded by the request timeout from the moment it waits for
    /// a connection to the moment the answer is read.
    pub(crate) async fn run<T, F, Fut>(&self, request: F) -> Result<T, BackendError>
    where
        F: FnOnce(Client) -> Fut,
        Fut: Future<Output = (Client, Outcome<T>)>,
    {
        let timeout = self.request_timeout;
        let attempt = async {
            let _permit = self.permits.acquire().await.map_err(BackendError::unavailable)?;
            let idle = self.idle().pop();
            let client = match idle {
                Some(client) if !client.is_closed() => client,
                _ => self.connect().await?,
            };
            // A request cancelled by the timeout drops its client, and with
            // it the connection.
            match request(client).await {
                (client, Outcome::Done(value)) => {
                    if !client.is_closed() {
                        self.idle().push(client);
                    }
                    Ok(value)
                }
                (_, Outcome::Broken(error)) => {
                    // The server may have gone: the idle connections are
                    // likely dead too, and would each fail one request.
                    self.idle().clear();
                    Err(error)
                }
            }
        };
        match tokio::time::timeout(timeout, attempt).await {
            Ok(result) => result,
            Err(_) => Err(BackendError::unavailable(format!(
                "memcached at {} did not answer within {timeout:?}",
                self.address
            ))),
        }
    }

    /// A new connection, within the connect timeout.
    pub(crate) async fn connect(&self) -> Result<Client, BackendError> {
        match tokio::time::timeout(self.connect_timeout, Client::new(&self.dsn)).await {
            Ok(Ok(client)) => Ok(client),
            Ok(Err(err)) => {
                Err(BackendError::unavailable(format!("cannot connect to memcached at {}: {err}", self.address)))
            }
            Err(_) => Err(BackendError::unavailable(format!(
                "cannot connect to memcached at {}: no connection within {:?}",
                self.address, self.connect_timeout
            ))),
        }
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<Client>> {
        self.idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
