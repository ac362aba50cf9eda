//! Cross-origin protection through the fairing, over rocket's own local
//! client: a forged form is refused before any route of the application,
//! loads no session and saves nothing; the site's own forms, programs and
//! cross-site links pass; a `403` catcher can answer it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rocket::http::{Header, Status};
use rocket::local::asynchronous::{Client, LocalResponse};
use rocket::response::content::RawHtml;
use rocket::{Build, Request, Rocket, State, catch, catchers, get, post, routes};
use sessions_core::backend::MemoryBackend;
use sessions_core::testing::CountingBackend;
use sessions_core::{CookieOptions, CrossOrigin, Key, KeyRing, Registry, ServerStore, StoreConfig};
use sessions_rocket::{Session, SessionError, SessionFairing};

const HOST: &str = "app.example";
const SAME_ORIGIN: &[(&str, &str)] = &[("Sec-Fetch-Site", "same-origin"), ("Origin", "http://app.example")];
const CROSS_SITE: &[(&str, &str)] = &[("Sec-Fetch-Site", "cross-site"), ("Origin", "https://evil.example")];

/// How many times the login route ran.
struct Logins(AtomicUsize);

#[post("/login")]
fn login(session: Session, logins: &State<Arc<Logins>>) -> Result<&'static str, SessionError> {
    logins.0.fetch_add(1, Ordering::SeqCst);
    session.cycle_id();
    session.insert("user", "ada")?;
    Ok("welcome")
}

#[get("/me")]
fn me(session: Session) -> Result<String, SessionError> {
    Ok(session.get::<String>("user")?.unwrap_or_default())
}

struct World {
    client: Client,
    logins: Arc<Logins>,
    backend: Arc<CountingBackend>,
}

async fn world(protection: CrossOrigin, configure: impl FnOnce(Rocket<Build>) -> Rocket<Build>) -> World {
    let backend = Arc::new(CountingBackend::new(Arc::new(MemoryBackend::new())));
    let config =
        StoreConfig::new("id", KeyRing::from(Key::generate())).cookie_options(CookieOptions::new().secure(false));
    let store = ServerStore::new(config, backend.clone()).unwrap();
    let registry = Registry::builder().store(store).cross_origin(protection).build().unwrap();
    let logins = Arc::new(Logins(AtomicUsize::new(0)));
    let rocket =
        rocket::custom(rocket::Config { log_level: rocket::config::LogLevel::Off, ..rocket::Config::debug_default() })
            .attach(SessionFairing::new(registry))
            .manage(Arc::clone(&logins))
            .mount("/", routes![login, me]);
    let client = Client::untracked(configure(rocket)).await.unwrap();
    World { client, logins, backend }
}

impl World {
    async fn send(&self, post: bool, path: &str, headers: &[(&str, &str)], cookie: Option<&str>) -> LocalResponse<'_> {
        let mut request = if post { self.client.post(path.to_owned()) } else { self.client.get(path.to_owned()) };
        request.add_header(Header::new("Host", HOST));
        for &(name, value) in headers {
            request.add_header(Header::new(name.to_owned(), value.to_owned()));
        }
        if let Some(cookie) = cookie {
            request.add_header(Header::new("Cookie", cookie.to_owned()));
        }
        request.dispatch().await
    }

    fn logins(&self) -> usize {
        self.logins.0.load(Ordering::SeqCst)
    }
}

fn cookie_of(response: &LocalResponse<'_>) -> Option<String> {
    Some(response.headers().get_one("Set-Cookie")?.split(';').next()?.to_owned())
}

#[rocket::async_test]
async fn cross_site_post_is_refused_before_the_route_and_touches_no_session() {
    let world = world(CrossOrigin::new(), |rocket| rocket).await;
    let login = world.send(true, "/login", SAME_ORIGIN, None).await;
    assert_eq!(login.status(), Status::Ok);
    let cookie = cookie_of(&login).expect("login sets the session cookie");
    let (reads, writes) = (world.backend.reads(), world.backend.writes());

    let refused = world.send(true, "/login", CROSS_SITE, Some(&cookie)).await;
    assert_eq!(refused.status(), Status::Forbidden);
    assert!(refused.headers().get_one("Set-Cookie").is_none(), "a refusal sends no cookie");
    assert_eq!(refused.into_string().await.as_deref(), Some("cross-origin request refused"));
    assert_eq!(world.logins(), 1, "the route must not run");
    assert_eq!((world.backend.reads(), world.backend.writes()), (reads, writes), "no session loaded or saved");

    let me = world.send(false, "/me", &[], Some(&cookie)).await;
    assert_eq!(me.into_string().await.as_deref(), Some("ada"), "the session is as it was");
}

#[rocket::async_test]
async fn origin_of_another_host_without_sec_fetch_site_is_refused() {
    let world = world(CrossOrigin::new(), |rocket| rocket).await;
    let response = world.send(true, "/login", &[("Origin", "http://evil.example")], None).await;
    assert_eq!(response.status(), Status::Forbidden);
    assert_eq!(world.logins(), 0);
    assert_eq!(world.backend.writes(), 0);
}

#[rocket::async_test]
async fn same_origin_header_less_and_cross_site_get_requests_pass() {
    let world = world(CrossOrigin::new(), |rocket| rocket).await;
    assert_eq!(world.send(true, "/login", SAME_ORIGIN, None).await.status(), Status::Ok);
    assert_eq!(world.send(true, "/login", &[("Origin", "http://app.example")], None).await.status(), Status::Ok);
    let program = world.send(true, "/login", &[], None).await;
    assert_eq!(program.status(), Status::Ok);
    let cookie = cookie_of(&program).expect("a program's login sets the cookie");
    assert_eq!(world.logins(), 3);

    let link = world.send(false, "/me", CROSS_SITE, Some(&cookie)).await;
    assert_eq!(link.status(), Status::Ok);
    assert_eq!(link.into_string().await.as_deref(), Some("ada"));
}

#[rocket::async_test]
async fn a_path_no_route_serves_still_answers_404_to_an_allowed_post() {
    let world = world(CrossOrigin::new(), |rocket| rocket).await;
    assert_eq!(world.send(true, "/nowhere", SAME_ORIGIN, None).await.status(), Status::NotFound);
    assert_eq!(world.send(true, "/nowhere", CROSS_SITE, None).await.status(), Status::Forbidden);
}

#[rocket::async_test]
async fn disabled_protection_lets_a_cross_site_post_through() {
    let world = world(CrossOrigin::disabled(), |rocket| rocket).await;
    assert_eq!(world.send(true, "/login", CROSS_SITE, None).await.status(), Status::Ok);
}

#[catch(403)]
fn forbidden(request: &Request<'_>) -> RawHtml<&'static str> {
    if sessions_rocket::is_cross_origin_refusal(request) { RawHtml("<h1>Refused</h1>") } else { RawHtml("forbidden") }
}

#[rocket::async_test]
async fn a_403_catcher_answers_the_refusal_its_own_way() {
    let world = world(CrossOrigin::new(), |rocket| rocket.register("/", catchers![forbidden])).await;
    let refused = world.send(true, "/login", CROSS_SITE, None).await;
    assert_eq!(refused.status(), Status::Forbidden);
    assert_eq!(refused.into_string().await.as_deref(), Some("<h1>Refused</h1>"));
    let passed = world.send(true, "/login", SAME_ORIGIN, None).await;
    assert_eq!(passed.into_string().await.as_deref(), Some("welcome"));
    assert_eq!(world.logins(), 1);
}
