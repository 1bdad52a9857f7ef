//! The probes and the extra container ports of a generated Deployment: `probe` per key (the
//! service's, else the workspace's, else the default) and `ports` as a whole list (the
//! service's, else the workspace's, else none).

use crate::config::{ContainerPort, Probe, Scheme, ServiceConfig, WorkspaceConfig};

/// The path of the three probes when `probe.path` is not set.
pub const DEFAULT_PROBE_PATH: &str = "/health";

/// The `httpGet` of the three probes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpProbe {
    pub path: String,
    pub port: u16,
    pub https: bool,
}

/// A bad value: whether it came from the service's table, and what is wrong.
type Bad = (bool, String);

/// The probe: each key from the service, else the workspace, else the default (`port`: the
/// service's `port`).
pub fn probe(ws: &WorkspaceConfig, own: &ServiceConfig, port: u16) -> Result<HttpProbe, Bad> {
    let key = |get: fn(&Probe) -> bool| own.probe.as_ref().is_some_and(get);
    let pick = |p: &Option<Probe>, f: fn(&Probe) -> Option<String>| p.as_ref().and_then(f);
    let path = pick(&own.probe, |p| p.path.clone())
        .or_else(|| pick(&ws.probe, |p| p.path.clone()))
        .unwrap_or_else(|| DEFAULT_PROBE_PATH.to_string());
    if !valid_path(&path) {
        return Err((
            key(|p| p.path.is_some()),
            format!(
                "`probe.path` = \"{path}\" is not an absolute URL path (starting with `/`, \
                 without spaces, quotes or `#`)"
            ),
        ));
    }
    let probe_port = own
        .probe
        .as_ref()
        .and_then(|p| p.port)
        .or_else(|| ws.probe.as_ref().and_then(|p| p.port))
        .unwrap_or(port);
    if probe_port == 0 {
        return Err((
            key(|p| p.port.is_some()),
            "`probe.port` must be between 1 and 65535".into(),
        ));
    }
    let scheme = own
        .probe
        .as_ref()
        .and_then(|p| p.scheme)
        .or_else(|| ws.probe.as_ref().and_then(|p| p.scheme));
    Ok(HttpProbe {
        path,
        port: probe_port,
        https: scheme == Some(Scheme::Https),
    })
}

/// A path a YAML plain scalar and an HTTP request line both take as it is.
fn valid_path(path: &str) -> bool {
    path.starts_with('/')
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/-._~%!$&()*+,;=:@?".contains(&b))
}

/// The extra ports, `(name, port)`: the service's list, else the workspace's. Names are
/// Kubernetes port names (an IANA service name: at most 15 lowercase letters, digits and
/// `-`, with a letter, no `-` at either end or twice in a row), none is `http` or repeats, and
/// no number is the service's `port` or repeats.
pub fn extra_ports(
    ws: &WorkspaceConfig,
    own: &ServiceConfig,
    port: u16,
) -> Result<Vec<(String, u16)>, Bad> {
    let from_service = own.ports.is_some();
    let list: &[ContainerPort] = own
        .ports
        .as_deref()
        .or(ws.ports.as_deref())
        .unwrap_or_default();
    let mut out: Vec<(String, u16)> = Vec::new();
    for p in list {
        let bad = |m: String| Err((from_service, m));
        if !valid_port_name(&p.name) {
            return bad(format!(
                "`ports`: name `{}` is not a valid Kubernetes port name (at most 15 lowercase \
                 letters, digits and `-`, with at least one letter, no `-` at either end or \
                 twice in a row)",
                p.name
            ));
        }
        if p.port == 0 {
            return bad(format!("`ports`: `{}` must be between 1 and 65535", p.name));
        }
        if p.name == "http" || out.iter().any(|(n, _)| *n == p.name) {
            return bad(format!(
                "`ports`: the name `{}` is taken (`http` is the service's `port`)",
                p.name
            ));
        }
        if p.port == port || out.iter().any(|(_, n)| *n == p.port) {
            return bad(format!(
                "`ports`: port {} of `{}` is already in use (the service's `port` is {port})",
                p.port, p.name
            ));
        }
        out.push((p.name.clone(), p.port));
    }
    Ok(out)
}

