//! Every demo beside every other: the tests of this crate start two demos
//! of different frameworks with the same keys and store, and carry one
//! browser's cookies from the first to the second. The session format
//! belongs to `sessions-core`, not to a framework, so each of the ordered
//! pairs must continue the other's session.
//!
//! The demos under test, by name; the tests build every ordered pair.
//!
//! ```
//! assert_eq!(demo_interop::DEMOS.len(), 4);
//! ```
#![deny(missing_docs)]

/// The demos, by framework name, with the function that starts each in the
/// background.
pub const DEMOS: &[(&str, demo_kit::Spawn)] = &[
    ("axum", axum_demo::spawn),
    ("actix", actix_demo::spawn),
    ("rocket", rocket_demo::spawn),
    ("warp", warp_demo::spawn),
];
