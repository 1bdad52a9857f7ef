//! Test helpers for the fleet services: run a router on a free loopback port,
//! exactly as `common::serve` would, and talk plain HTTP/1.1 to it.
//!
//! Use from `#[tokio::test]` functions.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use axum::Router;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// Settings for `service` that read nothing from the environment.
pub fn settings(service: &str) -> config::Settings {
    config::Settings::for_tests(service)
}

/// A service running in the current test's runtime; stopped on drop.
#[derive(Debug)]
pub struct TestServer {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl TestServer {
    /// Serves `router` plus the common `/health` route on `127.0.0.1:<free port>`.
    pub async fn start(service: &'static str, version: &'static str, router: Router) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let app = common::app(service, version, router);
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("serve");
        });
        TestServer { addr, task }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub async fn get(&self, path: &str) -> Response {
        self.request("GET", path, None, None).await
    }

    pub async fn post_json(
        &self,
        path: &str,
        body: &serde_json::Value,
        bearer: Option<&str>,
    ) -> Response {
        self.request("POST", path, Some(body.to_string()), bearer)
            .await
    }

    /// Sends one request with `Connection: close` and reads the whole answer.
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        json_body: Option<String>,
        bearer: Option<&str>,
    ) -> Response {
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
            self.addr
        );
        if let Some(token) = bearer {
            head.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        let body = json_body.unwrap_or_default();
        if !body.is_empty() {
            head.push_str("Content-Type: application/json\r\n");
        }
        head.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
        let addr = self.addr;
        tokio::task::spawn_blocking(move || exchange(addr, head.as_bytes()))
            .await
            .expect("request task")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn exchange(addr: SocketAddr, request: &[u8]) -> Response {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.write_all(request).expect("send request");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read response");
    Response::parse(&raw)
}

/// An HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    fn parse(raw: &[u8]) -> Self {
        let text = String::from_utf8_lossy(raw);
        let (head, body) = text.split_once("\r\n\r\n").expect("HTTP response head");
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok())
            .expect("HTTP status line");
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        Response {
            status,
            headers,
            body: body.to_owned(),
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON; panics with the body when it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.body))
    }
}

/// Asserts that `health` is the health document of `service`.
pub fn assert_health(health: &serde_json::Value, service: &str, version: &str) {
    assert_eq!(health["service"], service, "health: {health}");
    assert_eq!(health["version"], version, "health: {health}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;

    #[tokio::test]
    async fn serves_health_and_routes() {
        let router = Router::new().route("/ping", get(|| async { "pong" }));
        let server = TestServer::start("testkit", "0.0.0", router).await;
        let health = server.get("/health").await;
        assert_eq!(health.status, 200);
        assert_health(&health.json(), "testkit", "0.0.0");
        let ping = server.get("/ping").await;
        assert_eq!((ping.status, ping.body.as_str()), (200, "pong"));
        assert_eq!(server.get("/missing").await.status, 404);
    }
}
