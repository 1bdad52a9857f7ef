//! Product catalogue.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

const SERVICE: &str = "catalog";
const VERSION: &str = env!("CARGO_PKG_VERSION");

const PRODUCTS: &[(&str, &str, u64)] = &[
    ("p1", "Espresso machine", 34_900),
    ("p2", "Burr grinder", 12_900),
    ("p3", "Gooseneck kettle", 5_900),
];

fn router(pool: db::Pool) -> Router {
    Router::new()
        .route("/products", get(products))
        .route("/products/{id}", get(product))
        .with_state(pool)
}

async fn products(State(pool): State<db::Pool>) -> (StatusCode, Json<Value>) {
    match pool.get() {
        Ok(conn) => {
            let rows: Vec<Value> = conn.scan("products").into_iter().map(|r| r.doc).collect();
            (StatusCode::OK, Json(json!({ "products": rows })))
        }
        Err(err) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "error": err.to_string() })),
        ),
    }
}

async fn product(
    State(pool): State<db::Pool>,
    Path(id): Path<String>,
) -> (StatusCode, Json<Value>) {
    let conn = match pool.get() {
        Ok(conn) => conn,
        Err(err) => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "error": err.to_string() })),
            )
        }
    };
    match conn.get("products", &id) {
        Some(row) => (StatusCode::OK, Json(row.doc)),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": "no such product" })),
        ),
    }
}

fn main() -> std::io::Result<()> {
    let pool = db::Pool::connect(&config::Settings::from_env(SERVICE));
    {
        let conn = pool.get().expect("a fresh pool has connections");
        for (id, name, price_cents) in PRODUCTS {
            conn.put(
                "products",
                id,
                json!({ "id": id, "name": name, "price_cents": price_cents }),
            );
        }
    }
    common::run(SERVICE, VERSION, router(pool))
}
