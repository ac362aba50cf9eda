//! The bodies of the demo's handlers, written once against the core
//! [`Session`]: each demo's handler extracts the sessions its framework's
//! way, reads the request's [`Visit`] (two headers), parses its form or
//! query into the types here, and calls one of these functions.
//!
//! Two kinds of client, one decision ([`Visit::wants_html`]):
//! - **programs** (no `Accept: text/html`: curl, the conformance suite)
//!   get the contract below, unchanged: statuses, text and JSON;
//! - **browsers** get Post/Redirect/Get: every form answers `303` to `/`,
//!   where a notice (a flash of its own queue) confirms what happened, so
//!   reload and Back never repeat a form.
//!
//! | route | method | input | answer to a program |
//! |---|---|---|---|
//! | `/` | GET | | the HTML page |
//! | `/counter` | POST | | increments `count`, answers it |
//! | `/peek` | GET | | `count`, unchanged |
//! | `/flash` | POST | [`FlashForm`] | queues a flash, `204`; `422` when empty |
//! | `/flashes` | GET | | the flashes as a JSON array, taken |
//! | `/login` | POST | [`LoginForm`] | new id, `user` set, `204`; `422` when empty |
//! | `/me` | GET | | `user`, or `401` |
//! | `/logout` | POST | | session destroyed, `204` |
//! | `/remember` | POST | [`RememberForm`] | remember-me on or off, `204` |
//! | `/kv` | GET | | the string values as JSON |
//! | `/kv` | POST | [`KvForm`] | sets `k` to `v`, `204`; `422` for an empty key or one of [`RESERVED_KEYS`] |
//! | `/remove` | POST | [`RemoveForm`] | removes a value, `204` |
//! | `/prefs` | GET | | `theme` from the `prefs` session |
//! | `/prefs` | POST | [`PrefsForm`] | sets `theme` in the `prefs` session, answers it |
//! | `/both` | GET | | `count` and `theme` as JSON |
//! | `/devices` | GET | | the user's live sessions as JSON ([`devices`]); `401` when logged out |
//! | `/devices/end` | POST | [`EndDeviceForm`] | ends one of them, `204`; `404` for a handle of none of them |
//! | `/devices/end-others` | POST | | ends all of them but this one, `204` |
//! | `/favicon.ico` | GET | | the icon |
//!
//! No `GET` writes a value: a link or an image another site shows cannot
//! change a session. The one change a `GET` makes is the one a flash is
//! for: reading it ends it (`/flashes`, and the page with its notices). A
//! form body over [`BODY_LIMIT`] bytes is refused with
//! `413` ([`too_large`]) before it is read. A value stored with another
//! type than the demo reads under its key never fails a page: the home
//! page says it is unreadable and offers a form that removes it; the
//! routes that need it answer `409` ([`unreadable`]) until it is gone.
//!
//! The three `/devices` routes need a server store: on the cookie store
//! they answer `404` with one line saying so ([`NEEDS_SERVER_STORE`]).
//!
//! Any other path answers `404`, a known path with another method `405`
//! with `Allow` ([`unmatched`]): a page for a browser, a word for a
//! program, in every framework alike.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use sessions_core::adapter::FailureKind;
use sessions_core::{Result, Session};

use crate::about::About;
use crate::answer::Answer;
use crate::config::{MAIN_SESSION, PREFS_SESSION};
use crate::devices::Devices;
use crate::page::{DevicesView, FAVICON_SVG, HomeView, Notice, Unreadable, error_page, home_page};
use crate::visit::Visit;

/// Every route of the demo with the methods it answers (comma-separated,
/// as `Allow` lists them); [`unmatched`] reads it to tell a wrong method
/// from a wrong address.
pub const ROUTES: &[(&str, &str)] = &[
    ("/", "GET"),
    ("/counter", "POST"),
    ("/peek", "GET"),
    ("/flash", "POST"),
    ("/flashes", "GET"),
    ("/login", "POST"),
    ("/me", "GET"),
    ("/logout", "POST"),
    ("/remember", "POST"),
    ("/kv", "GET, POST"),
    ("/remove", "POST"),
    ("/prefs", "GET, POST"),
    ("/both", "GET"),
    ("/devices", "GET"),
    ("/devices/end", "POST"),
    ("/devices/end-others", "POST"),
    ("/favicon.ico", "GET"),
];

/// The largest form body any route reads, in bytes: what a session value
/// needs, and far below what would let one request fill memory or a
/// store. Every demo refuses a longer body with `413` ([`too_large`]),
/// before it is read when `Content-Length` says so, as soon as it passes
/// the limit when the body is chunked.
pub const BODY_LIMIT: usize = 64 * 1024;

/// The keys of the main session the demo itself reads: `POST /kv` refuses
/// them (`user` is set by logging in, with a new id; `count` only by the
/// counter).
pub const RESERVED_KEYS: &[&str] = &["user", "count"];

