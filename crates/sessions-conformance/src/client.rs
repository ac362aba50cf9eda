//! A small HTTP/1.1 client with a cookie jar, over loopback TCP.
//!
//! One connection per request (`Connection: close`), so every response is
//! read to the end of the stream; chunked bodies are decoded. It is all the
//! suite needs and compiles in seconds.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A request that takes longer than this is a hung server, not a slow one.
const REQUEST_DEADLINE: Duration = Duration::from_secs(20);

/// A browser-like client: it keeps the cookies each response sets and
/// sends them back with the next request.
///
/// Cloning a client copies its jar: the clone can replay old cookies while
/// the original moves on.
#[derive(Debug, Clone)]
pub struct Client {
    addr: SocketAddr,
    jar: BTreeMap<String, String>,
    /// The header a session is carried in, and the value held for it.
    carried: Option<(String, Option<String>)>,
}

impl Client {
    /// A client with an empty jar talking to `addr`.
    pub fn new(addr: SocketAddr) -> Client {
        Client { addr, jar: BTreeMap::new(), carried: None }
    }

    /// A client that also carries a session in request header `header`,
    /// as an API client without cookies does: it keeps the value the last
    /// response sent in that header (an empty one drops it) and sends it
    /// back with every request.
    pub fn carrying(addr: SocketAddr, header: &str) -> Client {
        Client { carried: Some((header.to_ascii_lowercase(), None)), ..Client::new(addr) }
    }

    /// The value held for the carried header.
    pub fn held(&self) -> Option<&str> {
        self.carried.as_ref()?.1.as_deref()
    }

    /// Replaces (or, with `None`, drops) the value held for the carried
    /// header.
    pub fn set_held(&mut self, value: Option<&str>) {
        if let Some((_, held)) = &mut self.carried {
            *held = value.map(str::to_owned);
        }
    }

    /// The address the client talks to (the `Host` it sends).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Points the client at another server (a restarted app), keeping the jar.
    pub fn set_addr(&mut self, addr: SocketAddr) {
        self.addr = addr;
    }

    /// The value of cookie `name` in the jar.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.jar.get(name).map(String::as_str)
    }

    /// Puts `name=value` in the jar, as a browser that was handed it would.
    pub fn set_cookie(&mut self, name: &str, value: &str) {
        self.jar.insert(name.to_owned(), value.to_owned());
    }

    /// Sends `GET path` (path may carry a query string).
    pub async fn get(&mut self, path: &str) -> Reply {
        self.send("GET", path, None).await
    }

    /// Sends `POST path` with an `application/x-www-form-urlencoded` body.
    pub async fn post_form(&mut self, path: &str, fields: &[(&str, &str)]) -> Reply {
        self.send("POST", path, Some(form_encode(fields))).await
    }

    /// Sends `POST path` with a form body and the extra `headers` (a
    /// browser's `Origin`, `Sec-Fetch-Site`, `Accept`).
    pub async fn post_form_with(&mut self, path: &str, fields: &[(&str, &str)], headers: &[(&str, &str)]) -> Reply {
        self.send_with("POST", path, Some(form_encode(fields)), headers).await
    }

    /// Sends `POST path` with a form body of `body` bytes, as one body
    /// with `Content-Length`, or with `chunked` in chunks of 16 KiB and no
    /// length. The server may answer before it has read the body (a
    /// refusal): the rest is then not sent, and the answer is what counts.
    pub async fn post_body(&mut self, path: &str, body: Vec<u8>, chunked: bool) -> Reply {
        let framed = if chunked {
            let mut framed = Vec::with_capacity(body.len() + body.len() / 1000 + 16);
            for chunk in body.chunks(16 * 1024) {
                framed.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                framed.extend_from_slice(chunk);
                framed.extend_from_slice(b"\r\n");
            }
            framed.extend_from_slice(b"0\r\n\r\n");
            framed
        } else {
            body
        };
        self.exchange("POST", path, framed, if chunked { Framing::Chunked } else { Framing::Length }, &[]).await
    }

    /// Sends one request and applies the response's `Set-Cookie` headers to
    /// the jar. Panics on a transport failure: the suite cannot go on.
    pub async fn send(&mut self, method: &str, path: &str, form: Option<String>) -> Reply {
        self.send_with(method, path, form, &[]).await
    }

    /// [`Client::send`] with the extra `headers`, written as given.
    pub async fn send_with(
        &mut self,
        method: &str,
        path: &str,
        form: Option<String>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let body = form.unwrap_or_default().into_bytes();
        let framing = if method == "GET" { Framing::None } else { Framing::Length };
        self.exchange(method, path, body, framing, headers).await
    }

    async fn exchange(
        &mut self,
        method: &str,
        path: &str,
        body: Vec<u8>,
        framing: Framing,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n", self.addr);
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        if let Some((name, Some(value))) = &self.carried {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        if !self.jar.is_empty() {
            let cookies: Vec<String> = self.jar.iter().map(|(name, value)| format!("{name}={value}")).collect();
            request.push_str(&format!("Cookie: {}\r\n", cookies.join("; ")));
        }
        if framing != Framing::None {
            request.push_str("Content-Type: application/x-www-form-urlencoded\r\n");
        }
        match framing {
            Framing::None => {}
            Framing::Length => request.push_str(&format!("Content-Length: {}\r\n", body.len())),
            Framing::Chunked => request.push_str("Transfer-Encoding: chunked\r\n"),
        }
        request.push_str("\r\n");
        let mut bytes = request.into_bytes();
        bytes.extend_from_slice(&body);

        let raw = tokio::time::timeout(REQUEST_DEADLINE, exchange(self.addr, bytes))
            .await
            .unwrap_or_else(|_| panic!("{method} {path}: no complete response from {}", self.addr))
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let reply = Reply::parse(&raw).unwrap_or_else(|e| panic!("{method} {path}: malformed response: {e}"));
        if let Some((name, held)) = &mut self.carried
            && let Some(value) = reply.header_values(name).first()
        {
            *held = (!value.is_empty()).then(|| value.to_string());
        }
        for set in reply.set_cookies() {
            if set.is_removal() {
                self.jar.remove(&set.name);
            } else {
                self.jar.insert(set.name.clone(), set.value.clone());
            }
        }
        reply
    }
}

