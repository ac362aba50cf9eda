//! The hostile-input corpus: every decoder is fed malformed, mutated, forged
//! and oversized input. For each decoder the test counts the inputs tried,
//! the panics (caught) and the accepted forgeries, and measures the bytes
//! allocated while decoding one input with a counting global allocator.
//! The allocation figure is the total of every allocation made during the
//! decode, so it bounds both the largest single allocation and the peak.
//!
//! This binary holds only these tests, and they run one at a time (a shared
//! lock), so the allocator counts nothing but the decode being measured.

use std::alloc::System;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use sessions_core::backend::record::{self, Fields};
use sessions_core::backend::{Backend, FilesystemBackend, MemoryBackend, StorageKey};
use sessions_core::clock::ManualClock;
use sessions_core::codec::{Codec, DEFAULT_CLOCK_SKEW_SECS, DEFAULT_COOKIE_LIMIT, Mode, Times};
use sessions_core::store::Store;
use sessions_core::{CookieStore, Key, KeyRing, Registry, ServerStore, StoreConfig};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const NOW: u64 = 1_700_000_000;
const NAME: &str = "session";
/// Bytes a decode may allocate beyond `ALLOC_FACTOR` times its input:
/// fixed-size state (session handles, maps, a runtime task).
const ALLOC_SLACK: usize = 64 * 1024;
const ALLOC_FACTOR: usize = 4;

/// The tests share the global allocator's counters: one at a time.
fn exclusive() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// What a correct decoder does with an input.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Expect {
    /// Refuse it: accepting it is a forgery.
    Refuse,
    /// Accept it: it is authentic and valid.
    Accept,
    /// Either, as long as it does not panic (unauthenticated formats whose
    /// mutations can be valid).
    Either,
}

#[derive(Debug)]
struct Tally {
    /// Allowed bytes per decode: `factor * input length + slack`.
    factor: usize,
    slack: usize,
    tried: usize,
    panics: usize,
    forgeries: usize,
    wrongly_refused: usize,
    max_alloc: usize,
    max_alloc_input: usize,
    over_budget: Vec<(String, usize, usize)>,
}

impl Default for Tally {
    fn default() -> Self {
        Tally::with_budget(ALLOC_FACTOR, ALLOC_SLACK)
    }
}

impl Tally {
    fn with_budget(factor: usize, slack: usize) -> Self {
        Tally {
            factor,
            slack,
            tried: 0,
            panics: 0,
            forgeries: 0,
            wrongly_refused: 0,
            max_alloc: 0,
            max_alloc_input: 0,
            over_budget: Vec::new(),
        }
    }

    /// Runs one decode; `decode` returns whether the input was accepted.
    fn probe(&mut self, label: &str, input_len: usize, expect: Expect, decode: impl FnOnce() -> bool) {
        self.tried += 1;
        let region = Region::new(GLOBAL);
        let outcome = catch_unwind(AssertUnwindSafe(decode));
        let allocated = region.change().bytes_allocated;
        if allocated > self.max_alloc {
            self.max_alloc = allocated;
            self.max_alloc_input = input_len;
        }
        if allocated > self.factor * input_len + self.slack {
            self.over_budget.push((label.to_owned(), input_len, allocated));
        }
        match outcome {
            Err(_) => self.panics += 1,
            Ok(true) if expect == Expect::Refuse => {
                eprintln!("forgery accepted: {label}");
                self.forgeries += 1;
            }
            Ok(false) if expect == Expect::Accept => {
                eprintln!("valid input refused: {label}");
                self.wrongly_refused += 1;
            }
            Ok(_) => {}
        }
    }

    fn report_and_check(&self, decoder: &str) {
        println!(
            "{decoder}: {} inputs, {} panics, {} forgeries, largest allocation per decode {} bytes (input {} bytes)",
            self.tried, self.panics, self.forgeries, self.max_alloc, self.max_alloc_input
        );
        assert_eq!(self.panics, 0, "{decoder}: panics");
        assert_eq!(self.forgeries, 0, "{decoder}: forgeries accepted");
        assert_eq!(self.wrongly_refused, 0, "{decoder}: valid inputs refused");
        assert!(self.over_budget.is_empty(), "{decoder}: decodes over the allocation budget: {:?}", self.over_budget);
    }
}

fn key(seed: u8) -> Key {
    Key::from_bytes(&std::array::from_fn::<u8, 32, _>(|i| seed.wrapping_mul(29).wrapping_add(i as u8 * 3))).unwrap()
}

/// The server's ring: key 1 is current, key 2 an older one still accepted.
fn ring() -> KeyRing {
    KeyRing::new([key(1), key(2)]).unwrap()
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RUNTIME.get_or_init(|| tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap())
}

fn block_on<F: Future>(future: F) -> F::Output {
    runtime().block_on(future)
}

