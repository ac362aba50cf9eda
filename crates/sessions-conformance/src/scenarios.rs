//! The scenarios, one behaviour each. Every function panics with a message
//! naming what the app got wrong.

use std::collections::BTreeMap;

use crate::{AppConfig, Client, Ctx, Reply, random_key};

/// The main session's cookie name in every demo.
pub const MAIN: &str = "id";
/// The second session's cookie name in every demo.
pub const PREFS: &str = "prefs";

fn expect_status(reply: &Reply, status: u16, what: &str) {
    assert_eq!(reply.status, status, "{what}: expected status {status}, got {} ({:?})", reply.status, reply.body);
}

async fn count(client: &mut Client, path: &str) -> u64 {
    let reply = client.get(path).await;
    expect_status(&reply, 200, path);
    reply.body.trim().parse().unwrap_or_else(|_| panic!("{path}: body `{}` is not a number", reply.body))
}

/// `POST /counter`: one more, answered.
async fn count_up(client: &mut Client) -> u64 {
    let reply = client.post_form("/counter", &[]).await;
    expect_status(&reply, 200, "POST /counter");
    reply.body.trim().parse().unwrap_or_else(|_| panic!("POST /counter: body `{}` is not a number", reply.body))
}

async fn login(client: &mut Client, user: &str) {
    let reply = client.post_form("/login", &[("user", user)]).await;
    expect_status(&reply, 204, "POST /login");
}

/// `/counter` counts 1, 2, 3 for one client and starts again at 1 for another.
pub async fn counter_increments_across_requests(ctx: Ctx) {
    let (app, mut client) = ctx.start_fresh();
    for expected in 1..=3 {
        assert_eq!(count_up(&mut client).await, expected, "the counter must persist between requests");
    }
    let mut stranger = Client::new(app.addr);
    assert_eq!(count_up(&mut stranger).await, 1, "another client must get its own session");
}

/// `/peek` reads the counter without sending any `Set-Cookie`.
pub async fn peek_sends_no_set_cookie(ctx: Ctx) {
    let (_app, mut client) = ctx.start_fresh();
    count_up(&mut client).await;
    count_up(&mut client).await;
    let reply = client.get("/peek").await;
    expect_status(&reply, 200, "/peek");
    assert_eq!(reply.body, "2", "/peek must show the current count");
    assert!(reply.header_values("set-cookie").is_empty(), "/peek changed nothing yet sent {:?}", reply.set_cookies());
}

/// Flash messages come back once, in order, then are gone.
pub async fn flash_is_read_once(ctx: Ctx) {
    let (_app, mut client) = ctx.start_fresh();
    for message in ["saved", "and again"] {
        let reply = client.post_form("/flash", &[("message", message)]).await;
        expect_status(&reply, 204, "POST /flash");
    }
    let first = client.get("/flashes").await;
    expect_status(&first, 200, "/flashes");
    let messages: Vec<String> = serde_json::from_str(&first.body).expect("/flashes returns a JSON array");
    assert_eq!(messages, ["saved", "and again"], "flashes must come back in order");
    let second = client.get("/flashes").await;
    let messages: Vec<String> = serde_json::from_str(&second.body).expect("/flashes returns a JSON array");
    assert!(messages.is_empty(), "flashes must be read once, got {messages:?} again");
}

/// Logging in issues a new cookie value and keeps the session's data.
pub async fn login_changes_the_session_id(ctx: Ctx) {
    let (_app, mut client) = ctx.start_fresh();
    count_up(&mut client).await;
    let before = client.cookie(MAIN).expect("the counter set the session cookie").to_owned();
    login(&mut client, "ada").await;
    let after = client.cookie(MAIN).expect("login keeps a session cookie").to_owned();
    assert_ne!(before, after, "login must issue a new session cookie");
    let me = client.get("/me").await;
    expect_status(&me, 200, "/me after login");
    assert_eq!(me.body, "ada");
    assert_eq!(count(&mut client, "/peek").await, 1, "login must keep the session's data");
}

/// Server stores: after a login, the pre-login cookie names no session.
pub async fn old_id_is_unknown_after_login(ctx: Ctx) {
    let (_app, mut client) = ctx.start_fresh();
    count_up(&mut client).await;
    let mut planted = client.clone();
    login(&mut client, "ada").await;
    assert_eq!(count(&mut planted, "/peek").await, 0, "the pre-login id must be unknown after login");
    expect_status(&planted.get("/me").await, 401, "/me with the pre-login cookie");
}

/// Logging out removes the cookie and the user.
pub async fn logout_ends_the_session(ctx: Ctx) {
    let (_app, mut client) = ctx.start_fresh();
    login(&mut client, "ada").await;
    let reply = client.post_form("/logout", &[]).await;
    expect_status(&reply, 204, "POST /logout");
    let removal = reply.set_cookie(MAIN).expect("logout must send a removal cookie");
    assert!(removal.is_removal(), "logout's cookie must expire the session cookie: {removal:?}");
    assert_eq!(client.cookie(MAIN), None);
    expect_status(&client.get("/me").await, 401, "/me after logout");
}

/// Server stores: a cookie copied before logout is worthless after it.
pub async fn replayed_cookie_after_logout_is_anonymous(ctx: Ctx) {
    let (_app, mut client) = ctx.start_fresh();
    login(&mut client, "ada").await;
    let mut replay = client.clone();
    expect_status(&client.post_form("/logout", &[]).await, 204, "POST /logout");
    expect_status(&replay.get("/me").await, 401, "/me replaying the cookie from before logout");
}

