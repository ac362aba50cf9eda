//! Configuring a [`MongoDbBackend`] and connecting it.

use std::sync::Arc;
use std::time::Duration;

use mongodb::options::ClientOptions;
use mongodb::{Client, Database};
use sessions_core::backend::RecordLimit;
use sessions_core::backend::record::DEFAULT_MAX_RECORD_BYTES;
use sessions_core::clock::{Clock, SystemClock};

use crate::{Error, Inner, MAX_RECORD_BYTES, MongoDbBackend, STRIPES};

/// Configures a [`MongoDbBackend`] before connecting it, or before
/// building it on a database handle the application already has.
///
/// ```no_run
/// use std::time::Duration;
/// use sessions_mongodb::MongoDbBackend;
///
/// # async fn run() -> Result<(), sessions_mongodb::Error> {
/// let backend = MongoDbBackend::builder()
///     .collection("web_sessions")
///     .request_timeout(Duration::from_millis(500))
///     .max_record_bytes(256 * 1024)
///     .connect("mongodb://db.internal:27017/app")
///     .await?;
/// backend.create_indexes_if_missing().await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct MongoDbBackendBuilder {
    collection: String,
    max_record_bytes: usize,
    request_timeout: Duration,
    clock: Arc<dyn Clock>,
}

impl Default for MongoDbBackendBuilder {
    fn default() -> Self {
        MongoDbBackendBuilder {
            collection: "sessions".to_owned(),
            max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
            request_timeout: Duration::from_secs(2),
            clock: Arc::new(SystemClock),
        }
    }
}

impl MongoDbBackendBuilder {
    /// The collection that holds the sessions (default `sessions`). Give
    /// each application its own when they share a database.
    pub fn collection(mut self, name: impl Into<String>) -> Self {
        self.collection = name.into();
        self
    }

    /// The largest record stored, in bytes of
    /// [`sessions_core::backend::record::encoded_len`] (default 1 MiB). A
    /// `create` of a larger record, or an `update` whose result would be
    /// larger, fails with
    /// [`BackendError::TooLarge`](sessions_core::BackendError::TooLarge)
    /// and writes nothing. A document holds at most 16 MiB, so a larger
    /// setting is lowered to [`MAX_RECORD_BYTES`].
    pub fn max_record_bytes(mut self, limit: usize) -> Self {
        self.max_record_bytes = limit;
        self
    }

    /// The longest one call may take, from choosing a server to reading
    /// its answer, before it fails with
    /// [`BackendError::Unavailable`](sessions_core::BackendError::Unavailable)
    /// (default 2 s). [`connect`](Self::connect) also uses it as the
    /// driver's server selection and connect timeouts, unless the
    /// connection string sets them (`serverSelectionTimeoutMS`,
    /// `connectTimeoutMS`). A save that finds the session changed by
    /// another request since it was loaded takes two more round trips.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// The clock that decides expiry (tests use a manual one). A document
    /// whose expiry is past on this clock is absent to every call, whether
    /// MongoDB's TTL monitor, which runs on the server's clock about once
    /// a minute, removed it yet or not.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    fn check(&self) -> Result<(), Error> {
        if self.request_timeout.is_zero() {
            return Err(Error::Config("the request timeout must be longer than zero".into()));
        }
        let name = &self.collection;
        if name.is_empty() || name.contains(['$', '\0']) || name.starts_with("system.") {
            return Err(Error::Config(format!(
                "`{name}` is not a collection name (empty, holds `$` or NUL, or starts with `system.`)"
            )));
        }
        Ok(())
    }

    /// Connects with a standard connection string, `mongodb://` or
    /// `mongodb+srv://`, whose path names the database
    /// (`mongodb://user:password@host:27017/app?replicaSet=rs0`), and
    /// checks that the server answers.
    ///
    /// It does not make the collection's indexes: call
    /// [`MongoDbBackend::create_indexes_if_missing`] once at start-up, or
    /// make them with your migrations.
    pub async fn connect(self, url: &str) -> Result<MongoDbBackend, Error> {
        self.check()?;
        let mut options = ClientOptions::parse(url).await.map_err(Error::Url)?;
        let database = options.default_database.clone().ok_or(Error::NoDatabase)?;
        options.server_selection_timeout.get_or_insert(self.request_timeout);
        options.connect_timeout.get_or_insert(self.request_timeout);
        options.app_name.get_or_insert_with(|| "sessions-mongodb".to_owned());
        let client = Client::with_options(options).map_err(Error::Url)?;
        let backend = self.build(client.database(&database))?;
        backend.ping().await.map_err(Error::Connect)?;
        Ok(backend)
    }

    /// Builds the backend on a database handle the application already
    /// has, sharing its client's connections and options. Nothing is sent
    /// until the first call.
    ///
    /// ```no_run
    /// use sessions_mongodb::MongoDbBackend;
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let client = mongodb::Client::with_uri_str("mongodb://127.0.0.1:27017").await?;
    /// let backend = MongoDbBackend::builder().build(client.database("app"))?;
    /// # let _ = backend;
    /// # Ok(())
    /// # }
    /// ```
    pub fn build(self, database: Database) -> Result<MongoDbBackend, Error> {
        self.check()?;
        if self.max_record_bytes > MAX_RECORD_BYTES {
            tracing::warn!(
                configured = self.max_record_bytes,
                limit = MAX_RECORD_BYTES,
                "max_record_bytes is over what a MongoDB document holds; lowered"
            );
        }
        let collection = database.collection(&self.collection);
        Ok(MongoDbBackend {
            inner: Arc::new(Inner {
                database,
                collection,
                clock: self.clock,
                limit: RecordLimit::new(self.max_record_bytes.min(MAX_RECORD_BYTES)),
                request_timeout: self.request_timeout,
                locks: (0..STRIPES).map(|_| tokio::sync::Mutex::new(())).collect(),
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collection_names_and_timeouts_are_checked() {
        let builder = MongoDbBackendBuilder::default;
        assert!(builder().check().is_ok());
        for bad in ["", "a$b", "system.sessions", "a\0b"] {
            assert!(builder().collection(bad).check().is_err(), "{bad:?}");
        }
        assert!(builder().request_timeout(Duration::ZERO).check().is_err());
    }
}