/// A session record of `entries` string values of about `value_len` bytes.
fn record_of(entries: usize, value_len: usize) -> Vec<u8> {
    let mut fields = Fields::new();
    fields.insert("m", vec![0, 0]);
    for i in 0..entries {
        // bincode: a one-byte length, then the bytes.
        let text = format!("{i:0>width$}", width = value_len.min(250));
        let mut value = vec![text.len() as u8];
        value.extend_from_slice(text.as_bytes());
        fields.insert(format!("vkey{i}"), value);
    }
    record::encode(&fields)
}

/// Payloads of every size class: empty, a session id, small, typical, large.
fn payloads() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("empty", Vec::new()),
        ("id", (0u8..32).collect()),
        ("small", record_of(3, 12)),
        ("typical", record_of(10, 32)),
        ("large", record_of(20, 118)),
    ]
}

// --- The cookie-value corpus --------------------------------------------

/// One hostile value and what a correct decoder does with it.
struct Case {
    label: String,
    value: String,
    expect: Expect,
}

fn refuse(label: impl Into<String>, value: impl Into<String>) -> Case {
    Case { label: label.into(), value: value.into(), expect: Expect::Refuse }
}

/// Everything derived from one valid cookie `value` (cookie `NAME`, mode
/// `mode`) that a decoder holding `ring()` must refuse, plus the value
/// itself, which it must accept.
fn mutations(mode: Mode, value: &str) -> Vec<Case> {
    let frame = URL_SAFE_NO_PAD.decode(value).unwrap();
    let mut cases = vec![Case { label: "the valid value".into(), value: value.into(), expect: Expect::Accept }];
    for bit in 0..frame.len() * 8 {
        let mut flipped = frame.clone();
        flipped[bit / 8] ^= 1 << (bit % 8);
        cases.push(refuse(format!("frame bit {bit} flipped"), URL_SAFE_NO_PAD.encode(&flipped)));
    }
    let text = value.as_bytes();
    for bit in 0..text.len() * 8 {
        let mut flipped = text.to_vec();
        flipped[bit / 8] ^= 1 << (bit % 8);
        // Non-UTF-8 reaches a decoder as replacement characters.
        cases.push(refuse(format!("text bit {bit} flipped"), String::from_utf8_lossy(&flipped).into_owned()));
    }
    for cut in 0..value.len() {
        cases.push(refuse(format!("text cut at {cut}"), &value[..cut]));
    }
    for cut in 0..frame.len() {
        cases.push(refuse(format!("frame cut at {cut}"), URL_SAFE_NO_PAD.encode(&frame[..cut])));
    }
    for suffix in ["A", "AA", "AAA", "AAAA", "=", "==", ";", " ", "\0", "é", "%00", "\r\n"] {
        cases.push(refuse(format!("text + {suffix:?}"), format!("{value}{suffix}")));
    }
    for extra in 1..=24usize {
        let mut longer = frame.clone();
        longer.extend(std::iter::repeat_n(0xa5u8, extra));
        cases.push(refuse(format!("frame + {extra} bytes"), URL_SAFE_NO_PAD.encode(&longer)));
    }
    // Other base64 dialects and padding.
    cases.push(refuse("standard alphabet, padded", STANDARD.encode(&frame)));
    cases.push(refuse("url-safe, padded", URL_SAFE.encode(&frame)));
    cases.push(refuse("url-safe, padded twice", format!("{}==", URL_SAFE.encode(&frame))));
    cases.push(refuse("- as +", value.replace('-', "+")));
    cases.push(refuse("_ as /", value.replace('_', "/")));
    // Characters that exist in no alphabet, and multibyte characters, at
    // the field boundaries of the frame (header, nonce, body, tag) and at
    // every tenth position.
    let boundaries = [0, 1, 5, 29, frame.len().saturating_sub(32), frame.len().saturating_sub(16), frame.len()];
    let mut positions: Vec<usize> = boundaries.iter().map(|b| (b * 4).div_ceil(3).min(value.len())).collect();
    positions.extend((0..value.len()).step_by(10));
    for at in positions {
        for insert in ["é", "€", "𝄞", "\u{0}", "\u{feff}", " ", "\t", ".", "+", "/", "=", "\u{fffd}"] {
            let mut text = value.to_owned();
            text.insert_str(at, insert);
            cases.push(refuse(format!("{insert:?} inserted at {at}"), text));
        }
        if at < value.len() {
            let mut text = value.to_owned();
            text.replace_range(at..at + 1, "é");
            cases.push(refuse(format!("character {at} replaced by a multibyte one"), text));
        }
    }
    // The frame byte and the key id, altered to every other value.
    for byte in 0..=255u8 {
        if byte != frame[0] {
            let mut altered = frame.clone();
            altered[0] = byte;
            cases.push(refuse(format!("frame byte {byte:#04x}"), URL_SAFE_NO_PAD.encode(&altered)));
        }
    }
    for at in 1..5 {
        for byte in 0..=255u8 {
            if byte != frame[at] {
                let mut altered = frame.clone();
                altered[at] = byte;
                cases.push(refuse(format!("key id byte {at} = {byte:#04x}"), URL_SAFE_NO_PAD.encode(&altered)));
            }
        }
    }
    // The other mode's frame byte on this frame.
    let other = if mode == Mode::Sealed { 0x12 } else { 0x11 };
    let mut swapped = frame.clone();
    swapped[0] = other;
    cases.push(refuse("frame byte of the other mode", URL_SAFE_NO_PAD.encode(&swapped)));
    // Some rewrites leave a value unchanged (no `-` to replace, no padding
    // needed): those are the valid value, not a mutation.
    cases.retain(|c| c.expect != Expect::Refuse || c.value != value);
    cases
}

