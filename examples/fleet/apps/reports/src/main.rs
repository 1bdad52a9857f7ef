//! Daily reports. Built with `common/verbose`: every request is logged.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

const SERVICE: &str = "reports";
const VERSION: &str = env!("CARGO_PKG_VERSION");

struct AppState {
    settings: config::Settings,
    pool: db::Pool,
}

fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/reports/daily", get(daily))
        .route(
            "/reports/db",
            get(|State(s): State<Arc<AppState>>| async move { Json(s.pool.status()) }),
        )
        .with_state(state)
}

async fn daily(State(state): State<Arc<AppState>>) -> (StatusCode, Json<Value>) {
    let conn = match state.pool.get() {
        Ok(conn) => conn,
        Err(err) => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "error": err.to_string() })),
            )
        }
    };
    let generated = conn.count("runs") + 1;
    conn.put(
        "runs",
        &generated.to_string(),
        json!({ "at_ms": common::unix_millis() }),
    );
    (
        StatusCode::OK,
        Json(json!({
            "report": "daily",
            "environment": state.settings.environment,
            "run": generated,
            "verbose": common::VERBOSE,
        })),
    )
}

fn main() -> std::io::Result<()> {
    let settings = config::Settings::from_env(SERVICE);
    let state = AppState {
        pool: db::Pool::connect(&settings),
        settings,
    };
    common::run(SERVICE, VERSION, router(Arc::new(state)))
}
