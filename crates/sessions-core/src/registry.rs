//! The sessions of one request: several named stores, loaded lazily and
//! saved together.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use tokio::sync::OnceCell;

use crate::adapter::{FailureKind, Finished, Policy, Reply};
use crate::cross_origin::{CrossOrigin, RequestHead};
use crate::error::{Error, Result};
use crate::session::Session;
use crate::store::Store;
use crate::transport::Transport;

mod cookie_header;

use cookie_header::{Candidates, MAX_CANDIDATES};

/// The configured stores of an application, by cookie name.
///
/// Built once at start-up and shared by every request; the first store
/// added is the default session. Adapters hold one and call
/// [`Registry::request`] per request.
///
/// ```
/// use std::sync::Arc;
/// use sessions_core::backend::MemoryBackend;
/// use sessions_core::{CookieStore, Key, KeyRing, Registry, ServerStore, StoreConfig};
///
/// let ring = KeyRing::from(Key::generate());
/// let registry = Registry::builder()
///     .store(ServerStore::new(StoreConfig::new("id", ring.clone()), Arc::new(MemoryBackend::new()))?)
///     .store(CookieStore::new(StoreConfig::new("prefs", ring))?)
///     .build()?;
/// assert_eq!(registry.default_name(), "id");
/// # Ok::<(), sessions_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Registry {
    stores: Arc<[Arc<dyn Store>]>,
    policy: Policy,
    cross_origin: Arc<CrossOrigin>,
    /// True when some store's session travels in a cookie.
    cookie_stores: bool,
}

/// Collects the stores of a [`Registry`], its [`Policy`] and its
/// [`CrossOrigin`] protection.
#[derive(Debug, Default)]
pub struct RegistryBuilder {
    stores: Vec<Arc<dyn Store>>,
    unavailable_status: Option<u16>,
    bodies: Vec<(FailureKind, &'static str, &'static str)>,
    cross_origin: CrossOrigin,
}

impl RegistryBuilder {
    /// Adds a store; the first one added is the default session.
    pub fn store(mut self, store: impl Store) -> Self {
        self.stores.push(Arc::new(store));
        self
    }

    /// Adds a store that is already shared.
    pub fn shared_store(mut self, store: Arc<dyn Store>) -> Self {
        self.stores.push(store);
        self
    }

    /// The status every adapter answers when the session storage is down
    /// or full (default `503`; see [`Policy::with_unavailable_status`]).
    pub fn unavailable_status(mut self, status: u16) -> Self {
        self.unavailable_status = Some(status);
        self
    }

    /// The body, and its content type, every adapter answers a failure of
    /// `kind` with, instead of the plain-text reason (see
    /// [`Policy::with_body`]; checked by [`build`](Self::build)).
    ///
    /// ```
    /// use sessions_core::adapter::FailureKind;
    /// use sessions_core::{CookieStore, Key, KeyRing, Registry, StoreConfig};
    ///
    /// let store = CookieStore::new(StoreConfig::new("s", KeyRing::from(Key::generate())))?;
    /// let registry = Registry::builder()
    ///     .store(store)
    ///     .failure_body(FailureKind::Unavailable, "text/html; charset=utf-8", "<h1>Back in a minute</h1>")
    ///     .build()?;
    /// assert_eq!(registry.policy().reply(FailureKind::Unavailable).body, "<h1>Back in a minute</h1>");
    /// # Ok::<(), sessions_core::Error>(())
    /// ```
    pub fn failure_body(mut self, kind: FailureKind, content_type: &'static str, body: &'static str) -> Self {
        self.bodies.push((kind, content_type, body));
        self
    }

