//! Seal a session into a cookie and read it back, with no web framework.
//!
//! `cargo run -p sessions-core --example seal`

use sessions_core::{CookieStore, Key, KeyRing, Registry, StoreConfig};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), sessions_core::Error> {
    let registry = Registry::single(CookieStore::new(StoreConfig::new("session", KeyRing::from(Key::generate())))?);

    // First request: no cookie yet.
    let sessions = registry.request([]);
    let session = sessions.default_session().await?;
    session.insert("user", "ada")?;
    session.add_flash("welcome back")?;
    let finished = sessions.finish(200, None, as_pair).await;
    let set_cookie = finished.values("set-cookie").next().unwrap_or_default().to_owned();
    println!("response 1  Set-Cookie: {set_cookie}");

    // Second request: the browser sends the cookie back.
    let cookie = set_cookie.split(';').next().unwrap_or_default();
    println!("request 2   Cookie: {cookie}");
    let sessions = registry.request([cookie]);
    let session = sessions.default_session().await?;
    println!("user    = {:?}", session.get::<String>("user")?);
    println!("flashes = {:?}", session.flashes::<String>()?);
    let finished = sessions.finish(200, None, as_pair).await;
    let set_cookies: Vec<&str> = finished.values("set-cookie").collect();
    println!("response 2  Set-Cookie: {set_cookies:?} (flashes consumed)");
    Ok(())
}

/// The headers to send, as `(name, value)` pairs: what a web framework
/// adapter converts into its own header type.
fn as_pair(name: &'static str, value: &str) -> Option<(&'static str, String)> {
    Some((name, value.to_owned()))
}
