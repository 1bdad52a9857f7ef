//! Invoices.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

const SERVICE: &str = "billing";
const VERSION: &str = env!("CARGO_PKG_VERSION");

struct AppState {
    pool: db::Pool,
    verifier: auth_client::Verifier,
}

type Reply = (StatusCode, Json<Value>);

fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/invoices", get(list).post(issue))
        .with_state(state)
}

#[derive(Deserialize)]
struct NewInvoice {
    customer: String,
    amount_cents: u64,
}

async fn issue(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Json(new): Json<NewInvoice>,
) -> Reply {
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
    let number = format!("INV-{:05}", conn.count("invoices") + 1);
    let invoice =
        json!({ "number": number, "customer": new.customer, "amount_cents": new.amount_cents });
    conn.put("invoices", &number, invoice.clone());
    (StatusCode::CREATED, Json(invoice))
}

async fn list(State(state): State<Arc<AppState>>) -> Reply {
    match state.pool.get() {
        Ok(conn) => {
            let rows: Vec<Value> = conn.scan("invoices").into_iter().map(|r| r.doc).collect();
            (StatusCode::OK, Json(json!({ "invoices": rows })))
        }
        Err(err) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "error": err.to_string() })),
        ),
    }
}

fn main() -> std::io::Result<()> {
    let settings = config::Settings::from_env(SERVICE);
    let state = AppState {
        pool: db::Pool::connect(&settings),
        verifier: auth_client::Verifier::from_settings(&settings),
    };
    common::run(SERVICE, VERSION, router(Arc::new(state)))
}
