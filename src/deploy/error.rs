//! Errors of the deploy stage, and how Kubernetes API errors become one readable line.

/// What can stop `deploy`, `rollback` (and the commands reading rollouts) before or while they
/// talk to the cluster.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// Bad input: flags, references, configuration (exit code 2).
    #[error(transparent)]
    Invalid(#[from] crate::invalid::Invalid),
    #[error("cannot reach the Kubernetes API server{}: {message}", at(server))]
    Unreachable {
        server: Option<String>,
        message: String,
    },
    #[error("namespace `{0}` does not exist")]
    NamespaceNotFound(String),
    #[error(
        "deployment `{name}` not found in namespace `{namespace}`: create it first \
         (`monoship generate k8s` writes manifests to apply) or deploy full manifests with \
         `--manifests DIR`"
    )]
    DeploymentNotFound { namespace: String, name: String },
    /// RBAC said no; the message is the API server's, from "forbidden:" on.
    #[error("{0}")]
    Forbidden(String),
    /// The API server did not accept the credentials (401).
    #[error("{0}")]
    Unauthorized(String),
    /// The object changed between reading and patching it (HTTP 409).
    #[error("{0}")]
    Conflict(String),
    /// A server-side apply would take fields another field manager owns (without
    /// `--force-conflicts`).
    #[error("{0}")]
    FieldConflict(String),
    /// Another run is deploying the service, or a rollout monoship did not start is in
    /// progress; nothing was changed (exit code 3).
    #[error("{0}")]
    Busy(String),
    #[error("{0}")]
    Api(String),
}

fn at(server: &Option<String>) -> String {
    server
        .as_deref()
        .map(|s| format!(" at {s}"))
        .unwrap_or_default()
}

impl DeployError {
    /// A usage or configuration error (exit code 2) rather than a failure (exit code 1).
    pub fn is_usage(&self) -> bool {
        matches!(self, DeployError::Invalid(_))
    }

    /// Another run holds the service, or a change monoship did not make is in progress; nothing
    /// was changed (exit code 3).
    pub fn is_busy(&self) -> bool {
        matches!(self, DeployError::Busy(_))
    }

    /// The API server cannot be reached (exit code 6).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, DeployError::Unreachable { .. })
    }

    /// The API server refused the credentials or denied an operation (exit code 7).
    pub fn is_denied(&self) -> bool {
        matches!(
            self,
            DeployError::Forbidden(_) | DeployError::Unauthorized(_)
        )
    }

    /// From a Kubernetes client error, `what` saying what was being done ("patching
    /// deployment users"). Forbidden, not-found and transport errors get their own variants.
    pub fn from_kube(e: kube::Error, what: &str) -> DeployError {
        match e {
            kube::Error::Api(status) => {
                let message = status.message.clone();
                match status.code {
                    403 => DeployError::Forbidden(forbidden_line(&message)),
                    401 => DeployError::Unauthorized(format!("{what}: {message}")),
                    409 => DeployError::Conflict(format!("{what}: {message}")),
                    _ if message.is_empty() => {
                        DeployError::Api(format!("{what}: HTTP {} {}", status.code, status.reason))
                    }
                    _ => DeployError::Api(format!("{what}: {message}")),
                }
            }
            e if is_transport(&e) => DeployError::Unreachable {
                server: None,
                message: one_line(&e.to_string()),
            },
            e => DeployError::Api(format!("{what}: {}", one_line(&e.to_string()))),
        }
    }
}

/// A transport error (connection refused, TLS, timeout) rather than an answer of the server.
pub fn is_transport(e: &kube::Error) -> bool {
    matches!(
        e,
        kube::Error::HyperError(_) | kube::Error::Service(_) | kube::Error::RustlsTls(_)
    )
}

/// The API server will not let us (401, 403): retrying cannot help.
pub fn is_denied(e: &kube::Error) -> bool {
    matches!(status_code(e), Some(401 | 403))
}

/// An error worth retrying: no answer, or 429 / 5xx (an API server starting or overloaded).
pub fn is_transient(e: &kube::Error) -> bool {
    is_transport(e) || matches!(status_code(e), Some(429 | 500..=504))
}

/// How long [`with_retries`] keeps retrying.
pub const RETRY_FOR: std::time::Duration = std::time::Duration::from_secs(60);

/// Run `op`, again while it fails with a transient error, for up to [`RETRY_FOR`] (back-off
/// from 250 ms to 2 s): an API server restarting in the middle of a deploy must not fail it.
pub async fn with_retries<T, Fut>(mut op: impl FnMut() -> Fut) -> Result<T, kube::Error>
where
    Fut: std::future::Future<Output = Result<T, kube::Error>>,
{
    let start = std::time::Instant::now();
    let mut delay = std::time::Duration::from_millis(250);
    loop {
        match op().await {
            Err(e) if is_transient(&e) && start.elapsed() < RETRY_FOR => {
                tracing::debug!("retrying after a transient error: {e}");
                tokio::time::sleep(delay).await;
                delay = delay
                    .saturating_mul(2)
                    .min(std::time::Duration::from_secs(2));
            }
            other => return other,
        }
    }
}

/// The HTTP status code of an API error, if the server answered.
pub fn status_code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}

/// `deployments.apps "users" is forbidden: User "x" cannot patch resource …` →
/// `forbidden: User "x" cannot patch resource …`.
pub fn forbidden_line(message: &str) -> String {
    match message.find("forbidden: ") {
        Some(i) => one_line(&message[i..]),
        None if message.is_empty() => "forbidden".to_string(),
        None => format!("forbidden: {}", one_line(message)),
    }
}

/// Errors of the client carry their source chain on several lines; keep one.
pub fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forbidden_message_starts_at_forbidden() {
        let m = "deployments.apps \"users\" is forbidden: User \"system:serviceaccount:a:b\" \
                 cannot patch resource \"deployments\" in API group \"apps\" in the namespace \"a\"";
        let line = forbidden_line(m);
        assert!(line.starts_with("forbidden: User"), "{line}");
        assert!(
            line.contains("cannot patch resource \"deployments\""),
            "{line}"
        );
    }

    #[test]
    fn missing_deployment_names_the_ways_out() {
        let e = DeployError::DeploymentNotFound {
            namespace: "shop".into(),
            name: "users".into(),
        }
        .to_string();
        assert!(
            e.contains("--manifests") && e.contains("monoship generate k8s"),
            "{e}"
        );
    }
}
