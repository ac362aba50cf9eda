//! Counting the network round trips of a backend, for the benchmarks'
//! claims such as "one round trip per load".

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use sessions_core::backend::Backend;
use sessions_core::store::Store;
use sessions_core::{CookieOptions, Key, KeyRing, ServerStore, StoreConfig};

/// Round trips a server store makes per request, as [`store_round_trips`]
/// counts them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StoreRoundTrips {
    /// Loading an existing session (one cookie, one record).
    pub load: f64,
    /// Saving a session whose value changed.
    pub changed_save: f64,
    /// Saving a session the request only read.
    pub unchanged_save: f64,
    /// Exchanges per request off the request's path, after its answer:
    /// a client library's own traffic, such as sqlx testing each
    /// connection with a ping when it goes back to the pool.
    pub after_the_request: f64,
}

/// Counts the round trips a [`ServerStore`] over `backend` makes per
/// request: `backend` must talk to its server through `trips`' relay
/// ([`RoundTrips::relay`]). Each figure is the mean over `requests`
/// requests on one existing session, in which a request loads the session
/// and then either reads a counter or writes it.
///
/// Round trips on the request's path (the load, the save) are told apart
/// from a client library's traffic after them by letting the connection
/// settle before each step: what the relay counts in between is reported
/// as [`StoreRoundTrips::after_the_request`]. Run it on a current-thread
/// runtime, where that traffic (a task the client spawned) cannot start
/// before the step it follows has returned.
///
/// The aim for networked backends: one round trip per load,
/// one per changed save, none for an unchanged session.
pub async fn store_round_trips(backend: Arc<dyn Backend>, trips: &RoundTrips, requests: u64) -> StoreRoundTrips {
    let config =
        StoreConfig::new("id", KeyRing::from(Key::generate())).cookie_options(CookieOptions::new().secure(false));
    let store = ServerStore::new(config, backend).expect("store");
    let session = store.load(&[]).await.expect("load");
    session.insert("count", &0u64).expect("insert");
    let header = store.save(&session).await.expect("save").expect("a new session sets a cookie");
    let cookie = header.split(';').next().and_then(|pair| pair.split_once('=')).map(|(_, v)| v.to_owned());
    let cookie = cookie.expect("a cookie value");
    let (mut load, mut changed, mut unchanged) = (0, 0, 0);
    let settle = || tokio::time::sleep(Duration::from_millis(10));
    settle().await;
    let start = trips.count();
    for n in 0..requests * 2 {
        settle().await;
        let before = trips.count();
        let session = store.load(&[&cookie]).await.expect("load");
        load += trips.count() - before;
        assert!(!session.is_new(), "the session loads");
        let count = session.get::<u64>("count").expect("decode").unwrap_or(0);
        let write = n % 2 == 0;
        if write {
            session.insert("count", &(count + 1)).expect("insert");
        }
        settle().await;
        let before = trips.count();
        store.save(&session).await.expect("save");
        let saved = trips.count() - before;
        if write {
            changed += saved;
        } else {
            unchanged += saved;
        }
    }
    settle().await;
    let after = trips.count() - start - load - changed - unchanged;
    let per = |n: u64| n as f64 / requests as f64;
    StoreRoundTrips {
        load: per(load) / 2.0,
        changed_save: per(changed),
        unchanged_save: per(unchanged),
        after_the_request: per(after) / 2.0,
    }
}

/// Counts round trips between a client and a TCP server, for benchmarks
/// that prove claims such as "one round trip per load": a relay on a free
/// loopback port that counts each client turn starting after the server
/// spoke.
///
/// ```no_run
/// use sessions_testkit::relay::RoundTrips;
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let (address, trips) = RoundTrips::relay("127.0.0.1:6379".into()).await;
/// // Point the client at `address`, run one request, then:
/// println!("{} round trips", trips.count());
/// # let _ = address;
/// # });
/// ```
#[derive(Debug, Default)]
pub struct RoundTrips {
    count: AtomicU64,
    server_spoke_last: AtomicBool,
}

impl RoundTrips {
    /// Round trips counted so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::SeqCst)
    }

    /// Starts a relay to `upstream` (`host:port`) and returns its
    /// `host:port` and its counter.
    pub async fn relay(upstream: String) -> (String, Arc<RoundTrips>) {
        let trips = Arc::new(RoundTrips::default());
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind relay");
        let address = listener.local_addr().expect("relay address").to_string();
        let counter = Arc::clone(&trips);
        tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else { return };
                let Ok(server) = TcpStream::connect(&upstream).await else { return };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                let up = Arc::clone(&counter);
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    while let Ok(n @ 1..) = client_read.read(&mut buf).await {
                        if up.server_spoke_last.swap(false, Ordering::SeqCst) {
                            up.count.fetch_add(1, Ordering::SeqCst);
                        }
                        if server_write.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                });
                let down = Arc::clone(&counter);
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    while let Ok(n @ 1..) = server_read.read(&mut buf).await {
                        down.server_spoke_last.store(true, Ordering::SeqCst);
                        if client_write.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (address, trips)
    }
}