/// The flash queue of the page's notices, apart from the user's flashes.
pub const NOTICES: &str = "notice";

/// The form of `POST /flash`.
#[derive(Debug, Default, Deserialize)]
pub struct FlashForm {
    /// The message to show once (a missing field is an empty message).
    #[serde(default)]
    pub message: String,
}

/// The form of `POST /login`.
#[derive(Debug, Default, Deserialize)]
pub struct LoginForm {
    /// Who logs in (a missing field is an empty name).
    #[serde(default)]
    pub user: String,
}

/// The form of `POST /remember`.
#[derive(Debug, Default, Deserialize)]
pub struct RememberForm {
    /// `1` to remember the session, `0` to forget it.
    #[serde(default)]
    pub on: String,
}

/// The form of `POST /kv`.
#[derive(Debug, Default, Deserialize)]
pub struct KvForm {
    /// The key to set (a missing field is an empty key, refused).
    #[serde(default)]
    pub k: String,
    /// The value to set (empty when missing).
    #[serde(default)]
    pub v: String,
}

/// The form of `POST /remove`.
#[derive(Debug, Default, Deserialize)]
pub struct RemoveForm {
    /// The key to remove.
    #[serde(default)]
    pub k: String,
    /// The session to remove it from: `prefs`, or the main session for
    /// anything else (a missing field included).
    #[serde(default)]
    pub session: String,
}

/// The form of `POST /prefs`.
#[derive(Debug, Default, Deserialize)]
pub struct PrefsForm {
    /// The theme to set (empty when missing: the automatic theme).
    #[serde(default)]
    pub theme: String,
}

/// The form of `POST /devices/end`.
#[derive(Debug, Default, Deserialize)]
pub struct EndDeviceForm {
    /// The public handle of the session to end, as `GET /devices` lists it.
    #[serde(default)]
    pub handle: String,
}

/// What the `/devices` routes answer a program on the cookie store (with
/// `404`): there is no list of sessions to show.
pub const NEEDS_SERVER_STORE: &str =
    "the devices list needs a server store: start the demo with SESSION_STORE=memory (or another server store)";

/// A value read from a session: there, absent, or stored with another
/// type than the one asked for.
enum Read<T> {
    Value(T),
    Missing,
    Unreadable,
}

impl<T> Read<T> {
    fn is_unreadable(&self) -> bool {
        matches!(self, Read::Unreadable)
    }

    fn value(self) -> Option<T> {
        match self {
            Read::Value(value) => Some(value),
            Read::Missing | Read::Unreadable => None,
        }
    }
}

/// Reads `key` as a `T`, telling a value of another type apart from an
/// error: only a value that does not decode is unreadable.
fn read<T: DeserializeOwned>(session: &Session, key: &str) -> Read<T> {
    match session.get(key) {
        Ok(Some(value)) => Read::Value(value),
        Ok(None) => Read::Missing,
        Err(err) => {
            tracing::info!(key, error = %err, "a session value is of another type than the demo reads");
            Read::Unreadable
        }
    }
}

/// What a route that needs `key` answers while it holds a value of
/// another type: `409` with the way out for a program, the page (which
/// offers to remove it) for a browser.
///
/// ```
/// let answer = demo_kit::routes::unreadable("count", "id", &demo_kit::Visit::default());
/// assert_eq!(answer.status(), 409);
/// ```
pub fn unreadable(key: &str, session: &str, visit: &Visit) -> Answer {
    if visit.wants_html() {
        return Answer::see_other("/");
    }
    let session = if session == PREFS_SESSION { "&session=prefs" } else { "" };
    Answer::text(format!("`{key}` holds a value the demo cannot read: remove it with POST /remove k={key}{session}"))
        .with_status(409)
}

/// `413` for a form body over [`BODY_LIMIT`]: a page with a way back for
/// a browser, one line for a program.
///
/// ```
/// let answer = demo_kit::routes::too_large(&demo_kit::Visit::default());
/// assert_eq!((answer.status(), answer.body()), (413, "form body over 64 KiB"));
/// ```
pub fn too_large(visit: &Visit) -> Answer {
    let limit = BODY_LIMIT / 1024;
    if visit.wants_html() {
        let text =
            format!("The form sent more than {limit} KiB, more than any value of this demo needs. Nothing was stored.");
        return Answer::html(error_page(413, "Form too large", &text)).with_status(413);
    }
    Answer::text(format!("form body over {limit} KiB")).with_status(413)
}

/// Back to the page, with `notice` waiting in `session`: how every form
/// answers a browser.
fn back_home(session: &Session, notice: Notice) -> Result<Answer> {
    session.add_flash_to(NOTICES, &notice)?;
    Ok(Answer::see_other("/"))
}

