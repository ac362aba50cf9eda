//! A whole `Cookie` request header: parsing, duplicate names, and every
//! store behind the registry.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sessions_fuzz::{NAMES, block_on, read_everything, registry};

fuzz_target!(|data: &[u8]| {
    let header = String::from_utf8_lossy(data);
    let sessions = registry().request(header.split('\n'));
    for name in NAMES {
        if let Ok(session) = block_on(sessions.get(name)) {
            read_everything(&session);
        }
    }
});
