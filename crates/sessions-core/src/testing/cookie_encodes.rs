//! Counting the cookie values the stores encode, so a test can prove that
//! a request encoded none.
//!
//! A store traces every encode (`cookie encoded`, at trace level); the
//! counter is a tracing subscriber that counts those events. The stores do
//! not know about it.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::{DefaultGuard, Interest};
use tracing::{Event, Level, Metadata, Subscriber};

/// Where the stores' events come from.
const STORE_TARGET: &str = "sessions_core::store";

/// The message of the event a store traces for each cookie value it
/// encodes.
const ENCODED: &str = "cookie encoded";

/// Counts the cookie values the stores encode (sealed or signed) on the
/// calling thread, from its creation until it is dropped, so a test on a
/// current-thread runtime can prove that a request encoded none.
///
/// It is the thread's tracing subscriber while it lives: the thread's
/// other events are not recorded meanwhile.
///
/// ```
/// use sessions_core::testing::CookieEncodes;
/// use sessions_core::{CookieStore, Key, KeyRing, Registry, StoreConfig};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let registry = Registry::single(CookieStore::new(StoreConfig::new("s", KeyRing::from(Key::generate())))?);
/// let encodes = CookieEncodes::start();
/// let sessions = registry.request([]);
/// sessions.default_session().await?.insert("n", &1)?;
/// let _ = sessions.finish(200, None, sessions_core::testing::header_pair).await;
/// assert_eq!(encodes.count(), 1);
/// # Ok::<(), sessions_core::Error>(())
/// # }).unwrap();
/// ```
pub struct CookieEncodes {
    count: Arc<AtomicU64>,
    _subscriber: DefaultGuard,
}

impl CookieEncodes {
    /// Starts counting on the calling thread.
    pub fn start() -> CookieEncodes {
        let count = Arc::new(AtomicU64::new(0));
        let subscriber = tracing::subscriber::set_default(Counter(Arc::clone(&count)));
        CookieEncodes { count, _subscriber: subscriber }
    }

    /// The cookie values encoded on this thread since [`CookieEncodes::start`].
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::SeqCst)
    }
}

impl fmt::Debug for CookieEncodes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CookieEncodes").field("count", &self.count()).finish()
    }
}

/// The subscriber behind [`CookieEncodes`]: it asks for the stores' trace
/// events alone, and counts those that say a cookie was encoded.
struct Counter(Arc<AtomicU64>);

fn is_store_trace(metadata: &Metadata<'_>) -> bool {
    metadata.is_event() && *metadata.level() == Level::TRACE && metadata.target() == STORE_TARGET
}

/// Whether an event's message is [`ENCODED`].
#[derive(Default)]
struct Message {
    encoded: bool,
}

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            self.encoded = format!("{value:?}") == ENCODED;
        }
    }
}

impl Subscriber for Counter {
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        if is_store_trace(metadata) { Interest::always() } else { Interest::never() }
    }

    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        is_store_trace(metadata)
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(LevelFilter::TRACE)
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        // Never called: no span is enabled. Ids must not be zero.
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut message = Message::default();
        event.record(&mut message);
        if message.encoded {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}
