//! What the fuzz targets share: fixed keys, a fixed clock, and the stores
//! under test. The keys are the ones of `docs/wire-format.md`, so the
//! known-answer vectors are valid seeds.

use std::future::Future;
use std::sync::{Arc, OnceLock};

use sessions_core::backend::MemoryBackend;
use sessions_core::clock::ManualClock;
use sessions_core::codec::{Codec, Mode};
use sessions_core::{CookieStore, Key, KeyRing, Registry, ServerStore, StoreConfig};

/// The fuzzers' idea of now: shortly after the vectors were issued.
pub const NOW: u64 = 1_700_000_100;

/// The newest key of the ring (bytes 0..32) and an older one (32..64),
/// so cookies under either, and the rotation path, are reachable.
pub fn ring() -> KeyRing {
    let newest: Vec<u8> = (0u8..32).collect();
    let older: Vec<u8> = (32u8..64).collect();
    let keys = [newest, older].map(|k| Key::from_bytes(&k).expect("fixed test keys are valid"));
    KeyRing::new(keys).expect("fixed test keys have distinct ids")
}

/// A codec of each mode over [`ring`].
pub fn codecs() -> &'static [Codec; 2] {
    static CODECS: OnceLock<[Codec; 2]> = OnceLock::new();
    CODECS.get_or_init(|| [Codec::new(ring(), Mode::Sealed), Codec::new(ring(), Mode::Signed)])
}

fn config(name: &str, mode: Mode) -> StoreConfig {
    StoreConfig::new(name, ring()).mode(mode).clock(Arc::new(ManualClock::new(NOW)))
}

/// One registry holding every kind of store: cookie stores of both modes
/// and server stores of both modes, under the cookie names the vectors use.
pub fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let backend = Arc::new(MemoryBackend::new());
        Registry::builder()
            .store(CookieStore::new(config("session", Mode::Sealed)).expect("valid configuration"))
            .store(CookieStore::new(config("signed", Mode::Signed)).expect("valid configuration"))
            .store(ServerStore::new(config("id", Mode::Signed), backend.clone()).expect("valid configuration"))
            .store(ServerStore::new(config("sid", Mode::Sealed), backend).expect("valid configuration"))
            .build()
            .expect("distinct cookie names")
    })
}

/// Cookie names of the stores in [`registry`].
pub const NAMES: [&str; 4] = ["session", "signed", "id", "sid"];

/// Runs a future to completion on a shared single-threaded runtime.
pub fn block_on<F: Future>(future: F) -> F::Output {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME
        .get_or_init(|| tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime"))
        .block_on(future)
}

/// Reads every value of a loaded session as several types, the way an
/// application would, so value decoding sees the input too.
pub fn read_everything(session: &sessions_core::Session) {
    for key in session.keys() {
        let _ = session.get::<String>(&key);
        let _ = session.get::<u64>(&key);
        let _ = session.get::<Vec<u8>>(&key);
        let _ = session.get::<Vec<String>>(&key);
        let _ = session.get::<(u32, Option<String>, Vec<u64>)>(&key);
    }
    let _ = session.flashes::<String>();
    let _ = session.flashes::<Vec<u8>>();
    let _ = session.user();
}
