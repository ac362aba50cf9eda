//! The conformance kit against the built-in backends.

use std::sync::Arc;

use sessions_core::backend::{FilesystemBackend, MemoryBackend};
use sessions_core::clock::ManualClock;
use sessions_core::testing::{self, ModelRun};

mod common;
use common::temp_dir;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_backend_passes_the_conformance_kit() {
    testing::run_all(Arc::new(MemoryBackend::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_backend_expires_records() {
    testing::expired_records_are_not_loaded(&MemoryBackend::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn filesystem_backend_passes_the_conformance_kit() {
    let dir = temp_dir("kit");
    testing::run_all(Arc::new(FilesystemBackend::new(&dir).unwrap())).await;
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn filesystem_backend_expires_records() {
    let dir = temp_dir("expiry");
    testing::expired_records_are_not_loaded(&FilesystemBackend::new(&dir).unwrap()).await;
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_backend_keeps_the_lifecycle_model() {
    let clock = ManualClock::new(common::START);
    let backend = MemoryBackend::builder().clock(Arc::new(clock.clone())).build();
    testing::lifecycle_model(Arc::new(backend), clock, ModelRun::from_env()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filesystem_backend_keeps_the_lifecycle_model() {
    let clock = ManualClock::new(common::START);
    let dir = temp_dir("model");
    let backend = FilesystemBackend::new(&dir).unwrap().with_clock(Arc::new(clock.clone()));
    testing::lifecycle_model(Arc::new(backend), clock, ModelRun::from_env()).await;
    std::fs::remove_dir_all(dir).unwrap();
}
