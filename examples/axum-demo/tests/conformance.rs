//! The conformance suite against the axum demo, on every store of demo-kit's
//! list (the tests build the demo with all of them).

sessions_conformance::conformance_tests!(sessions_conformance::demo(axum_demo::spawn));