/// A cookie with one character changed is refused quietly: a fresh
/// session, never an error status.
pub async fn tampered_cookie_yields_a_fresh_session(ctx: Ctx) {
    let (_app, mut client) = ctx.start_fresh();
    count_up(&mut client).await;
    count_up(&mut client).await;
    let value = client.cookie(MAIN).expect("the counter set the session cookie").to_owned();
    let mut bytes = value.into_bytes();
    let middle = bytes.len() / 2;
    bytes[middle] = if bytes[middle] == b'A' { b'B' } else { b'A' };
    client.set_cookie(MAIN, &String::from_utf8(bytes).expect("cookie values are ASCII"));
    let reply = client.post_form("/counter", &[]).await;
    expect_status(&reply, 200, "/counter with a tampered cookie");
    assert_eq!(reply.body, "1", "a tampered cookie must give a fresh session");
}

/// Cookies that are not ours at all (not base64, far too long) give a
/// fresh session, never an error status.
pub async fn garbage_cookie_yields_a_fresh_session(ctx: Ctx) {
    let (app, _) = ctx.start_fresh();
    for garbage in ["%%%not-base64%%%", "", &"A".repeat(3000)] {
        let mut client = Client::new(app.addr);
        client.set_cookie(MAIN, garbage);
        client.set_cookie(PREFS, garbage);
        let reply = client.get("/both").await;
        expect_status(&reply, 200, "/both with a garbage cookie");
        let both: serde_json::Value = serde_json::from_str(&reply.body).expect("/both returns JSON");
        assert_eq!(both["count"], 0, "a garbage cookie must give a fresh session");
    }
}

/// "Remember me" makes the cookie persistent for 30 days; turning it off
/// makes it a browser-session cookie again; the data stays.
pub async fn remember_me_toggles_max_age(ctx: Ctx) {
    let (_app, mut client) = ctx.start_fresh();
    let first = client.post_form("/counter", &[]).await;
    let cookie = first.set_cookie(MAIN).expect("the counter sets the session cookie");
    assert_eq!(cookie.max_age(), None, "a new session is a browser-session cookie: {cookie:?}");

    let on = client.post_form("/remember", &[("on", "1")]).await;
    expect_status(&on, 204, "POST /remember on=1");
    let cookie = on.set_cookie(MAIN).expect("remember-me must re-send the cookie");
    assert_eq!(cookie.max_age(), Some(30 * 24 * 3600), "remember-me must set Max-Age to 30 days: {cookie:?}");

    let off = client.post_form("/remember", &[("on", "0")]).await;
    expect_status(&off, 204, "POST /remember on=0");
    let cookie = off.set_cookie(MAIN).expect("forgetting must re-send the cookie");
    assert_eq!(cookie.max_age(), None, "without remember-me the cookie has no Max-Age: {cookie:?}");
    assert!(!cookie.is_removal(), "turning remember-me off must keep the session");
    assert_eq!(count(&mut client, "/peek").await, 1);
}

/// The main session and the `prefs` session live in two cookies and are
/// both read by one request.
pub async fn two_sessions_are_used_in_one_request(ctx: Ctx) {
    let (_app, mut client) = ctx.start_fresh();
    count_up(&mut client).await;
    let prefs = client.post_form("/prefs", &[("theme", "dark")]).await;
    expect_status(&prefs, 200, "/prefs");
    assert_eq!(prefs.body, "dark");
    assert!(prefs.set_cookie(PREFS).is_some(), "the prefs session must set its own cookie");
    assert!(prefs.set_cookie(MAIN).is_none(), "setting a preference must not touch the main session");
    let both = client.get("/both").await;
    expect_status(&both, 200, "/both");
    let value: serde_json::Value = serde_json::from_str(&both.body).expect("/both returns JSON");
    assert_eq!(value, serde_json::json!({ "count": 1, "theme": "dark" }));
}

/// Restarting with a new key in front of the old one: the old cookie is
/// still accepted, re-issued under the new key, and the new cookie then
/// works with the old key retired.
pub async fn rotated_key_accepts_old_cookie_and_reissues_it(ctx: Ctx) {
    let (old, new) = (random_key().to_base64(), random_key().to_base64());
    let app = ctx.start(std::slice::from_ref(&old), false);
    let mut client = Client::new(app.addr);
    count_up(&mut client).await;
    count_up(&mut client).await;
    drop(app);

    let app = ctx.start(&[new.clone(), old.clone()], false);
    client.set_addr(app.addr);
    let reply = client.post_form("/counter", &[]).await;
    expect_status(&reply, 200, "/counter after rotation");
    assert_eq!(reply.body, "3", "a cookie under the old key must still be accepted");
    assert!(reply.set_cookie(MAIN).is_some(), "the cookie must be re-issued under the new key");
    drop(app);

    let app = ctx.start(std::slice::from_ref(&new), false);
    client.set_addr(app.addr);
    assert_eq!(count(&mut client, "/peek").await, 3, "the re-issued cookie must be valid under the new key alone");
}

/// Session cookies are HttpOnly, SameSite=Lax, Path=/ and Secure by default.
pub async fn cookie_attributes_are_secure_by_default(ctx: Ctx) {
    let app = ctx.start(&[random_key().to_base64()], true);
    let mut client = Client::new(app.addr);
    let reply = client.post_form("/counter", &[]).await;
    let cookie = reply.set_cookie(MAIN).expect("the counter sets the session cookie");
    assert!(cookie.has("HttpOnly"), "missing HttpOnly: {cookie:?}");
    assert_eq!(cookie.attribute("SameSite"), Some("Lax"), "{cookie:?}");
    assert_eq!(cookie.attribute("Path"), Some("/"), "{cookie:?}");
    assert!(cookie.has("Secure"), "Secure must be on by default: {cookie:?}");
}

