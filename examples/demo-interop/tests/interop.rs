//! A session started on one demo continues on another framework's demo
//! when both run with the same SESSION_KEYS and store, for every ordered
//! pair of demos, on the cookie store and on a server store.

use demo_interop::DEMOS;
use demo_kit::Background;
use sessions_conformance::{Client, random_key};

fn vars(keys: &str, store: &str) -> Vec<(String, String)> {
    [("DEMO_ADDR", "127.0.0.1:0"), ("SESSION_KEYS", keys), ("SESSION_STORE", store), ("SESSION_SECURE", "0")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn run(test: impl Future<Output = ()>) {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime").block_on(test);
}

/// Everything a user does on `first`, then checked and ended on `second`,
/// then checked as ended on `first`.
async fn session_moves_between(pair: &str, first: &Background, second: &Background) {
    let mut client = Client::new(first.addr);
    for (path, form, want) in
        [("/counter", None, "1"), ("/counter", None, "2"), ("/prefs", Some(("theme", "dark")), "dark")]
    {
        let reply = client.post_form(path, &Vec::from_iter(form)).await;
        assert_eq!((reply.status, reply.body.as_str()), (200, want), "{pair}: {path} on the first demo");
    }
    assert_eq!(client.post_form("/flash", &[("message", "hello")]).await.status, 204, "{pair}");
    assert_eq!(client.post_form("/login", &[("user", "ada")]).await.status, 204, "{pair}");

    client.set_addr(second.addr);
    let counted = client.post_form("/counter", &[]).await;
    assert_eq!(counted.body, "3", "{pair}: the second demo continues the counter");
    assert_eq!(client.get("/prefs").await.body, "dark", "{pair}: and reads the prefs session");
    assert_eq!(client.get("/flashes").await.body, r#"["hello"]"#, "{pair}: and shows the flash once");
    assert_eq!(client.get("/flashes").await.body, "[]", "{pair}");
    assert_eq!(client.get("/me").await.body, "ada", "{pair}: and knows the user logged in on the first");
    assert_eq!(client.post_form("/logout", &[]).await.status, 204, "{pair}");

    client.set_addr(first.addr);
    assert_eq!(client.get("/me").await.status, 401, "{pair}: a logout on the second ends it on the first");
    assert_eq!(client.get("/peek").await.body, "0", "{pair}");
}

fn every_ordered_pair(store: impl Fn() -> (String, Option<std::path::PathBuf>)) {
    let mut pairs = 0;
    for (first_name, first_spawn) in DEMOS {
        for (second_name, second_spawn) in DEMOS.iter().filter(|(name, _)| name != first_name) {
            let (store, dir) = store();
            let vars = vars(&random_key().to_base64(), &store);
            let first = demo_kit::launch(vars.clone(), *first_spawn).expect("the first demo starts");
            let second = demo_kit::launch(vars, *second_spawn).expect("the second demo starts");
            run(session_moves_between(&format!("{first_name} -> {second_name} on {store}"), &first, &second));
            drop((first, second));
            if let Some(dir) = dir {
                std::fs::remove_dir_all(dir).expect("the store directory can be removed");
            }
            pairs += 1;
        }
    }
    assert_eq!(pairs, DEMOS.len() * (DEMOS.len() - 1));
}

#[test]
fn every_ordered_pair_continues_a_cookie_store_session() {
    every_ordered_pair(|| ("cookie".to_owned(), None));
}

#[test]
fn every_ordered_pair_continues_a_filesystem_store_session() {
    every_ordered_pair(|| {
        let dir = std::env::temp_dir().join(format!("sessions-interop-{}", random_key().id()));
        (format!("fs:{}", dir.display()), Some(dir))
    });
}

#[test]
fn every_ordered_pair_continues_a_memory_store_session() {
    // `demo_kit::launch` gives every demo of the process the same memory
    // backend: one store shared by two apps, as Redis would be.
    every_ordered_pair(|| ("memory".to_owned(), None));
}

#[test]
fn every_ordered_pair_continues_a_redis_store_session() {
    let Ok(url) = std::env::var("SESSIONS_REDIS_URL") else {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "SESSIONS_REDIS_URL must be set under CI=true");
        eprintln!("skipped: SESSIONS_REDIS_URL is not set");
        return;
    };
    every_ordered_pair(|| (url.clone(), None));
}

#[test]
fn no_demo_accepts_a_session_under_other_keys() {
    for (first_name, first_spawn) in DEMOS {
        for (second_name, second_spawn) in DEMOS {
            let first = demo_kit::launch(vars(&random_key().to_base64(), "cookie"), *first_spawn).expect("starts");
            let second = demo_kit::launch(vars(&random_key().to_base64(), "cookie"), *second_spawn).expect("starts");
            run(async {
                let mut client = Client::new(first.addr);
                assert_eq!(client.post_form("/counter", &[]).await.body, "1");
                client.set_addr(second.addr);
                let reply = client.post_form("/counter", &[]).await;
                assert_eq!(reply.body, "1", "{first_name} -> {second_name}: foreign keys start a fresh session");
            });
        }
    }
}
