//! One connection type for a single server, a cluster and a primary that
//! sentinels name, and the diagnosis of a first connection that failed.

use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager};
use redis::cluster_async::ClusterConnection;
use redis::{RedisError, Value};

use crate::error::Error;
use crate::sentinel::SentinelConnection;

#[derive(Clone)]
pub(crate) enum Connection {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
    Sentinel(SentinelConnection),
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a redis::Cmd) -> redis::RedisFuture<'a, Value> {
        match self {
            Connection::Single(c) => c.req_packed_command(cmd),
            Connection::Cluster(c) => c.req_packed_command(cmd),
            Connection::Sentinel(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<Value>> {
        match self {
            Connection::Single(c) => c.req_packed_commands(cmd, offset, count),
            Connection::Cluster(c) => c.req_packed_commands(cmd, offset, count),
            Connection::Sentinel(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Connection::Single(c) => c.get_db(),
            Connection::Cluster(c) => c.get_db(),
            Connection::Sentinel(c) => c.get_db(),
        }
    }
}

/// `host:port` of a plain-text TCP connection (not TLS, not a socket).
pub(crate) fn plain_tcp_address(client: &redis::Client) -> Option<String> {
    match client.get_connection_info().addr() {
        redis::ConnectionAddr::Tcp(host, port) => Some(format!("{host}:{port}")),
        _ => None,
    }
}

/// The error of a failed start-up. A plain-text connection the server
/// dropped (rather than refused) is probed: a Redis server answers a
/// plain-text `PING`, even one that wants a login; a TLS-only port closes
/// the connection or answers with a TLS alert.
pub(crate) async fn diagnose(err: RedisError, address: Option<&str>, wait: Duration) -> Error {
    let Some(address) = address else { return Error::Connect(err) };
    if err.is_connection_refusal() || err.is_timeout() || !err.is_io_error() {
        return Error::Connect(err);
    }
    if speaks_plain_text(address, wait).await {
        Error::Connect(err)
    } else {
        Error::TlsRequired { address: address.to_owned() }
    }
}

/// Whether the server at `address` answers `PING` in plain text with a
/// Redis reply (`+PONG`, or an error such as `-NOAUTH`). A server that
/// cannot be reached or stays silent counts as plain text: nothing shows
/// it wants TLS.
pub(crate) async fn speaks_plain_text(address: &str, wait: Duration) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let probe = async {
        let mut stream = tokio::net::TcpStream::connect(address).await.ok()?;
        stream.write_all(b"PING\r\n").await.ok()?;
        let mut first = [0u8; 1];
        Some(matches!(stream.read(&mut first).await, Ok(1) if matches!(first[0], b'+' | b'-')))
    };
    tokio::time::timeout(wait, probe).await.ok().flatten().unwrap_or(true)
}