    /// Which unsafe requests from other origins every adapter refuses
    /// with `403` before the handler runs. Without this call the registry
    /// protects with [`CrossOrigin::new`]; [`CrossOrigin::disabled`] turns
    /// the protection off.
    ///
    /// ```
    /// use sessions_core::{CookieStore, CrossOrigin, Key, KeyRing, Registry, StoreConfig};
    ///
    /// let store = CookieStore::new(StoreConfig::new("s", KeyRing::from(Key::generate())))?;
    /// let protection = CrossOrigin::new().trust_origin("https://login.example")?.exempt_path("/hooks/payment")?;
    /// let registry = Registry::builder().store(store).cross_origin(protection).build()?;
    /// # let _ = registry;
    /// # Ok::<(), sessions_core::Error>(())
    /// ```
    pub fn cross_origin(mut self, protection: CrossOrigin) -> Self {
        self.cross_origin = protection;
        self
    }

    /// Checks that there is at least one store, that cookie names and
    /// transport headers are distinct and that the policy is valid.
    pub fn build(self) -> Result<Registry> {
        let mut policy = match self.unavailable_status {
            Some(status) => Policy::default().with_unavailable_status(status)?,
            None => Policy::default(),
        };
        for (kind, content_type, body) in self.bodies {
            policy = policy.with_body(kind, content_type, body)?;
        }
        if self.stores.is_empty() {
            return Err(Error::Config("a registry needs at least one store".into()));
        }
        for (i, store) in self.stores.iter().enumerate() {
            if self.stores[..i].iter().any(|s| s.cookie_name() == store.cookie_name()) {
                return Err(Error::Config(format!("two stores use the cookie name `{}`", store.cookie_name())));
            }
            if let Some(header) = store.transport().header_name()
                && self.stores[..i].iter().any(|s| s.transport().header_name() == Some(header))
            {
                return Err(Error::Config(format!("two stores carry their sessions in the `{header}` header")));
            }
        }
        let cookie_stores = self.stores.iter().any(|s| s.transport().is_cookie());
        Ok(Registry { stores: self.stores.into(), policy, cross_origin: Arc::new(self.cross_origin), cookie_stores })
    }
}

impl Registry {
    /// Starts a registry.
    pub fn builder() -> RegistryBuilder {
        RegistryBuilder::default()
    }

    /// A registry of a single store, with the default [`Policy`] and
    /// cross-origin protection.
    pub fn single(store: impl Store) -> Registry {
        let cookie_stores = store.transport().is_cookie();
        Registry {
            stores: Arc::from([Arc::new(store) as Arc<dyn Store>]),
            policy: Policy::default(),
            cross_origin: Arc::default(),
            cookie_stores,
        }
    }

    /// How adapters answer a session failure.
    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// The cross-origin protection adapters apply.
    pub fn cross_origin(&self) -> &CrossOrigin {
        &self.cross_origin
    }

    /// Whether the request described by `head` may reach its handler,
    /// judged as if its sessions came in cookies: an adapter asks
    /// [`RequestSessions::check_origin`] instead, which also knows which
    /// sessions the request carries in headers. On `Err`, an adapter
    /// sends the reply (`403 cross-origin request refused`) instead of
    /// running the handler, tagged [`FailureKind::CrossOrigin`] where its
    /// framework tags responses. Nothing is loaded or saved for a refused
    /// request. The refusal is logged here, at info level, with its reason.
    ///
    /// ```
    /// use sessions_core::adapter::RequestHead;
    /// use sessions_core::{CookieStore, Key, KeyRing, Registry, StoreConfig};
    ///
    /// let registry = Registry::single(CookieStore::new(StoreConfig::new("s", KeyRing::from(Key::generate())))?);
    /// let forged = RequestHead::new("POST", "/logout").sec_fetch_site(b"cross-site");
    /// let reply = registry.check_origin(&forged).unwrap_err();
    /// assert_eq!((reply.status, reply.body), (403, "cross-origin request refused"));
    /// assert!(registry.check_origin(&RequestHead::new("POST", "/logout")).is_ok());
    /// # Ok::<(), sessions_core::Error>(())
    /// ```
    pub fn check_origin(&self, head: &RequestHead<'_>) -> std::result::Result<(), Reply> {
        self.cross_origin.check(head).map_err(|refusal| {
            tracing::info!(method = head.method(), path = head.path(), reason = %refusal, "cross-origin request refused");
            self.policy.reply(FailureKind::CrossOrigin)
        })
    }

