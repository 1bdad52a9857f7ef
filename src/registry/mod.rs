//! An OCI distribution client for one registry, on top of `oci-client`: blob existence checks,
//! cross-repository mounts, chunked uploads (monolithic fallback), manifests by tag, and pulling
//! an image into a local blob cache ([`pull`]).
//!
//! Every call is async; [`runtime`] gives callers without one a small runtime to block on.

pub mod auth;
pub mod copy;
pub mod probe;
pub mod pull;

pub use auth::{Credentials, Source};
pub use pull::{PulledImage, cache_dir, pull, pull_image};

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::{Client, Reference, RegistryOperation};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("cannot reach registry {registry}: {detail}")]
    Unreachable { registry: String, detail: String },
    #[error("authentication failed for {registry}{hint}")]
    AuthFailed { registry: String, hint: String },
    #[error("access to {repository} denied by {registry}")]
    Denied {
        registry: String,
        repository: String,
    },
    #[error("registry {registry}: {detail}")]
    Protocol { registry: String, detail: String },
    /// A token service over plain HTTP for a registry reached over HTTPS: nothing is sent.
    #[error(
        "registry {registry} names a token service over plain HTTP ({realm}): refused, no \
         credentials were sent (the token service must use HTTPS)"
    )]
    InsecureRealm { registry: String, realm: String },
    /// Bad or unreadable credential configuration (a usage error).
    #[error("credentials for {registry}: {detail}")]
    Credentials { registry: String, detail: String },
    /// A malformed reference or a refused `--insecure` (a usage error).
    #[error("{0}")]
    Usage(String),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

impl RegistryError {
    /// The registry cannot be reached (exit code 6).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, RegistryError::Unreachable { .. })
    }

    /// The registry refused the credentials or denied access (exit code 7).
    pub fn is_denied(&self) -> bool {
        matches!(
            self,
            RegistryError::AuthFailed { .. } | RegistryError::Denied { .. }
        )
    }

    /// Whether this is the user's mistake (exit code 2) rather than a failed operation.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            RegistryError::Credentials { .. } | RegistryError::Usage(_)
        )
    }
}

/// `name[:port]` is this machine: the only registries that may be used over plain HTTP.
pub fn is_local(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        match rest.split_once(']') {
            Some((inner, port)) if port.is_empty() || valid_port(port) => inner,
            _ => return false,
        }
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) if valid_port(port) => name,
            Some(_) => return false,
            None => host,
        }
    };
    matches!(name, "127.0.0.1" | "localhost" | "::1")
}

/// Plain HTTP is only for a registry on this machine.
pub fn check_insecure(host: &str, insecure: bool) -> Result<(), RegistryError> {
    if insecure && !is_local(host) {
        return Err(RegistryError::Usage(format!(
            "--insecure (plain HTTP) is allowed only for a registry on this machine \
             (127.0.0.1, localhost, [::1]), not `{host}`"
        )));
    }
    Ok(())
}

/// How a registry is spoken to: a mode, not a flag passed along.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Https,
    /// Plain HTTP: only for a registry on this machine.
    PlainHttp,
}

impl Transport {
    /// `--insecure` for `host`: plain HTTP, refused unless the registry is on this machine.
    pub fn checked(host: &str, insecure: bool) -> Result<Transport, RegistryError> {
        check_insecure(host, insecure)?;
        Ok(if insecure {
            Transport::PlainHttp
        } else {
            Transport::Https
        })
    }

    /// A base image's registry: plain HTTP when it is on this machine (a test or mirror
    /// registry, which has no flag to say so), HTTPS anywhere else.
    pub fn for_base(host: &str) -> Transport {
        if is_local(host) {
            Transport::PlainHttp
        } else {
            Transport::Https
        }
    }

    pub fn is_plain(self) -> bool {
        self == Transport::PlainHttp
    }
}

fn valid_port(p: &str) -> bool {
    p.strip_prefix(':')
        .unwrap_or(p)
        .parse::<u16>()
        .is_ok_and(|n| n > 0)
}

/// One registry (`name[:port]`) and the credentials for it.
pub struct Registry {
    host: String,
    transport: Transport,
    credentials: Credentials,
    client: Client,
}

