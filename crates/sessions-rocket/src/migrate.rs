//! Moving values out of rocket's private cookies into a session, for apps
//! that kept state in `CookieJar::add_private` before they used `sessions`.
//!
//! Rocket's private cookies are sealed under the app's `secret_key`; the
//! session cookies are sealed under the registry's keys, and neither
//! touches the other. [`private_cookie`] reads a private cookie once, puts
//! its value into a session and removes the cookie, so a browser that
//! still holds one keeps its state across the upgrade. Enabled by the
//! `migrate` feature, which turns on rocket's `secrets` feature (rocket then
//! wants a `secret_key` in release profiles).

use std::str::FromStr;

use rocket::http::CookieJar;
use serde::Serialize;

use crate::SessionError;

/// Moves the value of rocket's private cookie `cookie` into `session` under
/// `key`, and removes the private cookie.
///
/// Returns the value moved, or `None` when there was nothing to move: no
/// such private cookie (absent, or not sealed under this app's
/// `secret_key`), a value that does not parse as `T` (logged; the cookie
/// stays, so a corrected `T` can still move it), or a session that already
/// holds `key` (the session is newer: the cookie is removed, the session
/// kept). Parse into `String` to move the text as it is.
///
/// A value moved in is often who the user is (rocket's own guide keeps the
/// user id in a private cookie), so moving one gives the session a new id,
/// as a login does: a session someone planted before cannot pick up the
/// user's identity (session fixation).
///
/// Call it where the handler succeeds: a catcher's response drops the
/// removal (rocket resets the jar) and nothing is lost, but a handler that
/// answers a `5xx` of its own sends the removal while the session is not
/// saved.
///
/// ```
/// use rocket::get;
/// use rocket::http::CookieJar;
/// use sessions_rocket::{Session, SessionError, migrate};
///
/// #[get("/")]
/// fn home(cookies: &CookieJar<'_>, session: Session) -> Result<String, SessionError> {
///     migrate::private_cookie::<u64>(cookies, "user_id", &session, "user_id")?;
///     Ok(match session.get::<u64>("user_id")? {
///         Some(id) => format!("user {id}"),
///         None => "anonymous".to_owned(),
///     })
/// }
/// ```
pub fn private_cookie<T>(
    jar: &CookieJar<'_>,
    cookie: &str,
    session: &sessions_core::Session,
    key: &str,
) -> Result<Option<T>, SessionError>
where
    T: FromStr + Serialize,
{
    let Some(found) = jar.get_private(cookie) else { return Ok(None) };
    if session.contains_key(key) {
        jar.remove_private(found);
        return Ok(None);
    }
    let Ok(value) = found.value().parse::<T>() else {
        tracing::warn!(cookie, "a private cookie does not parse as the type asked for; left in place");
        return Ok(None);
    };
    session.insert(key, &value)?;
    session.cycle_id();
    jar.remove_private(found);
    Ok(Some(value))
}
