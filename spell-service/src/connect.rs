//! Where the NATS server is and how to authenticate: the options the NATS command-line tools
//! take (`--creds`, `--nkey`, `--tlsca`, `--tlscert`/`--tlskey`), plus user and password or a
//! token in the URL (`nats://user:pass@host:4222`, `tls://host:4222`).

use crate::error::ServiceError;
use std::path::PathBuf;
use std::time::Duration;

/// How to reach the NATS server. By default: no credentials, TLS only when the URL asks for it
/// (`tls://`) or the server requires it, a 5-second connection timeout, and unlimited reconnects
/// once connected (a worker rides out a server restart).
///
/// ```
/// use spell_service::NatsOptions;
/// let options = NatsOptions::new("nats://127.0.0.1:4222").credentials("worker.creds");
/// assert_eq!(options.url(), "nats://127.0.0.1:4222");
/// ```
#[derive(Debug, Clone)]
pub struct NatsOptions {
    url: String,
    credentials: Option<PathBuf>,
    nkey: Option<PathBuf>,
    root_certificates: Option<PathBuf>,
    client_certificate: Option<(PathBuf, PathBuf)>,
    require_tls: bool,
    connect_timeout: Duration,
    name: String,
}

impl NatsOptions {
    /// Options for the server(s) at `url` (comma-separated for a cluster).
    pub fn new(url: impl Into<String>) -> NatsOptions {
        NatsOptions {
            url: url.into(),
            credentials: None,
            nkey: None,
            root_certificates: None,
            client_certificate: None,
            require_tls: false,
            connect_timeout: Duration::from_secs(5),
            name: "spell".into(),
        }
    }

    /// The server URL(s) as given.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A `.creds` file (JWT and NKey seed), as `nats --creds` takes. Default: none.
    pub fn credentials(mut self, path: impl Into<PathBuf>) -> Self {
        self.credentials = Some(path.into());
        self
    }

    /// A file holding an NKey seed, as `nats --nkey` takes. Default: none.
    pub fn nkey(mut self, path: impl Into<PathBuf>) -> Self {
        self.nkey = Some(path.into());
        self
    }

    /// A PEM file of CA certificates to trust for the server. Default: the system roots.
    pub fn root_certificates(mut self, path: impl Into<PathBuf>) -> Self {
        self.root_certificates = Some(path.into());
        self
    }

    /// A client certificate and its key (PEM), for mutual TLS. Default: none.
    pub fn client_certificate(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.client_certificate = Some((cert.into(), key.into()));
        self
    }

    /// Refuses a connection without TLS. Default: `false` (TLS when the URL or server asks).
    pub fn require_tls(mut self, required: bool) -> Self {
        self.require_tls = required;
        self
    }

    /// How long the first connection may take. Default: 5 seconds.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The connection name the server shows (`nats server report connections`). Default `spell`.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Connects. `E-SVC-010` when a file cannot be read, `E-SVC-001` when the server cannot be
    /// reached within the timeout.
    pub async fn connect(&self) -> Result<async_nats::Client, ServiceError> {
        let mut options = match &self.credentials {
            Some(path) => async_nats::ConnectOptions::with_credentials_file(path)
                .await
                .map_err(|e| {
                    ServiceError::ConnectOptions(format!("credentials {}: {e}", path.display()))
                })?,
            None => async_nats::ConnectOptions::new(),
        };
        if let Some(path) = &self.nkey {
            let seed = std::fs::read_to_string(path).map_err(|e| {
                ServiceError::ConnectOptions(format!("nkey {}: {e}", path.display()))
            })?;
            options = options.nkey(seed.trim().to_string());
        }
        for path in self.root_certificates.iter().chain(
            self.client_certificate
                .iter()
                .flat_map(|(cert, key)| [cert, key]),
        ) {
            if !path.is_file() {
                return Err(ServiceError::ConnectOptions(format!(
                    "{} is not a readable file",
                    path.display()
                )));
            }
        }
        if let Some(path) = &self.root_certificates {
            options = options.add_root_certificates(path.clone());
        }
        if let Some((cert, key)) = &self.client_certificate {
            options = options.add_client_certificate(cert.clone(), key.clone());
        }
        options
            .require_tls(self.require_tls)
            .connection_timeout(self.connect_timeout)
            .name(&self.name)
            .connect(self.url.as_str())
            .await
            .map_err(|e| ServiceError::Unreachable {
                url: self.url.clone(),
                reason: e.to_string(),
            })
    }
}