/// A form a program sent wrongly: `422` with the reason.
fn unprocessable(reason: &str) -> Answer {
    Answer::text(reason).with_status(422)
}

/// `GET /`: the page, from the main session and `prefs`, as the server
/// sees them for this request.
///
/// A session cookie the request brought but the store refused (changed,
/// expired, under a retired key, or naming an ended session) is removed
/// here, with a notice saying so, rather than left in the browser.
///
/// Logged in on a server store, the page lists the user's sessions (see
/// [`devices`]).
pub async fn home(
    session: &Session,
    prefs: &Session,
    devices: &Devices,
    visit: &Visit,
    about: &About,
) -> Result<Answer> {
    let mut notices = Vec::new();
    for (name, queue) in [(MAIN_SESSION, session), (PREFS_SESSION, prefs)] {
        // A queue that does not decode is emptied all the same: one notice
        // says so, and the next page is whole.
        match queue.flashes_from::<Notice>(NOTICES) {
            Ok(taken) => notices.extend(taken),
            Err(_) => notices.push(Notice::error(format!("A notice in the `{name}` session could not be read."))),
        }
    }
    let flashes = session.flashes().unwrap_or_else(|_| {
        notices.push(Notice::error("A flash message could not be read; the queue was emptied."));
        Vec::new()
    });
    let mut removals = Vec::new();
    for (name, loaded) in [(MAIN_SESSION, session), (PREFS_SESSION, prefs)] {
        if loaded.is_new() && visit.cookie(name).is_some_and(|value| !value.is_empty()) {
            tracing::info!(cookie = name, "the page removes a session cookie the store refused");
            notices.push(Notice::error(format!(
                "Your browser sent a `{name}` cookie the server refused: changed, expired, signed with a key no \
                 longer in SESSION_KEYS, or naming a session that has ended. It has been removed; this is a fresh \
                 session."
            )));
            removals.push(removal(name, about));
        }
    }
    if about.secure && visit.drops_secure_cookies() {
        notices.push(Notice::error(format!(
            "This page came over plain http to {}, which is not this machine's loopback address: the cookies are \
             Secure, so your browser keeps none of them here and nothing you do persists. Open the demo at \
             http://127.0.0.1 on its own machine, serve it over https, or start it with SESSION_SECURE=0 on a \
             network you trust.",
            visit.host().unwrap_or_default()
        )));
    }
    let fingerprint = match session.storage_key() {
        Some(key) => Some(key.as_str()[..12].to_owned()),
        None if !session.is_new() => visit.cookie(MAIN_SESSION).map(digest),
        None => None,
    };
    let count = read::<u64>(session, "count");
    let user = read::<String>(session, "user");
    let theme = read::<String>(prefs, "theme");
    let unreadable = [
        (count.is_unreadable(), MAIN_SESSION, "count", "a number"),
        (user.is_unreadable(), MAIN_SESSION, "user", "a string"),
        (theme.is_unreadable(), PREFS_SESSION, "theme", "a string"),
    ]
    .into_iter()
    .filter(|(unreadable, ..)| *unreadable)
    .map(|(_, session, key, expected)| Unreadable { session, key: key.to_owned(), expected })
    .collect();
    let view = HomeView {
        count: count.value().unwrap_or(0),
        flashes,
        notices,
        user: user.value(),
        theme: theme.value(),
        unreadable,
        values: string_values(session),
        remembered: session.max_age(),
        fingerprint,
        fresh: session.is_new(),
        cookies: visit.cookies().map(|(name, value)| (name.to_owned(), name.len() + 1 + value.len())).collect(),
        devices: match (devices.is_available(), session.user()) {
            (false, _) => DevicesView::CookieStore,
            (true, None) => DevicesView::LoggedOut,
            (true, Some(user)) => DevicesView::Listed { devices: devices.list(&user, session).await?, now: unix_now() },
        },
    };
    let answer = Answer::html(home_page(&view, about));
    Ok(removals.into_iter().fold(answer, |answer, cookie| answer.with_header("set-cookie", cookie)))
}

/// `POST /counter`: a value of another type under `count` is left alone.
pub fn counter(session: &Session, visit: &Visit) -> Result<Answer> {
    let count = match read::<u64>(session, "count") {
        Read::Value(count) => count.saturating_add(1),
        Read::Missing => 1,
        Read::Unreadable => return Ok(unreadable("count", MAIN_SESSION, visit)),
    };
    session.insert("count", &count)?;
    if visit.wants_html() {
        return back_home(session, Notice::ok(format!("Counted: {count}, stored in the session.")));
    }
    Ok(Answer::text(count.to_string()))
}

/// `GET /peek`.
pub fn peek(session: &Session, visit: &Visit) -> Result<Answer> {
    Ok(match read::<u64>(session, "count") {
        Read::Value(count) => Answer::text(count.to_string()),
        Read::Missing => Answer::text("0"),
        Read::Unreadable => unreadable("count", MAIN_SESSION, visit),
    })
}