/// Values that a decoder must refuse whatever it was configured with.
fn garbage() -> Vec<Case> {
    let mut cases = Vec::new();
    for text in ["", " ", ";", "=", ",", "\"\"", "\t", ";;;;", "====", "; ; ;", "=;=;", "\r\n", "\0", "\u{fffd}"] {
        cases.push(refuse(format!("separator-only {text:?}"), text));
    }
    for len in [1, 2, 3, 4, 70, 71, 81, 82, 83, 200, 1000] {
        cases.push(refuse(format!("{len} × A"), "A".repeat(len)));
        cases.push(refuse(format!("{len} × é"), "é".repeat(len)));
    }
    for len in [DEFAULT_COOKIE_LIMIT - NAME.len(), DEFAULT_COOKIE_LIMIT + 1, 10 * DEFAULT_COOKIE_LIMIT, 1 << 20] {
        cases.push(refuse(format!("oversize {len}"), "A".repeat(len)));
        cases.push(refuse(format!("oversize {len} of base64 of zeros"), URL_SAFE_NO_PAD.encode(vec![0u8; len])));
    }
    cases
}

/// Correctly authenticated values that must still be refused: wrong or
/// retired key, another cookie name, expired, from the future; and some
/// extreme but valid timestamps that must be accepted.
fn authentic_cases(mode: Mode, payload: &[u8]) -> Vec<Case> {
    let ours = Codec::new(ring(), mode);
    let foreign = Codec::new(KeyRing::from(key(9)), mode);
    let retired = Codec::new(KeyRing::from(key(3)), mode);
    let never = Times { issued: NOW, expires: None };
    let mut cases = vec![
        refuse("foreign key", foreign.encode(NAME, payload, never).unwrap()),
        refuse("retired key", retired.encode(NAME, payload, never).unwrap()),
    ];
    // A foreign frame carrying our key id: authentication must fail.
    let mut frame = URL_SAFE_NO_PAD.decode(foreign.encode(NAME, payload, never).unwrap()).unwrap();
    let our_frame = URL_SAFE_NO_PAD.decode(ours.encode(NAME, payload, never).unwrap()).unwrap();
    frame[1..5].copy_from_slice(&our_frame[1..5]);
    cases.push(refuse("foreign frame under our key id", URL_SAFE_NO_PAD.encode(&frame)));
    for other in ["id", "Session", "session2", "session ", "__Host-session", "s"] {
        cases.push(refuse(format!("moved from cookie {other:?}"), ours.encode(other, payload, never).unwrap()));
    }
    let timed = |issued, expires| ours.encode(NAME, payload, Times { issued, expires }).unwrap();
    for (label, issued, expires, expect) in [
        ("expired a second ago", NOW - 100, Some(NOW - 1), Expect::Refuse),
        ("expiring now", NOW - 100, Some(NOW), Expect::Refuse),
        ("expired at second 1", 0, Some(1), Expect::Refuse),
        ("expiry at the epoch", 0, Some(0), Expect::Refuse),
        ("issued beyond the skew", NOW + DEFAULT_CLOCK_SKEW_SECS + 1, None, Expect::Refuse),
        ("issued at u64::MAX", u64::MAX, None, Expect::Refuse),
        ("issued at u64::MAX, expiring at u64::MAX", u64::MAX, Some(u64::MAX), Expect::Refuse),
        ("issued at the epoch", 0, None, Expect::Accept),
        ("expiring at u64::MAX", NOW, Some(u64::MAX), Expect::Accept),
        ("issued within the skew", NOW + DEFAULT_CLOCK_SKEW_SECS, Some(NOW + 1), Expect::Accept),
    ] {
        cases.push(Case { label: label.into(), value: timed(issued, expires), expect });
    }
    cases
}

