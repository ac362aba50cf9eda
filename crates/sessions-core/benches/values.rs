//! The cost of one session value: `Session::insert` then `Session::get` of
//! the same type, beside the floor of bincode alone on the same value.
//!
//! - `values/session/<shape>`: insert and get through a detached
//!   [`Session`], with everything a value pays in a request: the shape
//!   fingerprint written at insert and checked at get, bincode, the
//!   session's map.
//! - `values/floor/<shape>`: bincode 2 (the session's configuration:
//!   standard, varint) encode to a vector and decode, nothing else.
//!
//! Shapes: `u64` (a user id), `struct` (a small struct of four fields: a
//! number, a string, a list of strings, a flag), `flashes` (ten one-byte
//! string flashes added and taken).
//!
//! The type check's own cost is `values/session` minus the same benchmark
//! run on a build without it; `docs/benchmarks.md` keeps both.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use serde::{Deserialize, Serialize};
use sessions_core::Session;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Profile {
    id: u64,
    name: String,
    roles: Vec<String>,
    active: bool,
}

fn profile() -> Profile {
    Profile { id: 4_211, name: "ada lovelace".into(), roles: vec!["admin".into(), "editor".into()], active: true }
}

fn floor<T: Serialize + for<'de> Deserialize<'de>>(value: &T) -> T {
    let config = bincode::config::standard();
    let bytes = bincode::serde::encode_to_vec(value, config).expect("encodes");
    bincode::serde::decode_from_slice(&bytes, config).expect("decodes").0
}

fn values(c: &mut Criterion) {
    let mut group = c.benchmark_group("values");
    let session = Session::new_detached();
    group.bench_function("session/u64", |b| {
        b.iter(|| {
            session.insert("user_id", black_box(&42u64)).expect("inserts");
            black_box(session.get::<u64>("user_id").expect("reads"))
        })
    });
    group.bench_function("floor/u64", |b| b.iter(|| black_box(floor(black_box(&42u64)))));
    let value = profile();
    group.bench_function("session/struct", |b| {
        b.iter(|| {
            session.insert("profile", black_box(&value)).expect("inserts");
            black_box(session.get::<Profile>("profile").expect("reads"))
        })
    });
    group.bench_function("floor/struct", |b| b.iter(|| black_box(floor(black_box(&value)))));
    group.bench_function("session/flashes", |b| {
        b.iter(|| {
            for _ in 0..10 {
                session.add_flash(black_box("x")).expect("adds");
            }
            black_box(session.flashes::<String>().expect("takes"))
        })
    });
    group.bench_function("floor/flashes", |b| {
        b.iter(|| {
            let queue: Vec<String> = (0..10).map(|_| floor(&black_box("x").to_owned())).collect();
            black_box(queue)
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(std::time::Duration::from_secs(1)).measurement_time(std::time::Duration::from_secs(3));
    targets = values
}
criterion_main!(benches);