/// How a request's body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    None,
    Length,
    Chunked,
}

/// Writes `request` while reading the response, so a server that answers
/// before reading the whole body (and closes) is heard: what it sent
/// counts, however the write ended.
async fn exchange(addr: SocketAddr, request: Vec<u8>) -> std::io::Result<Vec<u8>> {
    let stream = TcpStream::connect(addr).await?;
    let (mut reader, mut writer) = stream.into_split();
    // The write's own end does not matter: a refusal may close the
    // connection before all of it is read; once the answer is in, whatever
    // is left unsent is dropped.
    let write = tokio::spawn(async move { writer.write_all(&request).await.map(|()| writer) });
    let mut raw = Vec::new();
    let read = reader.read_to_end(&mut raw).await;
    write.abort();
    match read {
        Ok(_) => Ok(raw),
        // The server answered, then reset the connection over the unread rest.
        Err(_) if raw.windows(4).any(|w| w == b"\r\n\r\n") => Ok(raw),
        Err(err) => Err(err),
    }
}

/// Percent-encodes `fields` as a form body or query string.
pub fn form_encode(fields: &[(&str, &str)]) -> String {
    fields.iter().map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v))).collect::<Vec<_>>().join("&")
}

fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A parsed response.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// Every header, in order, names lowercased.
    pub headers: Vec<(String, String)>,
    /// The body, decoded as UTF-8 (lossily).
    pub body: String,
}

impl Reply {
    fn parse(raw: &[u8]) -> Result<Reply, String> {
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or("no end of headers")?;
        let head = std::str::from_utf8(&raw[..split]).map_err(|_| "headers are not UTF-8")?;
        let rest = &raw[split + 4..];
        let mut lines = head.split("\r\n");
        let status_line = lines.next().ok_or("no status line")?;
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| format!("bad status line `{status_line}`"))?;
        let headers: Vec<(String, String)> = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
            .collect();
        let chunked =
            headers.iter().any(|(n, v)| n == "transfer-encoding" && v.to_ascii_lowercase().contains("chunked"));
        let body = if chunked {
            dechunk(rest)?
        } else {
            match headers.iter().find(|(n, _)| n == "content-length") {
                Some((_, len)) => {
                    let len: usize = len.parse().map_err(|_| "bad content-length")?;
                    rest.get(..len).ok_or("body shorter than content-length")?.to_vec()
                }
                None => rest.to_vec(),
            }
        };
        Ok(Reply { status, headers, body: String::from_utf8_lossy(&body).into_owned() })
    }

    /// Every value of header `name` (lowercase).
    pub fn header_values(&self, name: &str) -> Vec<&str> {
        self.headers.iter().filter(|(n, _)| n == name).map(|(_, v)| v.as_str()).collect()
    }

    /// True when some value of header `name`, split at commas, equals
    /// `token` (case-insensitively).
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.header_values(name).iter().flat_map(|v| v.split(',')).any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    /// Every `Set-Cookie` of the response, parsed.
    pub fn set_cookies(&self) -> Vec<SetCookie> {
        self.header_values("set-cookie").into_iter().filter_map(SetCookie::parse).collect()
    }

    /// The `Set-Cookie` for cookie `name`, if the response sets it.
    pub fn set_cookie(&self, name: &str) -> Option<SetCookie> {
        self.set_cookies().into_iter().find(|c| c.name == name)
    }
}

