//! Periodic job table.

use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

const SERVICE: &str = "scheduler";
const VERSION: &str = env!("CARGO_PKG_VERSION");

const JOBS: &[(&str, &str, u64)] = &[
    ("reports-daily", "reports", 86_400),
    ("billing-run", "billing", 3_600),
    ("search-reindex", "search", 900),
];

/// The job table; outside production every job runs ten times as often.
fn jobs(settings: &config::Settings) -> Value {
    let speedup = if settings.is_production() { 1 } else { 10 };
    let jobs: Vec<Value> = JOBS
        .iter()
        .map(|(name, target, every)| json!({ "name": name, "target": target, "every_secs": every / speedup }))
        .collect();
    json!({ "environment": settings.environment, "jobs": jobs })
}

fn router(settings: config::Settings) -> Router {
    let table = jobs(&settings);
    Router::new().route("/jobs", get(move || async move { Json(table) }))
}

fn main() -> std::io::Result<()> {
    common::run(
        SERVICE,
        VERSION,
        router(config::Settings::from_env(SERVICE)),
    )
}
