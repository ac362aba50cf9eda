//! The demo's HTML, the same in every framework: the home page, the page
//! for a wrong address or method, their inline style and the favicon.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::about::{About, human};
use crate::config::{MAIN_SESSION, PREFS_SESSION};
use crate::devices::{Device, ago, utc};

/// A confirmation or an error the page shows once at its top, carried to
/// it in a flash queue of its own after a form (Post/Redirect/Get).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    /// False for an error (an empty user name, a refused cookie).
    pub ok: bool,
    /// What happened, in one or two sentences.
    pub text: String,
}

impl Notice {
    /// A confirmation.
    pub fn ok(text: impl Into<String>) -> Notice {
        Notice { ok: true, text: text.into() }
    }

    /// An error.
    pub fn error(text: impl Into<String>) -> Notice {
        Notice { ok: false, text: text.into() }
    }
}

/// What the home page shows; every demo renders it with [`home_page`].
#[derive(Debug, Clone, Default)]
pub struct HomeView {
    /// The counter of the main session.
    pub count: u64,
    /// The flash messages taken for this page.
    pub flashes: Vec<String>,
    /// Confirmations and errors taken for this page.
    pub notices: Vec<Notice>,
    /// The logged-in user.
    pub user: Option<String>,
    /// The theme from the `prefs` session.
    pub theme: Option<String>,
    /// The main session's other string values (those `/kv` lists).
    pub values: BTreeMap<String, String>,
    /// The cookie's lifetime when "remember me" is on.
    pub remembered: Option<Duration>,
    /// A short, non-secret fingerprint of the main session: part of its
    /// storage key (a hash of the id) on a server store, of a hash of the
    /// cookie on the cookie store.
    pub fingerprint: Option<String>,
    /// The request brought no valid main-session cookie.
    pub fresh: bool,
    /// The cookies the browser sent: name and size in bytes.
    pub cookies: Vec<(String, usize)>,
    /// Values the page could not read as the type it expects; each is
    /// shown with a form that removes it.
    pub unreadable: Vec<Unreadable>,
    /// The user's sessions, for the "Your devices" section.
    pub devices: DevicesView,
}

/// What the "Your devices" section shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum DevicesView {
    /// The cookie store keeps no list of sessions.
    #[default]
    CookieStore,
    /// A server store, and nobody logged in.
    LoggedOut,
    /// The logged-in user's live sessions, and the time now (Unix seconds)
    /// their ages count from.
    Listed {
        /// The sessions, the current one first.
        devices: Vec<Device>,
        /// Now, in Unix seconds.
        now: u64,
    },
}

/// A stored value of another type than the demo reads under its key (a
/// string under `count`, say): the page says so and offers to remove it
/// instead of failing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    /// The session holding it: [`MAIN_SESSION`] or [`PREFS_SESSION`].
    pub session: &'static str,
    /// Its key.
    pub key: String,
    /// What the demo expected there, such as "a number".
    pub expected: &'static str,
}

impl HomeView {
    fn unreadable(&self, session: &str, key: &str) -> bool {
        self.unreadable.iter().any(|u| u.session == session && u.key == key)
    }
}