#[test]
fn cookie_values_of_both_modes_never_panic_forge_or_over_allocate() {
    let _guard = exclusive();
    for mode in [Mode::Sealed, Mode::Signed] {
        let codec = Codec::new(ring(), mode);
        let mut tally = Tally::default();
        let mut run = |cases: Vec<Case>| {
            for case in cases {
                let accepted = || codec.decode(NAME, &case.value, NOW).is_ok();
                tally.probe(&case.label, case.value.len(), case.expect, accepted);
            }
        };
        run(garbage());
        for (size, payload) in payloads() {
            let value = codec.encode(NAME, &payload, Times { issued: NOW - 5, expires: Some(NOW + 3600) }).unwrap();
            run(mutations(mode, &value)
                .into_iter()
                .map(|c| Case { label: format!("{size}: {}", c.label), ..c })
                .collect());
            run(authentic_cases(mode, &payload));
            // Under the older key of the ring: accepted.
            let older =
                Codec::new(KeyRing::from(key(2)), mode).encode(NAME, &payload, Times { issued: NOW, expires: None });
            run(vec![Case { label: "older key of the ring".into(), value: older.unwrap(), expect: Expect::Accept }]);
        }
        tally.report_and_check(&format!("codec ({mode:?})"));
    }
}

// --- The stores ------------------------------------------------------------

fn config(mode: Mode, clock: &ManualClock) -> StoreConfig {
    StoreConfig::new(NAME, ring()).mode(mode).clock(Arc::new(clock.clone()))
}

/// Loads one value through a store; accepted means a session came back
/// from the cookie rather than a fresh one.
fn loads(store: &dyn Store, value: &str) -> bool {
    let session = block_on(store.load(&[value])).expect("loading never fails on these backends");
    !session.is_new()
}

/// A valid cookie for `store`, made through its own save path.
fn issue(store: &dyn Store, entries: usize, value_len: usize) -> String {
    let session = block_on(store.load(&[])).unwrap();
    for i in 0..entries.max(1) {
        session.insert(&format!("key{i}"), &format!("{i:0>value_len$}")).unwrap();
    }
    let header = block_on(store.save(&session)).unwrap().unwrap();
    let pair = header.split(';').next().unwrap();
    pair.strip_prefix(&format!("{NAME}=")).unwrap().to_owned()
}

fn run_store(label: &str, store: &dyn Store, mode: Mode, sizes: &[(usize, usize)]) {
    let mut tally = Tally::default();
    let mut run = |cases: Vec<Case>| {
        for case in cases {
            tally.probe(&case.label, case.value.len(), case.expect, || loads(store, &case.value));
        }
    };
    run(garbage());
    for &(entries, value_len) in sizes {
        let value = issue(store, entries, value_len);
        run(mutations(mode, &value));
    }
    // Authentic frames whose payload the store did not write (a server
    // store given a valid id nobody issued must not adopt it).
    for payload in [&b"not a payload this store wrote"[..], &[7u8; 32]] {
        run(authentic_cases(mode, payload).into_iter().map(|c| Case { expect: Expect::Refuse, ..c }).collect());
    }
    tally.report_and_check(label);
}

#[test]
fn cookie_store_loads_never_panic_forge_or_over_allocate() {
    let _guard = exclusive();
    let clock = ManualClock::new(NOW);
    for mode in [Mode::Sealed, Mode::Signed] {
        let store = CookieStore::new(config(mode, &clock)).unwrap();
        run_store(&format!("cookie store ({mode:?})"), &store, mode, &[(3, 12), (10, 32), (20, 118)]);
    }
}

#[test]
fn server_store_loads_never_panic_forge_or_over_allocate() {
    let _guard = exclusive();
    let clock = ManualClock::new(NOW);
    for mode in [Mode::Signed, Mode::Sealed] {
        let backend = Arc::new(MemoryBackend::builder().clock(Arc::new(clock.clone())).build());
        let store = ServerStore::new(config(mode, &clock), backend).unwrap();
        run_store(&format!("server store ({mode:?})"), &store, mode, &[(1, 8)]);
    }
}

// --- Record bytes and stored files ------------------------------------------

fn varint(n: u64) -> Vec<u8> {
    let mut out = Vec::new();
    let mut n = n;
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
    out
}

