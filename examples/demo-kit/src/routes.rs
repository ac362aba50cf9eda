//! The bodies of the demo's handlers, written once against the core
//! [`Session`]: each demo's handler extracts the sessions its framework's
//! way, parses its form or query into the types here, and calls one of
//! these functions.
//!
//! | route | method | input | answer |
//! |---|---|---|---|
//! | `/` | GET | | the HTML page |
//! | `/counter` | GET | | increments `count`, answers it |
//! | `/peek` | GET | | `count`, unchanged |
//! | `/flash` | POST | [`FlashForm`] | queues a flash, `204` |
//! | `/flashes` | GET | | the flashes as a JSON array, taken |
//! | `/login` | POST | [`LoginForm`] | new id, `user` set, `204` |
//! | `/me` | GET | | `user`, or `401` |
//! | `/logout` | POST | | session destroyed, `204` |
//! | `/remember` | POST | [`RememberForm`] | remember-me on or off, `204` |
//! | `/kv` | GET | [`KvQuery`] | sets `k` to `v`, or lists the string values as JSON |
//! | `/prefs` | GET | [`PrefsQuery`] | sets or reads `theme` in the `prefs` session |
//! | `/both` | GET | | `count` and `theme` as JSON |

use std::collections::BTreeMap;

use serde::Deserialize;
use sessions_core::{Result, Session};

use crate::page::{HomeView, home_page};

/// What a demo handler answers, for the demo to turn into its framework's
/// response.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// `200` with an HTML page.
    Html(String),
    /// `200` with plain text.
    Text(String),
    /// `200` with a JSON document.
    Json(serde_json::Value),
    /// This status and no body.
    Empty(u16),
}

impl Answer {
    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            Answer::Empty(status) => *status,
            _ => 200,
        }
    }

    /// The `Content-Type`, when there is a body.
    pub fn content_type(&self) -> Option<&'static str> {
        match self {
            Answer::Html(_) => Some("text/html; charset=utf-8"),
            Answer::Text(_) => Some("text/plain; charset=utf-8"),
            Answer::Json(_) => Some("application/json"),
            Answer::Empty(_) => None,
        }
    }

    /// The body.
    pub fn into_body(self) -> String {
        match self {
            Answer::Html(body) | Answer::Text(body) => body,
            Answer::Json(value) => value.to_string(),
            Answer::Empty(_) => String::new(),
        }
    }
}

/// The form of `POST /flash`.
#[derive(Debug, Deserialize)]
pub struct FlashForm {
    /// The message to show once.
    pub message: String,
}

/// The form of `POST /login`.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    /// Who logs in.
    pub user: String,
}

/// The form of `POST /remember`.
#[derive(Debug, Deserialize)]
pub struct RememberForm {
    /// `1` to remember the session, `0` to forget it.
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

/// `GET /`: the page, from the main session and `prefs`.
pub fn home(session: &Session, prefs: &Session) -> Result<Answer> {
    let view = HomeView {
        count: session.get("count")?.unwrap_or(0),
        flashes: session.flashes()?,
        user: session.get("user")?,
        theme: prefs.get("theme")?,
    };
    Ok(Answer::Html(home_page(&view)))
}

/// `GET /counter`.
pub fn counter(session: &Session) -> Result<Answer> {
    let count = session.get::<u64>("count")?.unwrap_or(0) + 1;
    session.insert("count", &count)?;
    Ok(Answer::Text(count.to_string()))
}

/// `GET /peek`.
pub fn peek(session: &Session) -> Result<Answer> {
    Ok(Answer::Text(session.get::<u64>("count")?.unwrap_or(0).to_string()))
}

/// `POST /flash`.
pub fn flash(session: &Session, form: &FlashForm) -> Result<Answer> {
    session.add_flash(&form.message)?;
    Ok(Answer::Empty(204))
}

/// `GET /flashes`.
pub fn flashes(session: &Session) -> Result<Answer> {
    Ok(Answer::Json(serde_json::json!(session.flashes::<String>()?)))
}

/// `POST /login`: a new id first, against session fixation.
pub fn login(session: &Session, form: &LoginForm) -> Result<Answer> {
    session.cycle_id();
    session.insert("user", &form.user)?;
    Ok(Answer::Empty(204))
}

/// `GET /me`.
pub fn me(session: &Session) -> Result<Answer> {
    Ok(match session.get::<String>("user")? {
        Some(user) => Answer::Text(user),
        None => Answer::Empty(401),
    })
}

/// `POST /logout`.
pub fn logout(session: &Session) -> Result<Answer> {
    session.destroy();
    Ok(Answer::Empty(204))
}

/// `POST /remember`.
pub fn remember(session: &Session, form: &RememberForm) -> Result<Answer> {
    match form.on.as_str() {
        "1" => session.remember(true),
        "0" => session.remember(false),
        _ => return Ok(Answer::Empty(422)),
    }
    Ok(Answer::Empty(204))
}

/// `GET /kv`.
pub fn kv(session: &Session, query: &KvQuery) -> Result<Answer> {
    if let Some(key) = &query.k {
        session.insert(key, query.v.as_deref().unwrap_or_default())?;
        return Ok(Answer::Empty(204));
    }
    // Values of other types fail to decode as a string and are left out.
    let strings: BTreeMap<String, String> =
        session.keys().into_iter().filter_map(|k| session.get::<String>(&k).ok().flatten().map(|v| (k, v))).collect();
    Ok(Answer::Json(serde_json::json!(strings)))
}

/// `GET /prefs`, on the `prefs` session.
pub fn prefs(prefs: &Session, query: &PrefsQuery) -> Result<Answer> {
    if let Some(theme) = &query.theme {
        prefs.insert("theme", theme)?;
        return Ok(Answer::Text(theme.clone()));
    }
    Ok(Answer::Text(prefs.get::<String>("theme")?.unwrap_or_default()))
}

/// `GET /both`: one value from each session.
pub fn both(session: &Session, prefs: &Session) -> Result<Answer> {
    let count = session.get::<u64>("count")?.unwrap_or(0);
    let theme = prefs.get::<String>("theme")?;
    Ok(Answer::Json(serde_json::json!({ "count": count, "theme": theme })))
}
