//! `deploy/k8s/<service>.yaml`: one Deployment and one Service per service, with the rollout
//! settings of the deployment guide this replaces (surge one pod, never fewer than desired;
//! startup, readiness and liveness probes on `/health` or the configured `probe`), a restricted
//! security context, and the resources, replicas and extra `ports` of the configuration.
//!
//! With environments, the manifests go to `base/` and each environment gets a kustomize overlay
//! (see `k8s_overlays`).
//!
//! The container's image is a placeholder ([`placeholder_image`]) that no registry serves:
//! `monoship deploy` sets the real one, pinned by digest, on the container named here.

use super::k8s_overlays;
pub use super::k8s_overlays::{BASE_DIR, KUSTOMIZATION, OVERLAYS_DIR};
use super::k8s_ports;
pub use super::k8s_ports::{DEFAULT_PROBE_PATH, HttpProbe};
use super::template::{self, Vars};
use super::{Context, GenerateError, GeneratedFile};
use crate::config::{ResourceList, Resources, WorkspaceConfig};
use crate::workspace::Service;
use std::collections::BTreeMap;

/// Where the manifests go by default, relative to the workspace root.
pub const DEFAULT_DIR: &str = "deploy/k8s";
/// `replicas` when neither the workspace nor the service sets it.
pub const DEFAULT_REPLICAS: u32 = 2;
/// `port` when neither the workspace nor the service sets it (as in monoship's images).
pub const DEFAULT_PORT: u16 = 9100;
/// The default `deployment` name template (as `monoship deploy` reads it).
pub const DEFAULT_DEPLOYMENT: &str = "{service}";
/// User and group of the pod: distroless' `nonroot`, like monoship's images.
pub const USER: u32 = 65532;
/// Default requests and limits, `(resource, quantity)`.
pub const DEFAULT_REQUESTS: &[(&str, &str)] = &[("cpu", "50m"), ("memory", "64Mi")];
pub const DEFAULT_LIMITS: &[(&str, &str)] = &[("memory", "128Mi")];

const TEMPLATE: &str = include_str!("templates/k8s.yaml");

/// The image of a freshly generated Deployment; `.invalid` is a reserved top-level domain, so
/// it is never pulled by mistake.
pub fn placeholder_image(service: &str) -> String {
    format!(
        "monoship.invalid/{}:placeholder",
        service.to_ascii_lowercase()
    )
}

/// Everything one service's manifest says, resolved from the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub service: String,
    /// The Deployment's (and the Service's) name.
    pub name: String,
    /// `None`: no `metadata.namespace`, so `kubectl` and `monoship deploy` use the context's.
    pub namespace: Option<String>,
    /// The `app` label, also the selector.
    pub app: String,
    pub container: String,
    pub port: u16,
    /// Container (and Service) ports besides `http`, `(name, port)`.
    pub extra_ports: Vec<(String, u16)>,
    pub probe: HttpProbe,
    pub replicas: u32,
    pub requests: Vec<(String, String)>,
    pub limits: Vec<(String, String)>,
}

/// One manifest per service, `<service>.yaml`; with environments, in `base/` and with the
/// kustomizations of `k8s_overlays`.
pub fn render(ctx: &Context) -> Result<Vec<GeneratedFile>, GenerateError> {
    let layered = !ctx.config.environments.is_empty();
    let mut files = Vec::with_capacity(ctx.services.len());
    for s in &ctx.services {
        let m = manifest(s, &ctx.config)?;
        let name = format!("{}.yaml", s.name);
        files.push(GeneratedFile {
            contents: template::render(&name, TEMPLATE, &vars(&m))?,
            path: if layered {
                format!("{}/{name}", k8s_overlays::BASE_DIR)
            } else {
                name
            },
        });
    }
    if layered {
        files.extend(k8s_overlays::render(ctx)?);
    }
    Ok(files)
}

