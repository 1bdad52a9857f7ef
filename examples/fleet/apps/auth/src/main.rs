//! Token issuer settings.

use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

const SERVICE: &str = "auth";
const VERSION: &str = env!("CARGO_PKG_VERSION");

fn router(settings: config::Settings) -> Router {
    let issuer = json!({
        "issuer": settings.auth_issuer,
        "production": settings.is_production(),
    });
    let public = settings.to_json();
    Router::new()
        .route("/issuer", get(move || async move { Json(issuer) }))
        .route("/config", get(move || async move { Json::<Value>(public) }))
}

fn main() -> std::io::Result<()> {
    common::run(
        SERVICE,
        VERSION,
        router(config::Settings::from_env(SERVICE)),
    )
}
