//! Connecting to Kubernetes like kubectl does: `--kubeconfig`, then `$KUBECONFIG`, then
//! `~/.kube/config`, then the in-cluster service account; `--context` picks a context.

use kube::config::{KubeConfigOptions, Kubeconfig};
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("kubeconfig {path}: {message}")]
    Kubeconfig { path: String, message: String },
    #[error("no Kubernetes configuration: {0} (pass --kubeconfig or set KUBECONFIG)")]
    NoConfig(String),
    #[error("Kubernetes client: {0}")]
    Client(String),
}

#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
}

/// A connected client and the namespace the chosen context names (or `default`).
pub struct Connection {
    pub client: kube::Client,
    pub namespace: String,
    /// The API server URL, for messages.
    pub server: String,
}

pub async fn connect(opts: &ConnectOptions) -> Result<Connection, ConnectError> {
    let kc_opts = KubeConfigOptions {
        context: opts.context.clone(),
        ..Default::default()
    };
    let config = match &opts.kubeconfig {
        Some(path) => {
            let kc = Kubeconfig::read_from(path).map_err(|e| ConnectError::Kubeconfig {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
            kube::Config::from_custom_kubeconfig(kc, &kc_opts)
                .await
                .map_err(|e| ConnectError::Kubeconfig {
                    path: path.display().to_string(),
                    message: e.to_string(),
                })?
        }
        None if opts.context.is_some() => kube::Config::from_kubeconfig(&kc_opts)
            .await
            .map_err(|e| ConnectError::NoConfig(e.to_string()))?,
        None => kube::Config::infer()
            .await
            .map_err(|e| ConnectError::NoConfig(e.to_string()))?,
    };
    let namespace = config.default_namespace.clone();
    let server = config.cluster_url.to_string();
    // The registry client and kube link rustls with different crypto backends between them,
    // so rustls cannot pick one by itself: use ring, which kube is built with.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = kube::Client::try_from(config).map_err(|e| ConnectError::Client(e.to_string()))?;
    Ok(Connection {
        client,
        namespace,
        server,
    })
}
