//! The orders API over real HTTP.

use std::sync::Arc;

use orders::{router, AppState, SERVICE, VERSION};
use serde_json::json;
use testkit::TestServer;

#[tokio::test]
async fn health_names_the_service() {
    let state = Arc::new(AppState::new(&testkit::settings(SERVICE)));
    let server = TestServer::start(SERVICE, VERSION, router(state)).await;
    let res = server.get("/health").await;
    assert_eq!(res.status, 200);
    assert!(res
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));
    testkit::assert_health(&res.json(), SERVICE, VERSION);
}

#[tokio::test]
async fn placed_orders_get_a_uuid_and_an_event() {
    let settings = testkit::settings(SERVICE);
    let token = auth_client::Verifier::from_settings(&settings).issue("ada");
    let state = Arc::new(AppState::new(&settings));
    let server = TestServer::start(SERVICE, VERSION, router(state.clone())).await;

    let order = json!({ "item": "espresso-machine", "quantity": 1 });
    assert_eq!(server.post_json("/orders", &order, None).await.status, 401);

    let created = server.post_json("/orders", &order, Some(&token)).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let body = created.json();
    let id = body["id"].as_str().unwrap();
    assert_eq!(id.len(), 36, "a hyphenated UUID: {id}");
    assert_eq!(body["customer"], "ada");

    let fetched = server.get(&format!("/orders/{id}")).await;
    assert_eq!((fetched.status, fetched.json()), (200, body.clone()));

    let announced = state.bus().recent("order.");
    assert_eq!(announced.len(), 1);
    assert_eq!(announced[0].payload, body);

    assert_eq!(server.get("/orders/not-a-uuid").await.status, 400);
    let unknown = "00000000-0000-4000-8000-000000000000";
    assert_eq!(server.get(&format!("/orders/{unknown}")).await.status, 404);
}

#[tokio::test]
async fn empty_orders_are_refused() {
    let settings = testkit::settings(SERVICE);
    let token = auth_client::Verifier::from_settings(&settings).issue("ada");
    let server =
        TestServer::start(SERVICE, VERSION, router(Arc::new(AppState::new(&settings)))).await;
    let order = json!({ "item": "nothing", "quantity": 0 });
    assert_eq!(
        server
            .post_json("/orders", &order, Some(&token))
            .await
            .status,
        422
    );
}