/// The demo's HTML home page, the same in every framework.
///
/// ```
/// use demo_kit::{About, Config, HomeView, home_page};
///
/// let about = About::new("axum", &Config::from_vars([("SESSION_SECURE", "0")])?);
/// let page = home_page(&HomeView { user: Some("<ada>".into()), count: 2, ..Default::default() }, &about);
/// assert!(page.contains("&lt;ada&gt;"));
/// assert!(page.contains("Counter: 2"));
/// # Ok::<(), demo_kit::ConfigError>(())
/// ```
pub fn home_page(view: &HomeView, about: &About) -> String {
    let mut notices = String::new();
    for notice in &view.notices {
        let class = if notice.ok { "ok" } else { "error" };
        let _ = write!(notices, r#"<p class="notice {class}" role="status">{}</p>"#, prose(&notice.text));
    }
    let flashes = if view.flashes.is_empty() {
        r#"<p class="muted" id="flashes">No flash waiting.</p>"#.to_owned()
    } else {
        let items: String = view.flashes.iter().map(|f| format!("<li>{}</li>", escape(f))).collect();
        format!(r#"<ul id="flashes" class="flashes">{items}</ul>"#)
    };
    for unreadable in &view.unreadable {
        let (session, key) = (unreadable.session, escape(&unreadable.key));
        let _ = write!(
            notices,
            r#"<div class="notice error unreadable" role="status"><p>The <code>{session}</code> session holds a value under <code>{key}</code> that is not {expected}, so the demo cannot read it (another version of the app may have written it). Until it is removed, the demo leaves it alone.</p><form method="post" action="/remove"><input type="hidden" name="k" value="{key}"><input type="hidden" name="session" value="{session}"><button>Remove <code>{key}</code></button></form></div>"#,
            expected = unreadable.expected,
        );
    }
    let count = if view.unreadable(MAIN_SESSION, "count") { "unreadable".to_owned() } else { view.count.to_string() };
    let user = match &view.user {
        _ if view.unreadable(MAIN_SESSION, "user") => "unreadable".to_owned(),
        Some(user) => escape(user),
        None => "nobody".to_owned(),
    };
    let theme_name = view.theme.as_deref().filter(|t| !t.is_empty());
    let theme = match theme_name {
        _ if view.unreadable(PREFS_SESSION, "theme") => "unreadable".to_owned(),
        Some(theme) => escape(theme),
        None => "auto (follows your system)".to_owned(),
    };
    let remember = match view.remembered {
        Some(age) => format!(
            r#"<p id="lifetime"><strong>Remembered</strong>: the cookie carries <code>Max-Age</code> ({}) and survives closing the browser.</p>
<form method="post" action="/remember" id="remember-form"><input type="hidden" name="on" value="0"><button class="secondary">Forget me</button></form>"#,
            human(age)
        ),
        None => r#"<p id="lifetime"><strong>Browser session</strong>: the cookie has no expiry and goes when the browser closes.</p>
<form method="post" action="/remember" id="remember-form"><input type="hidden" name="on" value="1"><button>Remember me</button></form>"#
            .to_owned(),
    };
    let options: String = [("auto", "auto"), ("light", "light"), ("dark", "dark")]
        .iter()
        .map(|(value, label)| {
            let selected = if theme_name.unwrap_or("auto") == *value { " selected" } else { "" };
            format!(r#"<option value="{value}"{selected}>{label}</option>"#)
        })
        .collect();
    let values = if view.values.is_empty() {
        r#"<p class="muted" id="values">No string values yet.</p>"#.to_owned()
    } else {
        let rows: String = view
            .values
            .iter()
            .map(|(k, v)| format!("<dt><code>{}</code></dt><dd>{}</dd>", escape(k), escape(v)))
            .collect();
        format!(r#"<dl id="values">{rows}</dl>"#)
    };
    let state = if view.fresh {
        "new: this request brought no valid cookie for it; nothing is stored until something is written"
    } else {
        "loaded from the cookie your browser sent"
    };
    let fingerprint = match (&view.fingerprint, about.store.is_server()) {
        (Some(f), true) => format!(
            r#"<code id="fingerprint">{f}</code> the start of the storage key, a hash of the server-side id (the id itself is never shown; the server log names sessions the same way). It changes on login and only then."#
        ),
        (Some(f), false) => format!(
            r#"<code id="fingerprint">{f}</code> the start of a hash of the cookie. A cookie store has no server-side id: the cookie is sealed anew on every change, so this changes on every write, login included."#
        ),
        (None, _) => r#"<code id="fingerprint">none</code> no session stored yet."#.to_owned(),
    };
    let lifetime = match view.remembered {
        Some(age) => format!("persistent: Max-Age {} (remember me)", human(age)),
        None => "browser session: no Max-Age, gone when the browser closes".to_owned(),
    };
    let cookies = if view.cookies.is_empty() {
        "none".to_owned()
    } else {
        view.cookies
            .iter()
            .map(|(name, size)| format!("<code>{}</code> {size} bytes", escape(name)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let devices = devices_section(&view.devices);
    let partitioned = if about.partitioned {
        "on (SESSION_PARTITIONED=1): the cookies carry <code>Partitioned</code>, so where another site embeds this page, the browser keeps them in a jar of that site's own (CHIPS), apart from this site's when opened directly"
    } else {
        "off: one cookie jar for this site, wherever it is shown (SESSION_PARTITIONED=1 turns it on; it needs Secure)"
    };
    let secure = if about.secure {
        "on: browsers send the cookies back over https; Chromium also over plain http to localhost and 127.0.0.1"
    } else {
        "off (SESSION_SECURE=0): the cookies travel over plain http too"
    };
    format!(
        r#"<!doctype html>
<html lang="en" data-theme="{theme_class}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>sessions demo · {framework}</title>
<link rel="icon" href="{FAVICON_DATA_URL}">
<style>{STYLE}</style>
<script>{SCRIPT}</script>
</head>
<body>
<main>
<header>
<h1>sessions demo</h1>
<p class="muted">Served by <strong id="framework">{framework}</strong>. Everything below is read from your sessions on the server, on every request.</p>
</header>
<div id="notices">{notices}</div>
<div class="grid">
<section id="counter-section">
<h2>Counter</h2>
<p class="why">A number kept in the <code>{MAIN_SESSION}</code> session: each click stores one more and brings you back here, so reload changes nothing.</p>
<p class="big" id="count">Counter: {count}</p>
<form method="post" action="/counter" id="counter-form"><button>Count</button></form>
</section>
<section id="flash-section">
<h2>Flash messages</h2>
<p class="why">A flash is kept in the session until a page shows it, then it is gone: queue one, see it below, reload and it has disappeared.</p>
{flashes}
<form method="post" action="/flash" id="flash-form"><input name="message" placeholder="a message" aria-label="flash message" autocomplete="off"><button>Queue flash</button></form>
</section>
<section id="login-section">
<h2>Log in</h2>
<p class="why">Logging in gives the session a new id, so an id planted before the login is worthless (watch the fingerprint below change); logging out ends the session.</p>
<p>Logged in as: <strong id="user">{user}</strong></p>
<form method="post" action="/login" id="login-form"><input name="user" placeholder="user name" aria-label="user name" autocomplete="off"><button>Log in</button></form>
<form method="post" action="/logout" id="logout-form"><button class="secondary">Log out</button></form>
</section>
<section id="remember-section">
<h2>Remember me</h2>
<p class="why">Remember me turns the cookie into a persistent one for {remember_for}; forget me makes it a browser-session cookie again. The data stays either way.</p>
{remember}
</section>
<section id="theme-section">
<h2>Theme</h2>
<p class="why">A second, independent session in its own <code>{PREFS_SESSION}</code> cookie: changing it never touches <code>{MAIN_SESSION}</code>.</p>
<p>Theme: <strong id="theme">{theme}</strong></p>
<form method="post" action="/prefs" id="theme-form"><select name="theme" aria-label="theme">{options}</select><button>Set theme</button></form>
</section>
<section id="values-section">
<h2>Values</h2>
<p class="why">Any string under any key of the <code>{MAIN_SESSION}</code> session (the user name is one of them).</p>
{values}
<form method="post" action="/kv" id="kv-form"><input name="k" placeholder="key" aria-label="key" autocomplete="off"><input name="v" placeholder="value" aria-label="value" autocomplete="off"><button>Store</button></form>
</section>
</div>
{devices}
<section id="server-view" class="wide">
<h2>The session as the server sees it</h2>
<p class="why">Read on the server for this request. Cookie values are never shown: they are the keys to the session.</p>
<dl>
<dt>Store</dt><dd id="store">{store}</dd>
<dt>Session</dt><dd id="state">{state}</dd>
<dt>Fingerprint</dt><dd>{fingerprint}</dd>
<dt>Lifetime</dt><dd id="cookie-lifetime">{lifetime}</dd>
<dt>Timeouts</dt><dd id="timeouts">{timeouts}; enforced by the server from times sealed inside the session, whatever the browser keeps</dd>
<dt>Cookies sent</dt><dd id="cookies">{cookies} (browsers keep about 4 KB per cookie)</dd>
<dt>Secure</dt><dd id="secure">{secure}</dd>
<dt>Partitioned</dt><dd id="partitioned">{partitioned}</dd>
</dl>
</section>
<section id="programs" class="wide">
<h2>For programs</h2>
<p class="why">A request that does not ask for HTML (curl, fetch, the test suites) gets plain answers instead of pages and redirects:</p>
<ul class="routes">
<li><code>POST /counter</code> adds one, answers the count; <code>GET /peek</code> answers it unchanged</li>
<li><code>POST /flash</code> <code>message=…</code> queues a flash (<code>204</code>); <code>GET /flashes</code> takes them as a JSON array</li>
<li><code>POST /login</code> <code>user=…</code> (<code>204</code>, <code>422</code> when empty); <code>GET /me</code> the user or <code>401</code>; <code>POST /logout</code> (<code>204</code>)</li>
<li><code>POST /remember</code> <code>on=1</code> or <code>on=0</code> (<code>204</code>)</li>
<li><code>POST /kv</code> <code>k=…&amp;v=…</code> stores a value (<code>204</code>; <code>422</code> for an empty key or one the demo itself uses: <code>{reserved}</code>); <code>GET /kv</code> lists them as JSON</li>
<li><code>POST /remove</code> <code>k=…</code> removes a value (<code>session=prefs</code>: from the <code>{PREFS_SESSION}</code> session)</li>
<li><code>POST /prefs</code> <code>theme=…</code> sets the theme, <code>GET /prefs</code> reads it; <code>GET /both</code> reads both sessions as JSON</li>
<li><code>GET /devices</code> the logged-in user's sessions as JSON (<code>handle</code>, <code>created</code>, <code>last_seen</code>, <code>current</code>); <code>POST /devices/end</code> <code>handle=…</code> ends one, <code>POST /devices/end-others</code> all but this one (<code>204</code>; <code>401</code> when logged out, <code>404</code> on the cookie store)</li>
<li>a form body over {limit} KiB is refused with <code>413</code>; a value the demo cannot read answers <code>409</code> until it is removed</li>
</ul>
<p class="why">For example, at the address the demo printed when it started: <code>curl -c jar -b jar -X POST http://127.0.0.1:3000/counter</code>, twice.</p>
</section>
</main>
</body>
</html>
"#,
        theme_class = theme_class(theme_name),
        framework = escape(&about.framework),
        remember_for = human(about.remember_for),
        store = prose(&about.store_sentence()),
        timeouts = prose(&about.timeouts_sentence()),
        reserved = crate::routes::RESERVED_KEYS.join(", "),
        limit = crate::routes::BODY_LIMIT / 1024,
    )
}

/// The "Your devices" section: the user's sessions with a way to end each,
/// or why there is no list.
fn devices_section(view: &DevicesView) -> String {
    let body = match view {
        DevicesView::CookieStore => r#"<p class="muted" id="devices">The cookie store keeps no list of sessions: each lives only in its browser's cookie, so there is nothing here to show or end. Start the demo on a server store (<code>SESSION_STORE=memory</code>, say) to see your devices.</p>"#.to_owned(),
        DevicesView::LoggedOut => r#"<p class="muted" id="devices">Log in to see every browser signed in as you, and to sign any of them out.</p>"#.to_owned(),
        DevicesView::Listed { devices, now } => {
            let rows: String = devices.iter().map(|device| device_row(device, *now)).collect();
            let others = if devices.iter().any(|d| !d.current) {
                r#"<form method="post" action="/devices/end-others" id="end-others-form"><button class="secondary">Sign out every other device</button></form>"#
            } else {
                r#"<p class="muted" id="no-others">No other device is signed in as you.</p>"#
            };
            format!(
                r#"<table id="devices"><thead><tr><th>Device</th><th>Started</th><th>Last used</th><th></th></tr></thead><tbody>{rows}</tbody></table>
{others}"#
            )
        }
    };
    format!(
        r#"<section id="devices-section" class="wide">
<h2>Your devices</h2>
<p class="why">Every browser signed in as you, from the server store's index of your sessions. Each is named by a public handle, a keyed hash that gives neither its cookie nor where it is stored away; signing one out ends its session on the server, so its next request is anonymous.</p>
{body}
</section>"#
    )
}

/// One row of the devices table.
fn device_row(device: &Device, now: u64) -> String {
    let handle = escape(&device.handle);
    let (name, action) = if device.current {
        (r#"<strong>This browser</strong>"#.to_owned(), r#"<span class="muted">you are here</span>"#.to_owned())
    } else {
        (
            format!("Session <code>{}…</code>", escape(&device.handle.chars().take(8).collect::<String>())),
            format!(
                r#"<form method="post" action="/devices/end" class="end-device"><input type="hidden" name="handle" value="{handle}"><button class="secondary">Sign out</button></form>"#
            ),
        )
    };
    format!(
        r#"<tr class="device{current}" data-handle="{handle}"><td>{name}</td><td>{started}<br><span class="muted">{started_ago}</span></td><td>{seen}<br><span class="muted">{seen_ago}</span></td><td>{action}</td></tr>"#,
        current = if device.current { " current" } else { "" },
        started = utc(device.created),
        started_ago = ago(device.created, now),
        seen = utc(device.last_seen),
        seen_ago = ago(device.last_seen, now),
    )
}

/// The page for an address or method the demo does not serve, the same
/// in every framework.
///
/// ```
/// let page = demo_kit::error_page(404, "Nothing here", "There is no page at /nowhere.");
/// assert!(page.contains("404"));
/// assert!(page.contains(r#"href="/""#));
/// ```
pub fn error_page(status: u16, title: &str, text: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="en" data-theme="auto">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{status} · sessions demo</title>
<link rel="icon" href="{FAVICON_DATA_URL}">
<style>{STYLE}</style>
</head>
<body>
<main>
<section class="wide" id="error">
<h1>{status}: {title}</h1>
<p>{text}</p>
<p><a href="/">Back to the demo</a></p>
</section>
</main>
</body>
</html>
"#,
        title = escape(title),
        text = escape(text),
    )
}

/// The favicon, a cookie, as SVG: served at `/favicon.ico` and inlined in
/// every page.
pub const FAVICON_SVG: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><circle cx="16" cy="16" r="14" fill="#d49a5a"/><circle cx="11" cy="11" r="2.4" fill="#5a3317"/><circle cx="20" cy="10" r="1.9" fill="#5a3317"/><circle cx="21" cy="20" r="2.4" fill="#5a3317"/><circle cx="11" cy="21" r="1.8" fill="#5a3317"/><circle cx="16" cy="16" r="1.4" fill="#5a3317"/></svg>"##;

const FAVICON_DATA_URL: &str = "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 32 32'%3E%3Ccircle cx='16' cy='16' r='14' fill='%23d49a5a'/%3E%3Ccircle cx='11' cy='11' r='2.4' fill='%235a3317'/%3E%3Ccircle cx='20' cy='10' r='1.9' fill='%235a3317'/%3E%3Ccircle cx='21' cy='20' r='2.4' fill='%235a3317'/%3E%3Ccircle cx='11' cy='21' r='1.8' fill='%235a3317'/%3E%3Ccircle cx='16' cy='16' r='1.4' fill='%235a3317'/%3E%3C/svg%3E";

/// `light`, `dark`, or `auto` (follow the system) for anything else.
fn theme_class(theme: Option<&str>) -> &'static str {
    match theme {
        Some(t) if t.eq_ignore_ascii_case("dark") => "dark",
        Some(t) if t.eq_ignore_ascii_case("light") => "light",
        _ => "auto",
    }
}

/// Light colours by default, dark ones for `data-theme="dark"` and for
/// `auto` when the system prefers dark.
const STYLE: &str = r#"
:root{color-scheme:light;--bg:#f5f6f8;--fg:#1c2230;--muted:#5a6477;--card:#fff;--line:#dde1e8;--accent:#2f62d0;--on-accent:#fff;--ok-bg:#e4f3e8;--ok-fg:#1d6533;--err-bg:#fbe9e7;--err-fg:#9d2620;--code:#eef1f5}
html[data-theme=dark]{color-scheme:dark;--bg:#13161b;--fg:#e5e8ee;--muted:#9aa3b3;--card:#1c2027;--line:#2f3540;--accent:#7ea6ff;--on-accent:#0d1320;--ok-bg:#173823;--ok-fg:#9fe0b2;--err-bg:#45201d;--err-fg:#ffb3a8;--code:#272c35}
@media (prefers-color-scheme:dark){html[data-theme=auto]{color-scheme:dark;--bg:#13161b;--fg:#e5e8ee;--muted:#9aa3b3;--card:#1c2027;--line:#2f3540;--accent:#7ea6ff;--on-accent:#0d1320;--ok-bg:#173823;--ok-fg:#9fe0b2;--err-bg:#45201d;--err-fg:#ffb3a8;--code:#272c35}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
main{max-width:62rem;margin:0 auto;padding:1.5rem 1.25rem 3rem}
h1{margin:0;font-size:1.6rem}
h2{margin:0 0 .3rem;font-size:1.05rem}
header{margin-bottom:1rem}
.muted,.why{color:var(--muted)}
.why{font-size:.88rem;margin:0 0 .7rem}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(18rem,1fr));gap:1rem}
section{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:1rem 1.2rem}
section.wide{margin-top:1rem}
.big{font-size:1.7rem;font-weight:650;margin:.2rem 0 .6rem}
.notice{margin:0 0 .6rem;padding:.6rem .9rem;border-radius:8px;font-weight:500}
.notice.ok{background:var(--ok-bg);color:var(--ok-fg)}
.notice.error{background:var(--err-bg);color:var(--err-fg)}
.notice p{margin:0 0 .4rem}
.flashes{margin:.2rem 0 .7rem;padding-left:1.2rem}
form{display:flex;gap:.5rem;flex-wrap:wrap;margin:.4rem 0 0}
input,select{flex:1 1 8rem;min-width:0;font:inherit;padding:.35rem .55rem;border:1px solid var(--line);border-radius:6px;background:var(--bg);color:var(--fg)}
button{font:inherit;font-weight:550;padding:.35rem .95rem;border-radius:6px;border:1px solid var(--accent);background:var(--accent);color:var(--on-accent);cursor:pointer}
button.secondary{background:transparent;color:var(--accent)}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.35rem 1.2rem;margin:0}
dt{color:var(--muted)}
dd{margin:0}
code{background:var(--code);padding:.05rem .3rem;border-radius:4px;font-size:.88em}
.routes{margin:.2rem 0 .6rem;padding-left:1.2rem}
table{width:100%;border-collapse:collapse;margin:.2rem 0 .6rem}
th,td{text-align:left;padding:.4rem .5rem;border-bottom:1px solid var(--line);vertical-align:top}
th{color:var(--muted);font-weight:500;font-size:.88rem}
tr.current td{background:var(--ok-bg)}
td form{margin:0}
a{color:var(--accent)}
"#;

/// The page's one script: a page restored from the back-forward cache is
/// reloaded, so Back never shows a session as it was.
const SCRIPT: &str = r#"addEventListener("pageshow", (e) => { if (e.persisted) location.reload(); });"#;

/// The `Content-Security-Policy` of every demo response: nothing loads
/// from elsewhere; the page's own inline style and script run because
/// their SHA-256 hashes are listed (a test checks them against [`STYLE`]
/// and [`SCRIPT`]), so an injected `<script>` would not; the icon is a
/// `data:` image; forms go to this origin only; and no page of another
/// origin may frame it (`frame-ancestors`, what `X-Frame-Options: DENY`
/// says to older browsers).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'sha256-DWIvZ4RQrRUZtf9GBX/anZ6h2h7h8qHTBl7MQSgqouY='; script-src 'sha256-S3oLn/eX3Gg5nHTfTKWwXWzuNXZsAPaql5/9Bvta9P8='; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// The headers every demo response carries, in every framework: a page
/// that cannot be framed (so its buttons cannot be clickjacked), runs only
/// its own style and script, is never sniffed as another content type, and
/// sends its address to no other site.
///
/// Each demo adds them in its framework's way (an axum middleware,
/// actix's `DefaultHeaders`, a rocket fairing, a warp reply wrapper).
///
/// ```
/// let names: Vec<&str> = demo_kit::SECURITY_HEADERS.iter().map(|(name, _)| *name).collect();
/// assert!(names.contains(&"x-frame-options"));
/// ```
pub const SECURITY_HEADERS: &[(&str, &str)] = &[
    ("x-frame-options", "DENY"),
    ("content-security-policy", CONTENT_SECURITY_POLICY),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "same-origin"),
];

/// `text` escaped, with each `quoted` part set as code: the sentences
/// the terminal prints with backquotes read the same on the page.
fn prose(text: &str) -> String {
    escape(text)
        .split('`')
        .enumerate()
        .map(|(i, part)| if i % 2 == 1 { format!("<code>{part}</code>") } else { part.to_owned() })
        .collect()
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn about() -> About {
        About::new("axum", &Config::from_vars([("SESSION_SECURE", "0")]).unwrap())
    }

    #[test]
    fn dark_theme_sets_the_dark_palette() {
        let page = home_page(&HomeView { theme: Some("dark".into()), ..Default::default() }, &about());
        assert!(page.contains(r#"data-theme="dark""#));
        assert!(STYLE.contains("html[data-theme=dark]"));
    }

    #[test]
    fn unknown_theme_is_shown_and_styled_as_auto() {
        let page = home_page(&HomeView { theme: Some("solarized".into()), ..Default::default() }, &about());
        assert!(page.contains(r#"data-theme="auto""#));
        assert!(page.contains("solarized"));
    }

    #[test]
    fn notices_and_flashes_are_escaped() {
        let view =
            HomeView { notices: vec![Notice::error("<b>no</b>")], flashes: vec!["a & b".into()], ..Default::default() };
        let page = home_page(&view, &about());
        assert!(page.contains(r#"<p class="notice error" role="status">&lt;b&gt;no&lt;/b&gt;</p>"#));
        assert_eq!(prose("the `id` cookie <"), "the <code>id</code> cookie &lt;");
        assert!(page.contains("<li>a &amp; b</li>"));
    }

    #[test]
    fn remembered_session_offers_forget_me() {
        let view = HomeView { remembered: Some(Duration::from_secs(30 * 86_400)), ..Default::default() };
        let page = home_page(&view, &about());
        assert!(page.contains("Forget me") && !page.contains("Remember me</button>"));
        assert!(page.contains("30 days"));
    }

    /// The policy's `'sha256-…'` source for an inline element holding `text`.
    fn csp_hash(text: &str) -> String {
        use base64::Engine as _;
        let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
        format!("'sha256-{}'", base64::engine::general_purpose::STANDARD.encode(digest))
    }

    #[test]
    fn security_policy_allows_exactly_the_pages_inline_style_and_script() {
        let style = format!("style-src {};", csp_hash(STYLE));
        let script = format!("script-src {};", csp_hash(SCRIPT));
        assert!(CONTENT_SECURITY_POLICY.contains(&style), "update the style hash: {style}");
        assert!(CONTENT_SECURITY_POLICY.contains(&script), "update the script hash: {script}");
        let page = home_page(&HomeView::default(), &about());
        assert!(
            page.contains(&format!("<style>{STYLE}</style>")) && page.contains(&format!("<script>{SCRIPT}</script>"))
        );
        assert_eq!(page.matches("<script").count(), 1, "another inline script needs its hash in the policy");
        assert_eq!(page.matches("<style").count(), 1, "another inline style needs its hash in the policy");
        assert!(!page.contains(" style=\""), "the policy refuses style attributes");
        let error = error_page(404, "x", "y");
        assert!(error.contains(&format!("<style>{STYLE}</style>")) && !error.contains("<script"));
    }

    #[test]
    fn every_response_header_names_frame_ancestors_none() {
        let names: Vec<&str> = SECURITY_HEADERS.iter().map(|(name, _)| *name).collect();
        assert_eq!(names, ["x-frame-options", "content-security-policy", "x-content-type-options", "referrer-policy"]);
        assert!(CONTENT_SECURITY_POLICY.contains("frame-ancestors 'none'"));
    }

    #[test]
    fn devices_are_listed_with_a_sign_out_form_for_each_other_one() {
        let device = |handle: &str, current| Device {
            handle: handle.into(),
            created: 1_800_000_000,
            last_seen: 1_800_000_300,
            current,
        };
        let devices =
            DevicesView::Listed { devices: vec![device("aa", true), device("bb\"><b>", false)], now: 1_800_000_600 };
        let page = home_page(&HomeView { devices, ..Default::default() }, &about());
        assert!(page.contains("<strong>This browser</strong>"), "{page}");
        assert!(page.contains(r#"<input type="hidden" name="handle" value="bb&quot;&gt;&lt;b&gt;">"#), "{page}");
        assert!(!page.contains(r#"value="aa""#), "no form ends this browser");
        assert!(page.contains("2027-01-15 08:05 UTC") && page.contains("5 min ago"), "{page}");
        assert!(page.contains(r#"action="/devices/end-others""#));

        let alone = DevicesView::Listed { devices: vec![device("aa", true)], now: 1_800_000_600 };
        let page = home_page(&HomeView { devices: alone, ..Default::default() }, &about());
        assert!(!page.contains(r#"action="/devices/end-others""#) && page.contains("No other device"), "{page}");
        let cookie = home_page(&HomeView::default(), &about());
        assert!(cookie.contains("The cookie store keeps no list of sessions"));
    }

    #[test]
    fn partitioned_cookies_are_named_in_the_cookie_block() {
        let on = About::new("axum", &Config::from_vars([("SESSION_PARTITIONED", "1")]).unwrap());
        assert!(home_page(&HomeView::default(), &on).contains(r#"<dd id="partitioned">on (SESSION_PARTITIONED=1)"#));
        assert!(home_page(&HomeView::default(), &about()).contains(r#"<dd id="partitioned">off"#));
    }

    #[test]
    fn page_loads_no_external_asset() {
        let page = home_page(&HomeView::default(), &about());
        for external in ["src=\"http", "href=\"http", "@import", "url("] {
            assert!(!page.contains(external), "{external}");
        }
    }
}