/// Hostile record bytes: (label, bytes, what a decoder must do).
fn record_corpus() -> Vec<(String, Vec<u8>, Expect)> {
    /// The record version.
    const V: u8 = 2;
    let mut cases: Vec<(String, Vec<u8>, Expect)> = Vec::new();
    // Version 1 (nothing was released under it) and 3 are unknown.
    for bytes in [vec![], vec![0], vec![V], vec![1, 0], vec![3, 0], vec![V, 0xff], vec![0xff; 16]] {
        cases.push((format!("short {bytes:?}"), bytes, Expect::Refuse));
    }
    for (size, payload) in payloads().into_iter().skip(2) {
        cases.push((format!("{size} valid"), payload.clone(), Expect::Accept));
        for cut in 0..payload.len() {
            cases.push((format!("{size} cut at {cut}"), payload[..cut].to_vec(), Expect::Refuse));
        }
        for extra in 1..=8 {
            let mut longer = payload.clone();
            longer.extend(std::iter::repeat_n(0u8, extra));
            cases.push((format!("{size} + {extra} bytes"), longer, Expect::Refuse));
        }
        for bit in 0..payload.len() * 8 {
            let mut flipped = payload.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            // Records are not authenticated: a flip may give another valid record.
            cases.push((format!("{size} bit {bit} flipped"), flipped, Expect::Either));
        }
    }
    // Forged lengths: the field count, a name length and a value length,
    // each claiming more than the record holds, up to u64::MAX.
    let mut forged_lengths: Vec<u64> = (7..64).map(|k| (1u64 << k) - 1).collect();
    forged_lengths.extend([3, 100, 4096, u32::MAX as u64, u64::MAX - 1, u64::MAX]);
    for &len in &forged_lengths {
        let mut count = vec![V];
        count.extend(varint(len.max(2)));
        count.extend([1, b'm', 0]);
        cases.push((format!("field count {len}"), count, Expect::Refuse));
        let mut name = vec![V, 1];
        name.extend(varint(len));
        name.extend([b'm', 0]);
        cases.push((format!("name length {len}"), name, Expect::Refuse));
        let mut value = vec![V, 1, 1, b'm'];
        value.extend(varint(len.max(3)));
        value.extend([0, 0]);
        cases.push((format!("value length {len}"), value, Expect::Refuse));
    }
    // Over-long varints: eleven bytes, or a tenth byte above 1.
    cases.push(("eleven-byte varint".into(), [vec![V], vec![0x80; 10], vec![0]].concat(), Expect::Refuse));
    cases.push(("tenth varint byte 2".into(), [vec![V], vec![0xff; 9], vec![2]].concat(), Expect::Refuse));
    // Names that are not UTF-8, or split inside a multibyte character.
    for name in [&[0xff][..], &[0xc3], &[0xe2, 0x82], &[0xed, 0xa0, 0x80], &[0xc0, 0xaf], &[0xf4, 0x90, 0x80, 0x80]] {
        let mut bytes = vec![V, 1];
        bytes.extend(varint(name.len() as u64));
        bytes.extend_from_slice(name);
        bytes.push(0);
        cases.push((format!("name bytes {name:02x?}"), bytes, Expect::Refuse));
    }
    // A duplicate field name.
    cases.push(("duplicate field".into(), vec![V, 2, 1, b'm', 0, 1, b'm', 0], Expect::Refuse));
    cases
}

#[test]
fn record_bytes_never_panic_pass_corruption_or_over_allocate() {
    let _guard = exclusive();
    let mut tally = Tally::default();
    for (label, bytes, expect) in record_corpus() {
        tally.probe(&label, bytes.len(), expect, || record::decode(&bytes).is_ok());
    }
    tally.report_and_check("session record");
}

// --- Session values ------------------------------------------------------------

/// A decode of a stored value may allocate this many times its input, plus
/// `VALUE_ALLOC_SLACK` (the session's own bookkeeping and the error): no
/// length prefix is believed before its content is there, and all the
/// sequences and maps of one value are together told to expect at most one
/// element per eight input bytes.
const VALUE_ALLOC_FACTOR: usize = 16;
const VALUE_ALLOC_SLACK: usize = 1024;

/// A byte buffer read through serde's `byte_buf`, as `serde_bytes` does.
struct ByteBuf;

impl<'de> serde::Deserialize<'de> for ByteBuf {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct BufVisitor;
        impl serde::de::Visitor<'_> for BufVisitor {
            type Value = ByteBuf;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("bytes")
            }
            fn visit_byte_buf<E>(self, _: Vec<u8>) -> Result<ByteBuf, E> {
                Ok(ByteBuf)
            }
        }
        deserializer.deserialize_byte_buf(BufVisitor)
    }
}

/// bincode's variable-length integer, as lengths are written.
fn bincode_len(len: u64) -> Vec<u8> {
    match len {
        0..=250 => vec![len as u8],
        251..=0xffff => [vec![251], (len as u16).to_le_bytes().to_vec()].concat(),
        0x1_0000..=0xffff_ffff => [vec![252], (len as u32).to_le_bytes().to_vec()].concat(),
        _ => [vec![253], len.to_le_bytes().to_vec()].concat(),
    }
}

