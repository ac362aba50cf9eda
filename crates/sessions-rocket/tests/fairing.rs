//! The fairing and guards at the edges the demo app does not reach, through
//! rocket's own local client.

use std::convert::Infallible;
use std::sync::Arc;

use rocket::error::ErrorKind;
use rocket::http::{ContentType, CookieJar, Header, Status};
use rocket::local::asynchronous::{Client, LocalResponse};
use rocket::request::{FromRequest, Outcome};
use rocket::{Build, Request, Rocket, get, routes};
use sessions_core::backend::{Backend, MemoryBackend};
use sessions_core::testing::{CountingBackend, UnavailableBackend};
use sessions_core::{BackendError, CookieOptions, Key, KeyRing, Registry, ServerStore, StoreConfig};
use sessions_rocket::{Session, SessionError, SessionFairing, Sessions, migrate};

fn config(ring: &KeyRing) -> StoreConfig {
    StoreConfig::new("id", ring.clone()).cookie_options(CookieOptions::new().secure(false))
}

fn registry(ring: &KeyRing, backend: Arc<dyn Backend>) -> Registry {
    Registry::single(ServerStore::new(config(ring), backend).unwrap())
}

fn memory() -> Registry {
    registry(&KeyRing::from(Key::generate()), Arc::new(MemoryBackend::new()))
}

/// A quiet rocket with rocket's default debug configuration.
fn quiet() -> Rocket<Build> {
    rocket::custom(rocket::Config { log_level: rocket::config::LogLevel::Off, ..rocket::Config::debug_default() })
}

fn app(registry: Registry) -> Rocket<Build> {
    quiet().attach(SessionFairing::new(registry)).mount(
        "/",
        routes![counter, count_then_fail, count_then_not_found, plain, lost, visit_first, visit_second, theme],
    )
}

fn count(session: &Session) -> Result<u64, SessionError> {
    let count = session.get::<u64>("count")?.unwrap_or(0) + 1;
    session.insert("count", &count)?;
    Ok(count)
}

#[get("/counter")]
fn counter(session: Session) -> Result<String, SessionError> {
    Ok(count(&session)?.to_string())
}

#[get("/fail")]
fn count_then_fail(session: Session) -> Result<Status, SessionError> {
    count(&session)?;
    Ok(Status::InternalServerError)
}

#[get("/not-found")]
fn count_then_not_found(session: Session) -> Result<Status, SessionError> {
    count(&session)?;
    Ok(Status::NotFound)
}

#[get("/plain")]
fn plain() -> &'static str {
    "no session here"
}

/// Counts through the `Session` guard, then forwards.
struct CountThenForward;

#[rocket::async_trait]
impl<'r> FromRequest<'r> for CountThenForward {
    type Error = SessionError;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, SessionError> {
        let session = match request.guard::<Session>().await {
            Outcome::Success(session) => session,
            Outcome::Error(error) => return Outcome::Error(error),
            Outcome::Forward(status) => return Outcome::Forward(status),
        };
        match count(&session) {
            Ok(_) => Outcome::Forward(Status::NotFound),
            Err(err) => Outcome::Error((Status::InternalServerError, err)),
        }
    }
}

#[get("/lost")]
fn lost(_counted: CountThenForward) -> &'static str {
    "unreachable"
}

#[get("/visit")]
fn visit_first(_session: Session, _counted: CountThenForward) -> &'static str {
    "unreachable"
}

#[get("/visit", rank = 2)]
fn visit_second(session: Session) -> Result<String, SessionError> {
    Ok(count(&session)?.to_string())
}

#[get("/theme")]
fn theme(cookies: &CookieJar<'_>, session: Session) -> Result<&'static str, SessionError> {
    cookies.add(("theme", "dark"));
    count(&session)?;
    Ok("dark")
}

async fn get<'c>(client: &'c Client, path: &str, cookie: Option<&str>) -> LocalResponse<'c> {
    let mut request = client.get(path.to_owned());
    if let Some(cookie) = cookie {
        request = request.header(Header::new("Cookie", cookie.to_owned()));
    }
    request.dispatch().await
}

fn set_cookies(response: &LocalResponse<'_>) -> Vec<String> {
    response.headers().get("Set-Cookie").map(str::to_owned).collect()
}

/// The `name=value` of the session cookie the response sets.
fn cookie_of(response: &LocalResponse<'_>) -> Option<String> {
    let set_cookie = set_cookies(response).into_iter().find(|c| c.starts_with("id="))?;
    Some(set_cookie.split(';').next()?.to_owned())
}

