//! Media metadata lookups.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

const SERVICE: &str = "media";
const VERSION: &str = env!("CARGO_PKG_VERSION");

fn router(metrics: Arc<telemetry::Metrics>) -> Router {
    Router::new()
        .route("/media/{name}", get(media))
        .route(
            "/metrics",
            get(|State(m): State<Arc<telemetry::Metrics>>| async move { m.render() }),
        )
        .with_state(metrics)
}

fn content_type(name: &str) -> &'static str {
    match name
        .rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase())
        .as_deref()
    {
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("webp") => "image/webp",
        Some("mp4") => "video/mp4",
        _ => "application/octet-stream",
    }
}

async fn media(
    State(metrics): State<Arc<telemetry::Metrics>>,
    Path(name): Path<String>,
) -> Json<Value> {
    let kind = content_type(&name);
    metrics.incr(kind);
    Json(json!({ "name": name, "content_type": kind }))
}

fn main() -> std::io::Result<()> {
    common::run(
        SERVICE,
        VERSION,
        router(Arc::new(telemetry::Metrics::new(SERVICE))),
    )
}
