//! The records the engine benchmarks write: one shape for every engine, so
//! that their numbers compare.

use sessions_core::backend::{Fields, Patch, StorageKey};

/// A typical logged-in record: the metadata field and ten values of about
/// forty bytes.
pub fn typical_fields() -> Fields {
    let mut fields = Fields::new();
    fields.insert("m", vec![1; 12]);
    for i in 0..10 {
        fields.insert(format!("vkey{i}"), format!("value-{i}-{}", "x".repeat(28)).into_bytes());
    }
    fields
}

/// A request's typical change: one value of [`typical_fields`] rewritten.
pub fn one_change() -> Patch {
    Patch { set: Fields::from([("vkey3".to_owned(), b"changed".to_vec())]), ..Patch::default() }
}

/// A fresh random storage key.
pub fn random_key() -> StorageKey {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("OS RNG");
    StorageKey::from_bytes(bytes)
}
