//! Types and helpers shared by every fleet service.
//!
//! Every service builds an [`axum::Router`] with its own routes and hands it to
//! [`run`], which starts the runtime, adds `GET /health`, binds `0.0.0.0:$PORT` and
//! shuts down gracefully on SIGTERM or Ctrl-C.
//!
//! The runtime, the HTTP server and the shutdown handling are compiled here, once for
//! the whole workspace: a service's `main` is an ordinary function that calls [`run`],
//! so its own crate only compiles its routes.

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use tokio::net::TcpListener;

/// Port used when `PORT` is unset or invalid.
pub const DEFAULT_PORT: u16 = 9100;

/// Whether this build of `common` has the `verbose` feature enabled.
pub const VERBOSE: bool = cfg!(feature = "verbose");

/// Body of `GET /health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Health {
    pub service: String,
    pub version: String,
    /// Present only in builds with the `verbose` feature.
    #[cfg(feature = "verbose")]
    pub verbose: bool,
}

impl Health {
    pub fn new(service: &str, version: &str) -> Self {
        Health {
            service: service.to_owned(),
            version: version.to_owned(),
            #[cfg(feature = "verbose")]
            verbose: true,
        }
    }
}

/// The health document of `service` at `version`, as JSON.
pub fn health(service: &str, version: &str) -> serde_json::Value {
    serde_json::to_value(Health::new(service, version)).expect("Health serialises")
}

/// The listening port: `PORT` from the environment, else [`DEFAULT_PORT`].
pub fn port_from_env() -> u16 {
    parse_port(std::env::var("PORT").ok().as_deref())
}

fn parse_port(raw: Option<&str>) -> u16 {
    raw.and_then(|s| s.trim().parse().ok())
        .unwrap_or(DEFAULT_PORT)
}

/// The value of the environment variable `key`, or `default` when unset or empty.
pub fn env_or(key: &str, default: &str) -> String {
    match std::env::var(key) {
        Ok(v) if !v.is_empty() => v,
        _ => default.to_owned(),
    }
}

/// Milliseconds since the Unix epoch.
pub fn unix_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// `router` plus `GET /health` (and, with `verbose`, request logging).
pub fn app(service: &'static str, version: &'static str, router: Router) -> Router {
    let app = router.route(
        "/health",
        get(move || async move { Json(health(service, version)) }),
    );
    #[cfg(feature = "verbose")]
    let app = app.layer(axum::middleware::from_fn(log_request));
    app
}

#[cfg(feature = "verbose")]
async fn log_request(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let line = format!("{} {}", req.method(), req.uri());
    let res = next.run(req).await;
    eprintln!("{line} -> {}", res.status().as_u16());
    res
}

/// Start a single-threaded runtime and [`serve`] `router` on it until SIGTERM or Ctrl-C.
pub fn run(service: &'static str, version: &'static str, router: Router) -> std::io::Result<()> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(serve(service, version, router))
}

/// Serve `router` (plus `/health`) on `0.0.0.0:$PORT` until SIGTERM or Ctrl-C.
pub async fn serve(
    service: &'static str,
    version: &'static str,
    router: Router,
) -> std::io::Result<()> {
    let addr = SocketAddr::from(([0, 0, 0, 0], port_from_env()));
    let listener = TcpListener::bind(addr).await?;
    eprintln!(
        "{service} {version} listening on {}",
        listener.local_addr()?
    );
    axum::serve(listener, app(service, version, router))
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    eprintln!("{service} stopped");
    Ok(())
}

/// Resolves on SIGTERM (Unix) or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_defaults_and_parses() {
        assert_eq!(parse_port(None), DEFAULT_PORT);
        assert_eq!(parse_port(Some("nope")), DEFAULT_PORT);
        assert_eq!(parse_port(Some("8080")), 8080);
    }

    #[test]
    fn health_names_service_and_version() {
        let h = health("users", "1.2.3");
        assert_eq!(h["service"], "users");
        assert_eq!(h["version"], "1.2.3");
        assert_eq!(h.get("verbose").is_some(), VERBOSE);
    }
}
