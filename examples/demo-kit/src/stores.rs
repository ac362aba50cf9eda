//! The one list of stores the demos run on. The conformance suite makes a
//! test module of each entry, and the demos' tests build with every
//! store's feature (`all-stores`), so a new backend is one line here plus
//! its arm in [`StoreSpec`](crate::StoreSpec).

/// Calls `$callback! { [$($pass)*] name: "spec", side; ... }` with every
/// store: the name of its test module, the `SESSION_STORE` it starts with
/// (a template, see [`Store::spec`]), and whether it keeps data on the
/// `server` or the `client`.
///
/// ```
/// macro_rules! names {
///     ([] $($name:ident: $spec:literal, $side:ident;)*) => { [$(stringify!($name)),*] };
/// }
/// let names = demo_kit::with_stores!(names);
/// assert_eq!(names[0], "cookie");
/// assert_eq!(names.len(), demo_kit::STORES.len());
/// ```
#[macro_export]
macro_rules! with_stores {
    ($($callback:tt)::+ $(, $($pass:tt)*)?) => {
        $($callback)::+! {
            [$($($pass)*)?]
            cookie: "cookie", client;
            memory: "memory", server;
            filesystem: "fs:{dir}", server;
            sqlite: "sqlite:{dir}/sessions.db", server;
            postgres: "{SESSIONS_POSTGRES_URL}", server;
            mysql: "{SESSIONS_MYSQL_URL}", server;
            redis_store: "{SESSIONS_REDIS_URL}", server;
            redis_sentinel_store: "{SESSIONS_REDIS_SENTINEL_URL}", server;
            redb_store: "redb:{dir}/sessions.redb", server;
            memcached_store: "{SESSIONS_MEMCACHED_URL}", server;
            dynamodb_store: "dynamodb://{SESSIONS_DYNAMODB_URL}/{name}", server;
            mongodb_store: "{SESSIONS_MONGODB_URL}", server;
        }
    };
}

/// A store of the list, as data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Store {
    /// The name of its test module.
    pub name: &'static str,
    /// The `SESSION_STORE` template:
    /// - `{dir}` is a fresh directory, and `{name}` a fresh name (the
    ///   directory's last component: letters, digits and `-`);
    /// - `{VAR}` (upper case) is the URL in environment variable `VAR`:
    ///   the whole URL when the template is `{VAR}` alone, and only its
    ///   `host:port` when the template writes its own scheme before it
    ///   (`dynamodb://{VAR}/...` over `VAR=http://127.0.0.1:5000` is
    ///   `dynamodb://127.0.0.1:5000/...`).
    pub spec: &'static str,
    /// True when the data is kept on the server (every store but the
    /// cookie store).
    pub server: bool,
}

macro_rules! store_array {
    ([] $($name:ident: $spec:literal, $side:ident;)*) => {
        &[$(Store { name: stringify!($name), spec: $spec, server: store_array!(@server $side) }),*]
    };
    (@server server) => { true };
    (@server client) => { false };
}

/// Every store of [`with_stores!`], in its order.
pub const STORES: &[Store] = with_stores!(store_array);

impl Store {
    /// The store named `name`.
    pub fn named(name: &str) -> Option<&'static Store> {
        STORES.iter().find(|store| store.name == name)
    }

    /// The environment variable that holds the URL of a store that runs as
    /// a service.
    pub fn url_var(&self) -> Option<&'static str> {
        placeholders(self.spec).find(|name| name.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'))
    }

    /// True when the store needs a directory of its own.
    pub fn needs_dir(&self) -> bool {
        self.spec.contains("{dir}")
    }

    /// The `SESSION_STORE` of this store, with `dir` for `{dir}`; `Err`
    /// names the variable a service store needs when it is unset.
    pub fn session_store(&self, dir: &std::path::Path) -> Result<String, String> {
        self.expand(dir, |var| std::env::var(var).ok())
    }

    /// [`Store::session_store`], reading variables with `lookup`.
    fn expand(&self, dir: &std::path::Path, lookup: impl Fn(&str) -> Option<String>) -> Result<String, String> {
        let mut spec = self.spec.to_owned();
        if let Some(var) = self.url_var() {
            let url = lookup(var).filter(|url| !url.is_empty()).ok_or_else(|| format!("{var} is unset"))?;
            let placeholder = format!("{{{var}}}");
            if spec == placeholder {
                return Ok(url);
            }
            let after_scheme = url.split_once("://").map_or(url.as_str(), |(_, rest)| rest);
            let host_port = after_scheme.split('/').next().unwrap_or_default();
            spec = spec.replace(&placeholder, host_port);
        }
        let name = dir.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
        Ok(spec.replace("{dir}", &dir.display().to_string()).replace("{name}", &name))
    }
}

/// The names between braces in a template.
fn placeholders(spec: &str) -> impl Iterator<Item = &str> {
    spec.split('{').skip(1).filter_map(|part| part.split_once('}').map(|(name, _)| name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_local_store_of_the_list_parses_and_every_service_names_its_url_variable() {
        let dir = std::path::Path::new("/tmp/sessions-demo");
        for store in STORES {
            if let Some(var) = store.url_var() {
                assert!(var.starts_with("SESSIONS_") && var.ends_with("_URL"), "{}: {var}", store.name);
                continue;
            }
            let spec = store.session_store(dir).expect("a local store needs no variable");
            let parsed: crate::StoreSpec = spec.parse().unwrap_or_else(|e| panic!("{}: {e}", store.name));
            assert_eq!(parsed.is_server(), store.server, "{}", store.name);
        }
    }

    #[test]
    fn a_url_after_a_scheme_of_the_template_gives_its_host_and_port() {
        let store = Store::named("dynamodb_store").unwrap();
        assert_eq!(store.url_var(), Some("SESSIONS_DYNAMODB_URL"));
        assert!(!store.needs_dir());
        let dir = std::path::Path::new("/tmp/sessions-conformance-0a1b2c3d");
        let lookup = |var: &str| (var == "SESSIONS_DYNAMODB_URL").then(|| "http://127.0.0.1:5000".to_owned());
        let spec = store.expand(dir, lookup).unwrap();
        assert_eq!(spec, "dynamodb://127.0.0.1:5000/sessions-conformance-0a1b2c3d");
        assert!(spec.parse::<crate::StoreSpec>().is_ok(), "{spec}");
        let trailing = |_: &str| Some("http://127.0.0.1:5000/".to_owned());
        assert_eq!(store.expand(dir, trailing).unwrap(), spec);
        assert_eq!(store.expand(dir, |_| None).unwrap_err(), "SESSIONS_DYNAMODB_URL is unset");
        // A template that is the variable alone is the URL as it is.
        let memcached = Store::named("memcached_store").unwrap();
        assert_eq!(memcached.expand(dir, |_| Some("memcache://h:1".into())).unwrap(), "memcache://h:1");
    }

    #[test]
    fn names_are_unique() {
        for (i, store) in STORES.iter().enumerate() {
            assert_eq!(Store::named(store.name), Some(&STORES[i]));
        }
    }
}