fn vars(m: &Manifest) -> Vars {
    let item = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let quantities = |list: &[(String, String)]| {
        list.iter()
            .map(|(n, v)| item(&[("name", n), ("value", v)]))
            .collect::<Vec<_>>()
    };
    let present = |yes: bool| if yes { vec![item(&[])] } else { Vec::new() };
    let mut vars = Vars::new();
    vars.set("service", &m.service)
        .set("name", &m.name)
        .set("app", &m.app)
        .set("container", &m.container)
        .set("image", placeholder_image(&m.service))
        .set("port", m.port.to_string())
        .set("replicas", m.replicas.to_string())
        .set("user", USER.to_string())
        .set("probe_path", &m.probe.path)
        .set("probe_port", m.probe.port.to_string())
        .list("probe_https", present(m.probe.https))
        .list(
            "extra_ports",
            m.extra_ports
                .iter()
                .map(|(n, p)| item(&[("name", n), ("port", &p.to_string())]))
                .collect(),
        )
        .list(
            "namespace",
            m.namespace
                .iter()
                .map(|n| item(&[("namespace", n)]))
                .collect(),
        )
        .list(
            "resources",
            present(!m.requests.is_empty() || !m.limits.is_empty()),
        )
        .list("requests_block", present(!m.requests.is_empty()))
        .list("requests", quantities(&m.requests))
        .list("limits_block", present(!m.limits.is_empty()))
        .list("limits", quantities(&m.limits));
    vars
}

/// Resolve and check one service's settings: the service's table, then the workspace's, then
/// the defaults. A bad value is an [`GenerateError::Input`] naming the file it came from.
pub fn manifest(s: &Service, ws: &WorkspaceConfig) -> Result<Manifest, GenerateError> {
    let own = &s.config;
    let origin = Origin {
        service: &s.name,
        own_file: if s.dir.is_empty() {
            "Cargo.toml".to_string()
        } else {
            format!("{}/Cargo.toml", s.dir)
        },
    };
    let err = |from_service: bool, message: String| origin.err(from_service, message);
    let prefix = ws.prefix.as_deref().unwrap_or("");
    let name = deployment_name(s, ws, &origin)?;
    let namespace = own.namespace.clone().or_else(|| ws.namespace.clone());
    if let Some(ns) = &namespace {
        check_dns_label("namespace", ns, false).map_err(|m| err(own.namespace.is_some(), m))?;
    }
    let container = container_name(s, ws, &origin)?;
    let app = app_label(prefix, &s.name);
    check_label_value("app", &app).map_err(|m| err(false, m))?;
    check_label_value("app.kubernetes.io/name", &s.name).map_err(|m| err(true, m))?;

    let replicas = own.replicas.or(ws.replicas).unwrap_or(DEFAULT_REPLICAS);
    if replicas > i32::MAX as u32 {
        return Err(err(
            own.replicas.is_some(),
            format!("`replicas` = {replicas} is too large"),
        ));
    }
    let port = own
        .image_settings
        .port
        .or(ws.image_settings.port)
        .unwrap_or(DEFAULT_PORT);
    if port == 0 {
        return Err(err(
            own.image_settings.port.is_some(),
            "`port` must be between 1 and 65535".into(),
        ));
    }
    let (requests, limits) = resources(ws.resources.as_ref(), own.resources.as_ref())
        .map_err(|(from_service, m)| err(from_service, m))?;
    let probe =
        k8s_ports::probe(ws, own, port).map_err(|(from_service, m)| err(from_service, m))?;
    let extra_ports =
        k8s_ports::extra_ports(ws, own, port).map_err(|(from_service, m)| err(from_service, m))?;

    Ok(Manifest {
        service: s.name.clone(),
        name,
        namespace,
        app,
        container,
        port,
        extra_ports,
        probe,
        replicas,
        requests,
        limits,
    })
}