/// Hostile stored values: malformed integers, bad UTF-8,
/// and lengths (of a string, a sequence or a map, at the top or nested,
/// at one level or several) that claim more than the bytes after them.
fn hostile_values() -> Vec<(String, Vec<u8>)> {
    let mut values: Vec<(String, Vec<u8>)> = vec![
        ("empty".into(), vec![]),
        ("reserved varint marker".into(), vec![0xff]),
        ("u16 marker alone".into(), vec![0xfb]),
        ("u32 marker, 4 × ff".into(), vec![0xfc, 0xff, 0xff, 0xff, 0xff]),
        ("u128 u128::MAX".into(), [vec![0xfe], u128::MAX.to_le_bytes().to_vec()].concat()),
        ("bad UTF-8".into(), vec![3, 0xff, 0xfe, 0xfd]),
        ("cut UTF-8".into(), [vec![4], "é".as_bytes().to_vec(), vec![0xe2, 0x82]].concat()),
    ];
    // What follows a forged length decodes as few elements: the memory
    // valid content needs is not bounded by its size (an empty map is one
    // byte and 48 in memory), and is not what this test measures.
    let tails: [(&str, Vec<u8>); 5] = [
        ("nothing", vec![]),
        ("3 bytes", b"abc".to_vec()),
        ("4 KiB of text", vec![b'a'; 4096]),
        ("64 KiB of text", vec![b'z'; 1 << 16]),
        ("64 KiB × ff", vec![0xff; 1 << 16]),
    ];
    for claim in [300, 1 << 16, 1 << 20, 1 << 32, 1 << 40, u64::MAX] {
        let len = bincode_len(claim);
        for (tail_label, tail) in &tails {
            let shapes = [
                ("", vec![]),
                ("in a one-element sequence, ", vec![1]),
                ("after Some or a one-byte key, ", vec![1, 1]),
                ("at four levels, ", [len.clone(), len.clone(), len.clone()].concat()),
            ];
            for (shape, prefix) in shapes {
                values.push((format!("{shape}length {claim}, then {tail_label}"), [&prefix[..], &len, tail].concat()));
            }
        }
    }
    values
}

#[test]
fn session_values_never_panic_or_over_allocate() {
    let _guard = exclusive();
    // Authentic cookies whose stored values are hostile bytes: reading them
    // as any type is an error or a value, never a panic. The size limit is
    // raised so values far larger than a cookie can be tried.
    let limit = 1 << 20;
    let clock = ManualClock::new(NOW);
    // No absolute timeout: the sessions below were created at the epoch.
    let store = CookieStore::new(
        config(Mode::Sealed, &clock)
            .size_limit(limit)
            .lifetime(sessions_core::BrowserSession::new().absolute_timeout(None)),
    )
    .unwrap();
    let codec = Codec::new(ring(), Mode::Sealed).with_limit(limit);
    let mut tally = Tally::with_budget(VALUE_ALLOC_FACTOR, VALUE_ALLOC_SLACK);
    for (label, value) in hostile_values() {
        let mut fields = Fields::new();
        fields.insert("m", vec![0, 0]);
        fields.insert("vjunk", value.clone());
        fields.insert("f_flash", value.clone());
        fields.insert("u", value.clone());
        let cookie = codec.encode(NAME, &record::encode(&fields), Times { issued: NOW, expires: None }).unwrap();
        let session = block_on(store.load(&[&cookie])).unwrap();
        assert!(!session.is_new(), "the authentic cookie of {label} was not loaded");
        let n = value.len();
        macro_rules! read_as {
            ($($t:ty),*) => {
                $(tally.probe(&format!("{label} as {}", stringify!($t)), n, Expect::Either, || {
                    session.get::<$t>("junk").is_ok()
                });)*
            };
        }
        read_as!(
            u64,
            (i128, Option<char>),
            String,
            ByteBuf,
            Vec<u8>,
            Vec<u64>,
            Vec<String>,
            Vec<Vec<u8>>,
            Option<Vec<(String, u64)>>,
            std::collections::HashMap<String, u64>,
            std::collections::BTreeMap<String, String>,
            Vec<std::collections::HashMap<u64, String>>,
            Vec<Vec<Vec<String>>>
        );
        tally.probe(&format!("{label} as flashes"), n, Expect::Either, || session.flashes::<String>().is_ok());
        tally.probe(&format!("{label} as the user"), n, Expect::Either, || session.user().is_some());
    }
    tally.report_and_check("session values");
}

fn temp_dir(tag: &str) -> PathBuf {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).unwrap();
    let name: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    std::env::temp_dir().join(format!("sessions-hostile-{tag}-{name}"))
}