/// `SESSION_SECURE=0` drops `Secure` and nothing else.
pub async fn secure_attribute_can_be_turned_off(ctx: Ctx) {
    let (_app, mut client) = ctx.start_fresh();
    let reply = client.post_form("/counter", &[]).await;
    let cookie = reply.set_cookie(MAIN).expect("the counter sets the session cookie");
    assert!(!cookie.has("Secure"), "SESSION_SECURE=0 must drop Secure: {cookie:?}");
    assert!(cookie.has("HttpOnly"), "{cookie:?}");
}

/// `SESSION_PARTITIONED=1` (with `Secure`, which it needs): both the main
/// and the `prefs` cookie carry `Partitioned`, and so does the cookie that
/// ends a session, which a browser needs to reach the partitioned one.
pub async fn partitioned_cookies_carry_the_attribute(ctx: Ctx) {
    let config = AppConfig { partitioned: true, ..ctx.config(&[random_key().to_base64()], true) };
    let app = ctx.launch(&config);
    let mut client = Client::new(app.addr);
    let counted = client.post_form("/counter", &[]).await;
    let main = counted.set_cookie(MAIN).expect("the counter sets the session cookie");
    assert!(main.has("Partitioned") && main.has("Secure"), "{main:?}");
    let themed = client.post_form("/prefs", &[("theme", "dark")]).await;
    let prefs = themed.set_cookie(PREFS).expect("/prefs sets its cookie");
    assert!(prefs.has("Partitioned") && prefs.has("Secure"), "{prefs:?}");
    let ended = client.post_form("/logout", &[]).await;
    let removal = ended.set_cookie(MAIN).expect("logout removes the session cookie");
    assert!(removal.has("Partitioned"), "the removal must be partitioned too: {removal:?}");
    // One app at a time: a redb store's file has one owner.
    drop(app);
    let plain = ctx.start(&[random_key().to_base64()], true);
    let reply = Client::new(plain.addr).post_form("/counter", &[]).await;
    let cookie = reply.set_cookie(MAIN).expect("the counter sets the session cookie");
    assert!(!cookie.has("Partitioned"), "off unless asked for: {cookie:?}");
}

/// Every response that read a session says `Vary: Cookie`, whether or not
/// it set one.
pub async fn session_responses_vary_on_cookie(ctx: Ctx) {
    let (_app, mut client) = ctx.start_fresh();
    for (method, path) in [("POST", "/counter"), ("GET", "/peek")] {
        let reply = client.send(method, path, None).await;
        assert!(reply.has_token("vary", "cookie"), "{method} {path} read a session but has no `Vary: Cookie`");
    }
}

/// A response that sets a cookie tells shared caches not to store it.
pub async fn set_cookie_responses_are_not_cached(ctx: Ctx) {
    let (_app, mut client) = ctx.start_fresh();
    let reply = client.post_form("/counter", &[]).await;
    assert!(!reply.header_values("set-cookie").is_empty());
    assert!(
        reply.header_values("cache-control").iter().any(|v| v.contains("no-cache=\"set-cookie\"")),
        "a response with Set-Cookie needs Cache-Control: no-cache=\"set-cookie\", got {:?}",
        reply.header_values("cache-control")
    );
}

/// `/kv` stores strings under any key and lists them.
pub async fn kv_lists_string_values(ctx: Ctx) {
    let (_app, mut client) = ctx.start_fresh();
    expect_status(&client.post_form("/kv", &[("k", "colour"), ("v", "blue green")]).await, 204, "POST /kv");
    expect_status(&client.post_form("/kv", &[("k", "size"), ("v", "L")]).await, 204, "POST /kv");
    count_up(&mut client).await;
    let reply = client.get("/kv").await;
    expect_status(&reply, 200, "/kv list");
    let listed: BTreeMap<String, String> = serde_json::from_str(&reply.body).expect("/kv returns a JSON object");
    let expected: BTreeMap<String, String> =
        [("colour", "blue green"), ("size", "L")].into_iter().map(|(k, v)| (k.into(), v.into())).collect();
    assert_eq!(listed, expected, "/kv must list exactly the string values");
}

/// Server stores: concurrent requests with the same cookie, each writing
/// its own key, all keep their writes.
pub async fn concurrent_writes_of_distinct_keys_are_all_kept(ctx: Ctx) {
    const WRITERS: usize = 16;
    let (_app, mut client) = ctx.start_fresh();
    expect_status(&client.post_form("/kv", &[("k", "first"), ("v", "0")]).await, 204, "POST /kv");
    let writers: Vec<_> = (0..WRITERS)
        .map(|i| {
            let mut writer = client.clone();
            tokio::spawn(async move {
                let (key, value) = (format!("key{i}"), i.to_string());
                writer.post_form("/kv", &[("k", &key), ("v", &value)]).await.status
            })
        })
        .collect();
    for writer in writers {
        assert_eq!(writer.await.expect("writer task"), 204);
    }
    let reply = client.get("/kv").await;
    let listed: BTreeMap<String, String> = serde_json::from_str(&reply.body).expect("/kv returns a JSON object");
    let missing: Vec<String> = (0..WRITERS).map(|i| format!("key{i}")).filter(|k| !listed.contains_key(k)).collect();
    assert!(missing.is_empty(), "concurrent writes were lost: {missing:?}");
    assert!(listed.contains_key("first"));
}

