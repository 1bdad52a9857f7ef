//! `GET /health` against a service started by a test.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// `GET /health` on 127.0.0.1:port, retried for up to 20 s while the container starts.
pub fn health(port: u16) -> Result<String, String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let attempt = (|| -> std::io::Result<String> {
            let mut s = TcpStream::connect(("127.0.0.1", port))?;
            s.set_read_timeout(Some(Duration::from_secs(5)))?;
            s.write_all(b"GET /health HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
            let mut text = String::new();
            s.read_to_string(&mut text)?;
            Ok(text)
        })();
        match attempt {
            Ok(text) if text.starts_with("HTTP/1.0 200") || text.starts_with("HTTP/1.1 200") => {
                return Ok(text.split("\r\n\r\n").nth(1).unwrap_or("").to_string());
            }
            Ok(text) if Instant::now() > deadline => {
                return Err(format!("unexpected reply: {text}"));
            }
            Err(e) if Instant::now() > deadline => {
                return Err(format!("no reply on port {port}: {e}"));
            }
            _ => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}
