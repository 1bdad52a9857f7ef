//! Stock levels per SKU.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

const SERVICE: &str = "inventory";
const VERSION: &str = env!("CARGO_PKG_VERSION");

const SEED: &[(&str, u32)] = &[("sku-espresso", 12), ("sku-grinder", 4), ("sku-kettle", 0)];

fn router(pool: db::Pool) -> Router {
    Router::new()
        .route("/stock", get(all_stock))
        .route("/stock/{sku}", get(stock))
        .with_state(pool)
}

async fn all_stock(State(pool): State<db::Pool>) -> (StatusCode, Json<Value>) {
    match pool.get() {
        Ok(conn) => {
            let rows: Vec<Value> = conn.scan("stock").into_iter().map(|r| r.doc).collect();
            (StatusCode::OK, Json(json!(rows)))
        }
        Err(err) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "error": err.to_string() })),
        ),
    }
}

async fn stock(State(pool): State<db::Pool>, Path(sku): Path<String>) -> (StatusCode, Json<Value>) {
    let conn = match pool.get() {
        Ok(conn) => conn,
        Err(err) => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "error": err.to_string() })),
            )
        }
    };
    match conn.get("stock", &sku) {
        Some(row) => (StatusCode::OK, Json(row.doc)),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": "unknown sku" })),
        ),
    }
}

fn main() -> std::io::Result<()> {
    let pool = db::Pool::connect(&config::Settings::from_env(SERVICE));
    {
        let conn = pool.get().expect("a fresh pool has connections");
        for (sku, on_hand) in SEED {
            conn.put("stock", sku, json!({ "sku": sku, "on_hand": on_hand }));
        }
    }
    common::run(SERVICE, VERSION, router(pool))
}
