//! Connecting to Kubernetes like kubectl does: `--kubeconfig`, then `$KUBECONFIG`, then
//! `~/.kube/config`, then the in-cluster service account; `--context` picks a context.
//!
//! Errors about a kubeconfig name the file, line and column, never its content.

mod kubeconfig;

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
    #[error("{0}")]
    ClientCertificate(String),
}

impl ConnectError {
    /// A configuration problem (exit code 2); only the client failing to start is not.
    pub fn is_usage(&self) -> bool {
        !matches!(self, ConnectError::Client(_))
    }
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
            let kc = Kubeconfig::read_from(path).map_err(|e| kubeconfig::error(path, e))?;
            kube::Config::from_custom_kubeconfig(kc, &kc_opts)
                .await
                .map_err(|e| kubeconfig::error(path, e))?
        }
        None => {
            // kube's own errors would quote a malformed file: parse each one first.
            for path in kubeconfig::default_files() {
                kubeconfig::check_file(&path)?;
            }
            if opts.context.is_some() {
                kube::Config::from_kubeconfig(&kc_opts)
                    .await
                    .map_err(|e| ConnectError::NoConfig(e.to_string()))?
            } else {
                kube::Config::infer()
                    .await
                    .map_err(|e| ConnectError::NoConfig(e.to_string()))?
            }
        }
    };
    kubeconfig::check_client_certificate(&config.auth_info)?;
    let namespace = config.default_namespace.clone();
    let server = config.cluster_url.to_string();
    crate::use_ring();
    let plugin = config
        .auth_info
        .exec
        .as_ref()
        .and_then(|x| x.command.clone());
    let client = kube::Client::try_from(config).map_err(|e| kubeconfig::client_error(e, plugin))?;
    Ok(Connection {
        client,
        namespace,
        server,
    })
}

/// Whether the API server of `kubeconfig` answers (its version) within `within`.
pub async fn answers(kubeconfig: &std::path::Path, within: std::time::Duration) -> bool {
    let Ok(conn) = connect(&ConnectOptions {
        kubeconfig: Some(kubeconfig.to_path_buf()),
        context: None,
    })
    .await
    else {
        return false;
    };
    matches!(
        tokio::time::timeout(within, conn.client.apiserver_version()).await,
        Ok(Ok(_))
    )
}
