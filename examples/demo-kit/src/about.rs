//! What the running demo says about itself: on its page, and in the lines
//! it prints when it starts.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use sessions_core::store::{DEFAULT_ABSOLUTE_TIMEOUT, DEFAULT_IDLE_TIMEOUT, DEFAULT_REMEMBER_FOR};

use crate::config::{Config, MAIN_SESSION, PREFS_SESSION, StoreSpec};

/// The demo's settings as a person needs them: which framework serves it,
/// where the main session lives, and the timeouts in force (the library's
/// defaults resolved). Shared by every request of one running demo.
///
/// ```
/// use demo_kit::{About, Config};
///
/// let config = Config::from_vars([("SESSION_SECURE", "0")])?;
/// let about = About::new("axum", &config);
/// assert_eq!(about.idle, Some(std::time::Duration::from_secs(30 * 60)));
/// assert!(about.startup("127.0.0.1:3000".parse().unwrap()).contains("http://127.0.0.1:3000/"));
/// # Ok::<(), demo_kit::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct About {
    /// The web framework serving this demo (`axum`, `actix`, ...).
    pub framework: String,
    /// Where the main session lives.
    pub store: StoreSpec,
    /// Whether cookies carry `Secure`.
    pub secure: bool,
    /// Whether cookies carry `Partitioned`.
    pub partitioned: bool,
    /// The idle timeout of the main session; `None` when off.
    pub idle: Option<Duration>,
    /// The absolute timeout of the main session; `None` when off.
    pub absolute: Option<Duration>,
    /// How long "remember me" keeps a session after its last use.
    pub remember_for: Duration,
    /// How many keys `SESSION_KEYS` gave; `0` when a random key was made.
    pub keys_given: usize,
    /// The bound on the bytes of sessions a bounded server store holds.
    pub max_bytes: u64,
}

impl About {
    /// What `config` means for a demo served by `framework`.
    pub fn new(framework: &str, config: &Config) -> About {
        // Unset: the library's default; zero: off.
        let resolve = |set: Option<Duration>, default: Duration| match set {
            None => Some(default),
            Some(d) if d.is_zero() => None,
            Some(d) => Some(d),
        };
        About {
            framework: framework.to_owned(),
            store: config.store.clone(),
            secure: config.secure,
            partitioned: config.partitioned,
            idle: resolve(config.idle, DEFAULT_IDLE_TIMEOUT),
            absolute: resolve(config.max, DEFAULT_ABSOLUTE_TIMEOUT),
            remember_for: DEFAULT_REMEMBER_FOR,
            keys_given: if config.keys_generated { 0 } else { config.keys.len() },
            max_bytes: config.max_bytes,
        }
    }

    /// One sentence on where the main session's data lives.
    pub fn store_sentence(&self) -> String {
        match &self.store {
            StoreSpec::Cookie => format!(
                "cookie store: the whole session is sealed (encrypted and authenticated) into the `{MAIN_SESSION}` \
                 cookie; the server keeps nothing"
            ),
            other => format!(
                "server store `{other}`: the data stays on the server; the `{MAIN_SESSION}` cookie holds only a \
                 signed random id"
            ),
        }
    }

    /// The store's total bound, in words; `None` for a store the demo does
    /// not bound (a cookie store keeps nothing, the others are bounded by
    /// their servers).
    pub fn bound_sentence(&self) -> Option<String> {
        matches!(self.store, StoreSpec::Memory | StoreSpec::Filesystem(_) | StoreSpec::Redb(_)).then(|| {
            format!(
                "at most {} of sessions (SESSION_MAX_BYTES={}); past it a new session answers 503 \
                 \"session storage full\"",
                human_bytes(self.max_bytes),
                self.max_bytes
            )
        })
    }

    /// The timeouts, in words.
    pub fn timeouts_sentence(&self) -> String {
        format!(
            "idle timeout {}, absolute timeout {}; a remembered session lasts {} after its last use instead",
            self.idle.map_or_else(|| "off".to_owned(), human),
            self.absolute.map_or_else(|| "off".to_owned(), human),
            human(self.remember_for)
        )
    }

