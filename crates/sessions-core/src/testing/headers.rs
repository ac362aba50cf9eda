//! Headers as a test reads them.

/// Converts a header into a `(name, value)` pair: the `convert` of
/// [`RequestSessions::finish`](crate::adapter::RequestSessions::finish) for
/// a test that reads the headers with [`Finished::values`](crate::adapter::Finished::values).
///
/// ```
/// use sessions_core::testing::header_pair;
///
/// assert_eq!(header_pair("vary", "Cookie"), Some(("vary", "Cookie".to_owned())));
/// ```
pub fn header_pair(name: &'static str, value: &str) -> Option<(&'static str, String)> {
    Some((name, value.to_owned()))
}
