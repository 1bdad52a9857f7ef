//! Outgoing e-mail queue.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

const SERVICE: &str = "email";
const VERSION: &str = env!("CARGO_PKG_VERSION");

fn router(bus: events::Bus) -> Router {
    Router::new()
        .route("/send", post(send))
        .route(
            "/outbox",
            get(|State(bus): State<events::Bus>| async move { Json(bus.recent("email.")) }),
        )
        .with_state(bus)
}

#[derive(Deserialize)]
struct Mail {
    to: String,
    subject: String,
}

async fn send(State(bus): State<events::Bus>, Json(mail): Json<Mail>) -> (StatusCode, Json<Value>) {
    if !mail.to.contains('@') {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({ "error": "bad address" })),
        );
    }
    match bus.publish(
        "email.sent",
        json!({ "to": mail.to, "subject": mail.subject }),
    ) {
        Ok(event) => (StatusCode::ACCEPTED, Json(json!({ "seq": event.seq }))),
        Err(err) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({ "error": err.to_string() })),
        ),
    }
}

fn main() -> std::io::Result<()> {
    common::run(SERVICE, VERSION, router(events::Bus::new(SERVICE)))
}