async fn untracked(rocket: Rocket<Build>) -> Client {
    Client::untracked(rocket).await.expect("a valid rocket")
}

#[rocket::async_test]
async fn counter_round_trips_through_a_tracked_client() {
    // The local client hands its cookies to rocket's jar, not to a header.
    let client = Client::tracked(app(memory())).await.unwrap();
    for expected in ["1", "2", "3"] {
        let response = client.get("/counter").dispatch().await;
        assert_eq!(response.status(), Status::Ok);
        assert_eq!(response.headers().get_one("Vary"), Some("Cookie"));
        assert_eq!(response.into_string().await.as_deref(), Some(expected));
    }
}

#[rocket::async_test]
async fn counter_round_trips_through_the_cookie_header() {
    let client = untracked(app(memory())).await;
    let first = get(&client, "/counter", None).await;
    let cookie = cookie_of(&first).expect("the counter sets a cookie");
    assert_eq!(first.headers().get_one("Cache-Control"), Some("no-cache=\"set-cookie\""));

    let next = get(&client, "/counter", Some(&cookie)).await;
    assert_eq!(next.into_string().await.as_deref(), Some("2"));
}

#[rocket::async_test]
async fn handler_server_error_persists_nothing() {
    let client = untracked(app(memory())).await;
    let cookie = cookie_of(&get(&client, "/counter", None).await).expect("the counter sets a cookie");

    let failed = get(&client, "/fail", Some(&cookie)).await;
    assert_eq!(failed.status(), Status::InternalServerError);
    assert!(set_cookies(&failed).is_empty(), "a 5xx response must not set cookies");

    let next = get(&client, "/counter", Some(&cookie)).await;
    assert_eq!(next.into_string().await.as_deref(), Some("2"), "the failed request's increment must not be saved");
}

#[rocket::async_test]
async fn handler_client_error_answered_by_the_catcher_still_saves() {
    let client = untracked(app(memory())).await;
    let missing = get(&client, "/not-found", None).await;
    assert_eq!(missing.status(), Status::NotFound);
    // Rocket resets its jar for a catcher; the session cookie comes from the fairing.
    let cookie = cookie_of(&missing).expect("the catcher's 404 carries the new session's cookie");

    let next = get(&client, "/counter", Some(&cookie)).await;
    assert_eq!(next.into_string().await.as_deref(), Some("2"));
    let again = get(&client, "/not-found", Some(&cookie)).await;
    assert_eq!(again.status(), Status::NotFound);
    let next = get(&client, "/counter", Some(&cookie)).await;
    assert_eq!(next.into_string().await.as_deref(), Some("4"), "the second 404's increment was saved too");
}

#[rocket::async_test]
async fn guard_forwarding_to_the_404_catcher_still_saves() {
    let client = untracked(app(memory())).await;
    let lost = get(&client, "/lost", None).await;
    assert_eq!(lost.status(), Status::NotFound);
    let cookie = cookie_of(&lost).expect("the forwarded request's session is saved");

    let next = get(&client, "/counter", Some(&cookie)).await;
    assert_eq!(next.into_string().await.as_deref(), Some("2"));
}

#[rocket::async_test]
async fn forwarded_request_loads_once_and_keeps_writes() {
    let backend = Arc::new(CountingBackend::new(Arc::new(MemoryBackend::new())));
    let client = untracked(app(registry(&KeyRing::from(Key::generate()), backend.clone()))).await;
    let cookie = cookie_of(&get(&client, "/counter", None).await).unwrap();

    let reads = backend.reads();
    // Rank 1 takes the guard and counts, then forwards; rank 2 counts again.
    let visit = get(&client, "/visit", Some(&cookie)).await;
    assert_eq!(backend.reads() - reads, 1, "guards run again on a forward, but the session loads once");
    assert_eq!(visit.into_string().await.as_deref(), Some("3"), "the first route's write survives the forward");

    let next = get(&client, "/counter", Some(&cookie)).await;
    assert_eq!(next.into_string().await.as_deref(), Some("4"));
}

#[rocket::async_test]
async fn route_that_never_reads_a_session_gets_no_session_headers() {
    let client = untracked(app(memory())).await;
    let response = get(&client, "/plain", None).await;
    assert!(response.headers().get_one("Vary").is_none());
    assert!(set_cookies(&response).is_empty());
}

#[rocket::async_test]
async fn tampered_cookie_yields_fresh_session() {
    let client = untracked(app(memory())).await;
    let response = get(&client, "/counter", Some("id=AAAAforged")).await;
    assert_eq!(response.status(), Status::Ok);
    assert!(cookie_of(&response).is_some());
    assert_eq!(response.into_string().await.as_deref(), Some("1"));
}

