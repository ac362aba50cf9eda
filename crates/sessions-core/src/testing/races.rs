//! Checks of what happens inside one save when requests truly run at the
//! same time: the steps of the lifecycle model are atomic, these are not.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::random_key;
use crate::backend::record::Fields;
use crate::backend::{Backend, Patch};
use crate::store::Store;
use crate::{CookieOptions, Key, KeyRing, ServerStore, StoreConfig};

const TTL: Duration = Duration::from_secs(600);

/// `take` is atomic: every `update` that reported success before the take
/// is in the record it returns, and none reports success after it.
pub async fn take_racing_updates_loses_nothing(backend: Arc<dyn Backend>) {
    for round in 0..20u64 {
        let key = random_key();
        let start = Fields::from([("m".to_owned(), b"meta".to_vec())]);
        assert!(backend.create(&key, &start, TTL).await.expect("create"));
        let writers: Vec<_> = (0..4)
            .map(|w| {
                let (backend, key) = (Arc::clone(&backend), key.clone());
                tokio::spawn(async move {
                    let mut last = None;
                    for n in 0..50u32 {
                        let set = Fields::from([(format!("vw{w}"), n.to_le_bytes().to_vec())]);
                        if !backend.update(&key, &Patch { set, ..Patch::default() }, TTL).await.expect("update") {
                            break;
                        }
                        last = Some(n);
                    }
                    (w, last)
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(round % 4)).await;
        let taken = backend.take(&key).await.expect("take").expect("the record was live");
        let mut acknowledged = BTreeMap::new();
        for writer in writers {
            let (w, last) = writer.await.expect("writer task panicked");
            acknowledged.insert(w, last);
        }
        for (w, last) in acknowledged {
            let got =
                taken.fields.get(&format!("vw{w}")).map(|v| u32::from_le_bytes(v[..4].try_into().unwrap_or_default()));
            assert_eq!(got, last, "round {round}: writer {w}'s acknowledged write is not in what take returned");
        }
        assert!(backend.load(&key).await.expect("load").is_none(), "take must delete the record");
    }
}

/// A login (`cycle_id`) and a logout of the same session, saved at the same
/// moment, never leave a live session behind, whichever wins.
pub async fn cycle_racing_logout_never_resurrects(backend: Arc<dyn Backend>) {
    let config =
        StoreConfig::new("id", KeyRing::from(Key::generate())).cookie_options(CookieOptions::new().secure(false));
    let store = Arc::new(ServerStore::new(config, backend).expect("a valid store"));
    let user = format!("racer-{}", random_key().as_str());
    for round in 0..30 {
        let session = store.load(&[]).await.expect("load");
        session.set_user(Some(&user)).expect("bind");
        let header = store.save(&session).await.expect("save").expect("a cookie");
        let cookie = header.split(';').next().and_then(|p| p.split_once('=')).map(|(_, v)| v.to_owned());
        let cookie = cookie.unwrap_or_default();

        let cycling = store.load(&[&cookie]).await.expect("load");
        let leaving = store.load(&[&cookie]).await.expect("load");
        cycling.cycle_id();
        cycling.insert("step", &round).expect("insert");
        leaving.destroy();
        let (cycle, logout) = {
            let (a, b) = (Arc::clone(&store), Arc::clone(&store));
            let cycle = tokio::spawn(async move { a.save(&cycling).await });
            let logout = tokio::spawn(async move { b.save(&leaving).await });
            (cycle.await.expect("cycle task"), logout.await.expect("logout task"))
        };
        logout.expect("logout save");
        if let Some(header) = cycle.expect("cycle save") {
            let value = header.split(';').next().and_then(|p| p.split_once('=')).map_or("", |(_, v)| v);
            let replay = store.load(&[value]).await.expect("load");
            assert!(replay.is_new(), "round {round}: the cycled id outlived the logout");
        }
        assert!(store.load(&[&cookie]).await.expect("load").is_new(), "round {round}: the old id outlived the logout");
        assert!(store.user_sessions(&user).await.expect("list").is_empty(), "round {round}: a session is still listed");
    }
}