    /// What a demo prints when it starts listening at `addr`: the address a
    /// browser can open, the store, the key situation and how to fix it,
    /// the timeouts, and a warning when the cookies are `Secure` but the
    /// demo is reachable by an address a browser will not send them to.
    pub fn startup(&self, addr: SocketAddr) -> String {
        let package = format!("{}-demo", self.framework);
        let mut out = String::new();
        let _ = writeln!(out, "sessions demo on {}", self.framework);
        let _ = writeln!(out, "  open      {}", browser_url(addr));
        if addr.ip().is_unspecified() {
            let _ = writeln!(
                out,
                "            (listening on every interface at {addr}; from another machine use this machine's address)"
            );
        }
        let _ = writeln!(out, "  store     {}", self.store_sentence());
        let _ =
            writeln!(out, "            `{PREFS_SESSION}`, a second session for the theme, is always a cookie store");
        match self.keys_given {
            0 => {
                let _ = writeln!(
                    out,
                    "  keys      SESSION_KEYS is unset: a random key for this run, so every session ends when the \
                     demo stops.\n            To keep sessions across restarts: SESSION_KEYS=$(cargo xtask keygen) \
                     cargo run -p {package}"
                );
            }
            n => {
                let _ = writeln!(
                    out,
                    "  keys      {n} key(s) from SESSION_KEYS; the first signs new cookies, the others still open \
                     old ones"
                );
            }
        }
        if let Some(bound) = self.bound_sentence() {
            let _ = writeln!(out, "  bound     {bound}");
        }
        let _ = writeln!(out, "  timeouts  {}", self.timeouts_sentence());
        if self.secure {
            let _ = writeln!(
                out,
                "  cookies   Secure: browsers send them back over https, and Chromium also over plain \
                 http://localhost and http://127.0.0.1"
            );
            if !addr.ip().is_loopback() {
                let _ = writeln!(
                    out,
                    "  WARNING   the cookies are Secure but {addr} is not a loopback address: a browser that opens \
                     this demo over plain http\n            by another address drops every cookie and nothing \
                     persists. Serve it over https, or set SESSION_SECURE=0\n            on a network you trust."
                );
            }
        } else {
            let _ = writeln!(out, "  cookies   Secure off (SESSION_SECURE=0): sent over plain http too");
        }
        if self.partitioned {
            let _ = writeln!(
                out,
                "            Partitioned (SESSION_PARTITIONED=1): embedded in another site, they live in a jar of                  that site's own"
            );
        }
        let _ = writeln!(
            out,
            "  log       RUST_LOG={} (RUST_LOG=debug adds refused cookies and created sessions)",
            std::env::var("RUST_LOG").unwrap_or_else(|_| "info".to_owned())
        );
        out
    }
}

fn human_bytes(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} bytes"),
    }
}

/// The URL a browser on this machine can open for a server at `addr`: an
/// unspecified address (`0.0.0.0`, `[::]`) becomes loopback.
pub(crate) fn browser_url(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}/", SocketAddr::new(ip, addr.port()))
}

/// `90s`, `30 minutes`, `12 hours`, `30 days`: the largest whole unit.
pub(crate) fn human(duration: Duration) -> String {
    let secs = duration.as_secs();
    let (n, unit) = match secs {
        s if s >= 86_400 && s % 86_400 == 0 => (s / 86_400, "day"),
        s if s >= 3_600 && s % 3_600 == 0 => (s / 3_600, "hour"),
        s if s >= 60 && s % 60 == 0 => (s / 60, "minute"),
        s => (s, "second"),
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn about(vars: &[(&str, &str)]) -> About {
        About::new("axum", &Config::from_vars(vars.iter().copied()).unwrap())
    }

    #[test]
    fn unspecified_address_is_shown_as_loopback() {
        assert_eq!(browser_url("0.0.0.0:3000".parse().unwrap()), "http://127.0.0.1:3000/");
        assert_eq!(browser_url("[::]:8080".parse().unwrap()), "http://[::1]:8080/");
        assert_eq!(browser_url("192.0.2.7:80".parse().unwrap()), "http://192.0.2.7:80/");
    }

    #[test]
    fn startup_without_keys_says_how_to_make_one() {
        let text = about(&[]).startup("127.0.0.1:3000".parse().unwrap());
        assert!(text.contains("SESSION_KEYS=$(cargo xtask keygen) cargo run -p axum-demo"), "{text}");
        assert!(!text.contains("WARNING"), "{text}");
    }

    #[test]
    fn startup_prints_the_bound_of_a_bounded_store() {
        let text = about(&[("SESSION_STORE", "memory")]).startup("127.0.0.1:3000".parse().unwrap());
        assert!(text.contains("at most 64 MiB of sessions (SESSION_MAX_BYTES=67108864)"), "{text}");
        let set = about(&[("SESSION_STORE", "fs:/tmp/x"), ("SESSION_MAX_BYTES", "1048576")]);
        assert!(set.startup("127.0.0.1:3000".parse().unwrap()).contains("at most 1 MiB of sessions"));
        let cookie = about(&[]).startup("127.0.0.1:3000".parse().unwrap());
        assert!(!cookie.contains("SESSION_MAX_BYTES"), "a cookie store keeps nothing: {cookie}");
        for bad in ["0", "-1", "64M", "x"] {
            assert!(Config::from_vars([("SESSION_MAX_BYTES", bad)]).is_err(), "{bad}");
        }
    }

    #[test]
    fn secure_cookies_on_a_public_address_are_warned_about() {
        let text = about(&[("DEMO_ADDR", "0.0.0.0:3000")]).startup("0.0.0.0:3000".parse().unwrap());
        assert!(text.contains("WARNING"), "{text}");
        assert!(text.contains("http://127.0.0.1:3000/"), "{text}");
        let plain = about(&[("DEMO_ADDR", "0.0.0.0:3000"), ("SESSION_SECURE", "0")]);
        assert!(!plain.startup("0.0.0.0:3000".parse().unwrap()).contains("WARNING"));
    }

    #[test]
    fn timeouts_are_the_library_defaults_unless_set() {
        assert_eq!(
            about(&[]).timeouts_sentence(),
            "idle timeout 30 minutes, absolute timeout 12 hours; a remembered session lasts 30 days after its last \
             use instead"
        );
        let set = about(&[("SESSION_IDLE_SECS", "90"), ("SESSION_MAX_SECS", "0")]);
        assert_eq!((set.idle, set.absolute), (Some(Duration::from_secs(90)), None));
    }
}