#[rocket::async_test]
async fn handlers_own_cookies_are_sent_beside_the_session_cookie() {
    let client = untracked(app(memory())).await;
    let response = get(&client, "/theme", None).await;
    let cookies = set_cookies(&response);
    assert!(cookies.iter().any(|c| c.starts_with("theme=dark")), "{cookies:?}");
    assert!(cookies.iter().any(|c| c.starts_with("id=")), "{cookies:?}");
}

#[rocket::async_test]
async fn fairing_attached_twice_sends_one_session_cookie() {
    let registry = memory();
    let client = untracked(app(registry.clone()).attach(SessionFairing::new(registry))).await;
    let response = get(&client, "/counter", None).await;
    assert_eq!(set_cookies(&response).len(), 1);
}

async fn assert_outage_reply(response: LocalResponse<'_>, status: Status) {
    assert_eq!(response.status(), status);
    assert_eq!(response.content_type(), Some(ContentType::Plain));
    assert!(set_cookies(&response).is_empty(), "a failed request saves nothing");
    assert_eq!(response.into_string().await.as_deref(), Some("session storage unavailable"));
}

#[rocket::async_test]
async fn storage_down_while_saving_answers_503() {
    let client = untracked(app(registry(&KeyRing::from(Key::generate()), Arc::new(UnavailableBackend)))).await;
    assert_outage_reply(get(&client, "/counter", None).await, Status::ServiceUnavailable).await;
}

#[rocket::async_test]
async fn storage_down_while_loading_answers_the_configured_status_not_the_catcher_page() {
    let ring = KeyRing::from(Key::generate());
    // A valid cookie, minted while the storage was up.
    let up = untracked(app(registry(&ring, Arc::new(MemoryBackend::new())))).await;
    let cookie = cookie_of(&get(&up, "/counter", None).await).unwrap();

    let registry = Registry::builder()
        .store(ServerStore::new(config(&ring), Arc::new(UnavailableBackend)).unwrap())
        .unavailable_status(502)
        .build()
        .unwrap();
    let down = untracked(app(registry)).await;
    assert_outage_reply(get(&down, "/counter", Some(&cookie)).await, Status::BadGateway).await;
}

#[get("/everywhere")]
fn log_out_everywhere(_session: Session) -> Result<&'static str, SessionError> {
    // What `ServerStore::destroy_user_sessions` returns while Redis is down.
    Err(sessions_core::Error::from(BackendError::unavailable("connection refused")))?
}

#[rocket::async_test]
async fn an_outage_a_handler_meets_through_question_mark_answers_the_registry_status() {
    let registry = Registry::builder()
        .store(ServerStore::new(config(&KeyRing::from(Key::generate())), Arc::new(MemoryBackend::new())).unwrap())
        .unavailable_status(502)
        .build()
        .unwrap();
    let client = untracked(quiet().attach(SessionFairing::new(registry)).mount("/", routes![log_out_everywhere])).await;
    assert_outage_reply(get(&client, "/everywhere", None).await, Status::BadGateway).await;
}

#[rocket::async_test]
async fn a_cookie_that_is_not_ascii_does_not_hide_the_session() {
    let client = untracked(app(memory())).await;
    let cookie = cookie_of(&get(&client, "/counter", None).await).unwrap();

    let header = format!("junk=ünïcödé ✓; {cookie}; more=\u{1F36A}");
    let next = get(&client, "/counter", Some(&header)).await;
    assert_eq!(next.into_string().await.as_deref(), Some("2"), "the session cookie beside the junk must be read");
}

#[get("/prefs")]
async fn prefs(sessions: Sessions) -> Result<&'static str, SessionError> {
    sessions.default_session().await?;
    Ok("prefs")
}

#[rocket::async_test]
async fn launch_without_the_fairing_is_aborted_by_the_guards_sentinels() {
    let rocket = quiet().mount("/", routes![counter, prefs]);
    let Err(err) = Client::untracked(rocket).await else { panic!("launch must fail without the fairing") };
    let ErrorKind::SentinelAborts(sentries) = err.kind() else { panic!("not a sentinel abort: {err}") };
    let names: Vec<&str> = sentries.iter().map(|s| s.type_name).collect();
    assert!(names.contains(&"sessions_rocket::Session"), "{names:?}");
    assert!(names.contains(&"sessions_rocket::Sessions"), "{names:?}");
}

