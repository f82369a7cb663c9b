//! Where the NATS server is and how to authenticate: the options the NATS command-line tools
//! take (`--creds`, `--nkey`, `--tlsca`, `--tlscert`/`--tlskey`), plus user and password or a
//! token in the URL (`nats://user:pass@host:4222`, `tls://token@host:4222`), which `async-nats`
//! parses but does not send, and which no error message repeats.

use crate::error::ServiceError;
use percent_encoding::percent_decode_str;
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
#[derive(Clone)]
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
        match url_credentials(&self.url)? {
            Some(UrlCredentials::UserAndPassword(user, password)) => {
                options = options.user_and_password(user, password);
            }
            Some(UrlCredentials::Token(token)) => options = options.token(token),
            None => {}
        }
        options
            .require_tls(self.require_tls)
            .connection_timeout(self.connect_timeout)
            .name(&self.name)
            .event_callback(|event| async move { log_event(&event) })
            .connect(self.url.as_str())
            .await
            .map_err(|e| ServiceError::Unreachable {
                url: redacted(&self.url),
                reason: e.to_string(),
            })
    }
}

/// Shows the URL without its user information.
impl std::fmt::Debug for NatsOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsOptions")
            .field("url", &redacted(&self.url))
            .field("credentials", &self.credentials)
            .field("nkey", &self.nkey)
            .field("root_certificates", &self.root_certificates)
            .field("client_certificate", &self.client_certificate)
            .field("require_tls", &self.require_tls)
            .field("connect_timeout", &self.connect_timeout)
            .field("name", &self.name)
            .finish()
    }
}

/// Logs what the connection reports on its own. The server's errors are warnings: a subject
/// the user may not publish on is refused there and nowhere else (a request to it just times
/// out), so the log is where an operator learns why.
fn log_event(event: &async_nats::Event) {
    use async_nats::Event;
    match event {
        Event::ServerError(_)
        | Event::ClientError(_)
        | Event::SlowConsumer(_)
        | Event::Disconnected
        | Event::LameDuckMode => tracing::warn!("NATS {event}"),
        Event::Connected | Event::Draining | Event::Closed => tracing::info!("NATS {event}"),
    }
}

/// What a server URL's user-information part says, as the NATS clients read it.
#[derive(Debug, PartialEq, Eq)]
enum UrlCredentials {
    /// `nats://user:password@host`.
    UserAndPassword(String, String),
    /// `nats://token@host`: a user without a password is a token.
    Token(String),
}

/// The credentials in the first of the comma-separated server URLs that has any (a cluster's
/// URLs carry the same ones), percent-decoded. `E-SVC-010` for a URL that does not parse.
fn url_credentials(urls: &str) -> Result<Option<UrlCredentials>, ServiceError> {
    for url in urls.split(',') {
        let url = url
            .trim()
            .parse::<async_nats::ServerAddr>()
            .map_err(|e| ServiceError::ConnectOptions(format!("{}: {e}", redacted(url))))?
            .into_inner();
        let decoded = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
        match (url.username(), url.password()) {
            ("", None) => continue,
            (user, Some(password)) => {
                return Ok(Some(UrlCredentials::UserAndPassword(
                    decoded(user),
                    decoded(password),
                )));
            }
            (token, None) => return Ok(Some(UrlCredentials::Token(decoded(token)))),
        }
    }
    Ok(None)
}

/// The server URLs without their user information, for messages and logs.
fn redacted(urls: &str) -> String {
    urls.split(',')
        .map(|part| match url::Url::parse(part.trim()) {
            Ok(mut url) if !url.username().is_empty() || url.password().is_some() => {
                let _ = url.set_username("");
                let _ = url.set_password(None);
                url.to_string().replacen("://", "://***@", 1)
            }
            // Without a scheme `Url` cannot tell a host from user information: keep only what
            // follows the last `@`.
            _ => match part.rsplit_once('@') {
                Some((_, host)) => format!("***@{host}"),
                None => part.to_string(),
            },
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use spell_core::{ErrorCode, HasCode};

    #[test]
    fn credentials_come_from_the_first_url_that_has_them_decoded() {
        assert_eq!(url_credentials("nats://127.0.0.1:4222").unwrap(), None);
        assert_eq!(
            url_credentials("nats://a:4222, tls://us%40r:p%3Ass@b:4222").unwrap(),
            Some(UrlCredentials::UserAndPassword(
                "us@r".into(),
                "p:ss".into()
            ))
        );
        assert_eq!(
            url_credentials("s3cr3t@127.0.0.1").unwrap(),
            Some(UrlCredentials::Token("s3cr3t".into()))
        );
        assert_eq!(
            url_credentials("http://x").unwrap_err().code(),
            ErrorCode::ServiceConnectOptions
        );
    }

    #[test]
    fn redacted_urls_keep_hosts_and_lose_secrets() {
        assert_eq!(
            redacted("tls://user:pw@h1:4222,nats://h2:4222"),
            "tls://***@h1:4222,nats://h2:4222"
        );
        assert_eq!(redacted("tok@h:4222"), "***@h:4222");
        assert_eq!(redacted("nats://127.0.0.1:4222"), "nats://127.0.0.1:4222");
    }
}
