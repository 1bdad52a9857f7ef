//! Order intake. The router lives in the library so `tests/` can drive it.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

pub const SERVICE: &str = "orders";
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Everything the handlers share.
pub struct AppState {
    pool: db::Pool,
    verifier: auth_client::Verifier,
    metrics: telemetry::Metrics,
    bus: events::Bus,
}

impl AppState {
    pub fn new(settings: &config::Settings) -> Self {
        AppState {
            pool: db::Pool::connect(settings),
            verifier: auth_client::Verifier::from_settings(settings),
            metrics: telemetry::Metrics::new(SERVICE),
            bus: events::Bus::new(SERVICE),
        }
    }

    /// The event bus orders are announced on.
    pub fn bus(&self) -> &events::Bus {
        &self.bus
    }
}

type Reply = (StatusCode, Json<Value>);

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/orders", post(create_order))
        .route("/orders/{id}", get(get_order))
        .route("/metrics", get(metrics))
        .with_state(state)
}

#[derive(Deserialize)]
struct NewOrder {
    item: String,
    quantity: u32,
}

async fn create_order(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Json(new): Json<NewOrder>,
) -> Reply {
    state.metrics.incr("create_order");
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let claims = match state.verifier.verify_header(auth) {
        Ok(claims) => claims,
        Err(err) => return error(StatusCode::UNAUTHORIZED, err),
    };
    if new.quantity == 0 {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "quantity must be positive",
        );
    }
    let conn = match state.pool.get() {
        Ok(conn) => conn,
        Err(err) => return error(StatusCode::SERVICE_UNAVAILABLE, err),
    };
    let id = Uuid::new_v4().to_string();
    let order = json!({
        "id": id,
        "item": new.item,
        "quantity": new.quantity,
        "customer": claims.subject,
    });
    conn.put("orders", &id, order.clone());
    if let Err(err) = state.bus.publish("order.created", order.clone()) {
        return error(StatusCode::INTERNAL_SERVER_ERROR, err);
    }
    (StatusCode::CREATED, Json(order))
}

async fn get_order(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Reply {
    state.metrics.incr("get_order");
    if Uuid::parse_str(&id).is_err() {
        return error(StatusCode::BAD_REQUEST, "order ids are UUIDs");
    }
    let conn = match state.pool.get() {
        Ok(conn) => conn,
        Err(err) => return error(StatusCode::SERVICE_UNAVAILABLE, err),
    };
    match conn.get("orders", &id) {
        Some(row) => (StatusCode::OK, Json(row.doc)),
        None => error(StatusCode::NOT_FOUND, "no such order"),
    }
}

async fn metrics(State(state): State<Arc<AppState>>) -> String {
    state.metrics.render()
}

fn error(status: StatusCode, err: impl ToString) -> Reply {
    (status, Json(json!({ "error": err.to_string() })))
}