/// `POST /flash`.
pub fn flash(session: &Session, form: &FlashForm, visit: &Visit) -> Result<Answer> {
    let empty = form.message.trim().is_empty();
    match (visit.wants_html(), empty) {
        (true, true) => back_home(session, Notice::error("Type a message to queue a flash.")),
        (false, true) => Ok(unprocessable("the message is empty")),
        (true, false) => {
            session.add_flash(&form.message)?;
            back_home(
                session,
                Notice::ok("Flash queued: this page took it from the session to show it. Reload and it is gone."),
            )
        }
        (false, false) => {
            session.add_flash(&form.message)?;
            Ok(Answer::empty(204))
        }
    }
}

/// `GET /flashes`: a queue holding a message that is not a string is
/// emptied all the same (a flash is read once), and answers `409` once.
pub fn flashes(session: &Session) -> Result<Answer> {
    Ok(match session.flashes::<String>() {
        Ok(flashes) => Answer::json(serde_json::json!(flashes)),
        Err(_) => Answer::text("a flash message could not be read; the queue was emptied").with_status(409),
    })
}

/// `POST /login`: a new id first, against session fixation. An empty
/// name logs nobody in.
pub fn login(session: &Session, form: &LoginForm, visit: &Visit) -> Result<Answer> {
    if form.user.trim().is_empty() {
        return if visit.wants_html() {
            back_home(session, Notice::error("Type a user name to log in."))
        } else {
            Ok(unprocessable("the user name is empty"))
        };
    }
    session.cycle_id();
    session.insert("user", &form.user)?;
    // Bound to the user, the session is in the user's index: listed under
    // "Your devices", and ended with the user's other sessions.
    session.set_user(Some(&form.user))?;
    if visit.wants_html() {
        return back_home(
            session,
            Notice::ok(format!(
                "Logged in as {}. The session got a new id: its fingerprint below has changed.",
                form.user
            )),
        );
    }
    Ok(Answer::empty(204))
}

/// `GET /me`.
pub fn me(session: &Session, visit: &Visit) -> Result<Answer> {
    Ok(match read::<String>(session, "user") {
        Read::Value(user) => Answer::text(user),
        Read::Missing => Answer::empty(401),
        Read::Unreadable => unreadable("user", MAIN_SESSION, visit),
    })
}

/// `POST /logout`.
pub fn logout(session: &Session, visit: &Visit) -> Result<Answer> {
    session.destroy();
    if visit.wants_html() {
        // Written after `destroy`, the notice starts a fresh session.
        return back_home(
            session,
            Notice::ok("Logged out: the session was ended. This message came in a fresh one, under a new id."),
        );
    }
    Ok(Answer::empty(204))
}

/// `POST /remember`.
pub fn remember(session: &Session, form: &RememberForm, visit: &Visit) -> Result<Answer> {
    let notice = match form.on.as_str() {
        "1" => {
            session.remember(true);
            Notice::ok("Remembered: the cookie is now persistent (Max-Age) and survives closing the browser.")
        }
        "0" => {
            session.remember(false);
            Notice::ok("Forgotten: the cookie is a browser-session cookie again; the data stays.")
        }
        _ if visit.wants_html() => return back_home(session, Notice::error("`on` must be 1 or 0.")),
        _ => return Ok(unprocessable("`on` must be 1 or 0")),
    };
    if visit.wants_html() {
        return back_home(session, notice);
    }
    Ok(Answer::empty(204))
}

/// `GET /kv`: the string values as JSON; it changes nothing, whatever
/// query it carries.
pub fn kv_list(session: &Session) -> Answer {
    Answer::json(serde_json::json!(string_values(session)))
}

/// `POST /kv`: stores `v` under `k`, unless `k` is empty or one of the
/// demo's own [`RESERVED_KEYS`].
pub fn kv_set(session: &Session, form: &KvForm, visit: &Visit) -> Result<Answer> {
    let key = form.k.as_str();
    let refusal = if key.trim().is_empty() {
        Some("Type a key to store a value.".to_owned())
    } else if RESERVED_KEYS.contains(&key) {
        Some(format!("`{key}` is the demo's own: {}", reserved_how(key)))
    } else {
        None
    };
    if let Some(refusal) = refusal {
        return if visit.wants_html() {
            back_home(session, Notice::error(refusal))
        } else {
            Ok(unprocessable(&refusal.replace('`', "")))
        };
    }
    session.insert(key, &form.v)?;
    if visit.wants_html() {
        return back_home(session, Notice::ok(format!("Stored `{key}` in the session.")));
    }
    Ok(Answer::empty(204))
}

/// How a reserved key is written instead.
fn reserved_how(key: &str) -> &'static str {
    match key {
        "user" => "log in to set it, which also gives the session a new id.",
        _ => "only the counter writes it.",
    }
}