/// Where a service's settings come from: its own `Cargo.toml`, or the workspace's.
struct Origin<'a> {
    service: &'a str,
    own_file: String,
}

impl Origin<'_> {
    /// A bad value, from the service's table or the workspace's.
    fn err(&self, from_service: bool, message: String) -> GenerateError {
        GenerateError::Input {
            path: if from_service {
                self.own_file.clone()
            } else {
                "Cargo.toml".to_string()
            },
            message: format!("service `{}`: {message}", self.service),
        }
    }
}

/// The Deployment's name (also the Service's): the `deployment` template, expanded.
fn deployment_name(
    s: &Service,
    ws: &WorkspaceConfig,
    origin: &Origin<'_>,
) -> Result<String, GenerateError> {
    let own = s.config.deployment.as_deref();
    let template = own
        .or(ws.deployment.as_deref())
        .unwrap_or(DEFAULT_DEPLOYMENT);
    let prefix = ws.prefix.as_deref().unwrap_or("");
    let name = crate::deploy::plan::expand(template, &s.name, prefix)
        .map_err(|m| origin.err(own.is_some(), m.0))?;
    check_dns_label("deployment", &name, true).map_err(|m| {
        let unset = own.is_none() && ws.deployment.is_none();
        origin.err(
            own.is_some() || unset,
            if unset {
                format!(
                    "{m}; it is named like the service: set `deployment` (say \"{}\") in its \
                     [package.metadata.monoship]",
                    suggest_label(&s.name)
                )
            } else {
                format!("{m}; it also names the Service, which needs this form")
            },
        )
    })?;
    Ok(name)
}

/// The container's name: `container`, else the service's.
fn container_name(
    s: &Service,
    ws: &WorkspaceConfig,
    origin: &Origin<'_>,
) -> Result<String, GenerateError> {
    let own = s.config.container.as_ref();
    let container = own
        .or(ws.container.as_ref())
        .cloned()
        .unwrap_or_else(|| s.name.clone());
    check_dns_label("container", &container, false).map_err(|m| {
        origin.err(
            own.is_some() || ws.container.is_none(),
            if own.is_none() && ws.container.is_none() {
                format!("{m} (the container is named like the service: set `container`)")
            } else {
                m
            },
        )
    })?;
    Ok(container)
}

/// A DNS label close to `name`, for an error's advice: lowercase, other characters as `-`.
fn suggest_label(name: &str) -> String {
    let mapped: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let trimmed = mapped.trim_start_matches(|c: char| !c.is_ascii_lowercase());
    let label: String = trimmed.chars().take(63).collect();
    let label = label.trim_end_matches('-');
    if label.is_empty() {
        "svc".into()
    } else {
        label.into()
    }
}

/// `app`: `<prefix>-<service>`, or `<prefix><service>` when the prefix already ends with `-`,
/// or `<service>` without a prefix.
pub fn app_label(prefix: &str, service: &str) -> String {
    if prefix.is_empty() || prefix.ends_with('-') {
        format!("{prefix}{service}")
    } else {
        format!("{prefix}-{service}")
    }
}

/// A DNS label (RFC 1123; with `letter_first`, RFC 1035 as Services need): at most 63
/// lowercase letters, digits and `-`, starting and ending with a letter or digit.
fn check_dns_label(what: &str, name: &str, letter_first: bool) -> Result<(), String> {
    let b = name.as_bytes();
    let ok = !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && (if letter_first {
            b[0].is_ascii_lowercase()
        } else {
            b[0].is_ascii_alphanumeric()
        })
        && b[b.len() - 1].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{what} `{name}` is not a valid Kubernetes name (at most 63 lowercase letters, \
             digits and `-`, starting with a {} and ending with a letter or digit)",
            if letter_first {
                "letter"
            } else {
                "letter or digit"
            }
        ))
    }
}

