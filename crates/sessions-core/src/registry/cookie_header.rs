//! Reading a request's `Cookie` headers: the values sent under each
//! store's cookie name, kept without allocating in the common case.

/// How many values of one cookie name are tried. Browsers send duplicates
/// when cookies of the same name exist for several paths or domains; more
/// than a few is an attack on the decoder, not a browser.
pub(super) const MAX_CANDIDATES: usize = 4;

/// Calls `offer(name, value)` for every `name=value` pair of `headers`,
/// split on `;`, in header order. Pairs without `=` are skipped; names and
/// values are passed as sent, whitespace and quotes included.
pub(super) fn for_each_pair<'a>(headers: impl IntoIterator<Item = &'a [u8]>, mut offer: impl FnMut(&[u8], &[u8])) {
    for header in headers {
        // A header that is text (nearly all are) is split with `str`'s
        // searches, which skip ahead many bytes at a time; bytes that
        // are not UTF-8 take the byte-by-byte path, to the same result.
        match std::str::from_utf8(header) {
            Ok(text) => {
                for pair in text.split(';') {
                    let Some((name, value)) = pair.split_once('=') else { continue };
                    offer(name.as_bytes(), value.as_bytes());
                }
            }
            Err(_) => {
                for pair in header.split(|&b| b == b';') {
                    let Some(eq) = pair.iter().position(|&b| b == b'=') else { continue };
                    offer(&pair[..eq], &pair[eq + 1..]);
                }
            }
        }
    }
}

/// The value of a `name=value` pair without surrounding whitespace and
/// double quotes, or `None` when it is not a cookie value at all: RFC 6265
/// values are visible ASCII.
fn cookie_value(raw: &[u8]) -> Option<&str> {
    let mut value = raw.trim_ascii();
    if let [b'"', inner @ .., b'"'] = value {
        value = inner;
    }
    // Without an early exit, the check compiles to a few wide comparisons.
    if !value.iter().fold(true, |visible, &b| visible & (b.wrapping_sub(0x21) < 0x5e)) {
        return None;
    }
    std::str::from_utf8(value).ok()
}

/// The values one cookie name was sent with, in header order: the first
/// [`MAX_CANDIDATES`] that are cookie values.
#[derive(Default)]
pub(super) struct Candidates {
    /// The values, back to back, ending at `ends[..count]`.
    values: Values,
    ends: [usize; MAX_CANDIDATES],
    count: usize,
}

impl Candidates {
    /// Keeps the value of a pair, if it is a cookie value and there is
    /// room for one more.
    pub(super) fn offer(&mut self, raw: &[u8]) {
        if self.count < MAX_CANDIDATES
            && let Some(value) = cookie_value(raw)
        {
            self.ends[self.count] = self.values.push(value);
            self.count += 1;
        }
    }

    /// How many values are kept.
    pub(super) fn len(&self) -> usize {
        self.count
    }

    /// The values, in header order.
    pub(super) fn iter(&self) -> impl Iterator<Item = &str> {
        let all = self.values.as_str();
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts.zip(&self.ends[..self.count]).map(|(start, &end)| all.get(start..end).unwrap_or_default())
    }
}

/// Bytes of cookie values kept without allocating: a server store's signed
/// id cookie (114 characters) fits.
const INLINE_VALUES: usize = 128;

/// Cookie values, back to back: inline while they fit, one heap
/// allocation however many duplicates the browser sent otherwise.
struct Values {
    inline: [u8; INLINE_VALUES],
    len: usize,
    heap: String,
}

impl Default for Values {
    fn default() -> Self {
        Values { inline: [0; INLINE_VALUES], len: 0, heap: String::new() }
    }
}

impl Values {
    /// Appends `value`; returns where it ends.
    fn push(&mut self, value: &str) -> usize {
        if self.heap.is_empty() {
            if let Some(to) = self.inline.get_mut(self.len..self.len + value.len()) {
                to.copy_from_slice(value.as_bytes());
                self.len += value.len();
                return self.len;
            }
            self.heap = self.as_str().to_owned();
        }
        self.heap.push_str(value);
        self.heap.len()
    }

    fn as_str(&self) -> &str {
        if self.heap.is_empty() {
            // Only ever whole `str`s were copied in.
            std::str::from_utf8(&self.inline[..self.len]).unwrap_or_default()
        } else {
            &self.heap
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Candidates, INLINE_VALUES, MAX_CANDIDATES, cookie_value, for_each_pair};

    fn pairs<'a>(headers: impl IntoIterator<Item = &'a [u8]>) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut found = Vec::new();
        for_each_pair(headers, |name, value| found.push((name.to_vec(), value.to_vec())));
        found
    }

    #[test]
    fn pairs_split_the_same_whether_or_not_the_header_is_utf8() {
        let text: &[u8] = b"a=1; b = \"2\" ;flag; c=x=y";
        let expected: Vec<(Vec<u8>, Vec<u8>)> = vec![
            (b"a".to_vec(), b"1".to_vec()),
            (b" b ".to_vec(), b" \"2\" ".to_vec()),
            (b" c".to_vec(), b"x=y".to_vec()),
        ];
        assert_eq!(pairs([text]), expected);
        let binary = [text, b"; junk=\xff"].concat();
        let mut with_junk = expected.clone();
        with_junk.push((b" junk".to_vec(), b"\xff".to_vec()));
        assert_eq!(pairs([binary.as_slice()]), with_junk);
        assert_eq!(pairs([&b"a=1"[..], b"b=2"]).len(), 2, "every header is read");
    }

    #[test]
    fn cookie_values_are_visible_ascii_without_whitespace_or_quotes() {
        assert_eq!(cookie_value(b" abc "), Some("abc"));
        assert_eq!(cookie_value(b"\"abc\""), Some("abc"));
        assert_eq!(cookie_value(b"\"\""), Some(""));
        for refused in [&b"a b"[..], b"a\tb", b"caf\xc3\xa9", b"a\x7fb", b"a\0"] {
            assert_eq!(cookie_value(refused), None, "{refused:?}");
        }
    }

    #[test]
    fn candidates_keep_the_first_cookie_values_in_order() {
        let mut candidates = Candidates::default();
        candidates.offer(b"not a value");
        for n in 0..MAX_CANDIDATES + 2 {
            candidates.offer(n.to_string().as_bytes());
        }
        assert_eq!(candidates.len(), MAX_CANDIDATES);
        let kept: Vec<String> = (0..MAX_CANDIDATES).map(|n| n.to_string()).collect();
        assert_eq!(candidates.iter().collect::<Vec<_>>(), kept);
    }

    #[test]
    fn candidates_past_the_inline_bytes_are_kept_whole() {
        let long = "x".repeat(INLINE_VALUES - 10);
        let mut candidates = Candidates::default();
        for value in ["first", long.as_str(), "last"] {
            candidates.offer(value.as_bytes());
        }
        assert_eq!(candidates.iter().collect::<Vec<_>>(), ["first", long.as_str(), "last"]);
    }
}