/// `POST /remove`: removes `k` from the main session, or from `prefs`
/// with `session=prefs`; the way out of a value the demo cannot read.
pub fn remove(session: &Session, prefs: &Session, form: &RemoveForm, visit: &Visit) -> Result<Answer> {
    let (name, target) = if form.session == PREFS_SESSION { (PREFS_SESSION, prefs) } else { (MAIN_SESSION, session) };
    let removed = target.remove(&form.k);
    if visit.wants_html() {
        let notice = if removed {
            Notice::ok(format!("Removed `{}` from the `{name}` session.", form.k))
        } else {
            Notice::error(format!("The `{name}` session holds nothing under `{}`.", form.k))
        };
        return back_home(target, notice);
    }
    Ok(Answer::empty(204))
}

/// The session's values that are strings; values of other types fail to
/// decode as one and are left out.
fn string_values(session: &Session) -> BTreeMap<String, String> {
    session.keys().into_iter().filter_map(|k| session.get::<String>(&k).ok().flatten().map(|v| (k, v))).collect()
}

/// `GET /prefs`, on the `prefs` session: reads `theme`.
pub fn prefs_read(prefs: &Session, visit: &Visit) -> Result<Answer> {
    Ok(match read::<String>(prefs, "theme") {
        Read::Value(theme) => Answer::text(theme),
        Read::Missing => Answer::text(""),
        Read::Unreadable => unreadable("theme", PREFS_SESSION, visit),
    })
}

/// `POST /prefs`, on the `prefs` session: sets `theme` and answers it.
pub fn prefs_set(prefs: &Session, form: &PrefsForm, visit: &Visit) -> Result<Answer> {
    let theme = &form.theme;
    prefs.insert("theme", theme)?;
    if visit.wants_html() {
        // The notice travels in `prefs` too: the main session stays untouched.
        return back_home(
            prefs,
            Notice::ok(format!(
                "Theme set to {theme}, in the `{PREFS_SESSION}` cookie; `{MAIN_SESSION}` was not touched."
            )),
        );
    }
    Ok(Answer::text(theme.clone()))
}

/// `GET /both`: one value from each session.
pub fn both(session: &Session, prefs: &Session, visit: &Visit) -> Result<Answer> {
    let count = match read::<u64>(session, "count") {
        Read::Unreadable => return Ok(unreadable("count", MAIN_SESSION, visit)),
        count => count.value().unwrap_or(0),
    };
    let theme = match read::<String>(prefs, "theme") {
        Read::Unreadable => return Ok(unreadable("theme", PREFS_SESSION, visit)),
        theme => theme.value(),
    };
    Ok(Answer::json(serde_json::json!({ "count": count, "theme": theme })))
}

/// The user the `/devices` routes act for, or their answer when there is
/// none: `404` on the cookie store, `401` when logged out (for a browser:
/// back to the page, with a notice).
fn devices_user(session: &Session, devices: &Devices, visit: &Visit) -> Result<std::result::Result<String, Answer>> {
    if !devices.is_available() {
        if visit.wants_html() {
            return back_home(
                session,
                Notice::error(
                    "Your devices are listed on a server store only: the cookie store keeps no list of sessions.",
                ),
            )
            .map(Err);
        }
        return Ok(Err(Answer::text(NEEDS_SERVER_STORE).with_status(404)));
    }
    match session.user() {
        Some(user) => Ok(Ok(user)),
        None if visit.wants_html() => {
            back_home(session, Notice::error("Log in to see and sign out your devices.")).map(Err)
        }
        None => Ok(Err(Answer::text("log in first: POST /login user=...").with_status(401))),
    }
}

/// `GET /devices`: the logged-in user's live sessions on the server store,
/// as a JSON array of `{"handle", "created", "last_seen", "current"}`
/// (times in Unix seconds; `current` marks the caller's own), most
/// recently used first. The handle is a public name: it reveals neither
/// the session's id nor where it is stored.
pub async fn devices(session: &Session, devices: &Devices) -> Result<Answer> {
    let user = match devices_user(session, devices, &Visit::default())? {
        Ok(user) => user,
        Err(answer) => return Ok(answer),
    };
    let listed = devices.list(&user, session).await?;
    let listed: Vec<serde_json::Value> = listed
        .into_iter()
        .map(|d| {
            serde_json::json!({
                "handle": d.handle, "created": d.created, "last_seen": d.last_seen, "current": d.current,
            })
        })
        .collect();
    Ok(Answer::json(serde_json::Value::Array(listed)))
}