/// The home page shows the counter, the user, the theme and the pending
/// flashes, and taking the flashes there consumes them.
pub async fn home_page_shows_the_sessions(ctx: Ctx) {
    let (_app, mut client) = ctx.start_fresh();
    count_up(&mut client).await;
    login(&mut client, "ada").await;
    client.post_form("/prefs", &[("theme", "solarized")]).await;
    client.post_form("/flash", &[("message", "hello <there>")]).await;
    let page = client.get("/").await;
    expect_status(&page, 200, "/");
    for shown in ["Counter: 1", "ada", "solarized", "hello &lt;there&gt;"] {
        assert!(page.body.contains(shown), "the home page must show `{shown}`:\n{}", page.body);
    }
    let flashes: Vec<String> = serde_json::from_str(&client.get("/flashes").await.body).expect("a JSON array");
    assert!(flashes.is_empty(), "the home page must consume the flashes it shows, left {flashes:?}");
}

/// The headers a browser sends with a form another site's page submits.
const CROSS_SITE_FORM: &[(&str, &str)] = &[("Sec-Fetch-Site", "cross-site"), ("Origin", "http://evil.example")];

/// A cross-site form `POST /login` or `POST /logout` is refused with `403`
/// and changes nothing: no cookie, the logged-in user stays; a browser
/// gets a page, a program one line.
pub async fn cross_site_login_and_logout_are_refused_and_change_nothing(ctx: Ctx) {
    let (_app, mut client) = ctx.start_fresh();
    login(&mut client, "ada").await;
    let cookie = client.cookie(MAIN).expect("login set the session cookie").to_owned();

    let forged = client.post_form_with("/login", &[("user", "mallory")], CROSS_SITE_FORM).await;
    expect_status(&forged, 403, "cross-site POST /login");
    assert!(forged.set_cookies().is_empty(), "a refused request must set no cookie: {:?}", forged.set_cookies());
    assert_eq!(forged.body.trim(), "cross-origin request refused", "a program gets one line");
    let forged = client.post_form_with("/logout", &[], CROSS_SITE_FORM).await;
    expect_status(&forged, 403, "cross-site POST /logout");
    assert!(forged.set_cookies().is_empty(), "a refused logout must not remove the cookie");

    let mut browser_form = CROSS_SITE_FORM.to_vec();
    browser_form.push(("Accept", "text/html,application/xhtml+xml,*/*;q=0.8"));
    let page = client.post_form_with("/logout", &[], &browser_form).await;
    expect_status(&page, 403, "cross-site POST /logout from a browser");
    assert!(
        page.header_values("content-type").iter().any(|v| v.starts_with("text/html")),
        "a browser gets a page: {:?}",
        page.headers
    );

    assert_eq!(client.cookie(MAIN), Some(cookie.as_str()), "the session cookie is unchanged");
    let me = client.get("/me").await;
    expect_status(&me, 200, "/me after refused forms");
    assert_eq!(me.body, "ada", "the refused login must not change the user");
}

/// Without `Sec-Fetch-Site`, a `POST` whose `Origin` is another host is
/// refused; one whose `Origin` is this host passes.
pub async fn origin_of_another_host_is_refused(ctx: Ctx) {
    let (_app, mut client) = ctx.start_fresh();
    let forged = client.post_form_with("/login", &[("user", "mallory")], &[("Origin", "http://evil.example")]).await;
    expect_status(&forged, 403, "POST /login with the Origin of another host");
    assert!(forged.set_cookies().is_empty(), "a refused request must set no cookie");
    expect_status(&client.get("/me").await, 401, "/me after a refused login");

    let own = format!("http://{}", client.addr());
    let reply = client.post_form_with("/login", &[("user", "ada")], &[("Origin", &own)]).await;
    expect_status(&reply, 204, "POST /login with this host's Origin");
    let reply = client.post_form_with("/flash", &[("message", "hi")], &[("Sec-Fetch-Site", "same-origin")]).await;
    expect_status(&reply, 204, "POST /flash from the site's own page");
}

/// A `POST` with neither `Sec-Fetch-Site` nor `Origin` (a program) passes,
/// and a cross-site `GET` (a link) is served.
pub async fn requests_without_fetch_headers_pass(ctx: Ctx) {
    let (_app, mut client) = ctx.start_fresh();
    login(&mut client, "ada").await;
    let link = client.send_with("GET", "/me", None, CROSS_SITE_FORM).await;
    expect_status(&link, 200, "cross-site GET /me");
    assert_eq!(link.body, "ada");
}

/// What the demo holds for `client`, read without changing anything: the
/// counter, the user, the flashes (taken), the values and the theme.
async fn holdings(client: &mut Client) -> (u64, u16, String, String, String) {
    let counted = count(client, "/peek").await;
    let me = client.get("/me").await.status;
    let flashes = client.get("/flashes").await.body;
    let values = client.get("/kv").await.body;
    let theme = client.get("/prefs").await.body;
    (counted, me, flashes, values, theme)
}

/// The form routes and a form for each, every field of it padded to
/// `size` bytes.
fn forms(size: usize) -> Vec<(&'static str, Vec<u8>)> {
    let pad = "a".repeat(size);
    vec![
        ("/flash", format!("message={pad}").into_bytes()),
        ("/login", format!("user={pad}").into_bytes()),
        ("/kv", format!("k=big&v={pad}").into_bytes()),
        ("/prefs", format!("theme={pad}").into_bytes()),
        ("/remember", format!("on=1&pad={pad}").into_bytes()),
        ("/remove", format!("k={pad}").into_bytes()),
    ]
}

