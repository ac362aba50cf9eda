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
//! | `/counter` | GET | | increments `count`, answers it |
//! | `/peek` | GET | | `count`, unchanged |
//! | `/flash` | POST | [`FlashForm`] | queues a flash, `204`; `422` when empty |
//! | `/flashes` | GET | | the flashes as a JSON array, taken |
//! | `/login` | POST | [`LoginForm`] | new id, `user` set, `204`; `422` when empty |
//! | `/me` | GET | | `user`, or `401` |
//! | `/logout` | POST | | session destroyed, `204` |
//! | `/remember` | POST | [`RememberForm`] | remember-me on or off, `204` |
//! | `/kv` | GET | [`KvQuery`] | sets `k` to `v`, or lists the string values as JSON |
//! | `/prefs` | GET | [`PrefsQuery`] | sets or reads `theme` in the `prefs` session |
//! | `/both` | GET | | `count` and `theme` as JSON |
//! | `/favicon.ico` | GET | | the icon |
//!
//! Any other path answers `404`, a known path with another method `405`
//! with `Allow` ([`unmatched`]): a page for a browser, a word for a
//! program, in every framework alike.

use std::collections::BTreeMap;

use serde::Deserialize;
use sessions_core::edge::FailureKind;
use sessions_core::{Result, Session};

use crate::about::About;
use crate::answer::Answer;
use crate::config::{MAIN_SESSION, PREFS_SESSION};
use crate::page::{FAVICON_SVG, HomeView, Notice, error_page, home_page};
use crate::visit::Visit;

/// Every route of the demo with the methods it answers; [`unmatched`]
/// reads it to tell a wrong method from a wrong address.
pub const ROUTES: &[(&str, &str)] = &[
    ("/", "GET"),
    ("/counter", "GET"),
    ("/peek", "GET"),
    ("/flash", "POST"),
    ("/flashes", "GET"),
    ("/login", "POST"),
    ("/me", "GET"),
    ("/logout", "POST"),
    ("/remember", "POST"),
    ("/kv", "GET"),
    ("/prefs", "GET"),
    ("/both", "GET"),
    ("/favicon.ico", "GET"),
];

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

/// The query of `GET /kv`.
#[derive(Debug, Default, Deserialize)]
pub struct KvQuery {
    /// The key to set; without it, the values are listed.
    pub k: Option<String>,
    /// The value to set (empty when missing).
    pub v: Option<String>,
}