/// `POST /devices/end`: ends the logged-in user's session named `handle`;
/// the ended session's next request is anonymous. `404` when no session of
/// this user has that handle: another user's handle ends nothing. Ending
/// the caller's own session is a logout.
pub async fn end_device(session: &Session, devices: &Devices, form: &EndDeviceForm, visit: &Visit) -> Result<Answer> {
    let user = match devices_user(session, devices, visit)? {
        Ok(user) => user,
        Err(answer) => return Ok(answer),
    };
    let handle = form.handle.parse().ok();
    let current = handle.as_ref().is_some_and(|handle| devices.is_current(session, handle));
    let ended = match &handle {
        // Its own session is ended as a logout, so the response drops the cookie.
        Some(_) if current => {
            session.destroy();
            true
        }
        Some(handle) => devices.end(&user, handle).await?,
        None => false,
    };
    if visit.wants_html() {
        let notice = match (ended, current) {
            (true, true) => {
                Notice::ok("You signed this browser out: its session has ended. This message came in a fresh one.")
            }
            (true, false) => {
                Notice::ok("Signed that device out: its session has ended, and its next request is anonymous.")
            }
            (false, _) => {
                Notice::error("No session of yours has that handle: it has ended already, or it is not yours.")
            }
        };
        return back_home(session, notice);
    }
    Ok(if ended { Answer::empty(204) } else { Answer::text("no session of yours has that handle").with_status(404) })
}

/// `POST /devices/end-others`: ends every session of the logged-in user
/// but the caller's own.
pub async fn end_other_devices(session: &Session, devices: &Devices, visit: &Visit) -> Result<Answer> {
    let user = match devices_user(session, devices, visit)? {
        Ok(user) => user,
        Err(answer) => return Ok(answer),
    };
    let ended = devices.end_others(&user, session).await?;
    if visit.wants_html() {
        let notice = match ended {
            0 => Notice::ok("No other device was signed in."),
            1 => Notice::ok("Signed 1 other device out."),
            n => Notice::ok(format!("Signed {n} other devices out.")),
        };
        return back_home(session, notice);
    }
    Ok(Answer::empty(204))
}

/// Seconds since the Unix epoch, as the page's "ago" counts from.
fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// `GET /favicon.ico`: the demo's icon, so no browser logs a 404 for it.
pub fn favicon() -> Answer {
    Answer::with_body(200, "image/svg+xml", FAVICON_SVG.to_owned()).with_header("cache-control", "max-age=86400")
}

/// Any request no route took: `405` with `Allow` for a known path asked
/// with another method, `400` for a known path and method whose form or
/// query did not parse, `404` for any other path; a page with a way back
/// for a browser, one line for a program.
///
/// ```
/// use demo_kit::{Visit, routes::unmatched};
///
/// let wrong_method = unmatched("GET", "/flash", &Visit::default());
/// assert_eq!((wrong_method.status(), wrong_method.header("allow")), (405, Some("POST")));
/// assert_eq!(unmatched("GET", "/nowhere", &Visit::default()).status(), 404);
/// ```
pub fn unmatched(method: &str, path: &str, visit: &Visit) -> Answer {
    let (status, title, text, allow) = match ROUTES.iter().find(|(route, _)| *route == path) {
        Some((_, allowed)) if !allowed.split(", ").any(|allowed| allowed.eq_ignore_ascii_case(method)) => (
            405,
            "Method not allowed",
            format!(
                "{path} answers {allowed} only: a form of the demo page sends it, it is not an address to open. \
                 The page has the form."
            ),
            Some(*allowed),
        ),
        Some(_) => (400, "Bad request", format!("The form or query sent to {path} could not be read."), None),
        None => (404, "Not found", format!("There is no page at {path}."), None),
    };
    let answer = if visit.wants_html() {
        Answer::html(error_page(status, title, &text)).with_status(status)
    } else {
        Answer::text(title.to_lowercase()).with_status(status)
    };
    match allow {
        Some(allow) => answer.with_header("allow", allow),
        None => answer,
    }
}

/// A request the library refused as cross-origin (a form another site's
/// page submitted): `403`, a page with a way back for a browser, the
/// library's one line for a program. The demos answer the refusal with it
/// in their framework's way (a middleware, error handler, catcher or
/// `refuse_with`); nothing was loaded or saved.
///
/// ```
/// use demo_kit::{Visit, routes::refused};
///
/// let program = refused(&Visit::default());
/// assert_eq!((program.status(), program.body()), (403, "cross-origin request refused"));
/// let browser = refused(&Visit::from_headers([("accept", &b"text/html"[..])]));
/// assert!(browser.body().contains("another site"));
/// ```
pub fn refused(visit: &Visit) -> Answer {
    if visit.wants_html() {
        let text = "This form came from another site, so it was not sent to the demo: your session is unchanged. \
                    Use the forms on the demo's own page.";
        Answer::html(error_page(403, "Refused", text)).with_status(403)
    } else {
        Answer::text(FailureKind::CrossOrigin.reason()).with_status(403)
    }
}

