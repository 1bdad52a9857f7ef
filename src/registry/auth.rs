//! Registry credentials: `MONOSHIP_REGISTRY_USER`/`MONOSHIP_REGISTRY_PASSWORD`, else docker's
//! `config.json` (`auths`, `credHelpers`, `credsStore`), else anonymous.
//!
//! Secrets are kept in [`Credentials`], whose `Debug` never shows them, and no error or log line
//! built here contains them.

use super::RegistryError;
use docker_credential::{CredentialRetrievalError, DockerCredential};
use oci_client::secrets::RegistryAuth;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub const USER_ENV: &str = "MONOSHIP_REGISTRY_USER";
pub const PASSWORD_ENV: &str = "MONOSHIP_REGISTRY_PASSWORD";

/// Where the credentials came from (for diagnostics; never the secret itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Env,
    DockerConfig(PathBuf),
    Anonymous,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Env => write!(f, "{USER_ENV}/{PASSWORD_ENV}"),
            Source::DockerConfig(p) => write!(f, "{}", p.display()),
            Source::Anonymous => write!(f, "no credentials"),
        }
    }
}

/// Credentials for one registry.
#[derive(Clone)]
pub struct Credentials {
    pub(crate) auth: RegistryAuth,
    pub source: Source,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // RegistryAuth's Debug redacts the secret.
        f.debug_struct("Credentials")
            .field("auth", &self.auth)
            .field("source", &self.source)
            .finish()
    }
}

impl Credentials {
    pub fn anonymous() -> Credentials {
        Credentials {
            auth: RegistryAuth::Anonymous,
            source: Source::Anonymous,
        }
    }

    pub fn basic(user: &str, password: &str, source: Source) -> Credentials {
        Credentials {
            auth: RegistryAuth::Basic(user.to_string(), password.to_string()),
            source,
        }
    }

    pub fn is_anonymous(&self) -> bool {
        matches!(self.auth, RegistryAuth::Anonymous)
    }

    /// The credentials for `host` (`name[:port]`): the environment wins over docker's config.
    pub fn resolve(host: &str) -> Result<Credentials, RegistryError> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        match (var(USER_ENV), var(PASSWORD_ENV)) {
            (Some(user), Some(password)) => {
                return Ok(Credentials::basic(&user, &password, Source::Env));
            }
            (Some(_), None) | (None, Some(_)) => {
                return Err(RegistryError::Credentials {
                    registry: host.to_string(),
                    detail: format!("set both {USER_ENV} and {PASSWORD_ENV}, or neither"),
                });
            }
            (None, None) => {}
        }
        let Some(path) = docker_config_path() else {
            return Ok(Credentials::anonymous());
        };
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Credentials::anonymous());
            }
            Err(e) => {
                return Err(RegistryError::Credentials {
                    registry: host.to_string(),
                    detail: format!("cannot read {}: {e}", path.display()),
                });
            }
        };
        from_docker_config(host, &path, &bytes)
    }
}

/// The shape of docker's `config.json` as `docker_credential` reads it; parsed here first so
/// that an error names the line and column (serde's messages would quote the content).
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConfigShape {
    #[allow(dead_code)]
    auths: Option<HashMap<String, AuthShape>>,
    creds_store: Option<String>,
    cred_helpers: Option<HashMap<String, String>>,
}

#[allow(dead_code)]
#[derive(serde::Deserialize)]
struct AuthShape {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
    identitytoken: Option<String>,
}

/// Where in `path` it stops being a docker config, without its content.
fn config_error(path: &Path, e: &serde_json::Error) -> String {
    let what = match e.classify() {
        serde_json::error::Category::Data => "is not a docker config",
        _ => "is not valid JSON",
    };
    format!(
        "{} {what} at line {}, column {} (the content is not shown: it may hold credentials)",
        path.display(),
        e.line(),
        e.column()
    )
}

