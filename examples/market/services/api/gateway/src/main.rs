//! The edge gateway: routes requests to the other services.

fn main() {
    let port = shared::port(8080);
    shared::log("gateway", &format!("listening on {port}, routes from /etc/gateway.toml"));
}