    /// Whether a store of this registry has the cookie name `name` (a
    /// string, or a type declared with [`session_name!`](crate::session_name)):
    /// for a check at start-up that every name handlers ask for is served.
    pub fn has_store(&self, name: impl crate::name::SessionName) -> bool {
        self.stores.iter().any(|store| store.cookie_name() == name.session_name())
    }

    /// The cookie name of the default session.
    pub fn default_name(&self) -> &str {
        self.stores[0].cookie_name()
    }

    /// The sessions of a request whose `Cookie` header values are `headers`
    /// (HTTP/2 may split one header into several).
    ///
    /// For headers at hand as text; adapters, which get raw header bytes,
    /// call [`Registry::request_bytes`], which this is a shorthand of.
    pub fn request<'a>(&self, headers: impl IntoIterator<Item = &'a str>) -> RequestSessions {
        self.request_bytes(headers.into_iter().map(str::as_bytes))
    }

    /// The sessions of a request whose `Cookie` header values, as raw
    /// bytes, are `headers` (HTTP/2 may split one header into several).
    ///
    /// Each header is split on `;` into `name=value` pairs and each pair
    /// is judged alone: a pair counts only when its name is the cookie name
    /// of one of the stores and its value is visible ASCII, optionally in
    /// double quotes (RFC 6265 allows `name="value"`; the quotes are not
    /// part of the value). Every other pair is skipped, so a cookie this
    /// application does not own, even one that is not UTF-8, cannot hide
    /// the session cookies sent beside it. Names are compared exactly;
    /// whitespace around names and values is ignored.
    ///
    /// ```
    /// use sessions_core::{CookieStore, Key, KeyRing, Registry, StoreConfig};
    ///
    /// # tokio_test_block_on(async {
    /// let registry = Registry::single(CookieStore::new(StoreConfig::new("s", KeyRing::from(Key::generate())))?);
    /// let sessions = registry.request_bytes([]);
    /// sessions.default_session().await?.insert("user", "ada")?;
    /// let finished = sessions.finish(200, None, |name, value| Some((name, value.to_owned()))).await;
    /// let set_cookie = &finished.headers[0].1;
    /// let value = set_cookie.split(';').next().unwrap().strip_prefix("s=").unwrap();
    ///
    /// // Another site's cookie that is not UTF-8, then ours in quotes.
    /// let header = [&b"junk=\xff\xfe; s=\""[..], value.as_bytes(), b"\""].concat();
    /// let sessions = registry.request_bytes([header.as_slice()]);
    /// let user = sessions.default_session().await?.get::<String>("user")?;
    /// assert_eq!(user.as_deref(), Some("ada"));
    /// # Ok::<(), sessions_core::Error>(())
    /// # }).unwrap();
    /// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
    /// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
    /// # }
    /// ```
    pub fn request_bytes<'a>(&self, headers: impl IntoIterator<Item = &'a [u8]>) -> RequestSessions {
        self.request_with(headers, |_| std::iter::empty())
    }

    /// The sessions of a request whose `Cookie` header values are
    /// `cookies` (as in [`Registry::request_bytes`]) and whose other
    /// headers `header(name)` gives: every value of the request header
    /// `name` (a lowercase name), in order. This is what adapters call.
    ///
    /// `header` is called once per store whose [`Transport`] is a header,
    /// and never when every store uses cookies. A store's value is read
    /// from its header when the request sent that header exactly once;
    /// sent twice, neither value is read (the session starts fresh, as
    /// for any value that does not open). A header-carried store never
    /// reads a cookie, even one of its name.
    ///
    /// ```
    /// use sessions_core::{CookieStore, Key, KeyRing, Registry, StoreConfig, Transport};
    ///
    /// # tokio_test_block_on(async {
    /// let config = StoreConfig::new("s", KeyRing::from(Key::generate())).transport(Transport::Header("x-session"));
    /// let registry = Registry::single(CookieStore::new(config)?);
    /// let sessions = registry.request_with([], |_| []);
    /// sessions.default_session().await?.insert("user", "ada")?;
    /// let finished = sessions.finish(200, None, |name, value| Some((name, value.to_owned()))).await;
    /// let token = finished.values("x-session").next().unwrap().to_owned();
    /// assert_eq!(finished.values("vary").collect::<Vec<_>>(), ["x-session"]);
    /// assert_eq!(finished.values("set-cookie").count(), 0);
    ///
    /// let headers = |name: &str| if name == "x-session" { vec![token.as_bytes()] } else { vec![] };
    /// let sessions = registry.request_with([], headers);
    /// let user = sessions.default_session().await?.get::<String>("user")?;
    /// assert_eq!(user.as_deref(), Some("ada"));
    /// # Ok::<(), sessions_core::Error>(())
    /// # }).unwrap();
    /// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
    /// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
    /// # }
    /// ```
    pub fn request_with<'c, 'h, I>(
        &self,
        cookies: impl IntoIterator<Item = &'c [u8]>,
        mut header: impl FnMut(&str) -> I,
    ) -> RequestSessions
    where
        I: IntoIterator<Item = &'h [u8]>,
    {
        let mut slots = self.stores.iter().map(|store| Slot {
            store: Arc::clone(store),
            transport: store.transport(),
            candidates: Candidates::default(),
            session: OnceCell::new(),
        });
        // A registry has at least one store: the first slot is kept inline.
        let Some(first) = slots.next() else { unreachable!("a registry has at least one store") };
        let mut slots = Slots { first, rest: slots.collect() };
        let mut carried = Carried::default();
        cookie_header::for_each_pair(cookies, |name, value| carried.cookie |= self.offer(&mut slots, name, value));
        for i in 0..self.stores.len() {
            let slot = slots.get_mut(i);
            let Some(name) = slot.transport.header_name() else { continue };
            let mut values = header(name).into_iter();
            let (Some(value), more) = (values.next(), values.next()) else { continue };
            carried.header = true;
            if more.is_some() {
                tracing::debug!(cookie = %slot.store.cookie_name(), header = name, "session header sent more than once; starting a fresh session");
                continue;
            }
            match slot.transport.value(value) {
                Some(value) => slot.candidates.offer(value),
                None => {
                    tracing::debug!(cookie = %slot.store.cookie_name(), header = name, "session header carries no value")
                }
            }
        }
        RequestSessions {
            inner: Arc::new(Inner {
                slots,
                policy: self.policy,
                failure: std::sync::OnceLock::new(),
                cross_origin: Arc::clone(&self.cross_origin),
                cookie_stores: self.cookie_stores,
                carried,
            }),
        }
    }
}