impl Registry {
    /// A client for `host` with credentials from the environment or docker's config.
    /// Plain HTTP is refused unless the registry is on this machine.
    pub fn connect(host: &str, transport: Transport) -> Result<Registry, RegistryError> {
        check_insecure(host, transport.is_plain())?;
        let credentials = Credentials::resolve(host)?;
        Registry::with_credentials(host, transport, credentials)
    }

    pub fn with_credentials(
        host: &str,
        transport: Transport,
        credentials: Credentials,
    ) -> Result<Registry, RegistryError> {
        check_insecure(host, transport.is_plain())?;
        crate::use_ring();
        tracing::debug!(registry = host, credentials = %credentials.source, "registry client");
        let config = ClientConfig {
            protocol: if transport.is_plain() {
                ClientProtocol::HttpsExcept(vec![host.to_string()])
            } else {
                ClientProtocol::Https
            },
            connect_timeout: Some(Duration::from_secs(10)),
            read_timeout: Some(Duration::from_secs(120)),
            user_agent: concat!("monoship/", env!("CARGO_PKG_VERSION")),
            ..Default::default()
        };
        let client = Client::try_from(config).map_err(|e| RegistryError::Protocol {
            registry: host.to_string(),
            detail: format!("cannot create an HTTP client: {e}"),
        })?;
        Ok(Registry {
            host: host.to_string(),
            transport,
            credentials,
            client,
        })
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    fn reference(&self, repository: &str, tag: &str) -> Reference {
        Reference::with_tag(self.host.clone(), repository.to_string(), tag.to_string())
    }

    fn by_digest(&self, repository: &str, digest: &str) -> Reference {
        Reference::with_digest(
            self.host.clone(),
            repository.to_string(),
            digest.to_string(),
        )
    }

    /// Reach the registry and prepare credentials for pushing to (and pulling from)
    /// `repository`. Fails with [`RegistryError::Unreachable`] when nothing answers, and with
    /// [`RegistryError::AuthFailed`] when a token service turns the credentials down.
    pub async fn login(&self, repository: &str, push: bool) -> Result<(), RegistryError> {
        let op = if push {
            RegistryOperation::Push
        } else {
            RegistryOperation::Pull
        };
        if let probe::Probe::Failed(e) = probe::probe(&self.host, self.transport).await? {
            return Err(self.error(OciDistributionError::RequestError(e), repository));
        }
        self.client
            .auth(
                &self.reference(repository, "latest"),
                &self.credentials.auth,
                op,
            )
            .await
            .map(|_| ())
            .map_err(|e| self.error(e, repository))
    }

    /// HEAD the blob in `repository`.
    pub async fn blob_exists(&self, repository: &str, digest: &str) -> Result<bool, RegistryError> {
        let r = self.by_digest(repository, digest);
        self.client
            .blob_exists(&r, digest)
            .await
            .map_err(|e| self.error(e, repository))
    }

    /// Mount `digest` from `from` into `repository`. `Ok(false)` when the registry declined
    /// (it may not support mounts, or the blob is not there): upload it instead.
    pub async fn mount_blob(
        &self,
        repository: &str,
        from: &str,
        digest: &str,
    ) -> Result<bool, RegistryError> {
        let target = self.by_digest(repository, digest);
        let source = self.by_digest(from, digest);
        match self.client.mount_blob(&target, &source, digest).await {
            Ok(()) => Ok(true),
            Err(e) => match self.error(e, repository) {
                e @ (RegistryError::Unreachable { .. } | RegistryError::AuthFailed { .. }) => {
                    Err(e)
                }
                other => {
                    tracing::debug!("mount of {digest} from {from} declined: {other}");
                    Ok(false)
                }
            },
        }
    }

    /// Upload a blob: chunked, falling back to one monolithic PUT when the registry does not
    /// follow the chunked protocol.
    pub async fn upload_blob(
        &self,
        repository: &str,
        digest: &str,
        data: Vec<u8>,
    ) -> Result<(), RegistryError> {
        let r = self.by_digest(repository, digest);
        self.client
            .push_blob(&r, data, digest)
            .await
            .map(|_| ())
            .map_err(|e| self.error(e, repository))
    }

    /// The digest `tag` resolves to in `repository`, or `None` when there is no such tag.
    pub async fn tag_digest(
        &self,
        repository: &str,
        tag: &str,
    ) -> Result<Option<String>, RegistryError> {
        let r = self.reference(repository, tag);
        match self
            .client
            .fetch_manifest_digest(&r, &self.credentials.auth)
            .await
        {
            Ok(d) => Ok(Some(d)),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(self.error(e, repository)),
        }
    }

    /// PUT the manifest bytes (unchanged, so the digest stays) under `tag` (or by its digest
    /// when `tag` is one, `sha256:…`).
    pub async fn push_manifest(
        &self,
        repository: &str,
        tag: &str,
        manifest: &[u8],
        media_type: &str,
    ) -> Result<(), RegistryError> {
        let r = if tag.contains(':') {
            self.by_digest(repository, tag)
        } else {
            self.reference(repository, tag)
        };
        let content_type = media_type.parse().map_err(|_| RegistryError::Protocol {
            registry: self.host.clone(),
            detail: format!("bad media type `{media_type}`"),
        })?;
        self.client
            .push_manifest_raw(&r, manifest.to_vec(), content_type)
            .await
            .map(|_| ())
            .map_err(|e| self.error(e, repository))
    }

    /// GET a manifest (or index) by tag or digest: its bytes and digest.
    pub async fn pull_manifest(
        &self,
        repository: &str,
        reference: &str,
        accepted: &[&str],
    ) -> Result<(Vec<u8>, String), RegistryError> {
        let r = if reference.contains(':') {
            self.by_digest(repository, reference)
        } else {
            self.reference(repository, reference)
        };
        self.client
            .pull_manifest_raw(&r, &self.credentials.auth, accepted)
            .await
            .map(|(b, d)| (b.to_vec(), d))
            .map_err(|e| self.error(e, repository))
    }

    /// Stream a blob into `out`, verifying its digest.
    pub async fn pull_blob<W: tokio::io::AsyncWrite>(
        &self,
        repository: &str,
        digest: &str,
        out: W,
    ) -> Result<(), RegistryError> {
        let r = self.by_digest(repository, digest);
        self.client
            .pull_blob(&r, digest, out)
            .await
            .map_err(|e| self.error(e, repository))
    }

    /// A failed request (no registry error envelope): its status, or why it got none.
    fn request_error(&self, re: &reqwest::Error, repository: &str) -> RegistryError {
        let registry = self.host.clone();
        if let Some(status) = re.status() {
            return match status.as_u16() {
                401 | 403 => self.error(
                    OciDistributionError::ServerError {
                        code: status.as_u16(),
                        url: String::new(),
                        message: String::new(),
                    },
                    repository,
                ),
                code => RegistryError::Protocol {
                    registry,
                    detail: format!("HTTP {code}"),
                },
            };
        }
        let detail = root_cause(re);
        if is_certificate_error(re) {
            return RegistryError::Unreachable {
                registry,
                detail: format!(
                    "{detail}: the registry's TLS certificate is not trusted; to trust a private \
                     CA, set SSL_CERT_FILE to its PEM file or add it to the system's store (see \
                     docs/publish.md)"
                ),
            };
        }
        if re.is_timeout() {
            return RegistryError::Unreachable {
                registry,
                detail: "no answer (timed out)".to_string(),
            };
        }
        if !re.is_connect() {
            return RegistryError::Protocol { registry, detail };
        }
        let hint = if !self.transport.is_plain() && is_local(&self.host) && !refused(&detail) {
            " (if it serves plain HTTP, pass --insecure)"
        } else {
            ""
        };
        RegistryError::Unreachable {
            registry,
            detail: format!("{detail}{hint}"),
        }
    }

    /// Turn a client error into one line for the user (never containing credentials).
    fn error(&self, e: OciDistributionError, repository: &str) -> RegistryError {
        let registry = self.host.clone();
        let auth_failed = || RegistryError::AuthFailed {
            registry: registry.clone(),
            hint: if self.credentials.is_anonymous() {
                format!(
                    " (no credentials: set {} and {}, or log in with docker)",
                    auth::USER_ENV,
                    auth::PASSWORD_ENV
                )
            } else {
                String::new()
            },
        };
        let denied = || RegistryError::Denied {
            registry: registry.clone(),
            repository: repository.to_string(),
        };
        match e {
            OciDistributionError::RequestError(re) => self.request_error(&re, repository),
            OciDistributionError::AuthenticationFailure(_)
            | OciDistributionError::UnauthorizedError { .. } => auth_failed(),
            OciDistributionError::ServerError { code: 401, .. } => auth_failed(),
            OciDistributionError::ServerError { code: 403, .. } => denied(),
            OciDistributionError::ServerError { code, message, .. } => RegistryError::Protocol {
                registry,
                detail: format!("HTTP {code}: {}", first_line(&message)),
            },
            OciDistributionError::RegistryError { envelope, .. } => {
                let codes: Vec<&OciErrorCode> = envelope.errors.iter().map(|e| &e.code).collect();
                if codes
                    .iter()
                    .any(|c| matches!(c, OciErrorCode::Unauthorized))
                {
                    auth_failed()
                } else if codes.iter().any(|c| matches!(c, OciErrorCode::Denied)) {
                    denied()
                } else {
                    let text = envelope
                        .errors
                        .iter()
                        .map(|e| format!("{:?}: {}", e.code, e.message))
                        .collect::<Vec<_>>()
                        .join("; ");
                    RegistryError::Protocol {
                        registry,
                        detail: first_line(&text).to_string(),
                    }
                }
            }
            other => RegistryError::Protocol {
                registry,
                detail: first_line(&other.to_string()).to_string(),
            },
        }
    }
}

fn is_not_found(e: &OciDistributionError) -> bool {
    match e {
        OciDistributionError::RegistryError { envelope, .. } => envelope.errors.iter().any(|e| {
            matches!(
                e.code,
                OciErrorCode::ManifestUnknown | OciErrorCode::NameUnknown | OciErrorCode::NotFound
            )
        }),
        OciDistributionError::ServerError { code: 404, .. }
        | OciDistributionError::ImageManifestNotFoundError(_) => true,
        OciDistributionError::RequestError(re) => re.status().is_some_and(|s| s.as_u16() == 404),
        _ => false,
    }
}

/// Whether a TLS handshake failed on the server's certificate (anywhere in the chain; an
/// `io::Error` hides its inner error from `source()`, so it is looked into).
fn is_certificate_error(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(rustls::Error::InvalidCertificate(_)) = err.downcast_ref::<rustls::Error>() {
            return true;
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && let Some(inner) = io.get_ref()
            && is_certificate_error(inner)
        {
            return true;
        }
        let text = err.to_string().to_lowercase();
        if text.contains("invalid peer certificate") || text.contains("certificate verify failed") {
            return true;
        }
        cur = err.source();
    }
    false
}

fn refused(detail: &str) -> bool {
    detail.to_lowercase().contains("refused")
}

/// The innermost message of an error chain ("Connection refused (os error 111)").
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    first_line(&cur.to_string()).to_string()
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("").trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_hosts() {
        for h in [
            "127.0.0.1",
            "127.0.0.1:5000",
            "localhost",
            "localhost:5000",
            "[::1]",
            "[::1]:5000",
        ] {
            assert!(is_local(h), "{h}");
        }
        for h in [
            "registry.example.com",
            "127.0.0.1.nip.io:5000",
            "localhost.example.com",
            "10.0.0.1:5000",
            "[::2]:5000",
            "localhost:x",
            "ghcr.io",
        ] {
            assert!(!is_local(h), "{h}");
        }
    }

    #[test]
    fn insecure_is_refused_for_remote_registries() {
        let err =
            Registry::with_credentials("ghcr.io", Transport::PlainHttp, Credentials::anonymous())
                .err()
                .expect("refused");
        assert!(err.is_usage());
        assert!(err.to_string().contains("ghcr.io"), "{err}");
        assert!(
            Registry::with_credentials(
                "127.0.0.1:5000",
                Transport::PlainHttp,
                Credentials::anonymous()
            )
            .is_ok()
        );
    }
}