fn dechunk(mut rest: &[u8]) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        let line_end = rest.windows(2).position(|w| w == b"\r\n").ok_or("chunk size line unterminated")?;
        let size_text = std::str::from_utf8(&rest[..line_end]).map_err(|_| "chunk size not UTF-8")?;
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| format!("bad chunk size `{size_text}`"))?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Ok(body);
        }
        body.extend_from_slice(rest.get(..size).ok_or("chunk shorter than its size")?);
        rest = rest.get(size + 2..).ok_or("chunk not terminated")?;
    }
}

/// One parsed `Set-Cookie` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetCookie {
    /// The cookie name.
    pub name: String,
    /// The cookie value.
    pub value: String,
    /// The attributes in order, names as sent, values if any.
    pub attributes: Vec<(String, Option<String>)>,
}

impl SetCookie {
    fn parse(header: &str) -> Option<SetCookie> {
        let mut parts = header.split(';');
        let (name, value) = parts.next()?.split_once('=')?;
        let attributes = parts
            .map(|part| match part.split_once('=') {
                Some((k, v)) => (k.trim().to_owned(), Some(v.trim().to_owned())),
                None => (part.trim().to_owned(), None),
            })
            .collect();
        Some(SetCookie { name: name.trim().to_owned(), value: value.trim().to_owned(), attributes })
    }

    /// The value of attribute `name` (case-insensitive), or `Some("")` for
    /// a flag attribute that is present.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_deref().unwrap_or(""))
    }

    /// True when the attribute (a flag such as `HttpOnly`) is present.
    pub fn has(&self, name: &str) -> bool {
        self.attribute(name).is_some()
    }

    /// `Max-Age` in seconds, if present.
    pub fn max_age(&self) -> Option<i64> {
        self.attribute("Max-Age").and_then(|v| v.parse().ok())
    }

    /// True when the header tells the browser to delete the cookie.
    pub fn is_removal(&self) -> bool {
        self.value.is_empty() || self.max_age().is_some_and(|age| age <= 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_body_is_decoded() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        assert_eq!(Reply::parse(raw).unwrap().body, "abcde");
    }

    #[test]
    fn content_length_bounds_the_body() {
        let raw = b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nhi";
        let reply = Reply::parse(raw).unwrap();
        assert_eq!((reply.status, reply.body.as_str()), (201, "hi"));
    }

    #[test]
    fn set_cookie_attributes_are_parsed() {
        let set = SetCookie::parse("id=abc; HttpOnly; SameSite=Lax; Path=/; Max-Age=60").unwrap();
        assert_eq!((set.name.as_str(), set.value.as_str()), ("id", "abc"));
        assert!(set.has("httponly"));
        assert_eq!(set.attribute("samesite"), Some("Lax"));
        assert_eq!(set.max_age(), Some(60));
        assert!(!set.is_removal());
    }

    #[test]
    fn removal_cookie_is_recognised() {
        assert!(SetCookie::parse("id=; Path=/; Max-Age=0").unwrap().is_removal());
    }

    #[tokio::test]
    async fn answer_before_the_body_is_read_is_heard() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut head = [0u8; 512];
            let _ = stream.read(&mut head).await.unwrap();
            stream.write_all(b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 3\r\n\r\nbig").await.unwrap();
        });
        let reply = Client::new(addr).post_body("/flash", vec![b'a'; 4 << 20], false).await;
        assert_eq!((reply.status, reply.body.as_str()), (413, "big"));
        server.await.unwrap();
    }

    #[test]
    fn form_values_are_percent_encoded() {
        assert_eq!(form_encode(&[("message", "a b&c")]), "message=a%20b%26c");
    }
}