impl Registry {
    /// Keeps the `name=value` pair as a candidate of the cookie-carried
    /// store named `name`, if there is one and the value is a cookie value;
    /// true when there is one.
    fn offer(&self, slots: &mut Slots, name: &[u8], value: &[u8]) -> bool {
        let name = name.trim_ascii();
        let Some(i) = self.stores.iter().position(|s| s.cookie_name().as_bytes() == name) else { return false };
        let slot = slots.get_mut(i);
        if !slot.transport.is_cookie() {
            return false;
        }
        slot.candidates.offer(value);
        true
    }
}

/// What a request carried of this registry's sessions: what the
/// cross-origin check weighs.
#[derive(Debug, Default, Clone, Copy)]
struct Carried {
    /// A cookie of a cookie-carried store, which a browser attaches by
    /// itself, to a forged request too.
    cookie: bool,
    /// The header of a header-carried store, which only a client holding
    /// the value (or making up its own) sends.
    header: bool,
}

struct Slot {
    store: Arc<dyn Store>,
    /// The store's, read once per request.
    transport: Transport,
    /// The values the request sent under the store's cookie name, or in
    /// its header.
    candidates: Candidates,
    session: OnceCell<Session>,
}

/// The slots of a request, one per store; the first (the only one, in most
/// applications) kept inline so that a request allocates one less.
struct Slots {
    first: Slot,
    rest: Box<[Slot]>,
}

