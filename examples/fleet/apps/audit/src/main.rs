//! Audit trail.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

const SERVICE: &str = "audit";
const VERSION: &str = env!("CARGO_PKG_VERSION");

struct AppState {
    pool: db::Pool,
    bus: events::Bus,
}

type Reply = (StatusCode, Json<Value>);

fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/audit", get(list).post(record))
        .with_state(state)
}

#[derive(Deserialize)]
struct Entry {
    actor: String,
    action: String,
}

async fn record(State(state): State<Arc<AppState>>, Json(entry): Json<Entry>) -> Reply {
    let conn = match state.pool.get() {
        Ok(conn) => conn,
        Err(err) => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "error": err.to_string() })),
            )
        }
    };
    let doc = json!({ "actor": entry.actor, "action": entry.action });
    let event = match state.bus.publish("audit.recorded", doc) {
        Ok(event) => event,
        Err(err) => {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({ "error": err.to_string() })),
            )
        }
    };
    let key = format!("{:012}", event.seq);
    let row = conn.put(
        "entries",
        &key,
        json!({ "seq": event.seq, "at_ms": event.at_ms, "entry": event.payload }),
    );
    (StatusCode::CREATED, Json(row.doc))
}

async fn list(State(state): State<Arc<AppState>>) -> Reply {
    match state.pool.get() {
        Ok(conn) => {
            let rows: Vec<Value> = conn.scan("entries").into_iter().map(|r| r.doc).collect();
            (StatusCode::OK, Json(json!({ "entries": rows })))
        }
        Err(err) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "error": err.to_string() })),
        ),
    }
}

fn main() -> std::io::Result<()> {
    let state = AppState {
        pool: db::Pool::from_env(SERVICE),
        bus: events::Bus::new(SERVICE),
    };
    common::run(SERVICE, VERSION, router(Arc::new(state)))
}
