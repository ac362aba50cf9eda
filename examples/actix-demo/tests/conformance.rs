//! The conformance suite against the actix demo, on every store of demo-kit's
//! list (the tests build the demo with all of them).

sessions_conformance::conformance_tests!(sessions_conformance::demo(actix_demo::spawn));
