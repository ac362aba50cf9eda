//! The guides in `docs/` that are about this crate, compiled and run as
//! doctests so that no example in them can go stale.

#[doc = include_str!("../../../docs/frameworks/rocket.md")]
struct RocketGuide;

#[doc = include_str!("../../../docs/migrate/from-rocket.md")]
struct FromRocketGuide;
