//! `GET /v2/` before any credential is sent: the registry answers in bounded time, a token
//! realm it names is HTTPS (unless the registry itself is allowed plain HTTP), and `--insecure`
//! against a registry that serves only HTTPS is reported as such.

use super::RegistryError;
use std::time::Duration;

/// How long the first request may take: a registry that accepts the connection and never
/// answers fails here instead of after the client's long read timeout.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// The outcome of the probe that the caller must act on.
#[derive(Debug)]
pub enum Probe {
    /// Go on: the registry answered and nothing forbids sending credentials.
    Ok,
    /// The request itself failed (connection, TLS, timeout).
    Failed(reqwest::Error),
}

fn client(accept_invalid_certs: bool) -> Result<reqwest::Client, reqwest::Error> {
    crate::use_ring();
    reqwest::Client::builder()
        .connect_timeout(TIMEOUT)
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .tls_danger_accept_invalid_certs(accept_invalid_certs)
        .user_agent(concat!("monoship/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Probe `host`'s `/v2/` over HTTPS, or plain HTTP when `insecure` (already checked to be a
/// registry on this machine).
pub async fn probe(host: &str, transport: super::Transport) -> Result<Probe, RegistryError> {
    let insecure = transport.is_plain();
    let protocol_error = |detail: String| RegistryError::Protocol {
        registry: host.to_string(),
        detail,
    };
    let scheme = if insecure { "http" } else { "https" };
    let http = client(false).map_err(|e| protocol_error(format!("HTTP client: {e}")))?;
    let response = match http.get(format!("{scheme}://{host}/v2/")).send().await {
        Ok(r) => r,
        Err(e) => {
            if insecure && !e.is_timeout() && serves_https(host).await {
                return Err(https_only(host));
            }
            return Ok(Probe::Failed(e));
        }
    };
    if insecure && response.status() == reqwest::StatusCode::BAD_REQUEST && serves_https(host).await
    {
        return Err(https_only(host));
    }
    not_a_registry(host, &response)?;
    let realm = response
        .headers()
        .get_all(reqwest::header::WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(bearer_realm);
    if let Some(realm) = realm {
        check_realm(host, transport, &realm)?;
    }
    Ok(Probe::Ok)
}

/// A registry answers `/v2/` with 200 or 401; a server error, a 404 or an HTML page is
/// something else (a proxy, a web server, a login page).
fn not_a_registry(host: &str, response: &reqwest::Response) -> Result<(), RegistryError> {
    let status = response.status();
    let html = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("text/html"));
    let page = if html { " (an HTML page)" } else { "" };
    let detail = if status.is_server_error() {
        format!("HTTP {} on GET /v2/{page}", status.as_u16())
    } else if status == reqwest::StatusCode::NOT_FOUND || (status.is_success() && html) {
        format!(
            "not an OCI registry: GET /v2/ answered HTTP {}{page}",
            status.as_u16()
        )
    } else {
        return Ok(());
    };
    Err(RegistryError::Protocol {
        registry: host.to_string(),
        detail,
    })
}

fn https_only(host: &str) -> RegistryError {
    RegistryError::Usage(format!(
        "registry {host} serves HTTPS, not plain HTTP: drop --insecure (to trust a private CA, \
         set SSL_CERT_FILE; see docs/publish.md)"
    ))
}

/// Whether `host` completes a TLS handshake (its certificate is not checked: this request
/// carries nothing and its answer is not used).
async fn serves_https(host: &str) -> bool {
    let Ok(c) = client(true) else {
        return false;
    };
    c.get(format!("https://{host}/v2/")).send().await.is_ok()
}

/// A token realm must be HTTPS: the credentials are sent to it. Plain HTTP only when the
/// registry itself is allowed it (`--insecure`, on this machine).
pub fn check_realm(
    host: &str,
    transport: super::Transport,
    realm: &str,
) -> Result<(), RegistryError> {
    let insecure = transport.is_plain();
    let lower = realm.to_ascii_lowercase();
    if lower.starts_with("https://") || (insecure && lower.starts_with("http://")) {
        return Ok(());
    }
    Err(RegistryError::InsecureRealm {
        registry: host.to_string(),
        realm: realm.to_string(),
    })
}

/// The `realm` of a `Bearer` challenge.
pub fn bearer_realm(header: &str) -> Option<String> {
    let (scheme, params) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    for param in split_params(params) {
        let Some((k, v)) = param.split_once('=') else {
            continue;
        };
        if k.trim().eq_ignore_ascii_case("realm") {
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v);
            return Some(v.replace("\\\"", "\""));
        }
    }
    None
}

/// `a="x,y",b=z` → `a="x,y"`, `b=z` (commas inside quotes do not split).
fn split_params(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Transport::{Https, PlainHttp};

    #[test]
    fn realms_of_challenges() {
        assert_eq!(
            bearer_realm(r#"Bearer realm="https://auth.io/token",service="r.io""#).as_deref(),
            Some("https://auth.io/token")
        );
        assert_eq!(
            bearer_realm(r#"Bearer service="a,b", realm="http://127.0.0.1:1/t""#).as_deref(),
            Some("http://127.0.0.1:1/t")
        );
        assert_eq!(bearer_realm(r#"Basic realm="Registry""#), None);
    }

    #[test]
    fn a_plain_http_realm_needs_a_plain_http_registry() {
        assert!(check_realm("r.io", Https, "https://auth.io/token").is_ok());
        let e = check_realm("r.io", Https, "http://auth.io/token").unwrap_err();
        assert!(!e.is_usage());
        assert!(e.to_string().contains("http://auth.io/token"), "{e}");
        assert!(check_realm("127.0.0.1:5000", PlainHttp, "http://127.0.0.1:5001/t").is_ok());
        assert!(check_realm("r.io", Https, "ftp://auth.io/token").is_err());
    }
}