/// A label value: at most 63 of `[A-Za-z0-9_.-]`, starting and ending alphanumeric.
fn check_label_value(label: &str, value: &str) -> Result<(), String> {
    let b = value.as_bytes();
    let ok = !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(format!(
            "label {label}=`{value}` is not a valid label value (at most 63 letters, digits, \
             `-`, `_`, `.`, starting and ending with a letter or digit)"
        ))
    }
}

type Quantities = Vec<(String, String)>;

/// Defaults, then the workspace's quantities, then the service's; `""` removes one. Errors say
/// whether the service's table was involved.
fn resources(
    ws: Option<&Resources>,
    own: Option<&Resources>,
) -> Result<(Quantities, Quantities), (bool, String)> {
    let pick = |defaults: &[(&str, &str)], get: fn(&Resources) -> &ResourceList, kind: &str| {
        let mut out = Vec::new();
        for name in ["cpu", "memory", "ephemeral-storage"] {
            let own_value = own.and_then(|r| field(get(r), name));
            let ws_value = ws.and_then(|r| field(get(r), name));
            let (value, from_service) = match (own_value, ws_value) {
                (Some(v), _) => (Some(v.to_string()), true),
                (None, Some(v)) => (Some(v.to_string()), false),
                (None, None) => (
                    defaults
                        .iter()
                        .find(|(n, _)| *n == name)
                        .map(|(_, v)| v.to_string()),
                    false,
                ),
            };
            match value {
                Some(v) if v.is_empty() => {}
                Some(v) => {
                    if quantity(&v).is_none() {
                        return Err((
                            from_service,
                            format!(
                                "`resources.{kind}.{name}` = \"{v}\" is not a Kubernetes \
                                 quantity (like \"50m\", \"0.5\", \"64Mi\", \"1G\")"
                            ),
                        ));
                    }
                    out.push((name.to_string(), v, from_service));
                }
                None => {}
            }
        }
        Ok(out)
    };
    let requests = pick(DEFAULT_REQUESTS, |r| &r.requests, "requests")?;
    let limits = pick(DEFAULT_LIMITS, |r| &r.limits, "limits")?;
    for (name, request, own_request) in &requests {
        let Some((_, limit, own_limit)) = limits.iter().find(|(n, _, _)| n == name) else {
            continue;
        };
        if quantity(request) > quantity(limit) {
            return Err((
                *own_request || *own_limit,
                format!(
                    "`resources.requests.{name}` = \"{request}\" is more than \
                     `resources.limits.{name}` = \"{limit}\": raise the limit too \
                     (or set it to \"\" for none)"
                ),
            ));
        }
    }
    let strip = |l: Vec<(String, String, bool)>| l.into_iter().map(|(n, v, _)| (n, v)).collect();
    Ok((strip(requests), strip(limits)))
}

fn field<'a>(list: &'a ResourceList, name: &str) -> Option<&'a str> {
    match name {
        "cpu" => list.cpu.as_deref(),
        "memory" => list.memory.as_deref(),
        _ => list.ephemeral_storage.as_deref(),
    }
}

/// The value of a Kubernetes quantity (`50m`, `0.5`, `64Mi`, `1e3`), or `None` if it is not one.
pub fn quantity(s: &str) -> Option<f64> {
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+'))
        .unwrap_or(s.len());
    let (number, suffix) = s.split_at(split);
    let number = number.strip_prefix('+').unwrap_or(number);
    let digits_ok = !number.is_empty()
        && number != "."
        && number.matches('.').count() <= 1
        && number.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    if !digits_ok {
        return None;
    }
    let value: f64 = number.parse().ok()?;
    let scale = match suffix {
        "" => 1.0,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024f64,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        exp => {
            let e = exp.strip_prefix(['e', 'E'])?;
            let digits = e.strip_prefix(['+', '-']).unwrap_or(e);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            10f64.powi(e.parse().ok()?)
        }
    };
    Some(value * scale)
}

#[cfg(test)]
#[path = "k8s_tests.rs"]
mod tests;
