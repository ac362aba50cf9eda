//! Configuring a [`DynamoDbBackend`]: the table, where the client comes
//! from, and the bounds of every call.

use std::sync::Arc;
use std::time::Duration;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::config::{Credentials, Region, SharedHttpClient};
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use sessions_core::backend::RecordLimit;
use sessions_core::clock::{Clock, SystemClock};

use crate::item::MAX_RECORD_BYTES;
use crate::{DynamoDbBackend, Error, Inner, STRIPES};

/// The region a local server is addressed in: any will do, one is needed
/// to sign requests.
const LOCAL_REGION: &str = "us-east-1";
/// DynamoDB Local's port.
const LOCAL_PORT: u16 = 8000;

/// Configures a [`DynamoDbBackend`]; finish with [`build`](Self::build)
/// (the AWS configuration chain), [`build_with_config`](Self::build_with_config),
/// [`build_with_client`](Self::build_with_client) or
/// [`connect`](Self::connect) (a URL).
///
/// Whichever way the client comes, the builder's timeouts and retries are
/// set on it, so no call waits longer than the request timeout; and
/// unless the configuration brings an HTTP client of its own, requests go
/// through rustls on *ring*.
///
/// ```
/// use std::sync::Arc;
/// use sessions_core::clock::ManualClock;
/// use sessions_dynamodb::DynamoDbBackend;
///
/// let clock = ManualClock::new(1_800_000_000);
/// let backend = DynamoDbBackend::builder()
///     .table("sessions")
///     .endpoint_url("http://127.0.0.1:8000")
///     .dummy_credentials()
///     .clock(Arc::new(clock))
///     .max_record_bytes(64 * 1024)
///     .build_local()?;
/// assert_eq!(backend.max_record_bytes(), 64 * 1024);
/// # Ok::<(), sessions_dynamodb::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct DynamoDbBackendBuilder {
    table: Option<String>,
    endpoint_url: Option<String>,
    region: Option<String>,
    dummy_credentials: bool,
    clock: Arc<dyn Clock>,
    max_record_bytes: usize,
    connect_timeout: Duration,
    request_timeout: Duration,
    max_attempts: u32,
}

impl Default for DynamoDbBackendBuilder {
    fn default() -> Self {
        DynamoDbBackendBuilder {
            table: None,
            endpoint_url: None,
            region: None,
            dummy_credentials: false,
            clock: Arc::new(SystemClock),
            max_record_bytes: MAX_RECORD_BYTES,
            connect_timeout: Duration::from_secs(1),
            request_timeout: Duration::from_secs(3),
            max_attempts: 3,
        }
    }
}

impl DynamoDbBackendBuilder {
    /// The table of the sessions (required): a string hash key named `id`,
    /// and TTL on the attribute `expires` so that DynamoDB removes expired
    /// items in time.
    /// [`DynamoDbBackend::create_table_if_missing`] makes one.
    pub fn table(mut self, table: impl Into<String>) -> Self {
        self.table = Some(table.into());
        self
    }

    /// Sends requests to `url` instead of the region's endpoint: a local
    /// server (`http://127.0.0.1:8000`) or a VPC endpoint.
    pub fn endpoint_url(mut self, url: impl Into<String>) -> Self {
        self.endpoint_url = Some(url.into());
        self
    }

    /// The AWS region, over the configuration's.
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// Signs requests with fixed dummy credentials instead of real ones,
    /// for a local server that does not check them (DynamoDB Local, moto,
    /// LocalStack).
    pub fn dummy_credentials(mut self) -> Self {
        self.dummy_credentials = true;
        self
    }

    /// The clock that decides expiry (tests use a manual one). Expiry is
    /// stored as Unix seconds of this clock.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The largest record stored, in bytes of
    /// [`sessions_core::backend::record::encoded_len`]. The default, and
    /// the most it can be (larger values are lowered to it), is 399 KiB: a
    /// record of that size and the item's other attributes fit DynamoDB's
    /// 400 KB item.
    pub fn max_record_bytes(mut self, limit: usize) -> Self {
        self.max_record_bytes = limit.min(MAX_RECORD_BYTES);
        self
    }