/// The query of `GET /prefs`.
#[derive(Debug, Default, Deserialize)]
pub struct PrefsQuery {
    /// The theme to set; without it, the theme is read.
    pub theme: Option<String>,
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
pub fn home(session: &Session, prefs: &Session, visit: &Visit, about: &About) -> Result<Answer> {
    let mut notices: Vec<Notice> = session.flashes_from(NOTICES)?;
    notices.extend(prefs.flashes_from::<Notice>(NOTICES)?);
    let mut removals = Vec::new();
    for (name, loaded) in [(MAIN_SESSION, session), (PREFS_SESSION, prefs)] {
        if loaded.is_new() && visit.cookie(name).is_some_and(|value| !value.is_empty()) {
            tracing::info!(cookie = name, "the page removes a session cookie the store refused");
            notices.push(Notice::error(format!(
                "Your browser sent a `{name}` cookie the server refused: changed, expired, signed with a key no \
                 longer in SESSION_KEYS, or naming a session that has ended. It has been removed; this is a fresh \
                 session."
            )));
            removals.push(removal(name, about.secure));
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
    let view = HomeView {
        count: session.get("count")?.unwrap_or(0),
        flashes: session.flashes()?,
        notices,
        user: session.get("user")?,
        theme: prefs.get("theme")?,
        values: string_values(session),
        remembered: session.max_age(),
        fingerprint,
        fresh: session.is_new(),
        cookies: visit.cookies().map(|(name, value)| (name.to_owned(), name.len() + 1 + value.len())).collect(),
    };
    let answer = Answer::html(home_page(&view, about));
    Ok(removals.into_iter().fold(answer, |answer, cookie| answer.with_header("set-cookie", cookie)))
}

/// `GET /counter`.
pub fn counter(session: &Session, visit: &Visit) -> Result<Answer> {
    let count = session.get::<u64>("count")?.unwrap_or(0) + 1;
    session.insert("count", &count)?;
    if visit.wants_html() {
        return back_home(session, Notice::ok(format!("Counted: {count}, stored in the session.")));
    }
    Ok(Answer::text(count.to_string()))
}

/// `GET /peek`.
pub fn peek(session: &Session) -> Result<Answer> {
    Ok(Answer::text(session.get::<u64>("count")?.unwrap_or(0).to_string()))
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

/// `GET /flashes`.
pub fn flashes(session: &Session) -> Result<Answer> {
    Ok(Answer::json(serde_json::json!(session.flashes::<String>()?)))
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
pub fn me(session: &Session) -> Result<Answer> {
    Ok(match session.get::<String>("user")? {
        Some(user) => Answer::text(user),
        None => Answer::empty(401),
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

/// `GET /kv`.
pub fn kv(session: &Session, query: &KvQuery, visit: &Visit) -> Result<Answer> {
    if let Some(key) = &query.k {
        let value = query.v.as_deref().unwrap_or_default();
        if !visit.wants_html() {
            session.insert(key, value)?;
            return Ok(Answer::empty(204));
        }
        if key.trim().is_empty() {
            return back_home(session, Notice::error("Type a key to store a value."));
        }
        session.insert(key, value)?;
        return back_home(session, Notice::ok(format!("Stored `{key}` in the session.")));
    }
    Ok(Answer::json(serde_json::json!(string_values(session))))
}

/// The session's values that are strings; values of other types fail to
/// decode as one and are left out.
fn string_values(session: &Session) -> BTreeMap<String, String> {
    session.keys().into_iter().filter_map(|k| session.get::<String>(&k).ok().flatten().map(|v| (k, v))).collect()
}

/// `GET /prefs`, on the `prefs` session.
pub fn prefs(prefs: &Session, query: &PrefsQuery, visit: &Visit) -> Result<Answer> {
    if let Some(theme) = &query.theme {
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
        return Ok(Answer::text(theme.clone()));
    }
    Ok(Answer::text(prefs.get::<String>("theme")?.unwrap_or_default()))
}

/// `GET /both`: one value from each session.
pub fn both(session: &Session, prefs: &Session) -> Result<Answer> {
    let count = session.get::<u64>("count")?.unwrap_or(0);
    let theme = prefs.get::<String>("theme")?;
    Ok(Answer::json(serde_json::json!({ "count": count, "theme": theme })))
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
        Some((_, allowed)) if !allowed.eq_ignore_ascii_case(method) => (
            405,
            "Method not allowed",
            format!(
                "{path} answers {allowed} only: it is what a form of the demo page sends, not an address to open. \
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
/// attributes the demo's cookies are set with.
fn removal(name: &str, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{name}=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax{secure}")
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
        let answer = home(&session, &prefs, &visit, &about()).unwrap();
        assert!(answer.header("set-cookie").is_some_and(|c| c.starts_with("id=; Path=/; Max-Age=0")));
        assert!(answer.body().contains("refused"));
    }

    #[test]
    fn secure_cookies_over_plain_http_to_a_remote_name_are_explained() {
        let (session, prefs) = (Session::new_detached(), Session::new_detached());
        let secure = About::new("axum", &Config::from_vars([("SESSION_SECURE", "1")]).unwrap());
        let remote = Visit::from_headers([("accept", &b"text/html"[..]), ("host", b"192.0.2.7:3000")]);
        assert!(home(&session, &prefs, &remote, &secure).unwrap().body().contains("nothing you do persists"));
        let local = Visit::from_headers([("accept", &b"text/html"[..]), ("host", b"127.0.0.1:3000")]);
        assert!(!home(&session, &prefs, &local, &secure).unwrap().body().contains("nothing you do persists"));
        assert!(!home(&session, &prefs, &remote, &about()).unwrap().body().contains("nothing you do persists"));
    }

    #[test]
    fn page_without_cookies_removes_nothing() {
        let (session, prefs) = (Session::new_detached(), Session::new_detached());
        let answer = home(&session, &prefs, &browser(), &about()).unwrap();
        assert_eq!(answer.header("set-cookie"), None);
    }

    #[test]
    fn wrong_method_and_unknown_path_are_told_apart() {
        let page = unmatched("GET", "/login", &browser());
        assert_eq!((page.status(), page.header("allow")), (405, Some("POST")));
        assert!(page.body().contains("<a href=\"/\">"));
        assert_eq!(unmatched("POST", "/counter", &Visit::default()).header("allow"), Some("GET"));
        let missing = unmatched("GET", "/nowhere", &Visit::default());
        assert_eq!((missing.status(), missing.body()), (404, "not found"));
        assert_eq!(unmatched("POST", "/login", &Visit::default()).status(), 400);
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