/// Every form route refuses a body over 64 KiB with `413`, whether its
/// `Content-Length` says so (answered before it is read) or it comes in
/// chunks with no length, and stores nothing of it; a body just under the
/// limit is read, on every route alike.
pub async fn form_body_over_64_kib_is_refused_with_413(ctx: Ctx) {
    const LIMIT: usize = 64 * 1024;
    let (app, mut client) = ctx.start_fresh();
    count_up(&mut client).await;
    let before = holdings(&mut client).await;
    let cookie = client.cookie(MAIN).map(str::to_owned);
    for (path, body) in forms(1 << 20) {
        for chunked in [false, true] {
            let reply = client.post_body(path, body.clone(), chunked).await;
            let how = if chunked { "chunked, no Content-Length" } else { "with Content-Length" };
            expect_status(&reply, 413, &format!("POST {path} with 1 MiB {how}"));
            assert_eq!(client.cookie(MAIN).map(str::to_owned), cookie, "a refused body changed the session cookie");
        }
    }
    assert_eq!(holdings(&mut client).await, before, "a refused body changed what the session holds");
    let mut stranger = Client::new(app.addr);
    let reply = stranger.post_body("/flash", forms(LIMIT + 1).swap_remove(0).1, true).await;
    expect_status(&reply, 413, "POST /flash just over the limit, chunked");
    assert!(reply.header_values("set-cookie").is_empty(), "a refused body started a session: {:?}", reply.headers);
    // Under the limit, a field the form does not have pads the body.
    let padded = format!("message=hi&pad={}", "a".repeat(LIMIT - 1024)).into_bytes();
    for chunked in [false, true] {
        expect_status(&client.post_body("/flash", padded.clone(), chunked).await, 204, "POST /flash of 63 KiB");
    }
    let flashes: Vec<String> = serde_json::from_str(&client.get("/flashes").await.body).expect("a JSON array");
    assert_eq!(flashes, ["hi", "hi"]);
}

/// No `GET` changes a value: the old query forms of `/kv`, `/prefs` and
/// `/counter` read, or are refused, and leave the sessions as they were.
pub async fn get_changes_nothing(ctx: Ctx) {
    let (_app, mut client) = ctx.start_fresh();
    login(&mut client, "ada").await;
    count_up(&mut client).await;
    let before = holdings(&mut client).await;
    let cookies = (client.cookie(MAIN).map(str::to_owned), client.cookie(PREFS).map(str::to_owned));
    for path in
        ["/kv?k=user&v=mallory", "/kv?k=colour&v=red", "/prefs?theme=dark", "/counter", "/logout", "/flash?message=x"]
    {
        let reply = client.get(path).await;
        assert!(reply.header_values("set-cookie").is_empty(), "GET {path} set a cookie: {:?}", reply.headers);
    }
    assert_eq!(
        (client.cookie(MAIN).map(str::to_owned), client.cookie(PREFS).map(str::to_owned)),
        cookies,
        "a GET changed a cookie"
    );
    assert_eq!(holdings(&mut client).await, before, "a GET changed what the session holds");
    assert_eq!(client.get("/me").await.body, "ada");
    expect_status(&client.get("/counter").await, 405, "GET /counter");
}

/// `POST /kv` cannot write the keys the demo itself reads: `user` is
/// written by logging in, `count` by the counter.
pub async fn kv_refuses_the_demos_own_keys(ctx: Ctx) {
    let (_app, mut client) = ctx.start_fresh();
    login(&mut client, "ada").await;
    count_up(&mut client).await;
    for key in ["user", "count"] {
        let reply = client.post_form("/kv", &[("k", key), ("v", "mallory")]).await;
        expect_status(&reply, 422, &format!("POST /kv k={key}"));
    }
    expect_status(&client.post_form("/kv", &[("k", ""), ("v", "x")]).await, 422, "POST /kv with an empty key");
    assert_eq!(client.get("/me").await.body, "ada", "/kv rewrote the login");
    assert_eq!(count(&mut client, "/peek").await, 1, "/kv rewrote the counter");
    let home = client.get("/").await;
    expect_status(&home, 200, "/ after refused writes");
}

/// Every response, a page, a program's answer, an error or a refusal,
/// forbids framing (`X-Frame-Options: DENY`, CSP `frame-ancestors
/// 'none'`) and content sniffing, and sets a referrer policy.
pub async fn every_response_forbids_framing_and_sniffing(ctx: Ctx) {
    let (_app, mut client) = ctx.start_fresh();
    let replies = [
        ("GET /", client.get("/").await),
        ("POST /counter", client.post_form("/counter", &[]).await),
        ("GET /peek", client.get("/peek").await),
        ("GET /nowhere", client.get("/nowhere").await),
        ("GET /flash", client.get("/flash").await),
        ("POST /kv k=user", client.post_form("/kv", &[("k", "user")]).await),
        ("POST /flash of 1 MiB", client.post_body("/flash", vec![b'a'; 1 << 20], false).await),
        ("GET /favicon.ico", client.get("/favicon.ico").await),
    ];
    for (what, reply) in replies {
        let one = |name: &str| reply.header_values(name).first().map(|v| v.to_owned()).unwrap_or_default();
        assert!(
            one("x-frame-options").eq_ignore_ascii_case("deny"),
            "{what}: X-Frame-Options {:?}",
            one("x-frame-options")
        );
        let policy = one("content-security-policy");
        assert!(
            policy.split(';').any(|d| d.split_whitespace().collect::<Vec<_>>() == ["frame-ancestors", "'none'"]),
            "{what}: Content-Security-Policy without frame-ancestors 'none': {policy:?}"
        );
        assert!(one("x-content-type-options").eq_ignore_ascii_case("nosniff"), "{what}: no X-Content-Type-Options");
        assert!(!one("referrer-policy").is_empty(), "{what}: no Referrer-Policy");
    }
}

