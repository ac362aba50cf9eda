//! The session store going down under a running app: requests fail closed
//! with 503 in bounded time, and the app recovers by itself when the store
//! is back.

use demo_kit::Config;
use sessions_conformance::Client;
use sessions_testkit::redis::{RedisProcess, redis_tools_installed};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_outage_fails_closed_and_recovers_without_a_restart() {
    if !redis_tools_installed() {
        return;
    }
    let mut redis = RedisProcess::start(false);
    let store = redis.url();
    let vars = [("SESSION_STORE", store.as_str()), ("SESSION_SECURE", "0"), ("DEMO_ADDR", "127.0.0.1:0")];
    let config = Config::from_vars(vars).expect("config");
    let app = axum_demo::spawn(&config, None).expect("start the demo");
    let mut client = Client::new(app.addr);
    assert_eq!(client.post_form("/counter", &[]).await.body, "1");
    assert_eq!(client.post_form("/counter", &[]).await.body, "2");

    redis.kill();
    // The client gives up on a hung server after its own deadline, so a
    // request that never answers fails here rather than blocking.
    for (method, path) in [("POST", "/counter"), ("GET", "/peek"), ("GET", "/me")] {
        let reply = client.send(method, path, None).await;
        assert_eq!(reply.status, 503, "{path} while the store is down: {} {}", reply.status, reply.body);
        assert!(reply.set_cookies().is_empty(), "{path}: no session is handed out while the store is down");
        assert_eq!(reply.body, "session storage unavailable", "{path}: one answer whatever step failed");
    }

    redis.restart();
    let mut recovered = None;
    for _ in 0..50 {
        let reply = client.post_form("/counter", &[]).await;
        if reply.status == 200 {
            recovered = Some(reply.body);
            break;
        }
        assert_eq!(reply.status, 503, "only 503 while reconnecting");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // The restarted server kept nothing, so the old id is unknown and a new
    // session starts: the app served again without being restarted.
    assert_eq!(recovered.as_deref(), Some("1"), "the app never recovered");
    assert_eq!(client.post_form("/counter", &[]).await.body, "2");
}
