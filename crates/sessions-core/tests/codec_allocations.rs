//! What one encode and one decode allocate, in both modes: the cookie value
//! and the opened payload, plus the frame of an encode too long to put
//! together on the stack. Nothing else: no associated data, no cipher
//! state, no key derivation per cookie.

use std::alloc::System;
use std::hint::black_box;
use std::sync::{Mutex, MutexGuard};

use sessions_core::codec::{Codec, Mode, Times};
use sessions_core::{Key, KeyRing};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const NOW: u64 = 1_700_000_000;

/// The counters are global: tests that count run one at a time.
fn exclusive() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Allocations and reallocations of the fewest of a few runs of `run`
/// (the test harness's own threads may allocate meanwhile).
fn allocations<T>(mut run: impl FnMut() -> T) -> usize {
    (0..5)
        .map(|_| {
            let region = Region::new(GLOBAL);
            black_box(run());
            let stats = region.change();
            stats.allocations + stats.reallocations
        })
        .min()
        .unwrap()
}

/// (encode, decode) allocations of a payload of `len` bytes.
fn counts(mode: Mode, len: usize) -> (usize, usize) {
    let codec = Codec::new(KeyRing::from(Key::generate()), mode);
    let payload = vec![7u8; len];
    let times = Times { issued: NOW, expires: None };
    let value = codec.encode("session", &payload, times).unwrap();
    let encode = allocations(|| codec.encode("session", black_box(&payload), times).unwrap());
    let decode = allocations(|| codec.decode("session", black_box(&value), NOW).unwrap());
    (encode, decode)
}

#[test]
fn a_session_id_or_small_session_costs_one_allocation_each_way() {
    let _one_at_a_time = exclusive();
    for mode in [Mode::Sealed, Mode::Signed] {
        for len in [0, 32, 71, 411] {
            assert_eq!(counts(mode, len), (1, 1), "{mode:?}, {len} bytes");
        }
    }
}

#[test]
fn a_large_session_costs_one_more_allocation_to_encode() {
    let _one_at_a_time = exclusive();
    for mode in [Mode::Sealed, Mode::Signed] {
        assert_eq!(counts(mode, 2501), (2, 1), "{mode:?}");
    }
}

#[test]
fn a_cookie_name_past_123_bytes_costs_one_more_allocation_to_open() {
    let _one_at_a_time = exclusive();
    let codec = Codec::new(KeyRing::from(Key::generate()), Mode::Sealed);
    let name = "n".repeat(200);
    let times = Times { issued: NOW, expires: None };
    let value = codec.encode(&name, b"x", times).unwrap();
    // The associated data of a name this long goes on the heap.
    assert_eq!(allocations(|| codec.decode(&name, black_box(&value), NOW).unwrap()), 2);
}
