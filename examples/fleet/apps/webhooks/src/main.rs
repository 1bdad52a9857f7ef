//! Outgoing webhook deliveries.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

const SERVICE: &str = "webhooks";
const VERSION: &str = env!("CARGO_PKG_VERSION");

fn router(bus: events::Bus) -> Router {
    Router::new()
        .route(
            "/webhooks/events",
            get(|| async { Json(events::EVENT_NAMES) }),
        )
        .route("/webhooks/{event}", post(deliver))
        .with_state(bus)
}

#[derive(Deserialize)]
struct Delivery {
    url: String,
}

async fn deliver(
    State(bus): State<events::Bus>,
    Path(event): Path<String>,
    Json(delivery): Json<Delivery>,
) -> (StatusCode, Json<Value>) {
    if !events::is_known(&event) {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": "unknown event" })),
        );
    }
    match bus.publish(
        "webhook.delivered",
        json!({ "event": event, "url": delivery.url }),
    ) {
        Ok(sent) => (StatusCode::ACCEPTED, Json(json!({ "seq": sent.seq }))),
        Err(err) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({ "error": err.to_string() })),
        ),
    }
}

fn main() -> std::io::Result<()> {
    common::run(SERVICE, VERSION, router(events::Bus::new(SERVICE)))
}
