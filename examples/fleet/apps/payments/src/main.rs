//! Payment capture.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

const SERVICE: &str = "payments";
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Payments above this amount are declined.
const LIMIT_CENTS: u64 = 1_000_000;

struct AppState {
    pool: db::Pool,
    verifier: auth_client::Verifier,
    metrics: telemetry::Metrics,
    bus: events::Bus,
}

fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/payments", post(capture))
        .route("/metrics", get(metrics))
        .with_state(state)
}

#[derive(Deserialize)]
struct Capture {
    order_id: String,
    amount_cents: u64,
}

async fn capture(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Json(req): Json<Capture>,
) -> (StatusCode, Json<Value>) {
    state.metrics.incr("capture");
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if let Err(err) = state.verifier.verify_header(auth) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({ "error": err.to_string() })),
        );
    }
    let conn = match state.pool.get() {
        Ok(conn) => conn,
        Err(err) => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "error": err.to_string() })),
            )
        }
    };
    let captured = req.amount_cents > 0 && req.amount_cents <= LIMIT_CENTS;
    let payment = json!({
        "order_id": req.order_id,
        "amount_cents": req.amount_cents,
        "status": if captured { "captured" } else { "failed" },
    });
    conn.put("payments", &req.order_id, payment.clone());
    let event = if captured {
        "payment.captured"
    } else {
        "payment.failed"
    };
    let _ = state.bus.publish(event, payment.clone());
    let status = if captured {
        StatusCode::CREATED
    } else {
        StatusCode::PAYMENT_REQUIRED
    };
    (status, Json(payment))
}

async fn metrics(State(state): State<Arc<AppState>>) -> String {
    state.metrics.render()
}

fn main() -> std::io::Result<()> {
    let settings = config::Settings::from_env(SERVICE);
    let state = AppState {
        pool: db::Pool::connect(&settings),
        verifier: auth_client::Verifier::from_settings(&settings),
        metrics: telemetry::Metrics::new(SERVICE),
        bus: events::Bus::new(SERVICE),
    };
    common::run(SERVICE, VERSION, router(Arc::new(state)))
}
