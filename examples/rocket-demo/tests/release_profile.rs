//! The rocket demo starts from any build of the workspace: with rocket's
//! `secrets` feature on (as a release build of the whole workspace has it,
//! through feature unification) rocket refuses its release profile
//! without a secret key, so the demo brings its own.

use std::sync::Arc;

use demo_kit::{About, Config, Demo};

async fn demo() -> Demo {
    let config = Config::from_vars([("SESSION_STORE", "memory"), ("SESSION_SECURE", "0")]).expect("a configuration");
    let (registry, devices) = config.sessions().await.expect("the memory store opens");
    Demo { registry, about: Arc::new(About::new("rocket", &config)), devices }
}

#[rocket::async_test]
async fn starts_in_the_release_profile_with_secrets_on_and_no_secret_key_set() {
    let figment = rocket_demo::figment("127.0.0.1:0".parse().expect("an address"), false).select("release");
    match rocket_demo::app(demo().await, figment).ignite().await {
        Ok(rocket) => assert!(rocket.config().secret_key.is_provided(), "rocket made a key up itself"),
        Err(err) => panic!("the demo does not start in rocket's release profile: {err}"),
    }
}

#[rocket::async_test]
async fn each_start_has_its_own_secret_key() {
    let addr = "127.0.0.1:0".parse().expect("an address");
    let (first, second) = (rocket_demo::figment(addr, false), rocket_demo::figment(addr, false));
    let key = |figment: rocket::figment::Figment| figment.extract_inner::<Vec<u8>>("secret_key").expect("a secret key");
    assert_ne!(key(first), key(second));
}
