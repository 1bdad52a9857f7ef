//! User accounts.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

const SERVICE: &str = "users";
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Schema migrations, in the order they apply.
const MIGRATIONS: &[(&str, &str)] = &[
    ("0001_init.sql", include_str!("../migrations/0001_init.sql")),
    (
        "0002_add_email.sql",
        include_str!("../migrations/0002_add_email.sql"),
    ),
];

struct AppState {
    pool: db::Pool,
    verifier: auth_client::Verifier,
    metrics: telemetry::Metrics,
}

type Reply = (StatusCode, Json<Value>);

impl AppState {
    fn new(settings: &config::Settings) -> Self {
        let state = AppState {
            pool: db::Pool::connect(settings),
            verifier: auth_client::Verifier::from_settings(settings),
            metrics: telemetry::Metrics::new(SERVICE),
        };
        state.migrate();
        state
    }

    /// Records every migration in `schema_migrations`.
    fn migrate(&self) {
        let conn = self.pool.get().expect("a fresh pool has connections");
        for (name, sql) in MIGRATIONS {
            let statements = sql.matches(';').count();
            conn.put(
                "schema_migrations",
                name,
                json!({ "statements": statements }),
            );
        }
    }
}

fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/migrations", get(migrations))
        .route("/users", post(create_user))
        .route("/users/{id}", get(get_user))
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn migrations(State(state): State<Arc<AppState>>) -> Reply {
    state.metrics.incr("migrations");
    let conn = match state.pool.get() {
        Ok(conn) => conn,
        Err(err) => return unavailable(err),
    };
    let names: Vec<String> = conn
        .scan("schema_migrations")
        .into_iter()
        .map(|row| row.key)
        .collect();
    (
        StatusCode::OK,
        Json(json!({ "count": names.len(), "names": names })),
    )
}

#[derive(Deserialize)]
struct NewUser {
    name: String,
    email: Option<String>,
}

async fn create_user(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Json(new): Json<NewUser>,
) -> Reply {
    state.metrics.incr("create_user");
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let claims = match state.verifier.verify_header(auth) {
        Ok(claims) => claims,
        Err(err) => {
            return (
                StatusCode::UNAUTHORIZED,
                Json(json!({ "error": err.to_string() })),
            )
        }
    };
    let conn = match state.pool.get() {
        Ok(conn) => conn,
        Err(err) => return unavailable(err),
    };
    let id = format!("u{}", conn.count("users") + 1);
    let doc =
        json!({ "id": id, "name": new.name, "email": new.email, "created_by": claims.subject });
    conn.put("users", &id, doc.clone());
    (StatusCode::CREATED, Json(doc))
}

async fn get_user(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Reply {
    state.metrics.incr("get_user");
    let conn = match state.pool.get() {
        Ok(conn) => conn,
        Err(err) => return unavailable(err),
    };
    match conn.get("users", &id) {
        Some(row) => (StatusCode::OK, Json(row.doc)),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": "no such user" })),
        ),
    }
}

async fn metrics(State(state): State<Arc<AppState>>) -> String {
    state.metrics.render()
}

fn unavailable(err: db::PoolError) -> Reply {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({ "error": err.to_string() })),
    )
}

fn main() -> std::io::Result<()> {
    let settings = config::Settings::from_env(SERVICE);
    common::run(SERVICE, VERSION, router(Arc::new(AppState::new(&settings))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use testkit::TestServer;

    async fn start() -> (TestServer, auth_client::Verifier) {
        let settings = testkit::settings(SERVICE);
        let verifier = auth_client::Verifier::from_settings(&settings);
        let server =
            TestServer::start(SERVICE, VERSION, router(Arc::new(AppState::new(&settings)))).await;
        (server, verifier)
    }

    #[tokio::test]
    async fn health_names_the_service() {
        let (server, _) = start().await;
        let res = server.get("/health").await;
        assert_eq!(res.status, 200);
        testkit::assert_health(&res.json(), SERVICE, VERSION);
    }

    #[tokio::test]
    async fn migrations_are_applied_in_order() {
        let (server, _) = start().await;
        let body = server.get("/migrations").await.json();
        assert_eq!(body["count"], 2);
        assert_eq!(
            body["names"],
            json!(["0001_init.sql", "0002_add_email.sql"])
        );
    }

    #[tokio::test]
    async fn users_need_a_token_and_round_trip() {
        let (server, verifier) = start().await;
        let new = json!({ "name": "Ada", "email": "ada@example.com" });
        assert_eq!(server.post_json("/users", &new, None).await.status, 401);

        let token = verifier.issue("admin");
        let created = server.post_json("/users", &new, Some(&token)).await;
        assert_eq!(created.status, 201);
        let id = created.json()["id"].as_str().unwrap().to_owned();

        let fetched = server.get(&format!("/users/{id}")).await;
        assert_eq!(fetched.status, 200);
        assert_eq!(fetched.json()["email"], "ada@example.com");
        assert_eq!(server.get("/users/nobody").await.status, 404);
    }
}