fn valid_port_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 15
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b.iter().any(|c| c.is_ascii_lowercase())
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
        && !name.contains("--")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::path::Path;

    fn ws(v: serde_json::Value) -> WorkspaceConfig {
        WorkspaceConfig::from_metadata(&json!({ "monoship": v }), Path::new("Cargo.toml")).unwrap()
    }

    fn own(v: serde_json::Value) -> ServiceConfig {
        ServiceConfig::from_metadata(&json!({ "monoship": v }), Path::new("a/Cargo.toml")).unwrap()
    }

    #[test]
    fn probe_keys_come_from_the_service_then_the_workspace() {
        let default = probe(&ws(json!({})), &own(json!({})), 9100).unwrap();
        assert_eq!(
            default,
            HttpProbe {
                path: "/health".into(),
                port: 9100,
                https: false
            }
        );
        let w = ws(json!({"probe": {"path": "/healthz", "scheme": "HTTPS"}}));
        let p = probe(&w, &own(json!({"probe": {"port": 8081}})), 9100).unwrap();
        assert_eq!((p.path.as_str(), p.port, p.https), ("/healthz", 8081, true));
        let p = probe(&w, &own(json!({"probe": {"scheme": "HTTP"}})), 80).unwrap();
        assert_eq!((p.port, p.https), (80, false));
        let (from_service, m) =
            probe(&w, &own(json!({"probe": {"path": "health"}})), 80).unwrap_err();
        assert!(from_service && m.contains("`probe.path`"), "{m}");
        let (from_service, m) =
            probe(&ws(json!({"probe": {"path": "/a b"}})), &own(json!({})), 80).unwrap_err();
        assert!(!from_service && m.contains("\"/a b\""), "{m}");
    }

    #[test]
    fn unknown_probe_keys_and_schemes_are_config_errors() {
        for bad in [
            json!({"probe": {"paht": "/"}}),
            json!({"probe": {"scheme": "https"}}),
        ] {
            let e = ServiceConfig::from_metadata(
                &json!({ "monoship": bad }),
                Path::new("a/Cargo.toml"),
            )
            .unwrap_err()
            .to_string();
            assert!(
                e.starts_with("a/Cargo.toml:") && e.contains("`probe."),
                "{e}"
            );
        }
        let e = WorkspaceConfig::from_metadata(
            &json!({"monoship": {"ports": [{"name": "m", "port": 1, "protocol": "UDP"}]}}),
            Path::new("Cargo.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("protocol") && e.contains("ports"), "{e}");
    }

    #[test]
    fn extra_ports_are_checked() {
        let w = ws(json!({"ports": [{"name": "metrics", "port": 9090}]}));
        assert_eq!(
            extra_ports(&w, &own(json!({})), 9100).unwrap(),
            [("metrics".to_string(), 9090)]
        );
        assert!(
            extra_ports(&w, &own(json!({"ports": []})), 9100)
                .unwrap()
                .is_empty()
        );
        for (list, wanted) in [
            (
                json!([{"name": "Metrics", "port": 1}]),
                "not a valid Kubernetes port name",
            ),
            (
                json!([{"name": "a-very-long-port-name", "port": 1}]),
                "port name",
            ),
            (json!([{"name": "http", "port": 1}]), "is taken"),
            (
                json!([{"name": "a", "port": 1}, {"name": "a", "port": 2}]),
                "is taken",
            ),
            (json!([{"name": "a", "port": 9100}]), "already in use"),
            (json!([{"name": "a", "port": 0}]), "between 1 and 65535"),
        ] {
            let (from_service, m) =
                extra_ports(&w, &own(json!({ "ports": list })), 9100).unwrap_err();
            assert!(from_service && m.contains(wanted), "{m}");
        }
    }
}
