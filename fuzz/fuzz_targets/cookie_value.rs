//! A cookie value, as the browser sends it, into both codecs and every store.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sessions_fuzz::{NAMES, NOW, block_on, codecs, read_everything, registry};

fuzz_target!(|data: &[u8]| {
    let value = String::from_utf8_lossy(data);
    for codec in codecs() {
        for name in NAMES {
            let _ = codec.decode(name, &value, NOW);
        }
    }
    // Through the stores as well: a value that opens goes on to the record
    // decoder, the metadata and the backend.
    let header: String = NAMES.iter().map(|name| format!("{name}={value}; ")).collect();
    let sessions = registry().request([header.as_str()]);
    for name in NAMES {
        if let Ok(session) = block_on(sessions.get(name)) {
            read_everything(&session);
        }
    }
});