/// The `Set-Cookie` that makes a browser drop cookie `name`, with the
/// attributes the demo's cookies are set with (a partitioned cookie is
/// removed only by a partitioned removal).
fn removal(name: &str, about: &About) -> String {
    let secure = if about.secure { "; Secure" } else { "" };
    let partitioned = if about.partitioned { "; Partitioned" } else { "" };
    format!(
        "{name}=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax{partitioned}{secure}"
    )
}

/// The first 12 hex digits of a hash of `value`: tells two cookies apart
/// and gives nothing of either away.
fn digest(value: &str) -> String {
    blake3::hash(value.as_bytes()).to_hex()[..12].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn browser() -> Visit {
        Visit::from_headers([("accept", &b"text/html,*/*;q=0.8"[..])])
    }

    fn about() -> About {
        About::new("axum", &Config::from_vars([("SESSION_SECURE", "0")]).unwrap())
    }

    /// The home page on the cookie store, where there is no devices list.
    fn home_page_of(session: &Session, prefs: &Session, visit: &Visit, about: &About) -> Answer {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        runtime.block_on(home(session, prefs, &Devices::default(), visit, about)).unwrap()
    }

    #[test]
    fn a_browser_form_redirects_home_with_a_notice() {
        let session = Session::new_detached();
        let answer = login(&session, &LoginForm { user: "ada".into() }, &browser()).unwrap();
        assert_eq!((answer.status(), answer.header("location")), (303, Some("/")));
        let notices: Vec<Notice> = session.flashes_from(NOTICES).unwrap();
        assert!(notices[0].ok && notices[0].text.contains("ada"), "{notices:?}");
    }

    #[test]
    fn a_program_gets_the_plain_contract() {
        let session = Session::new_detached();
        assert_eq!(login(&session, &LoginForm { user: "ada".into() }, &Visit::default()).unwrap().status(), 204);
        assert!(session.flashes_from::<Notice>(NOTICES).unwrap().is_empty(), "no notice for a program");
        assert_eq!(counter(&session, &Visit::default()).unwrap().body(), "1");
    }

    #[test]
    fn empty_user_name_is_refused() {
        let session = Session::new_detached();
        assert_eq!(login(&session, &LoginForm { user: " ".into() }, &Visit::default()).unwrap().status(), 422);
        assert_eq!(login(&session, &LoginForm { user: String::new() }, &browser()).unwrap().status(), 303);
        assert_eq!(session.user(), None);
        assert_eq!(session.get::<String>("user").unwrap(), None);
        assert!(!session.flashes_from::<Notice>(NOTICES).unwrap()[0].ok);
    }

    #[test]
    fn refused_cookie_is_removed_with_a_notice() {
        let (session, prefs) = (Session::new_detached(), Session::new_detached());
        let visit = Visit::from_headers([("accept", &b"text/html"[..]), ("cookie", b"id=tampered")]);
        let answer = home_page_of(&session, &prefs, &visit, &about());
        assert!(answer.header("set-cookie").is_some_and(|c| c.starts_with("id=; Path=/; Max-Age=0")));
        assert!(answer.body().contains("refused"));
    }

    #[test]
    fn secure_cookies_over_plain_http_to_a_remote_name_are_explained() {
        let (session, prefs) = (Session::new_detached(), Session::new_detached());
        let secure = About::new("axum", &Config::from_vars([("SESSION_SECURE", "1")]).unwrap());
        let remote = Visit::from_headers([("accept", &b"text/html"[..]), ("host", b"192.0.2.7:3000")]);
        assert!(home_page_of(&session, &prefs, &remote, &secure).body().contains("nothing you do persists"));
        let local = Visit::from_headers([("accept", &b"text/html"[..]), ("host", b"127.0.0.1:3000")]);
        assert!(!home_page_of(&session, &prefs, &local, &secure).body().contains("nothing you do persists"));
        assert!(!home_page_of(&session, &prefs, &remote, &about()).body().contains("nothing you do persists"));
    }

    #[test]
    fn page_without_cookies_removes_nothing() {
        let (session, prefs) = (Session::new_detached(), Session::new_detached());
        let answer = home_page_of(&session, &prefs, &browser(), &about());
        assert_eq!(answer.header("set-cookie"), None);
    }

    #[test]
    fn wrong_method_and_unknown_path_are_told_apart() {
        let page = unmatched("GET", "/login", &browser());
        assert_eq!((page.status(), page.header("allow")), (405, Some("POST")));
        assert!(page.body().contains("<a href=\"/\">"));
        assert_eq!(unmatched("GET", "/counter", &Visit::default()).header("allow"), Some("POST"));
        assert_eq!(unmatched("PUT", "/kv", &Visit::default()).header("allow"), Some("GET, POST"));
        assert_eq!(unmatched("POST", "/kv", &Visit::default()).status(), 400);
        let missing = unmatched("GET", "/nowhere", &Visit::default());
        assert_eq!((missing.status(), missing.body()), (404, "not found"));
        assert_eq!(unmatched("POST", "/login", &Visit::default()).status(), 400);
    }

    #[test]
    fn kv_refuses_the_demos_own_keys() {
        let session = Session::new_detached();
        for key in ["user", "count", "", " "] {
            let form = KvForm { k: key.into(), v: "mallory".into() };
            assert_eq!(kv_set(&session, &form, &Visit::default()).unwrap().status(), 422, "{key:?}");
            assert_eq!(kv_set(&session, &form, &browser()).unwrap().status(), 303, "{key:?}");
        }
        assert!(session.keys().is_empty(), "{:?}", session.keys());
        let notices: Vec<Notice> = session.flashes_from(NOTICES).unwrap();
        assert!(notices.iter().all(|n| !n.ok) && notices[0].text.contains("log in"), "{notices:?}");
        let form = KvForm { k: "colour".into(), v: "blue".into() };
        assert_eq!(kv_set(&session, &form, &Visit::default()).unwrap().status(), 204);
        assert_eq!(session.get::<String>("colour").unwrap().as_deref(), Some("blue"));
    }

    #[test]
    fn value_of_another_type_is_reported_and_removable_never_an_error() {
        let (session, prefs) = (Session::new_detached(), Session::new_detached());
        session.insert("count", "x").unwrap();
        session.insert("user", &7u64).unwrap();
        prefs.insert("theme", &true).unwrap();
        let page = home_page_of(&session, &prefs, &browser(), &about());
        assert_eq!(page.status(), 200);
        assert!(page.body().contains("Counter: unreadable"), "{}", page.body());
        for (key, session) in [("count", "id"), ("user", "id"), ("theme", "prefs")] {
            let form = format!(
                r#"<form method="post" action="/remove"><input type="hidden" name="k" value="{key}"><input type="hidden" name="session" value="{session}">"#
            );
            assert!(page.body().contains(&form), "no form removes {key}: {}", page.body());
        }
        let program = Visit::default();
        assert_eq!(counter(&session, &program).unwrap().status(), 409);
        assert_eq!(session.get::<String>("count").unwrap().as_deref(), Some("x"), "the counter left it alone");
        assert_eq!(counter(&session, &browser()).unwrap().status(), 303);
        assert_eq!(peek(&session, &program).unwrap().status(), 409);
        assert_eq!(me(&session, &program).unwrap().status(), 409);
        assert_eq!(both(&session, &prefs, &program).unwrap().status(), 409);
        assert_eq!(prefs_read(&prefs, &program).unwrap().status(), 409);

        let form = |k: &str, s: &str| RemoveForm { k: k.into(), session: s.into() };
        assert_eq!(remove(&session, &prefs, &form("count", ""), &program).unwrap().status(), 204);
        assert_eq!(remove(&session, &prefs, &form("user", "id"), &browser()).unwrap().status(), 303);
        assert_eq!(remove(&session, &prefs, &form("theme", "prefs"), &program).unwrap().status(), 204);
        assert_eq!(both(&session, &prefs, &program).unwrap().body(), r#"{"count":0,"theme":null}"#);
        assert_eq!(counter(&session, &program).unwrap().body(), "1");
        let page = home_page_of(&session, &prefs, &browser(), &about());
        assert!(!page.body().contains("unreadable") && page.body().contains("Removed"), "{}", page.body());
    }

    #[test]
    fn unreadable_flashes_and_notices_are_dropped_with_a_notice() {
        let (session, prefs) = (Session::new_detached(), Session::new_detached());
        session.add_flash(&3u64).unwrap();
        prefs.add_flash_to(NOTICES, "not a notice").unwrap();
        let page = home_page_of(&session, &prefs, &browser(), &about());
        assert_eq!(page.status(), 200);
        assert!(page.body().contains("A flash message could not be read"), "{}", page.body());
        assert!(page.body().contains("A notice in the <code>prefs</code> session could not be read"));
        session.add_flash(&3u64).unwrap();
        assert_eq!(flashes(&session).unwrap().status(), 409);
        assert_eq!(flashes(&session).unwrap().body(), "[]");
    }

    #[test]
    fn oversized_form_gets_a_page_or_a_line() {
        assert_eq!(too_large(&Visit::default()).body(), "form body over 64 KiB");
        let page = too_large(&browser());
        assert_eq!(page.status(), 413);
        assert!(page.body().contains("Nothing was stored") && page.body().contains(r#"href="/""#));
    }

    #[test]
    fn every_header_value_is_visible_ascii() {
        let answers = [unmatched("GET", "/flash", &browser()), favicon(), Answer::see_other("/")];
        for answer in answers {
            for (name, value) in answer.headers() {
                assert!(value.bytes().all(|b| b == b' ' || b.is_ascii_graphic()), "{name}: {value}");
            }
        }
    }
}
