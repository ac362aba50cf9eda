//! Storage keys for tests.

use crate::backend::StorageKey;

/// A random storage key, so checks never collide with each other or with
/// data already in a shared server.
pub fn random_key() -> StorageKey {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("OS RNG");
    StorageKey::from_bytes(bytes)
}
