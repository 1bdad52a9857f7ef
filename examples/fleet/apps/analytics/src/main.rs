//! Counts tracked events. Built with `common/verbose`: every request is logged.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

const SERVICE: &str = "analytics";
const VERSION: &str = env!("CARGO_PKG_VERSION");

fn router(metrics: Arc<telemetry::Metrics>) -> Router {
    Router::new()
        .route("/track/{event}", post(track))
        .route(
            "/stats",
            get(|State(m): State<Arc<telemetry::Metrics>>| async move { m.render() }),
        )
        .with_state(metrics)
}

async fn track(
    State(metrics): State<Arc<telemetry::Metrics>>,
    Path(event): Path<String>,
) -> (StatusCode, Json<Value>) {
    if !events::is_known(&event) {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": "unknown event", "known": events::EVENT_NAMES })),
        );
    }
    let count = metrics.incr(&event);
    (
        StatusCode::ACCEPTED,
        Json(json!({ "event": event, "count": count })),
    )
}

fn main() -> std::io::Result<()> {
    common::run(
        SERVICE,
        VERSION,
        router(Arc::new(telemetry::Metrics::new(SERVICE))),
    )
}