#[test]
fn filesystem_stored_bytes_never_panic_or_over_allocate() {
    let _guard = exclusive();
    let dir = temp_dir("stored");
    let backend = FilesystemBackend::builder().clock(Arc::new(ManualClock::new(NOW))).open(&dir).unwrap();
    let key = StorageKey::from_bytes([0x42; 32]);
    let path = dir.join(format!("{key}.session"));
    let mut tally = Tally::default();
    // docs/wire-format.md: a layout version byte (1), the expiry, the record.
    let alive = [&[1u8][..], &(NOW + 3600).to_le_bytes()].concat();
    let mut files: Vec<(String, Vec<u8>, Expect)> = Vec::new();
    for len in 0..10 {
        files.push((format!("{len}-byte file"), vec![0xff; len], Expect::Refuse));
        files.push((format!("{len}-byte prefix of a file"), alive[..len.min(9)].to_vec(), Expect::Refuse));
    }
    files.push(("expired".into(), [&[1u8][..], &NOW.to_le_bytes(), &record_of(1, 4)].concat(), Expect::Refuse));
    files.push((
        "expiry u64::MAX".into(),
        [&[1u8][..], &u64::MAX.to_le_bytes(), &record_of(1, 4)].concat(),
        Expect::Accept,
    ));
    files.push(("unknown layout".into(), [&[2u8][..], &alive[1..], &record_of(1, 4)].concat(), Expect::Refuse));
    files.push(("layout without a version byte".into(), [&alive[1..], &record_of(1, 4)[..]].concat(), Expect::Refuse));
    files.push(("1 MiB of junk".into(), [alive.clone(), vec![0xff; 1 << 20]].concat(), Expect::Refuse));
    // The record corpus without its larger sizes: the file system, not the
    // decoder, would dominate the run.
    let small = payloads().into_iter().nth(2).map(|(_, p)| p.len()).unwrap_or(0);
    for (label, record, expect) in record_corpus() {
        if record.len() <= small + 8 {
            files.push((label, [alive.clone(), record].concat(), expect));
        }
    }
    for (label, bytes, expect) in files {
        std::fs::write(&path, &bytes).unwrap();
        tally.probe(&label, bytes.len(), expect, || matches!(block_on(backend.load(&key)), Ok(Some(_))));
    }
    tally.report_and_check("filesystem stored bytes");
    std::fs::remove_dir_all(dir).unwrap();
}

// --- Ids and storage keys ---------------------------------------------------