fn from_docker_config(host: &str, path: &Path, bytes: &[u8]) -> Result<Credentials, RegistryError> {
    let err = |detail: String| RegistryError::Credentials {
        registry: host.to_string(),
        detail,
    };
    let shape: ConfigShape =
        serde_json::from_slice(bytes).map_err(|e| err(config_error(path, &e)))?;
    let helper = shape
        .cred_helpers
        .as_ref()
        .and_then(|h| h.get(host))
        .or(shape.creds_store.as_ref())
        .map(|h| format!("docker-credential-{h}"))
        .unwrap_or_else(|| "docker-credential-…".to_string());
    let source = || Source::DockerConfig(path.to_path_buf());
    match docker_credential::get_credential_from_reader(bytes, host) {
        Ok(DockerCredential::UsernamePassword(user, password)) => {
            Ok(Credentials::basic(&user, &password, source()))
        }
        Ok(DockerCredential::IdentityToken(token)) => Ok(Credentials {
            auth: RegistryAuth::Bearer(token),
            source: source(),
        }),
        Err(CredentialRetrievalError::NoCredentialConfigured) => Ok(Credentials::anonymous()),
        // Helpers answer "credentials not found" with a failure exit code.
        Err(CredentialRetrievalError::HelperFailure {
            helper,
            stdout,
            stderr,
        }) => {
            let text = format!("{stdout}{stderr}").to_lowercase();
            if text.contains("not found") {
                Ok(Credentials::anonymous())
            } else {
                // The helper's output is not repeated: it is not ours to print.
                Err(err(format!(
                    "credential helper `{helper}` failed (configured in {})",
                    path.display()
                )))
            }
        }
        Err(CredentialRetrievalError::MalformedHelperResponse) => Err(err(format!(
            "credential helper `{helper}` (configured in {}) did not answer with its JSON \
             (Username, Secret); its output is not shown",
            path.display()
        ))),
        Err(CredentialRetrievalError::HelperCommunicationError) => Err(err(format!(
            "cannot run the credential helper `{helper}` configured in {}",
            path.display()
        ))),
        Err(CredentialRetrievalError::ConfigReadError) => {
            Err(err(format!("{} is not a docker config", path.display())))
        }
        Err(CredentialRetrievalError::CredentialDecodingError) => Err(err(format!(
            "{}: the `auth` of {host} is not base64 of `user:password`",
            path.display()
        ))),
        Err(other) => Err(err(format!("{}: {other}", path.display()))),
    }
}

/// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
pub fn docker_config_path() -> Option<PathBuf> {
    std::env::var_os("DOCKER_CONFIG")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker")))
        .map(|d| d.join("config.json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_password() {
        let c = Credentials::basic("me", "s3cr3t-value", Source::Env);
        let text = format!("{c:?}");
        assert!(!text.contains("s3cr3t-value"), "{text}");
        assert!(text.contains("me"), "{text}");
    }

    #[test]
    fn a_malformed_config_names_line_and_column_but_not_the_content() {
        let secret = "bW9ub3NoaXAtdW5pdC1zZWNyZXQ=";
        let path = Path::new("/tmp/docker/config.json");
        for text in [
            format!("{{\n  \"auths\": {{\n    \"r.io\": {{\"auth\": \"{secret}\"\n}}"),
            format!("{{\"auths\": {{\"r.io\": {{\"auth\": [\"{secret}\"]}}}}}}"),
            format!("{{\"auths\": {{\"r.io\": \"{secret}\"}}}}"),
        ] {
            let e = from_docker_config("r.io", path, text.as_bytes()).unwrap_err();
            let shown = e.to_string();
            assert!(e.is_usage(), "{shown}");
            assert!(!shown.contains(secret), "{shown}");
            assert!(shown.contains("/tmp/docker/config.json"), "{shown}");
            assert!(
                shown.contains("line ") && shown.contains("column "),
                "{shown}"
            );
        }
    }
}