// The same lifecycle with the main session carried in a request header
// (`SESSION_TRANSPORT=header:x-session`), as an API or mobile client
// without cookies sends it; `prefs` stays a cookie.

/// The header the main session travels in, in the header scenarios.
pub const HEADER: &str = "x-session";

/// The header transport's app with a fresh key, and its client.
fn start_header(ctx: &Ctx) -> (crate::Running, Client) {
    ctx.start_header(&[random_key().to_base64()], None)
}

/// The counter counts through the header: each new value comes back in
/// it, no `Set-Cookie` is sent for the main session, and `Vary` names the
/// header, not `Cookie`.
pub async fn header_counter_travels_without_cookies(ctx: Ctx) {
    let (app, mut client) = start_header(&ctx);
    let first = client.post_form("/counter", &[]).await;
    expect_status(&first, 200, "POST /counter");
    assert_eq!(first.body, "1");
    assert!(first.set_cookie(MAIN).is_none(), "a header session sets no cookie: {:?}", first.headers);
    assert!(first.has_token("vary", HEADER), "Vary must name {HEADER}: {:?}", first.headers);
    assert!(!first.has_token("vary", "cookie"), "only the header session was used: {:?}", first.headers);
    assert!(first.has_token("cache-control", "no-store"), "a handed-out value is not cached: {:?}", first.headers);
    assert!(client.held().is_some(), "the new session's value comes back in {HEADER}");
    for expected in 2..=3 {
        assert_eq!(count_up(&mut client).await, expected, "the counter must persist through the header");
    }
    let peek = client.get("/peek").await;
    assert_eq!(peek.body, "3");
    assert!(peek.header_values(HEADER).is_empty(), "/peek changed nothing yet sent a value");
    assert_eq!(count_up(&mut Client::carrying(app.addr, HEADER)).await, 1, "another client, another session");
}

/// Logging in hands out a new value and keeps the session's data.
pub async fn header_login_changes_the_value_and_keeps_the_data(ctx: Ctx) {
    let (_app, mut client) = start_header(&ctx);
    count_up(&mut client).await;
    let before = client.held().expect("the counter handed out a value").to_owned();
    login(&mut client, "ada").await;
    let after = client.held().expect("login keeps a value").to_owned();
    assert_ne!(before, after, "login must hand out a new value");
    assert_eq!(client.get("/me").await.body, "ada");
    assert_eq!(count(&mut client, "/peek").await, 1, "login must keep the session's data");
}

/// Logging out answers an empty value in the header, and the session is gone.
pub async fn header_logout_answers_an_empty_value(ctx: Ctx) {
    let (_app, mut client) = start_header(&ctx);
    login(&mut client, "ada").await;
    let reply = client.post_form("/logout", &[]).await;
    expect_status(&reply, 204, "POST /logout");
    assert_eq!(reply.header_values(HEADER), [""], "logout must answer an empty {HEADER}: {:?}", reply.headers);
    assert!(reply.set_cookie(MAIN).is_none(), "no cookie to remove: {:?}", reply.headers);
    assert_eq!(client.held(), None);
    expect_status(&client.get("/me").await, 401, "/me after logout");
}

/// Server stores: the value from before a login, and the one from before
/// a logout, name no session.
pub async fn header_old_value_is_unknown_after_login_and_logout(ctx: Ctx) {
    let (_app, mut client) = start_header(&ctx);
    count_up(&mut client).await;
    let mut planted = client.clone();
    login(&mut client, "ada").await;
    assert_eq!(count(&mut planted, "/peek").await, 0, "the pre-login value must be unknown after login");
    let mut replay = client.clone();
    expect_status(&client.post_form("/logout", &[]).await, 204, "POST /logout");
    expect_status(&replay.get("/me").await, 401, "/me replaying the value from before logout");
}

/// A value with one character changed gives a fresh session, never an
/// error status.
pub async fn header_tampered_value_yields_a_fresh_session(ctx: Ctx) {
    let (_app, mut client) = start_header(&ctx);
    count_up(&mut client).await;
    count_up(&mut client).await;
    let mut bytes = client.held().expect("a value is held").as_bytes().to_vec();
    let middle = bytes.len() / 2;
    bytes[middle] = if bytes[middle] == b'A' { b'B' } else { b'A' };
    client.set_held(Some(&String::from_utf8(bytes).expect("values are ASCII")));
    let reply = client.post_form("/counter", &[]).await;
    expect_status(&reply, 200, "/counter with a tampered value");
    assert_eq!(reply.body, "1", "a tampered value must give a fresh session");
}

/// Values that are not ours (not base64, far too long, empty) and the
/// header sent twice give a fresh session, never an error status.
pub async fn header_bad_values_yield_a_fresh_session(ctx: Ctx) {
    let (app, mut client) = start_header(&ctx);
    count_up(&mut client).await;
    let good = client.held().expect("a value is held").to_owned();
    let long = "A".repeat(6000);
    let cases: [&[(&str, &str)]; 4] =
        [&[(HEADER, "%%%not-base64%%%")], &[(HEADER, &long)], &[(HEADER, "")], &[(HEADER, &good), (HEADER, &good)]];
    for headers in cases {
        let mut stranger = Client::new(app.addr);
        let reply = stranger.send_with("GET", "/peek", None, headers).await;
        expect_status(&reply, 200, "/peek with a bad header");
        assert_eq!(reply.body, "0", "{:?} must give a fresh session", &headers[0].1[..headers[0].1.len().min(20)]);
    }
    assert_eq!(count(&mut client, "/peek").await, 1, "the good value still reads");
}