impl Slots {
    fn iter(&self) -> impl Iterator<Item = &Slot> {
        std::iter::once(&self.first).chain(self.rest.iter())
    }

    fn get_mut(&mut self, i: usize) -> &mut Slot {
        match i {
            0 => &mut self.first,
            i => &mut self.rest[i - 1],
        }
    }
}

/// The sessions of one request, loaded on first access and saved together.
///
/// Cheap to clone and safe to share across the tasks of one request. This
/// is gorilla's `sessions.GetRegistry(r)` and `sessions.Save(r, w)` in one.
///
/// ```
/// use sessions_core::{CookieStore, Key, KeyRing, Registry, StoreConfig};
///
/// # tokio_test_block_on(async {
/// let registry = Registry::single(CookieStore::new(StoreConfig::new("s", KeyRing::from(Key::generate())))?);
/// let sessions = registry.request(["theme=dark; other=1"]);
/// sessions.default_session().await?.insert("count", &1)?;
/// let finished = sessions.finish(200, None, |name, value| Some((name, value.to_owned()))).await;
/// assert!(finished.errors.is_empty());
/// assert_eq!(finished.headers.iter().filter(|(name, _)| *name == "set-cookie").count(), 1);
/// # Ok::<(), sessions_core::Error>(())
/// # }).unwrap();
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
#[derive(Clone)]
pub struct RequestSessions {
    inner: Arc<Inner>,
}

struct Inner {
    slots: Slots,
    policy: Policy,
    failure: std::sync::OnceLock<FailureKind>,
    cross_origin: Arc<CrossOrigin>,
    cookie_stores: bool,
    carried: Carried,
}

impl fmt::Debug for RequestSessions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let loaded: Vec<&str> =
            self.inner.slots.iter().filter(|s| s.session.initialized()).map(|s| s.store.cookie_name()).collect();
        f.debug_struct("RequestSessions").field("loaded", &loaded).finish()
    }
}

impl RequestSessions {
    /// Whether this request may reach its handler: the registry's
    /// [`CrossOrigin`] check, which an adapter makes before the handler,
    /// and, on `Err`, answers with the reply (`403 cross-origin request
    /// refused`) instead of running it, loading and saving nothing.
    ///
    /// The check guards what a browser attaches by itself: cookies. A
    /// session carried in a header rides only on a request whose sender
    /// put it there, so a request the rules would refuse still passes
    /// when it carries no cookie of a cookie-carried store and either
    /// carries a header-carried store's header or the registry has no
    /// cookie-carried store at all. Whether such a request from another
    /// origin is sent at all is the browser's CORS decision, which the
    /// application's CORS configuration makes.
    ///
    /// ```
    /// use sessions_core::adapter::RequestHead;
    /// use sessions_core::{CookieStore, Key, KeyRing, Registry, StoreConfig, Transport};
    ///
    /// let config = StoreConfig::new("api", KeyRing::from(Key::generate())).transport(Transport::Bearer);
    /// let registry = Registry::single(CookieStore::new(config)?);
    /// let cross_site = RequestHead::new("POST", "/orders").sec_fetch_site(b"cross-site");
    /// assert!(registry.request_with([], |_| []).check_origin(&cross_site).is_ok());
    /// assert!(registry.check_origin(&cross_site).is_err(), "the registry alone judges it as a cookie request");
    /// # Ok::<(), sessions_core::Error>(())
    /// ```
    pub fn check_origin(&self, head: &RequestHead<'_>) -> std::result::Result<(), Reply> {
        let inner = &*self.inner;
        inner.cross_origin.check(head).or_else(|refusal| {
            let carried = inner.carried;
            if !carried.cookie && (carried.header || !inner.cookie_stores) {
                tracing::debug!(method = head.method(), path = head.path(), reason = %refusal, "cross-origin request passes: no session cookie rides on it");
                return Ok(());
            }
            tracing::info!(method = head.method(), path = head.path(), reason = %refusal, "cross-origin request refused");
            Err(inner.policy.reply(FailureKind::CrossOrigin))
        })
    }

