//! What every service of the market shares: its name, the port it listens on, a log line.

/// The service's port: `PORT` from the environment, else `default`.
pub fn port(default: u16) -> u16 {
    std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(default)
}

/// One log line, prefixed with the service's name.
pub fn log(service: &str, message: &str) {
    println!("[{service}] {message}");
}