/// Reaches the `Session` guard from a guard of its own, which the
/// sentinels cannot see, and reports its error as a value.
struct Around(String);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Around {
    type Error = Infallible;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, Infallible> {
        Outcome::Success(Around(match request.guard::<Session>().await {
            Outcome::Error((status, err)) => format!("{} {err}", status.code),
            _ => "no error".to_owned(),
        }))
    }
}

#[get("/around")]
fn around(around: Around) -> String {
    around.0
}

/// Takes `Session` from a guard of its own and passes its outcome on.
struct Delegate;

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Delegate {
    type Error = SessionError;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, SessionError> {
        request.guard::<Session>().await.map(|_| Delegate)
    }
}

#[get("/delegate")]
fn delegate(_delegate: Delegate) -> &'static str {
    "unreachable"
}

#[rocket::async_test]
async fn guard_without_the_fairing_answers_500_naming_the_fairing() {
    let client = untracked(quiet().mount("/", routes![around, delegate])).await;
    let response = get(&client, "/delegate", None).await;
    assert_eq!(response.status(), Status::InternalServerError);

    let reported = get(&client, "/around", None).await.into_string().await.unwrap();
    assert!(reported.starts_with("500 "), "{reported}");
    assert!(reported.contains("SessionFairing"), "{reported}");
}

