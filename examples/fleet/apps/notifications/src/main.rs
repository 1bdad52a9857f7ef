//! Push notifications.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

const SERVICE: &str = "notifications";
const VERSION: &str = env!("CARGO_PKG_VERSION");

fn router(bus: events::Bus) -> Router {
    Router::new()
        .route("/events", get(|| async { Json(events::EVENT_NAMES) }))
        .route("/notify/{user}", post(notify))
        .with_state(bus)
}

async fn notify(
    State(bus): State<events::Bus>,
    Path(user): Path<String>,
) -> (StatusCode, Json<Value>) {
    match bus.publish("notification.sent", json!({ "user": user })) {
        Ok(event) => (
            StatusCode::ACCEPTED,
            Json(json!({ "seq": event.seq, "user": user })),
        ),
        Err(err) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({ "error": err.to_string() })),
        ),
    }
}

fn main() -> std::io::Result<()> {
    let bus = events::Bus::new(SERVICE);
    bus.subscribe("notification.", |event| {
        eprintln!("push #{} {}", event.seq, event.payload)
    });
    common::run(SERVICE, VERSION, router(bus))
}
