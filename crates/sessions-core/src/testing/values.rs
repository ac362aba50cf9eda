//! Value bytes survive a backend exactly, whatever they hold.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::backend::Backend;
use crate::store::Store;
use crate::{CookieOptions, Key, KeyRing, ServerStore, StoreConfig};

/// Values of every shape of the serde data model, saved through a
/// [`ServerStore`] on the backend and loaded by the next request, come back
/// equal: the backend keeps value bytes exactly, whatever they hold.
pub async fn values_round_trip_through_the_store(backend: Arc<dyn Backend>) {
    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    enum Shape {
        Unit,
        Newtype(i128),
        Tuple(u8, Option<char>),
        Struct { name: String, nested: Vec<Shape> },
    }
    let config =
        StoreConfig::new("id", KeyRing::from(Key::generate())).cookie_options(CookieOptions::new().secure(false));
    let store = ServerStore::new(config, backend).expect("a valid store");
    let small: Vec<u64> = (0..100).collect();
    let bytes: Vec<u8> = (0..16 * 1024u32).map(|n| (n.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let extremes = (u8::MAX, i16::MIN, u32::MAX, i64::MIN, u128::MAX, f64::MIN_POSITIVE, '\u{10FFFF}');
    let map: BTreeMap<String, Vec<Option<i32>>> =
        (0..20).map(|n| (format!("k{n}"), vec![Some(n), None, Some(-n)])).collect();
    let shape = Shape::Struct {
        name: "\u{e9}t\u{e9}".into(),
        nested: vec![Shape::Unit, Shape::Newtype(-1), Shape::Tuple(7, Some('x')), Shape::Tuple(0, None)],
    };

    let session = store.load(&[]).await.expect("load");
    session.insert("small", &small).expect("insert");
    session.insert("bytes", &bytes).expect("insert");
    session.insert("extremes", &extremes).expect("insert");
    session.insert("map", &map).expect("insert");
    session.insert("shape", &shape).expect("insert");
    for n in 0..200u8 {
        session.add_flash(&n).expect("flash");
    }
    let header = store.save(&session).await.expect("save").expect("a new session sets its cookie");
    let cookie = header.split(';').next().and_then(|p| p.split_once('=')).map_or("", |(_, v)| v).to_owned();

    let next = store.load(&[&cookie]).await.expect("load");
    assert_eq!(next.get::<Vec<u64>>("small").expect("decode"), Some(small));
    assert_eq!(next.get::<Vec<u8>>("bytes").expect("decode"), Some(bytes));
    assert_eq!(next.get("extremes").expect("decode"), Some(extremes));
    assert_eq!(next.get("map").expect("decode"), Some(map));
    assert_eq!(next.get::<Shape>("shape").expect("decode"), Some(shape));
    assert_eq!(next.flashes::<u8>().expect("flashes"), (0..200).collect::<Vec<u8>>(), "flashes in order, once");
    store.save(&next).await.expect("save");
    assert!(store.load(&[&cookie]).await.expect("load").flashes::<u8>().expect("flashes").is_empty());
}
