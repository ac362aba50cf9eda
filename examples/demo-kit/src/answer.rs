//! What a demo handler answers, before any framework sees it.

/// A framework-neutral response: a status, headers and a body, which each
/// demo turns into its framework's response type in one conversion
/// (status, then every header appended in order, then the body).
///
/// Header names are lowercase and values visible ASCII, so every framework
/// accepts them as they are.
///
/// ```
/// use demo_kit::Answer;
///
/// let answer = Answer::see_other("/");
/// assert_eq!(answer.status(), 303);
/// assert_eq!(answer.header("location"), Some("/"));
/// assert_eq!(Answer::text("3").body(), "3");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
}

impl Answer {
    /// `200` with an HTML page that no cache keeps, so Back and reload
    /// show the session as it is now.
    pub fn html(body: impl Into<String>) -> Answer {
        Answer::with_body(200, "text/html; charset=utf-8", body.into()).with_header("cache-control", "no-store")
    }

    /// `200` with plain text.
    pub fn text(body: impl Into<String>) -> Answer {
        Answer::with_body(200, "text/plain; charset=utf-8", body.into())
    }

    /// `200` with a JSON document.
    pub fn json(value: serde_json::Value) -> Answer {
        Answer::with_body(200, "application/json", value.to_string())
    }

    /// This status and no body.
    pub fn empty(status: u16) -> Answer {
        Answer { status, headers: Vec::new(), body: String::new() }
    }

    /// `303 See Other` to `location`: where a browser goes after a form
    /// (Post/Redirect/Get), so reload never sends the form again.
    pub fn see_other(location: &str) -> Answer {
        Answer::empty(303).with_header("location", location)
    }

    /// `status` with a body of type `content_type`.
    pub fn with_body(status: u16, content_type: &str, body: String) -> Answer {
        Answer::empty(status).with_header("content-type", content_type).with_body_text(body)
    }

    fn with_body_text(mut self, body: String) -> Answer {
        self.body = body;
        self
    }

    /// The same answer with another status.
    pub fn with_status(mut self, status: u16) -> Answer {
        self.status = status;
        self
    }

    /// The same answer with one more header (appended: several
    /// `set-cookie` headers stay apart).
    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Answer {
        self.headers.push((name, value.into()));
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// Every header, in order.
    pub fn headers(&self) -> impl Iterator<Item = (&'static str, &str)> + '_ {
        self.headers.iter().map(|(name, value)| (*name, value.as_str()))
    }

    /// The first value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// The body (empty when there is none).
    pub fn body(&self) -> &str {
        &self.body
    }

    /// The body, taken.
    pub fn into_body(self) -> String {
        self.body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_pages_are_not_stored_by_caches() {
        let page = Answer::html("<p>hi</p>");
        assert_eq!(page.header("cache-control"), Some("no-store"));
        assert_eq!(page.header("content-type"), Some("text/html; charset=utf-8"));
    }

    #[test]
    fn empty_answer_has_no_content_type() {
        assert_eq!(Answer::empty(204).header("content-type"), None);
        assert_eq!(Answer::empty(204).body(), "");
    }

    #[test]
    fn headers_keep_their_order_and_repeats() {
        let answer = Answer::empty(200).with_header("set-cookie", "a=").with_header("set-cookie", "b=");
        let cookies: Vec<&str> = answer.headers().filter(|(n, _)| *n == "set-cookie").map(|(_, v)| v).collect();
        assert_eq!(cookies, ["a=", "b="]);
    }
}