    /// The longest a new connection may take (default 1 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The longest one request may take, retries included, before the
    /// call fails with
    /// [`BackendError::Unavailable`](sessions_core::BackendError::Unavailable)
    /// (default 3 s). Each attempt has an equal share of it.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// How many times a request is tried, the first included (default 3):
    /// throttled, timed-out and failed connections are retried with
    /// jittered back-off, within the request timeout.
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts;
        self
    }

    /// Builds the backend on the AWS configuration chain (environment,
    /// profile files, web identity, container and instance credentials),
    /// with the builder's endpoint, region and credentials over it.
    pub async fn build(self) -> Result<DynamoDbBackend, Error> {
        if self.dummy_credentials {
            return self.build_local();
        }
        self.check()?;
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(https_client())
            .timeout_config(self.timeouts())
            .retry_config(self.retries());
        if let Some(region) = &self.region {
            loader = loader.region(Region::new(region.clone()));
        }
        let config = loader.load().await;
        self.build_with_config(&config)
    }

    /// Builds the backend on an SDK configuration loaded by the
    /// application, with the builder's settings over it.
    pub fn build_with_config(self, config: &SdkConfig) -> Result<DynamoDbBackend, Error> {
        let mut conf = aws_sdk_dynamodb::config::Builder::from(config);
        if config.http_client().is_none() {
            conf.set_http_client(Some(https_client()));
        }
        self.finish(conf)
    }

    /// Builds the backend on a client the application made, with the
    /// builder's settings over its configuration.
    pub fn build_with_client(self, client: &Client) -> Result<DynamoDbBackend, Error> {
        let mut conf = client.config().to_builder();
        if client.config().http_client().is_none() {
            conf.set_http_client(Some(https_client()));
        }
        self.finish(conf)
    }

    /// Builds the backend without reading the environment: the endpoint,
    /// region (`us-east-1` unless set) and dummy credentials come from the
    /// builder. For local servers; see
    /// [`DynamoDbBackend::connect_local`].
    pub fn build_local(self) -> Result<DynamoDbBackend, Error> {
        self.check()?;
        if self.endpoint_url.is_none() {
            return Err(Error::Config("a local backend needs an endpoint URL".into()));
        }
        let conf = aws_sdk_dynamodb::config::Builder::new()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(self.region.clone().unwrap_or_else(|| LOCAL_REGION.to_owned())))
            .credentials_provider(Credentials::new("local", "local", None, None, "sessions-dynamodb"))
            .http_client(https_client());
        self.finish(conf)
    }

    /// Parses `url` (`dynamodb://host[:port]/table`: a local server over
    /// plain HTTP, or `dynamodb:table`: the AWS configuration chain) and
    /// builds the backend.
    pub async fn connect(self, url: &str) -> Result<DynamoDbBackend, Error> {
        match parse_url(url)? {
            Target::Local { endpoint, table } => {
                self.table(table).endpoint_url(endpoint).dummy_credentials().build_local()
            }
            Target::Aws { table } => self.table(table).build().await,
        }
    }

    fn check(&self) -> Result<(), Error> {
        let Some(table) = &self.table else {
            return Err(Error::Config("no table: set one with `.table(name)`".into()));
        };
        if !valid_table_name(table) {
            return Err(Error::Config(format!(
                "`{table}` is not a DynamoDB table name (3 to 255 of A-Z, a-z, 0-9, `_`, `-` and `.`)"
            )));
        }
        if self.connect_timeout.is_zero() || self.request_timeout.is_zero() {
            return Err(Error::Config("timeouts must be longer than zero".into()));
        }
        if self.max_attempts == 0 {
            return Err(Error::Config("at least one attempt is needed".into()));
        }
        Ok(())
    }

    fn timeouts(&self) -> TimeoutConfig {
        TimeoutConfig::builder()
            .connect_timeout(self.connect_timeout)
            .operation_timeout(self.request_timeout)
            .operation_attempt_timeout(self.request_timeout / self.max_attempts.max(1))
            .build()
    }

    fn retries(&self) -> RetryConfig {
        RetryConfig::standard().with_max_attempts(self.max_attempts).with_initial_backoff(Duration::from_millis(50))
    }

    fn finish(self, mut conf: aws_sdk_dynamodb::config::Builder) -> Result<DynamoDbBackend, Error> {
        self.check()?;
        conf.set_timeout_config(Some(self.timeouts()));
        conf.set_retry_config(Some(self.retries()));
        if let Some(url) = &self.endpoint_url {
            conf.set_endpoint_url(Some(url.clone()));
        }
        if let Some(region) = &self.region {
            conf.set_region(Some(Region::new(region.clone())));
        }
        if self.dummy_credentials {
            conf.set_credentials_provider(Some(aws_sdk_dynamodb::config::SharedCredentialsProvider::new(
                Credentials::new("local", "local", None, None, "sessions-dynamodb"),
            )));
        }
        let conf = conf.build();
        if conf.region().is_none() {
            return Err(Error::Config("no AWS region: set AWS_REGION, a profile's region, or `.region(...)`".into()));
        }
        Ok(DynamoDbBackend {
            inner: Arc::new(Inner {
                client: Client::from_conf(conf),
                table: self.table.unwrap_or_default(),
                clock: self.clock,
                limit: RecordLimit::new(self.max_record_bytes),
                locks: (0..STRIPES).map(|_| tokio::sync::Mutex::new(())).collect(),
                request_timeout: self.request_timeout,
            }),
        })
    }
}