#[get("/legacy")]
fn legacy(cookies: &CookieJar<'_>) -> &'static str {
    cookies.add_private(("user", "ada"));
    "old style"
}

#[get("/migrate")]
fn move_user(cookies: &CookieJar<'_>, session: Session) -> Result<String, SessionError> {
    Ok(format!("{:?}", migrate::private_cookie::<String>(cookies, "user", &session, "user")?))
}

#[get("/migrate-number")]
fn move_user_as_number(cookies: &CookieJar<'_>, session: Session) -> Result<String, SessionError> {
    Ok(format!("{:?}", migrate::private_cookie::<u64>(cookies, "user", &session, "user")?))
}

#[get("/whoami")]
fn whoami(cookies: &CookieJar<'_>, session: Session) -> Result<String, SessionError> {
    let user = session.get::<String>("user")?.unwrap_or_default();
    Ok(format!("{user}; private cookie: {}", cookies.get_private("user").is_some()))
}

fn migrating() -> Rocket<Build> {
    quiet()
        .attach(SessionFairing::new(memory()))
        .mount("/", routes![legacy, move_user, move_user_as_number, whoami, counter])
}

#[rocket::async_test]
async fn a_moved_value_gets_a_new_session_id_against_fixation() {
    let client = Client::tracked(migrating()).await.unwrap();
    // A session exists (an attacker could have planted its id) before the
    // user's legacy private cookie moves into it.
    client.get("/counter").dispatch().await;
    let planted = client.cookies().get("id").map(|c| c.value().to_owned()).expect("a session id");
    client.get("/legacy").dispatch().await;
    client.get("/migrate").dispatch().await;
    let now = client.cookies().get("id").map(|c| c.value().to_owned()).expect("a session id");
    // A cycled id is dead for every holder of the old one (core's lifecycle
    // tests prove it); what this adapter must do is cycle.
    assert_ne!(planted, now, "the session holding the moved identity has a new id");
    assert_eq!(client.get("/counter").dispatch().await.into_string().await.as_deref(), Some("2"), "same data");
}

#[rocket::async_test]
async fn private_cookie_moves_into_the_session_once() {
    let client = Client::tracked(migrating()).await.unwrap();
    client.get("/legacy").dispatch().await;
    assert!(client.cookies().get_private("user").is_some(), "rocket sealed the legacy cookie");

    let moved = client.get("/migrate").dispatch().await;
    let cookies = set_cookies(&moved);
    assert!(cookies.iter().any(|c| c.starts_with("user=;") && c.contains("Max-Age=0")), "{cookies:?}");
    assert!(cookies.iter().any(|c| c.starts_with("id=")), "{cookies:?}");
    assert_eq!(moved.into_string().await.as_deref(), Some("Some(\"ada\")"));

    assert!(client.cookies().get("user").is_none(), "the client dropped the private cookie");
    let after = client.get("/whoami").dispatch().await.into_string().await;
    assert_eq!(after.as_deref(), Some("ada; private cookie: false"));
    let again = client.get("/migrate").dispatch().await.into_string().await;
    assert_eq!(again.as_deref(), Some("None"), "nothing is left to move");
}

#[rocket::async_test]
async fn private_cookie_that_does_not_parse_stays_in_place() {
    let client = Client::tracked(migrating()).await.unwrap();
    client.get("/legacy").dispatch().await;

    let response = client.get("/migrate-number").dispatch().await;
    assert!(set_cookies(&response).iter().all(|c| !c.starts_with("user=")), "no removal");
    assert_eq!(response.into_string().await.as_deref(), Some("None"));
    let after = client.get("/whoami").dispatch().await.into_string().await;
    assert_eq!(after.as_deref(), Some("; private cookie: true"));
}

const PROBLEM: &str = r#"{"title":"Sign-in is resting; try again in a minute"}"#;

#[rocket::post("/counter")]
fn counter_form(session: Session) -> Result<String, SessionError> {
    count(&session).map(|n| n.to_string())
}

/// The registry's policy carries the application's own body: on a failed
/// save, on a failed load, and for a refused cross-origin form.
#[rocket::async_test]
async fn a_storage_outage_and_a_cross_origin_refusal_answer_the_applications_own_body() {
    use sessions_core::adapter::FailureKind;

    let ring = KeyRing::from(Key::generate());
    let up = untracked(app(registry(&ring, Arc::new(MemoryBackend::new())))).await;
    let cookie = cookie_of(&get(&up, "/counter", None).await).unwrap();
    let registry = Registry::builder()
        .store(ServerStore::new(config(&ring), Arc::new(UnavailableBackend)).unwrap())
        .failure_body(FailureKind::Unavailable, "application/problem+json", PROBLEM)
        .failure_body(FailureKind::CrossOrigin, "text/html; charset=utf-8", "<p>Please use the form on our site.</p>")
        .build()
        .unwrap();
    let down = untracked(app(registry).mount("/", routes![counter_form])).await;

    for (what, cookie) in [("save", None), ("load", Some(cookie.as_str()))] {
        let response = get(&down, "/counter", cookie).await;
        assert_eq!(response.status(), Status::ServiceUnavailable, "{what}");
        assert_eq!(response.headers().get_one("Content-Type"), Some("application/problem+json"), "{what}");
        assert_eq!(response.into_string().await.as_deref(), Some(PROBLEM), "{what}");
    }
    let refused = down.post("/counter").header(Header::new("Sec-Fetch-Site", "cross-site")).dispatch().await;
    assert_eq!(refused.status(), Status::Forbidden);
    assert_eq!(refused.headers().get_one("Content-Type"), Some("text/html; charset=utf-8"));
    assert_eq!(refused.into_string().await.as_deref(), Some("<p>Please use the form on our site.</p>"));
}

sessions_rocket::session_name! {
    /// The preferences session of the named-session test.
    struct Prefs = "prefs";
}

sessions_rocket::session_name! {
    /// A session no store of the test's registry serves.
    struct Cart = "cart";
}

#[get("/named-theme")]
async fn named_theme(prefs: sessions_rocket::Named<Prefs>, sessions: Sessions) -> Result<String, SessionError> {
    let before = prefs.get::<String>("theme")?.unwrap_or_default();
    prefs.insert("theme", "dark")?;
    assert_eq!(sessions.get(Prefs).await?.get::<String>("theme")?.as_deref(), Some("dark"));
    Ok(before)
}

#[get("/cart")]
fn cart(cart: sessions_rocket::Named<Cart>) -> String {
    cart.is_empty().to_string()
}

#[rocket::async_test]
async fn a_session_named_by_type_is_extracted_and_one_no_store_serves_answers_500() {
    use sessions_rocket::name::NamedSession;

    let ring = KeyRing::from(Key::generate());
    let registry = Registry::builder()
        .store(ServerStore::new(config(&ring), Arc::new(MemoryBackend::new())).unwrap())
        .store(
            sessions_core::CookieStore::new(
                StoreConfig::new(Prefs::NAME, ring).cookie_options(CookieOptions::new().secure(false)),
            )
            .unwrap(),
        )
        .build()
        .unwrap();
    let client = untracked(quiet().attach(SessionFairing::new(registry)).mount("/", routes![named_theme, cart])).await;

    let first = get(&client, "/named-theme", None).await;
    let prefs = set_cookies(&first)
        .into_iter()
        .find(|c| c.starts_with("prefs="))
        .map(|c| c.split(';').next().unwrap().to_owned());
    assert_eq!(first.into_string().await.as_deref(), Some(""), "no theme yet");
    let second = get(&client, "/named-theme", prefs.as_deref()).await;
    assert_eq!(second.into_string().await.as_deref(), Some("dark"), "the named session kept its value");

    let unserved = get(&client, "/cart", None).await;
    assert_eq!(unserved.status(), Status::InternalServerError);
}
