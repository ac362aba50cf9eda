//! The `redis+sentinel://` URL: where the sentinels are, which service
//! they monitor, and the primary's login, in one string a deployment can
//! keep in its configuration.

use crate::error::Error;

/// The port sentinels listen on unless told otherwise.
const SENTINEL_PORT: u16 = 26379;

/// A parsed `redis+sentinel://[[user]:password@]host[:port][,host[:port]...]/service`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct SentinelUrl {
    /// `redis://host:port` of each sentinel.
    pub(crate) sentinels: Vec<String>,
    pub(crate) service: String,
    /// The primary's login: the user, if any, and the password.
    pub(crate) login: Option<(Option<String>, String)>,
}

pub(crate) const SCHEME: &str = "redis+sentinel://";

impl SentinelUrl {
    pub(crate) fn parse(url: &str) -> Result<SentinelUrl, Error> {
        let invalid = |why: &str| Error::Config(format!("invalid redis+sentinel URL: {why}"));
        let rest = url.strip_prefix(SCHEME).ok_or_else(|| invalid("it must start with `redis+sentinel://`"))?;
        let (authority, service) = rest.split_once('/').ok_or_else(|| invalid("the service name is missing"))?;
        let service = service.trim_end_matches('/');
        if service.is_empty() || service.contains(['/', '?', '#']) {
            return Err(invalid("the path must be the service name alone, as in `/mymaster`"));
        }
        let (login, hosts) = match authority.rsplit_once('@') {
            Some((userinfo, hosts)) => {
                let (user, password) = userinfo.split_once(':').ok_or_else(|| invalid("a login needs a password"))?;
                let user = (!user.is_empty()).then(|| decode(user)).transpose().map_err(|()| invalid("bad escape"))?;
                (Some((user, decode(password).map_err(|()| invalid("bad escape in the password"))?)), hosts)
            }
            None => (None, authority),
        };
        let sentinels = hosts
            .split(',')
            .map(|host| {
                // `[::1]` is an IPv6 host without a port.
                let (name, port) = match host.rsplit_once(':') {
                    Some((name, port)) if !host.ends_with(']') => {
                        (name, port.parse::<u16>().map_err(|_| invalid(&format!("bad port in `{host}`")))?)
                    }
                    _ => (host, SENTINEL_PORT),
                };
                if name.is_empty() {
                    return Err(invalid("a sentinel's host is empty"));
                }
                Ok(format!("redis://{name}:{port}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(SentinelUrl { sentinels, service: decode(service).map_err(|()| invalid("bad escape"))?, login })
    }
}

/// Percent-decoding, so that a password may hold `@`, `:` or `/`.
fn decode(text: &str) -> Result<String, ()> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or(())?;
            let hex = std::str::from_utf8(hex).map_err(|_| ())?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| ())?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_service_and_login_are_read() {
        let url = SentinelUrl::parse("redis+sentinel://app:p%40ss@10.0.0.1:26380,10.0.0.2/sessions").unwrap();
        assert_eq!(url.sentinels, ["redis://10.0.0.1:26380", "redis://10.0.0.2:26379"]);
        assert_eq!(url.service, "sessions");
        assert_eq!(url.login, Some((Some("app".to_owned()), "p@ss".to_owned())));
        let plain = SentinelUrl::parse("redis+sentinel://127.0.0.1:26379/mymaster/").unwrap();
        assert_eq!((plain.sentinels.len(), plain.service.as_str(), plain.login), (1, "mymaster", None));
        let password_only = SentinelUrl::parse("redis+sentinel://:secret@h/s").unwrap();
        assert_eq!(password_only.login, Some((None, "secret".to_owned())));
        let v6 = SentinelUrl::parse("redis+sentinel://[::1],[::1]:26380/s").unwrap();
        assert_eq!(v6.sentinels, ["redis://[::1]:26379", "redis://[::1]:26380"]);
    }

    #[test]
    fn malformed_urls_are_config_errors_that_say_why() {
        for (url, why) in [
            ("redis://h/s", "must start"),
            ("redis+sentinel://h", "service name is missing"),
            ("redis+sentinel://h/", "service name alone"),
            ("redis+sentinel://h/a/b", "service name alone"),
            ("redis+sentinel://h:port/s", "bad port"),
            ("redis+sentinel://h,,g/s", "host is empty"),
            ("redis+sentinel://user@h/s", "needs a password"),
            ("redis+sentinel://:p%zz@h/s", "bad escape"),
        ] {
            match SentinelUrl::parse(url) {
                Err(Error::Config(message)) => assert!(message.contains(why), "{url}: {message}"),
                other => panic!("{url}: {other:?}"),
            }
        }
    }
}