/// The HTTPS client of every configuration that brings none: hyper and
/// rustls with *ring*, so no C toolchain is needed to build it.
fn https_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https()
}

fn valid_table_name(name: &str) -> bool {
    (3..=255).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
}

/// Where a URL points.
#[derive(Debug, PartialEq, Eq)]
enum Target {
    /// A local server at `endpoint`.
    Local { endpoint: String, table: String },
    /// A table of the AWS account of the configuration chain.
    Aws { table: String },
}

fn parse_url(url: &str) -> Result<Target, Error> {
    let bad = |reason| Error::Url { url: url.to_owned(), reason };
    let rest = url
        .strip_prefix("dynamodb:")
        .ok_or_else(|| bad("expected `dynamodb://host:port/table` or `dynamodb:table`"))?;
    let Some(rest) = rest.strip_prefix("//") else {
        if rest.is_empty() || rest.contains('/') {
            return Err(bad("`dynamodb:` needs a table name"));
        }
        return Ok(Target::Aws { table: rest.to_owned() });
    };
    let (host, table) = rest.split_once('/').ok_or_else(|| bad("no table: expected `dynamodb://host:port/table`"))?;
    if table.is_empty() || table.contains(['/', '?', '#']) {
        return Err(bad("expected one table name after the host"));
    }
    if host.is_empty() || host.contains(['@', '?', '#']) {
        return Err(bad("expected `host`, `host:port` or `[v6]:port` before the table"));
    }
    let bad_port = || bad("expected `host`, `host:port` or `[v6]:port` before the table");
    let has_port = match host.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((_, "")) => false,
            Some((_, port)) => {
                port.strip_prefix(':').and_then(|p| p.parse::<u16>().ok()).map(|_| true).ok_or_else(bad_port)?
            }
            None => return Err(bad_port()),
        },
        None => match host.split_once(':') {
            None => false,
            Some((name, port)) if !name.is_empty() && port.parse::<u16>().is_ok() => true,
            Some(_) => return Err(bad_port()),
        },
    };
    let endpoint = if has_port { format!("http://{host}") } else { format!("http://{host}:{LOCAL_PORT}") };
    Ok(Target::Local { endpoint, table: table.to_owned() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(endpoint: &str, table: &str) -> Target {
        Target::Local { endpoint: endpoint.into(), table: table.into() }
    }

    #[test]
    fn urls_name_a_local_server_or_an_aws_table() {
        assert_eq!(
            parse_url("dynamodb://127.0.0.1:5000/sessions").unwrap(),
            local("http://127.0.0.1:5000", "sessions")
        );
        assert_eq!(parse_url("dynamodb://db/s-1").unwrap(), local("http://db:8000", "s-1"));
        assert_eq!(parse_url("dynamodb://[::1]:8001/t.x").unwrap(), local("http://[::1]:8001", "t.x"));
        assert_eq!(parse_url("dynamodb://[::1]/tab").unwrap(), local("http://[::1]:8000", "tab"));
        assert_eq!(parse_url("dynamodb:myapp-sessions").unwrap(), Target::Aws { table: "myapp-sessions".into() });
        for bad in [
            "http://127.0.0.1:5000",
            "dynamodb:",
            "dynamodb://127.0.0.1:5000",
            "dynamodb://127.0.0.1:5000/",
            "dynamodb://h:x/t",
            "dynamodb://u@h:1/t",
            "dynamodb://h:1/t/u",
            "dynamodb://h:1/t?x=1",
            "dynamodb:a/b",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_builder_checks_its_table_and_bounds() {
        let local = || DynamoDbBackend::builder().endpoint_url("http://127.0.0.1:1").dummy_credentials();
        assert!(matches!(local().build_local(), Err(Error::Config(_))), "no table");
        assert!(matches!(local().table("ab").build_local(), Err(Error::Config(_))));
        assert!(matches!(local().table("a b c").build_local(), Err(Error::Config(_))));
        assert!(matches!(local().table("sessions").max_attempts(0).build_local(), Err(Error::Config(_))));
        assert!(matches!(
            local().table("sessions").request_timeout(Duration::ZERO).build_local(),
            Err(Error::Config(_))
        ));
        let backend = local().table("sessions").max_record_bytes(usize::MAX).build_local().unwrap();
        assert_eq!(backend.max_record_bytes(), MAX_RECORD_BYTES, "clamped to what fits an item");
        assert!(
            DynamoDbBackend::builder().table("sessions").build_local().is_err(),
            "a local backend needs an endpoint"
        );
    }
}
