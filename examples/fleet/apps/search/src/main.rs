//! Product search over an in-memory index.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

const SERVICE: &str = "search";
const VERSION: &str = env!("CARGO_PKG_VERSION");

const INDEX: &[&str] = &[
    "Espresso machine",
    "Burr grinder",
    "Gooseneck kettle",
    "Milk frother",
    "Pour-over dripper",
];

fn router(metrics: Arc<telemetry::Metrics>) -> Router {
    Router::new()
        .route("/search/{term}", get(search))
        .route(
            "/metrics",
            get(|State(m): State<Arc<telemetry::Metrics>>| async move { m.render() }),
        )
        .with_state(metrics)
}

async fn search(
    State(metrics): State<Arc<telemetry::Metrics>>,
    Path(term): Path<String>,
) -> Json<Value> {
    let queries = metrics.incr("search");
    let needle = term.to_lowercase();
    let hits: Vec<&str> = INDEX
        .iter()
        .copied()
        .filter(|name| name.to_lowercase().contains(&needle))
        .collect();
    Json(json!({ "term": term, "hits": hits, "queries_served": queries }))
}

fn main() -> std::io::Result<()> {
    common::run(
        SERVICE,
        VERSION,
        router(Arc::new(telemetry::Metrics::new(SERVICE))),
    )
}