/// Strings an attacker would try as ids or file names.
fn hostile_ids() -> Vec<String> {
    let valid = StorageKey::from_bytes([0x5a; 32]).as_str();
    let mut ids: Vec<String> = [
        "",
        "..",
        "../",
        "../../../../etc/passwd",
        "..\\..\\windows\\win.ini",
        "/etc/passwd",
        "C:\\Windows",
        "a/b",
        "a\\b",
        "a\0b",
        "%2e%2e%2f%2e%2e%2f",
        "%00",
        "..%c0%af",
        "' OR '1'='1",
        "'; DROP TABLE sessions; --",
        "\" OR \"\"=\"",
        "*",
        "?",
        "[a-z]*",
        "{slot}",
        "\r\nFLUSHALL\r\n",
        "*3\r\n$3\r\nDEL\r\n",
        "key with spaces",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    // Almost valid: the right length with one hostile character, or the
    // wrong length, or the wrong case.
    for at in [0, 31, 63] {
        for c in ["/", "\\", ".", "\0", "%", "'", "*", "A", "g", " ", "\n"] {
            let mut id = valid.clone();
            id.replace_range(at..at + 1, c);
            ids.push(id);
        }
        let mut id = valid.clone();
        id.replace_range(at..at + 1, "é");
        ids.push(id);
    }
    ids.push(valid[..63].to_owned());
    ids.push(format!("{valid}0"));
    ids.push(valid.to_uppercase());
    ids.push(format!("../{}", &valid[3..]));
    ids.push(format!("{}/..", &valid[..61]));
    ids.push("0".repeat(1 << 16));
    ids
}

#[test]
fn storage_key_parsing_refuses_every_hostile_id() {
    let _guard = exclusive();
    let mut tally = Tally::default();
    for id in hostile_ids() {
        tally.probe(&format!("{id:?}"), id.len(), Expect::Refuse, || StorageKey::parse(&id).is_some());
    }
    let valid = StorageKey::from_bytes([0x5a; 32]).as_str();
    tally.probe("the canonical form", valid.len(), Expect::Accept, || StorageKey::parse(&valid).is_some());
    tally.report_and_check("storage key parse");
}

#[test]
fn authentic_cookies_carrying_hostile_ids_touch_nothing_outside_the_session_directory() {
    let _guard = exclusive();
    let dir = temp_dir("ids");
    let clock = ManualClock::new(NOW);
    let backend = Arc::new(FilesystemBackend::builder().clock(Arc::new(clock.clone())).open(&dir).unwrap());
    let store = ServerStore::new(config(Mode::Signed, &clock), backend).unwrap();
    let codec = Codec::new(ring(), Mode::Signed);
    let mut tally = Tally::default();
    for id in hostile_ids() {
        // As the signed payload (the server store's id), cut or padded to
        // the id length, and as it is.
        let mut padded = id.as_bytes().to_vec();
        padded.resize(32, b'/');
        for payload in [id.as_bytes().to_vec(), padded] {
            let Ok(value) = codec.encode(NAME, &payload, Times { issued: NOW, expires: None }) else { continue };
            tally.probe(&format!("id {id:?}"), value.len(), Expect::Refuse, || loads(&store, &value));
        }
        // As the raw cookie value.
        if id.len() < DEFAULT_COOKIE_LIMIT {
            tally.probe(&format!("raw {id:?}"), id.len(), Expect::Refuse, || loads(&store, &id));
        }
    }
    let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert!(left.is_empty(), "loading created files: {left:?}");
    tally.report_and_check("server store ids (filesystem)");
    std::fs::remove_dir_all(dir).unwrap();
}

// --- Whole Cookie headers -----------------------------------------------------

#[test]
fn cookie_headers_with_duplicate_names_pick_the_valid_value_and_nothing_else() {
    let _guard = exclusive();
    let clock = ManualClock::new(NOW);
    let store = CookieStore::new(config(Mode::Sealed, &clock)).unwrap();
    let valid = issue(&store, 3, 12);
    let registry = Registry::single(store);
    let foreign = Codec::new(KeyRing::from(key(9)), Mode::Sealed)
        .encode(NAME, &record_of(1, 4), Times { issued: NOW, expires: None })
        .unwrap();
    let mut tally = Tally::default();
    let mut headers: Vec<(String, String, Expect)> = vec![
        ("valid alone".into(), format!("{NAME}={valid}"), Expect::Accept),
        ("garbage then valid".into(), format!("{NAME}=garbage; {NAME}={valid}"), Expect::Accept),
        ("valid then garbage".into(), format!("{NAME}={valid}; {NAME}=garbage"), Expect::Accept),
        ("forged then valid".into(), format!("{NAME}={foreign}; {NAME}={valid}"), Expect::Accept),
        ("forged twice".into(), format!("{NAME}={foreign}; {NAME}={foreign}"), Expect::Refuse),
        ("valid under another name".into(), format!("other={valid}; {NAME}=x"), Expect::Refuse),
        ("name with a space".into(), format!("{NAME} ={valid}"), Expect::Either),
        ("quoted".into(), format!("{NAME}=\"{valid}\""), Expect::Either),
        ("empty header".into(), String::new(), Expect::Refuse),
        ("separators only".into(), ";;;; ; ;".into(), Expect::Refuse),
        ("names only".into(), format!("{NAME}; {NAME}; {NAME}="), Expect::Refuse),
    ];
    for n in [4, 5, 100, 10_000] {
        let junk = format!("{NAME}=x; ").repeat(n);
        headers.push((format!("{n} garbage duplicates"), junk.clone(), Expect::Refuse));
        // Only the first few duplicates are tried: a valid value behind
        // many is either found or not, but never costs more than a few.
        headers.push((format!("{n} garbage duplicates, then valid"), format!("{junk}{NAME}={valid}"), Expect::Either));
        headers.push((format!("{n} forged duplicates"), format!("{NAME}={foreign}; ").repeat(n), Expect::Refuse));
    }
    for (label, header, expect) in headers {
        let accepted = || {
            let sessions = registry.request([header.as_str()]);
            !block_on(sessions.default_session()).unwrap().is_new()
        };
        tally.probe(&label, header.len(), expect, accepted);
    }
    tally.report_and_check("registry cookie header");
}

#[test]
fn over_long_cookie_values_are_refused_without_allocating() {
    let _guard = exclusive();
    for mode in [Mode::Sealed, Mode::Signed] {
        let codec = Codec::new(ring(), mode);
        for len in [DEFAULT_COOKIE_LIMIT - NAME.len(), 10 * DEFAULT_COOKIE_LIMIT, 1 << 20] {
            let value = "A".repeat(len);
            // The counter is the whole process's: a thread an earlier test
            // left behind may allocate meanwhile. The fewest of a few runs
            // is the decoder's own; one that allocates never reaches zero.
            let mut fewest = usize::MAX;
            for _ in 0..5 {
                let region = Region::new(GLOBAL);
                let refused = codec.decode(NAME, &value, NOW);
                fewest = fewest.min(region.change().bytes_allocated);
                assert_eq!(refused, Err(sessions_core::Rejection::TooLong));
            }
            assert_eq!(fewest, 0, "{mode:?}: refusing {len} bytes allocated {fewest} bytes");
        }
    }
}
