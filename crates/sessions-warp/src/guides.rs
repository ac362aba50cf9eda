//! The guides in `docs/` that are about this crate, compiled and run as
//! doctests so that no example in them can go stale.

#[doc = include_str!("../../../docs/frameworks/warp.md")]
struct WarpGuide;

#[doc = include_str!("../../../docs/migrate/from-warp-sessions.md")]
struct FromWarpSessionsGuide;