/// Restarting with a new key in front of the old one: the old value is
/// accepted and a value under the new key comes back in the header.
pub async fn header_rotated_key_reissues_the_value(ctx: Ctx) {
    let (old, new) = (random_key().to_base64(), random_key().to_base64());
    let (app, mut client) = ctx.start_header(std::slice::from_ref(&old), None);
    count_up(&mut client).await;
    let before = client.held().expect("a value is held").to_owned();
    drop(app);
    let (app, _) = ctx.start_header(&[new.clone(), old], None);
    client.set_addr(app.addr);
    assert_eq!(count_up(&mut client).await, 2, "a value under the old key must still be accepted");
    assert_ne!(client.held(), Some(before.as_str()), "the value must be re-issued under the new key");
    drop(app);
    let (app, _) = ctx.start_header(&[new], None);
    client.set_addr(app.addr);
    assert_eq!(count(&mut client, "/peek").await, 2, "the re-issued value must be valid under the new key alone");
}

/// A session idle past its timeout is over: the next request starts afresh.
pub async fn header_idle_session_expires(ctx: Ctx) {
    let (_app, mut client) = ctx.start_header(&[random_key().to_base64()], Some(1));
    count_up(&mut client).await;
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert_eq!(count(&mut client, "/peek").await, 0, "an idle session must expire");
}

/// A cross-site `POST` carrying only the header passes: no cookie rides
/// on it, so it is no forgery. Once the client also holds the `prefs`
/// cookie, which a browser would attach by itself, it is refused.
pub async fn header_cross_site_request_passes_unless_a_cookie_rides_on_it(ctx: Ctx) {
    let (_app, mut client) = start_header(&ctx);
    count_up(&mut client).await;
    let reply = client.post_form_with("/counter", &[], CROSS_SITE_FORM).await;
    expect_status(&reply, 200, "cross-site POST /counter carrying the header");
    assert_eq!(reply.body, "2");
    expect_status(&client.post_form("/prefs", &[("theme", "dark")]).await, 200, "POST /prefs");
    assert!(client.cookie(PREFS).is_some(), "prefs is a cookie");
    let forged = client.post_form_with("/counter", &[], CROSS_SITE_FORM).await;
    expect_status(&forged, 403, "cross-site POST /counter with the prefs cookie");
    assert_eq!(count(&mut client, "/peek").await, 2, "the refused request changed nothing");
}

/// One entry of `GET /devices`.
#[derive(Debug, Clone)]
struct Device {
    handle: String,
    created: u64,
    last_seen: u64,
    current: bool,
}

/// A user name no other scenario uses: the memory store is shared by
/// every scenario of a process, and a user's devices are all of that
/// user's sessions.
fn someone(name: &str) -> String {
    format!("{name}-{}", random_key().id())
}

/// `GET /devices`, parsed.
async fn devices(client: &mut Client, what: &str) -> Vec<Device> {
    let reply = client.get("/devices").await;
    expect_status(&reply, 200, what);
    let bad = |why: &str| -> ! { panic!("{what}: `{}` is not a JSON array of devices: {why}", reply.body) };
    let value: serde_json::Value = serde_json::from_str(&reply.body).unwrap_or_else(|e| bad(&e.to_string()));
    let Some(entries) = value.as_array() else { bad("not an array") };
    entries
        .iter()
        .map(|entry| Device {
            handle: entry["handle"].as_str().unwrap_or_else(|| bad("no string `handle`")).to_owned(),
            created: entry["created"].as_u64().unwrap_or_else(|| bad("no number `created`")),
            last_seen: entry["last_seen"].as_u64().unwrap_or_else(|| bad("no number `last_seen`")),
            current: entry["current"].as_bool().unwrap_or_else(|| bad("no boolean `current`")),
        })
        .collect()
}

/// Server stores: `GET /devices` lists the user's live sessions with their
/// times, the caller's own marked `current`; logged out, it answers `401`.
pub async fn devices_are_listed_and_the_caller_marked(ctx: Ctx) {
    let (ada_name, bob_name) = (someone("ada"), someone("bob"));
    let (app, mut laptop) = ctx.start_fresh();
    expect_status(&laptop.get("/devices").await, 401, "GET /devices logged out");
    login(&mut laptop, &ada_name).await;
    let mut phone = Client::new(app.addr);
    login(&mut phone, &ada_name).await;
    let mut bob = Client::new(app.addr);
    login(&mut bob, &bob_name).await;

    let listed = devices(&mut laptop, "GET /devices on the laptop").await;
    assert_eq!(listed.len(), 2, "ada's two sessions, not bob's: {listed:?}");
    assert_eq!(listed.iter().filter(|d| d.current).count(), 1, "one is the caller's: {listed:?}");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    for device in &listed {
        assert!(device.created <= device.last_seen && device.last_seen <= now + 5, "times in Unix seconds: {device:?}");
        assert!(now - device.created < 600, "created just now: {device:?}");
        assert_eq!(device.handle.len(), 32, "a handle of 32 hex digits: {device:?}");
        for (name, cookie) in [("laptop", laptop.cookie(MAIN)), ("phone", phone.cookie(MAIN))] {
            let cookie = cookie.expect("a session cookie");
            assert!(!cookie.contains(&device.handle), "the handle is part of the {name}'s cookie: {device:?}");
        }
    }
    let from_phone = devices(&mut phone, "GET /devices on the phone").await;
    let current = |list: &[Device]| list.iter().find(|d| d.current).map(|d| d.handle.clone());
    assert_ne!(current(&listed), current(&from_phone), "each caller is marked as itself");
    let mut handles: Vec<_> = listed.iter().map(|d| d.handle.clone()).collect();
    let mut others: Vec<_> = from_phone.iter().map(|d| d.handle.clone()).collect();
    handles.sort();
    others.sort();
    assert_eq!(handles, others, "both list the same sessions");
}