    /// [`check_origin`](Self::check_origin) of a request of `method`,
    /// whose head `head` describes: `head` is called only when the check
    /// [judges](CrossOrigin::judges) that method, so that a `GET` costs an
    /// adapter no header lookups (with a framework that hashes header
    /// names, they were a visible part of a request's cost).
    ///
    /// ```
    /// use sessions_core::adapter::RequestHead;
    /// use sessions_core::{CookieStore, Key, KeyRing, Registry, StoreConfig};
    ///
    /// let registry = Registry::single(CookieStore::new(StoreConfig::new("s", KeyRing::from(Key::generate())))?);
    /// let sessions = registry.request(["s=x"]);
    /// let forged = || RequestHead::new("POST", "/logout").sec_fetch_site(b"cross-site");
    /// assert!(sessions.check_origin_of("POST", forged).is_err());
    /// assert!(sessions.check_origin_of("GET", || unreachable!("a GET is not judged")).is_ok());
    /// # Ok::<(), sessions_core::Error>(())
    /// ```
    pub fn check_origin_of<'h>(
        &self,
        method: &str,
        head: impl FnOnce() -> RequestHead<'h>,
    ) -> std::result::Result<(), Reply> {
        if !self.inner.cross_origin.judges(method) {
            return Ok(());
        }
        self.check_origin(&head())
    }

    /// Ends the request, the whole after-handler decision: saves every
    /// loaded session unless the response is a server error (nothing a
    /// failed handler did is persisted), converts the headers to add with
    /// `convert`, and says whether a reply replaces the handler's response.
    ///
    /// `status` is the handler's; `failure` is set when the handler's
    /// response was made from a session [`Failure`](crate::adapter::Failure)
    /// (an adapter tags such responses with their [`FailureKind`]), or
    /// was recorded with [`RequestSessions::fail`]. That response is then
    /// replaced by the registry's answer, so a storage outage reads the
    /// same whichever step met it.
    ///
    /// `convert` turns a header (a lowercase name; a value of visible
    /// ASCII, spaces and tabs, which every HTTP library accepts) into the
    /// framework's type. Should it refuse one (a stricter library, or a
    /// bug), the response must not go out as if it succeeded without it: a
    /// missing removal cookie leaves a user logged in. The refusal is
    /// logged and the reply becomes a `500`.
    ///
    /// ```
    /// use sessions_core::adapter::FailureKind;
    /// use sessions_core::{CookieStore, Key, KeyRing, Registry, StoreConfig};
    ///
    /// # tokio_test_block_on(async {
    /// let store = CookieStore::new(StoreConfig::new("s", KeyRing::from(Key::generate())))?;
    /// let registry = Registry::builder().store(store).unavailable_status(502).build()?;
    /// let as_pair = |name: &'static str, value: &str| Some((name, value.to_owned()));
    ///
    /// let sessions = registry.request([]);
    /// sessions.default_session().await?.insert("n", &1)?;
    /// let finished = sessions.finish(200, None, as_pair).await;
    /// let names: Vec<_> = finished.headers.iter().map(|(name, _)| *name).collect();
    /// assert_eq!(names, ["set-cookie", "vary", "cache-control"]);
    /// assert!(finished.replace.is_none());
    ///
    /// let finished = registry.request([]).finish(503, Some(FailureKind::Unavailable), as_pair).await;
    /// assert_eq!(finished.replace.map(|reply| reply.status), Some(502));
    /// # Ok::<(), sessions_core::Error>(())
    /// # }).unwrap();
    /// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
    /// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
    /// # }
    /// ```
    pub async fn finish<H>(
        &self,
        status: u16,
        failure: Option<FailureKind>,
        mut convert: impl FnMut(&'static str, &str) -> Option<H>,
    ) -> Finished<H> {
        self.finish_owned(status, failure, |name, value| convert(name, &value)).await
    }

    /// [`finish`](Self::finish), handing `convert` each value as it is
    /// held: a fixed text (`Vary: Cookie`) borrowed for the life of the
    /// program, a `Set-Cookie` as the string the store wrote. Adapters call
    /// this one: a framework header made from either needs no copy.
    ///
    /// ```
    /// use std::borrow::Cow;
    /// use sessions_core::{CookieStore, Key, KeyRing, Registry, StoreConfig};
    ///
    /// # tokio_test_block_on(async {
    /// let registry = Registry::single(CookieStore::new(StoreConfig::new("s", KeyRing::from(Key::generate())))?);
    /// let sessions = registry.request([]);
    /// sessions.default_session().await?.insert("n", &1)?;
    /// let finished = sessions.finish_owned(200, None, |name, value| Some((name, value))).await;
    /// assert!(matches!(finished.headers[0], ("set-cookie", Cow::Owned(_))));
    /// assert_eq!(finished.headers[1], ("vary", Cow::Borrowed("Cookie")));
    /// # Ok::<(), sessions_core::Error>(())
    /// # }).unwrap();
    /// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
    /// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
    /// # }
    /// ```
    pub async fn finish_owned<H>(
        &self,
        status: u16,
        failure: Option<FailureKind>,
        mut convert: impl FnMut(&'static str, Cow<'static, str>) -> Option<H>,
    ) -> Finished<H> {
        let policy = self.inner.policy;
        let mut replace = failure.or(self.inner.failure.get().copied()).map(|kind| policy.reply(kind));
        let status = replace.map_or(status, |reply| reply.status);
        let accessed = self.accessed();
        let mut headers = Vec::new();
        let mut refused = false;
        let mut set_cookie = false;
        let mut set_header = false;
        let mut send = |name: &'static str, value: Cow<'static, str>| match convert(name, value) {
            Some(header) => headers.push(header),
            None => {
                tracing::error!(header = name, "a session header was refused by the framework; answering 500");
                refused = true;
            }
        };
        let errors = if accessed && status < 500 {
            // Each `Set-Cookie` is converted as its session saves: no list
            // of them is kept in between.
            self.save(|name, value| {
                match name {
                    "set-cookie" => set_cookie = true,
                    _ => set_header = true,
                }
                send(name, value);
            })
            .await
        } else {
            Vec::new()
        };
        if accessed {
            let used = || self.inner.slots.iter().filter(|s| s.session.initialized());
            if used().any(|s| s.transport.is_cookie()) {
                send("vary", Cow::Borrowed("Cookie"));
            }
            for name in used().filter_map(|s| s.transport.header_name()) {
                send("vary", Cow::Borrowed(name));
            }
        }
        if set_cookie {
            send("cache-control", Cow::Borrowed("no-cache=\"set-cookie\""));
        }
        if set_header {
            // A response handing out a session's value is a credential:
            // no cache keeps it (as RFC 6749 asks of token responses).
            send("cache-control", Cow::Borrowed("no-store"));
        }
        for (name, err) in &errors {
            tracing::error!(cookie = %name, error = %err, "session could not be saved");
        }
        // The most telling kind wins: an outage over a full store, either
        // over an internal error.
        let unsaved = errors.iter().map(|(_, e)| FailureKind::of(e)).min_by_key(|kind| match kind {
            FailureKind::Unavailable => 0,
            FailureKind::Full => 1,
            _ => 2,
        });
        replace = unsaved.map(|kind| policy.reply(kind)).or(replace);
        if refused {
            replace.get_or_insert(Policy::default().reply(FailureKind::Internal));
        }
        Finished { headers, errors, replace }
    }

    /// How adapters answer a session failure of this request.
    pub fn policy(&self) -> Policy {
        self.inner.policy
    }

    /// Records that this request is answered as a session failure of
    /// `kind`, for adapters whose framework loses the error on its way to
    /// the response (a rocket guard's error goes to a catcher, a warp
    /// rejection to the rejection handler): [`RequestSessions::finish`]
    /// then replaces whatever the framework made of it with the registry's
    /// answer. The first failure recorded is the one answered.
    pub fn fail(&self, kind: FailureKind) {
        let _ = self.inner.failure.set(kind);
    }

    /// The session stored under cookie `name`, loading it on first access.
    pub async fn get(&self, name: &str) -> Result<Session> {
        let slot = self
            .inner
            .slots
            .iter()
            .find(|s| s.store.cookie_name() == name)
            .ok_or_else(|| Error::UnknownStore(name.to_owned()))?;
        Self::load(slot).await
    }

    /// The default session (the registry's first store).
    pub async fn default_session(&self) -> Result<Session> {
        Self::load(&self.inner.slots.first).await
    }

    async fn load(slot: &Slot) -> Result<Session> {
        let session = slot
            .session
            .get_or_try_init(|| async {
                let mut values = [""; MAX_CANDIDATES];
                for (to, value) in values.iter_mut().zip(slot.candidates.iter()) {
                    *to = value;
                }
                let loaded = crate::store::load(&*slot.store, &values[..slot.candidates.len()]).await;
                // Logged here, once per request and store, like a failed
                // save: the client only ever sees the public reason.
                if let Err(err) = &loaded {
                    tracing::error!(cookie = %slot.store.cookie_name(), error = %err, "session could not be loaded");
                }
                loaded
            })
            .await?;
        Ok(session.clone())
    }

    /// True once any session has been loaded: the response then depends on
    /// the request's cookies (`Vary: Cookie`).
    pub fn accessed(&self) -> bool {
        self.inner.slots.iter().any(|s| s.session.initialized())
    }

    /// Saves every session loaded by this request, handing each changed
    /// one's `Set-Cookie` (or its transport's header) to `send` and
    /// returning each failure by cookie name: including a session whose
    /// header would not be a valid header value. Every other session is
    /// still saved.
    async fn save(&self, mut send: impl FnMut(&'static str, Cow<'static, str>)) -> Vec<(String, Error)> {
        let mut errors = Vec::new();
        for slot in self.inner.slots.iter() {
            let Some(session) = slot.session.get() else { continue };
            let name = slot.store.cookie_name();
            match crate::store::save(&*slot.store, session).await {
                Ok(Some(header)) if is_header_value(&header) => {
                    send(slot.transport.header_name().unwrap_or("set-cookie"), Cow::Owned(header))
                }
                // Not sent and reported: an adapter could not send it either,
                // and a `Set-Cookie` that silently goes missing may be the
                // removal that logs a user out. The header itself is not
                // quoted: it holds the session cookie.
                Ok(Some(_)) => errors.push((
                    name.to_owned(),
                    Error::Config(format!(
                        "the Set-Cookie of `{name}` is not a valid header value (check its cookie options)"
                    )),
                )),
                Ok(None) => {}
                Err(err) => errors.push((name.to_owned(), err)),
            }
        }
        errors
    }
}

/// What every HTTP library accepts as a header value: visible ASCII,
/// spaces and tabs. Checks every byte without stopping early, which lets
/// the compiler check them many at a time: a `Set-Cookie` line is read once
/// per response, and a byte-by-byte early exit cost as much as the cipher.
fn is_header_value(value: &str) -> bool {
    value.bytes().fold(true, |ok, b| ok & ((b == b'\t') | (b.wrapping_sub(0x20) < 0x5f)))
}

#[cfg(test)]
mod tests {
    use super::is_header_value;

    #[test]
    fn header_values_are_visible_ascii_spaces_and_tabs() {
        for c in (0u32..0x300).filter_map(char::from_u32) {
            let expected = c == '\t' || (' '..='~').contains(&c);
            let line = format!("id=abc{c}def; Path=/");
            assert_eq!(is_header_value(&line), expected, "{c:?}");
        }
        assert!(is_header_value(""));
        assert!(!is_header_value(&format!("{}\r\nSet-Cookie: x=1", "a".repeat(200))));
    }
}
