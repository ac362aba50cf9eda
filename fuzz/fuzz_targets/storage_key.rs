//! The storage-key parser that guards file names and backend keys.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sessions_core::backend::StorageKey;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Some(key) = StorageKey::parse(text) {
        // Only the canonical form parses, so no two texts name one file.
        assert_eq!(key.as_str(), text);
    }
});
