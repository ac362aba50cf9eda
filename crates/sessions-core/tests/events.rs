//! Lifecycle events: a server store says when a session is created, cycled
//! and destroyed, naming it by a short handle, never by its id or cookie.

mod common;

use std::fmt::Debug;
use std::sync::{Arc, Mutex};

use common::{START, config, value};
use sessions_core::ServerStore;
use sessions_core::backend::MemoryBackend;
use sessions_core::clock::ManualClock;
use sessions_core::store::Store;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Keeps every event as one line of `field=value` pairs.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<String>>>);

struct Line<'a>(&'a mut String);

impl Visit for Line<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0.push_str(&format!("{}={:?} ", field.name(), value));
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut line = String::new();
        event.record(&mut Line(&mut line));
        self.0.lock().unwrap().push(line);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[test]
fn lifecycle_events_name_the_session_by_a_handle_never_by_its_cookie() {
    let recorder = Recorder::default();
    let cookies = tracing::subscriber::with_default(recorder.clone(), || {
        tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
            let clock = ManualClock::new(START);
            let backend = Arc::new(MemoryBackend::builder().clock(Arc::new(clock.clone())).build());
            let store = ServerStore::new(config("id", &clock), backend).unwrap();
            let session = store.load(&[]).await.unwrap();
            session.insert("k", &1).unwrap();
            let first = value(&store.save(&session).await.unwrap().unwrap()).to_owned();
            let session = store.load(&[&first]).await.unwrap();
            session.cycle_id();
            let second = value(&store.save(&session).await.unwrap().unwrap()).to_owned();
            let session = store.load(&[&second]).await.unwrap();
            session.destroy();
            store.save(&session).await.unwrap();
            store.load(&["forged"]).await.unwrap();
            [first, second]
        })
    });
    let lines = recorder.0.lock().unwrap().clone();
    for message in ["session created", "session id cycled", "session destroyed", "session cookie refused"] {
        assert!(lines.iter().any(|l| l.contains(message)), "no `{message}` event in {lines:#?}");
    }
    for line in &lines {
        for cookie in &cookies {
            assert!(!line.contains(cookie.as_str()), "an event carries a cookie: {line}");
        }
    }
}

#[test]
fn a_storage_outage_at_load_is_logged_with_the_store_and_never_the_cookie() {
    let recorder = Recorder::default();
    let cookie = tracing::subscriber::with_default(recorder.clone(), || {
        tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
            let clock = ManualClock::new(START);
            let up = ServerStore::new(config("id", &clock), Arc::new(MemoryBackend::new())).unwrap();
            let session = up.load(&[]).await.unwrap();
            session.insert("k", &1).unwrap();
            let header = up.save(&session).await.unwrap().unwrap();
            let pair = header.split(';').next().unwrap().to_owned();
            let down = ServerStore::new(config("id", &clock), Arc::new(sessions_core::testing::UnavailableBackend));
            let sessions = sessions_core::Registry::single(down.unwrap()).request([pair.as_str()]);
            assert!(sessions.default_session().await.unwrap_err().is_unavailable());
            assert!(sessions.default_session().await.is_err(), "a second try in the same request fails too");
            value(&header).to_owned()
        })
    });
    let lines = recorder.0.lock().unwrap().clone();
    let failures: Vec<&String> = lines.iter().filter(|l| l.contains("session could not be loaded")).collect();
    assert!(!failures.is_empty(), "no load failure event in {lines:#?}");
    assert!(failures.iter().all(|l| l.contains("cookie=id")), "{failures:#?}");
    for line in &lines {
        assert!(!line.contains(cookie.as_str()), "an event carries a cookie: {line}");
    }
}
