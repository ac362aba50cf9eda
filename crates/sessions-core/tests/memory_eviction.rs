//! The memory backend's eviction rule, against a reference model.
//!
//! Anonymous records use whatever protected records (written with a
//! retention that keeps them, as the store writes sessions bound to a user) do
//! not hold; when the backend is full, the least recently used anonymous
//! record goes, for an anonymous write as for a login, and a protected
//! record never does.

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use sessions_core::backend::record::Fields;
use sessions_core::backend::{Backend, BackendError, MemoryBackend, Patch, Retention, StorageKey};
use sessions_core::clock::ManualClock;
use sessions_core::testing;

mod common;
use common::START;

const TTL: Duration = Duration::from_secs(600);
/// Every record weighs this: `max_bytes / max_entries`, far above a small
/// record's bytes and overhead, so the model can count in entries.
const WEIGHT: u64 = 4096;
const KEYS: usize = 24;

fn anonymous() -> Fields {
    Fields::from([("m".to_owned(), vec![0; 12]), ("vn".to_owned(), vec![1])])
}

fn bound() -> Fields {
    Fields::from([("m".to_owned(), vec![0; 12]), ("u".to_owned(), b"ada".to_vec())])
}

fn backend(entries: u64, protected: u64) -> MemoryBackend {
    MemoryBackend::builder()
        .max_entries(entries)
        .max_bytes(entries * WEIGHT)
        .protected_bytes(protected * WEIGHT)
        .clock(Arc::new(ManualClock::new(START)))
        .build()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().build().expect("a runtime")
}

#[test]
fn anonymous_sessions_fill_the_whole_backend_while_no_one_is_logged_in() {
    runtime().block_on(async {
        let backend = MemoryBackend::builder().max_entries(100).build();
        let keys: Vec<StorageKey> = (0..90).map(|_| testing::random_key()).collect();
        for key in &keys {
            assert!(backend.create(key, &anonymous(), TTL).await.unwrap());
        }
        let mut lost = 0;
        for key in &keys {
            lost += usize::from(backend.load(key).await.unwrap().is_none());
        }
        assert_eq!(lost, 0, "{lost} of 90 anonymous sessions evicted from a backend of 100 entries");
    });
}

#[derive(Debug, Clone)]
enum Op {
    CreateAnonymous(usize),
    CreateBound(usize),
    Load(usize),
    Delete(usize),
    Login(usize),
    Logout(usize),
}

fn op() -> impl Strategy<Value = Op> {
    let key = 0..KEYS;
    prop_oneof![
        3 => key.clone().prop_map(Op::CreateAnonymous),
        2 => key.clone().prop_map(Op::CreateBound),
        2 => key.clone().prop_map(Op::Load),
        1 => key.clone().prop_map(Op::Delete),
        1 => key.clone().prop_map(Op::Login),
        1 => key.prop_map(Op::Logout),
    ]
}

/// What the backend should hold: anonymous keys from most to least
/// recently used, and protected keys.
#[derive(Debug, Default)]
struct Model {
    anonymous: VecDeque<usize>,
    protected: BTreeSet<usize>,
    entries: usize,
    protected_entries: usize,
}

/// What one call answers: written (or found), not, or full.
#[derive(Debug, PartialEq)]
enum Answer {
    Done(bool),
    Full,
}

impl Model {
    fn holds(&self, k: usize) -> bool {
        self.protected.contains(&k) || self.anonymous.contains(&k)
    }

    fn touch(&mut self, k: usize) {
        if let Some(at) = self.anonymous.iter().position(|&a| a == k) {
            self.anonymous.remove(at);
            self.anonymous.push_front(k);
        }
    }

    fn forget(&mut self, k: usize) {
        self.anonymous.retain(|&a| a != k);
        self.protected.remove(&k);
    }

    /// After a write: the least recently used anonymous records go until
    /// both segments together fit.
    fn evict(&mut self) {
        while self.anonymous.len() + self.protected.len() > self.entries && self.anonymous.len() > 1 {
            self.anonymous.pop_back();
        }
    }

