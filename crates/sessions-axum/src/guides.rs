//! The guides in `docs/` that are about this crate, compiled and run as
//! doctests so that no example in them can go stale.

#[doc = include_str!("../../../docs/frameworks/axum.md")]
struct AxumGuide;

#[doc = include_str!("../../../docs/migrate/from-tower-sessions.md")]
struct FromTowerSessionsGuide;

#[doc = include_str!("../../../README.md")]
struct Readme;

#[doc = include_str!("../../../docs/migrate/from-gorilla.md")]
struct FromGorillaGuide;
