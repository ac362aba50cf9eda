//! A session started on the axum demo continues on the actix demo (and
//! back) when both run with the same SESSION_KEYS and store: the cookie
//! format belongs to the core, not to a framework.

use demo_config::{Background, Config};
use sessions_conformance::{Client, random_key};

fn config(keys: &str, store: &str) -> Config {
    Config::from_vars([
        ("DEMO_ADDR", "127.0.0.1:0"),
        ("SESSION_KEYS", keys),
        ("SESSION_STORE", store),
        ("SESSION_SECURE", "0"),
    ])
    .expect("a valid demo configuration")
}

async fn body(client: &mut Client, path: &str) -> String {
    let reply = client.get(path).await;
    assert_eq!(reply.status, 200, "{path}: {}", reply.body);
    reply.body
}

/// Counts twice on `first`, then goes on counting on `second` with the same jar.
async fn session_moves_between(first: &Background, second: &Background) {
    let mut client = Client::new(first.addr);
    assert_eq!(body(&mut client, "/counter").await, "1");
    assert_eq!(body(&mut client, "/counter").await, "2");
    assert_eq!(body(&mut client, "/prefs?theme=dark").await, "dark");
    client.set_addr(second.addr);
    assert_eq!(body(&mut client, "/counter").await, "3", "the other demo must accept the session cookie");
    assert_eq!(body(&mut client, "/prefs").await, "dark", "the other demo must accept the prefs cookie");
}

fn run(test: impl Future<Output = ()>) {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime").block_on(test);
}

#[test]
fn axum_cookie_store_session_is_accepted_by_actix() {
    let config = config(&random_key().to_base64(), "cookie");
    let axum = axum_demo::spawn(&config, None).expect("axum demo starts");
    let actix = actix_demo::spawn(&config, None).expect("actix demo starts");
    run(session_moves_between(&axum, &actix));
}

#[test]
fn actix_cookie_store_session_is_accepted_by_axum() {
    let config = config(&random_key().to_base64(), "cookie");
    let axum = axum_demo::spawn(&config, None).expect("axum demo starts");
    let actix = actix_demo::spawn(&config, None).expect("actix demo starts");
    run(session_moves_between(&actix, &axum));
}

#[test]
fn axum_filesystem_store_session_is_accepted_by_actix() {
    let dir = std::env::temp_dir().join(format!("sessions-interop-{}", random_key().id()));
    let config = config(&random_key().to_base64(), &format!("fs:{}", dir.display()));
    let axum = axum_demo::spawn(&config, None).expect("axum demo starts");
    let actix = actix_demo::spawn(&config, None).expect("actix demo starts");
    run(session_moves_between(&axum, &actix));
    drop((axum, actix));
    std::fs::remove_dir_all(dir).expect("the store directory can be removed");
}

#[test]
fn session_under_other_keys_is_not_accepted() {
    let axum = axum_demo::spawn(&config(&random_key().to_base64(), "cookie"), None).expect("axum demo starts");
    let actix = actix_demo::spawn(&config(&random_key().to_base64(), "cookie"), None).expect("actix demo starts");
    run(async {
        let mut client = Client::new(axum.addr);
        assert_eq!(body(&mut client, "/counter").await, "1");
        client.set_addr(actix.addr);
        assert_eq!(body(&mut client, "/counter").await, "1", "a cookie under foreign keys must start a fresh session");
    });
}
