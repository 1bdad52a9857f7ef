//! Edge gateway: serves the route table and checks bearer tokens.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

const SERVICE: &str = "gateway";
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The route table, shared with the deployment config outside this package.
const ROUTES: &str = include_str!("../../../config/routes.json");

struct AppState {
    settings: config::Settings,
    verifier: auth_client::Verifier,
    metrics: telemetry::Metrics,
}

fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/routes", get(routes))
        .route("/whoami", get(whoami))
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn routes(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    state.metrics.incr("routes");
    ([(header::CONTENT_TYPE, "application/json")], ROUTES)
}

async fn whoami(State(state): State<Arc<AppState>>, headers: HeaderMap) -> impl IntoResponse {
    state.metrics.incr("whoami");
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match state.verifier.verify_header(auth) {
        Ok(claims) => (
            StatusCode::OK,
            Json(json!({
                "subject": claims.subject,
                "issuer": claims.issuer,
                "environment": state.settings.environment,
            })),
        ),
        Err(err) => {
            eprintln!("{}", telemetry::log_line(SERVICE, "GET", "/whoami", 401));
            (
                StatusCode::UNAUTHORIZED,
                Json(json!({ "error": err.to_string() })),
            )
        }
    }
}

async fn metrics(State(state): State<Arc<AppState>>) -> String {
    state.metrics.render()
}

fn main() -> std::io::Result<()> {
    let settings = config::Settings::from_env(SERVICE);
    let state = Arc::new(AppState {
        verifier: auth_client::Verifier::from_settings(&settings),
        metrics: telemetry::Metrics::new(SERVICE),
        settings,
    });
    common::run(SERVICE, VERSION, router(state))
}