/// Server stores: `POST /devices/end` with the handle of another of the
/// user's sessions ends it; that session's next request is anonymous.
pub async fn ending_a_device_makes_its_next_request_anonymous(ctx: Ctx) {
    let ada_name = someone("ada");
    let (app, mut laptop) = ctx.start_fresh();
    login(&mut laptop, &ada_name).await;
    let mut phone = Client::new(app.addr);
    login(&mut phone, &ada_name).await;

    let listed = devices(&mut laptop, "GET /devices").await;
    let phone_handle = listed.iter().find(|d| !d.current).expect("the phone is listed").handle.clone();
    let reply = laptop.post_form("/devices/end", &[("handle", &phone_handle)]).await;
    expect_status(&reply, 204, "POST /devices/end");
    expect_status(&phone.get("/me").await, 401, "/me on the ended phone");
    let me = laptop.get("/me").await;
    expect_status(&me, 200, "/me on the laptop that ended the phone");
    let left = devices(&mut laptop, "GET /devices after ending the phone").await;
    assert!(left.len() == 1 && left[0].current, "only the laptop is left: {left:?}");
    let again = laptop.post_form("/devices/end", &[("handle", &phone_handle)]).await;
    expect_status(&again, 404, "POST /devices/end of an ended session");
    let garbage = laptop.post_form("/devices/end", &[("handle", "not-a-handle")]).await;
    expect_status(&garbage, 404, "POST /devices/end with no handle of the user");
}

/// Server stores: `POST /devices/end-others` ends every other session of
/// the user and keeps the caller's.
pub async fn ending_the_other_devices_leaves_only_this_one(ctx: Ctx) {
    let (ada_name, bob_name) = (someone("ada"), someone("bob"));
    let (app, mut laptop) = ctx.start_fresh();
    login(&mut laptop, &ada_name).await;
    let mut others = Vec::new();
    for _ in 0..2 {
        let mut other = Client::new(app.addr);
        login(&mut other, &ada_name).await;
        others.push(other);
    }
    let mut bob = Client::new(app.addr);
    login(&mut bob, &bob_name).await;
    assert_eq!(devices(&mut laptop, "GET /devices").await.len(), 3);

    expect_status(&laptop.post_form("/devices/end-others", &[]).await, 204, "POST /devices/end-others");
    for other in &mut others {
        expect_status(&other.get("/me").await, 401, "/me on an ended device");
    }
    let left = devices(&mut laptop, "GET /devices after end-others").await;
    assert!(left.len() == 1 && left[0].current, "only the caller is left: {left:?}");
    expect_status(&laptop.get("/me").await, 200, "/me on the device that ended the others");
    expect_status(&bob.get("/me").await, 200, "another user's session is left alone");
}

/// Server stores: the handle of another user's session ends nothing, and
/// the devices forms are refused cross-site like every other form.
pub async fn another_users_handle_cannot_end_their_session(ctx: Ctx) {
    let (ada_name, mallory_name) = (someone("ada"), someone("mallory"));
    let (app, mut mallory) = ctx.start_fresh();
    login(&mut mallory, &mallory_name).await;
    let mut ada = Client::new(app.addr);
    login(&mut ada, &ada_name).await;
    let adas = devices(&mut ada, "GET /devices for ada").await;
    let handle = adas[0].handle.clone();

    let reply = mallory.post_form("/devices/end", &[("handle", &handle)]).await;
    expect_status(&reply, 404, "POST /devices/end with another user's handle");
    expect_status(&ada.get("/me").await, 200, "ada stays signed in");

    let forged = ada.post_form_with("/devices/end-others", &[], CROSS_SITE_FORM).await;
    expect_status(&forged, 403, "cross-site POST /devices/end-others");
    let forged = ada.post_form_with("/devices/end", &[("handle", &handle)], CROSS_SITE_FORM).await;
    expect_status(&forged, 403, "cross-site POST /devices/end");
    expect_status(&ada.get("/me").await, 200, "refused forms end nothing");
}

/// The cookie store: the `/devices` routes answer `404` with one line
/// saying a server store is needed.
pub async fn devices_need_a_server_store(ctx: Ctx) {
    let ada_name = someone("ada");
    let (_app, mut client) = ctx.start_fresh();
    login(&mut client, &ada_name).await;
    for reply in [
        client.get("/devices").await,
        client.post_form("/devices/end", &[("handle", "00112233445566778899aabbccddeeff")]).await,
        client.post_form("/devices/end-others", &[]).await,
    ] {
        expect_status(&reply, 404, "/devices on the cookie store");
        assert!(reply.body.contains("server store") && !reply.body.trim().contains('\n'), "one line: {:?}", reply.body);
    }
    expect_status(&client.get("/me").await, 200, "the session is unchanged");
}
