//! The bytes of a filesystem backend's session file.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sessions_core::backend::Backend as _;
use sessions_core::backend::{FilesystemBackend, StorageKey};
use sessions_fuzz::block_on;

struct Fixture {
    backend: FilesystemBackend,
    key: StorageKey,
    path: std::path::PathBuf,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("sessions-fuzz-stored-{}", std::process::id()));
        let backend = FilesystemBackend::new(&dir).expect("a writable temporary directory");
        let key = StorageKey::from_bytes([0x5a; 32]);
        let path = dir.join(format!("{key}.session"));
        Fixture { backend, key, path }
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    std::fs::write(&f.path, data).expect("the fixture file is writable");
    // Either a record or an error: never a panic, never a hang.
    let _ = block_on(f.backend.load(&f.key));
});
