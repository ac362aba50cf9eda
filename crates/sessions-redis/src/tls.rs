//! TLS settings of a `rediss://` connection (feature `tls`): which
//! certificate authorities to trust, and the client certificate to present.

use std::fmt;

use redis::{ClientTlsConfig, TlsCertificates};

use crate::RedisBackendBuilder;

/// The PEM data given to the builder. The private key is never printed.
#[derive(Clone, Default)]
pub(crate) struct TlsSettings {
    roots: Option<Vec<u8>>,
    client: Option<(Vec<u8>, Vec<u8>)>,
}

impl fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsSettings")
            .field("root_certificates", &self.roots.as_ref().map(|pem| format!("{} bytes of PEM", pem.len())))
            .field("client_certificate", &self.client.as_ref().map(|_| "set (key not shown)"))
            .finish()
    }
}

impl TlsSettings {
    pub(crate) fn certificates(&self) -> TlsCertificates {
        TlsCertificates {
            client_tls: self
                .client
                .as_ref()
                .map(|(cert, key)| ClientTlsConfig { client_cert: cert.clone(), client_key: key.clone() }),
            root_cert: self.roots.clone(),
        }
    }
}

/// rustls needs one process-wide crypto provider; this crate brings *ring*.
/// Installing it fails harmlessly when the application installed one first.
pub(crate) fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl RedisBackendBuilder {
    /// Trusts these certificate authorities (one or more PEM certificates)
    /// for a `rediss://` server, instead of the system's: for a server
    /// whose certificate a private CA signed. Feature `tls`.
    ///
    /// ```no_run
    /// use sessions_redis::RedisBackend;
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let backend = RedisBackend::builder()
    ///     .tls_root_certificates(std::fs::read("/etc/redis/ca.crt")?)
    ///     .tls_client_certificate(std::fs::read("client.crt")?, std::fs::read("client.key")?)
    ///     .connect("rediss://app:secret@redis.internal:6380")
    ///     .await?;
    /// # let _ = backend;
    /// # Ok(())
    /// # }
    /// ```
    pub fn tls_root_certificates(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls.get_or_insert_with(TlsSettings::default).roots = Some(pem.into());
        self
    }

    /// Presents this certificate chain and private key (PEM) to a
    /// `rediss://` server that asks for one: Redis does by default when it
    /// is given a CA file (`tls-auth-clients yes`). Feature `tls`.
    pub fn tls_client_certificate(mut self, cert_pem: impl Into<Vec<u8>>, key_pem: impl Into<Vec<u8>>) -> Self {
        self.tls.get_or_insert_with(TlsSettings::default).client = Some((cert_pem.into(), key_pem.into()));
        self
    }
}
