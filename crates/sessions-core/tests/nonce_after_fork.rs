//! A process made by `fork()` must not seal with its parent's nonces.
//!
//! A random-number generator kept in the process's memory is copied into a
//! forked child, which then draws the same "random" nonces as its parent:
//! two cookies sealed under one key with one nonce give away the XOR of
//! their plaintexts and let the key's Poly1305 tags be forged.
#![cfg(unix)]

use std::io::{Read as _, Write as _};
use std::process::Command;

use fork::Fork;
use sessions_core::codec::{Codec, Mode, Times};
use sessions_core::{Key, KeyRing};

/// Set in the environment of the process that runs the fork, so that the
/// helper test below does nothing when a plain `--ignored` run reaches it.
const HELPER: &str = "SESSIONS_NONCE_FORK_HELPER";
const TIMES: Times = Times { issued: 1_700_000_000, expires: None };

#[test]
fn a_forked_child_seals_with_nonces_of_its_own() {
    // `fork()` copies only the calling thread: done in the multi-threaded
    // test harness, the child could inherit a lock another thread holds.
    // The helper therefore runs in a process of its own, on one thread.
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "fork_and_compare_nonces", "--ignored", "--test-threads=1", "--nocapture"])
        .env(HELPER, "1")
        .output()
        .unwrap();
    let report = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{report}");
    assert!(report.contains("1 passed"), "the helper did not run: {report}");
}

#[test]
#[ignore = "run by a_forked_child_seals_with_nonces_of_its_own in a process of its own"]
fn fork_and_compare_nonces() {
    if std::env::var_os(HELPER).is_none() {
        return;
    }
    let codec = Codec::new(KeyRing::from(Key::generate()), Mode::Sealed);
    // Seal once first, so that any generator the codec keeps is set up
    // and its state is what the child inherits.
    codec.encode("s", b"payload", TIMES).unwrap();
    let (mut from_child, mut to_parent) = std::io::pipe().unwrap();
    match fork::fork().unwrap() {
        Fork::Child => {
            drop(from_child);
            // No panic may unwind into the harness's copy: report by exit code.
            let sealed = codec.encode("s", b"payload", TIMES).unwrap_or_default();
            let sent = to_parent.write_all(sealed.as_bytes()).is_ok();
            std::process::exit(if sent && !sealed.is_empty() { 0 } else { 1 });
        }
        Fork::Parent(child) => {
            drop(to_parent);
            let ours = codec.encode("s", b"payload", TIMES).unwrap();
            let mut theirs = String::new();
            from_child.read_to_string(&mut theirs).unwrap();
            assert_eq!(fork::waitpid(child).unwrap(), 0, "the child failed to seal");
            assert_ne!(ours, theirs, "parent and child sealed the same payload with the same nonce");
        }
    }
}
