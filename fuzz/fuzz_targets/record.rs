//! Session record bytes: the record decoder, then the session model and its
//! value decoding, reached through an authentic cookie carrying the bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sessions_core::codec::Times;
use sessions_core::backend::record;
use sessions_fuzz::{NOW, block_on, codecs, read_everything, registry};

fuzz_target!(|data: &[u8]| {
    if let Ok(fields) = record::decode(data) {
        // What decodes re-encodes to the same fields.
        let again = record::decode(&record::encode(&fields)).expect("an encoded record decodes");
        assert_eq!(again, fields);
    }
    // Sealed under the store's own key, so only the payload is hostile.
    let times = Times { issued: NOW, expires: None };
    if let Ok(value) = codecs()[0].encode("session", data, times) {
        let header = format!("session={value}");
        let sessions = registry().request([header.as_str()]);
        if let Ok(session) = block_on(sessions.get("session")) {
            read_everything(&session);
        }
    }
});