    fn protect(&mut self, k: usize) -> Answer {
        if !self.protected.contains(&k) && self.protected.len() >= self.protected_entries {
            return Answer::Full;
        }
        self.forget(k);
        self.protected.insert(k);
        self.evict();
        Answer::Done(true)
    }

    fn apply(&mut self, op: &Op) -> Answer {
        match *op {
            Op::CreateAnonymous(k) | Op::CreateBound(k) if self.holds(k) => Answer::Done(false),
            Op::CreateAnonymous(k) => {
                self.anonymous.push_front(k);
                self.evict();
                Answer::Done(true)
            }
            Op::CreateBound(k) => self.protect(k),
            Op::Load(k) => {
                self.touch(k);
                Answer::Done(self.holds(k))
            }
            Op::Delete(k) => {
                self.forget(k);
                Answer::Done(true)
            }
            Op::Login(k) | Op::Logout(k) if !self.holds(k) => Answer::Done(false),
            Op::Login(k) => {
                // The update reads the record first: that read counts as a use.
                self.touch(k);
                self.protect(k)
            }
            Op::Logout(k) => {
                self.forget(k);
                self.anonymous.push_front(k);
                self.evict();
                Answer::Done(true)
            }
        }
    }
}

async fn run(backend: &MemoryBackend, keys: &[StorageKey], op: &Op) -> Answer {
    let done = |result: Result<bool, BackendError>| match result {
        Ok(done) => Answer::Done(done),
        Err(BackendError::Full(_)) => Answer::Full,
        Err(e) => panic!("{op:?}: {e}"),
    };
    match *op {
        Op::CreateAnonymous(k) => done(backend.create(&keys[k], &anonymous(), TTL).await),
        Op::CreateBound(k) => done(backend.create_retained(&keys[k], &bound(), TTL, Retention::Keep).await),
        Op::Load(k) => done(backend.load(&keys[k]).await.map(|found| found.is_some())),
        Op::Delete(k) => done(backend.delete(&keys[k]).await.map(|()| true)),
        Op::Login(k) => {
            let patch = Patch { set: Fields::from([("u".to_owned(), b"ada".to_vec())]), ..Patch::default() };
            done(backend.update_retained(&keys[k], None, &patch, TTL, Retention::Keep).await)
        }
        Op::Logout(k) => {
            let patch = Patch { remove: vec!["u".into()], ..Patch::default() };
            done(backend.update_retained(&keys[k], None, &patch, TTL, Retention::Evictable).await)
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn memory_backend_evicts_as_the_model_does(
        entries in 2..12u64,
        protected_share in 0.0..1.0f64,
        ops in proptest::collection::vec(op(), 1..120),
    ) {
        // At least one entry in each segment's reach.
        let protected = ((entries as f64 * protected_share) as u64).clamp(1, entries - 1);
        let backend = backend(entries, protected);
        let keys: Vec<StorageKey> = (0..KEYS).map(|_| testing::random_key()).collect();
        let mut model = Model { entries: entries as usize, protected_entries: protected as usize, ..Model::default() };
        let rt = runtime();
        for (step, op) in ops.iter().enumerate() {
            let expected = model.apply(op);
            let got = rt.block_on(run(&backend, &keys, op));
            prop_assert_eq!(&got, &expected, "step {}: {:?}", step, op);
            prop_assert!(backend.len() <= entries, "step {}: {} entries held", step, backend.len());
            prop_assert!(backend.weighted_size() <= entries * WEIGHT, "step {}: over the byte bound", step);
            prop_assert_eq!(backend.len() as usize, model.anonymous.len() + model.protected.len(), "step {}", step);
            // Loaded from least to most recently used, the anonymous
            // records keep their order.
            for &k in model.anonymous.iter().rev().chain(&model.protected) {
                prop_assert!(rt.block_on(backend.load(&keys[k])).unwrap().is_some(), "step {}: key {} lost", step, k);
            }
            for k in (0..KEYS).filter(|&k| !model.holds(k)) {
                prop_assert!(rt.block_on(backend.load(&keys[k])).unwrap().is_none(), "step {}: key {} kept", step, k);
            }
        }
    }
}
