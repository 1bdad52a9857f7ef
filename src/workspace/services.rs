//! Which workspace members are services, and what each one is: its name (a Kubernetes name),
//! its package and the binary target it runs.
//!
//! A package is one service named like it, running its only binary (or cargo's `default-run`),
//! unless its `[package.metadata.monoship]` says otherwise: `name` and `binary` for one service,
//! or `[package.metadata.monoship.services.NAME]` tables (each with its `binary`, by default
//! the one named like the table) for several. A name that is not a Kubernetes name is mapped
//! (lowercase, `_` as `-`) when that makes one; every problem left is reported at once.

use super::{Service, WorkspaceError, rel};
use crate::config::{self, ConfigError, ServiceConfig, WorkspaceConfig};
use cargo_metadata::{Metadata, PackageId};
use std::collections::{BTreeMap, HashSet};
use std::path::Path;

/// Every problem with the services' names and binaries, one line each.
#[derive(Debug, thiserror::Error)]
#[error("{}", render(.0))]
pub struct Problems(pub Vec<String>);

fn render(problems: &[String]) -> String {
    match problems {
        [one] => one.clone(),
        many => format!(
            "{} problems with the services:\n  {}",
            many.len(),
            many.join("\n  ")
        ),
    }
}

/// The service globs (or their default); then, if nothing matches, every member with a binary.
pub fn service_globs(config: &WorkspaceConfig) -> Vec<String> {
    config.services.clone().unwrap_or_else(|| {
        config::DEFAULT_SERVICES
            .iter()
            .map(|s| s.to_string())
            .collect()
    })
}

/// `name` if it is a Kubernetes name (an RFC 1123 label: at most 63 lowercase letters, digits
/// and `-`, starting and ending with a letter or digit), else `name` in lowercase with `_` as
/// `-` if that is one (then `true`); `None` when neither is.
pub fn kubernetes_name(name: &str) -> Option<(String, bool)> {
    if is_label(name) {
        return Some((name.to_string(), false));
    }
    let mapped = name.to_ascii_lowercase().replace('_', "-");
    is_label(&mapped).then_some((mapped, true))
}

fn is_label(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
}

/// The names of the services a package was, from the monoship table of its `manifest` alone
/// (no cargo, no checks): for the services of a package that is gone.
pub fn names_at(package: &str, manifest: &toml::Table) -> Vec<String> {
    let monoship = manifest
        .get("package")
        .and_then(|p| p.get("metadata"))
        .and_then(|m| m.get("monoship"));
    let config = monoship
        .and_then(|v| serde_json::to_value(v).ok())
        .and_then(|v| {
            let metadata = serde_json::json!({ "monoship": v });
            ServiceConfig::from_metadata(&metadata, Path::new("Cargo.toml")).ok()
        })
        .unwrap_or_default();
    let requested: Vec<String> = if config.services.is_empty() {
        vec![config.name.unwrap_or_else(|| package.to_string())]
    } else {
        config.services.into_keys().collect()
    };
    requested
        .into_iter()
        .map(|r| kubernetes_name(&r).map_or(r, |(n, _)| n))
        .collect()
}

/// One service of a package, before its name is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Planned {
    /// The name as configured or taken from the package.
    pub requested: String,
    pub binary: String,
    /// Where the name comes from, for messages: "package `p`", "`name` of package `p`", ….
    pub origin: String,
}

/// The services package `package` (with binary targets `bins`, cargo's `default_run`) is, by
/// its `config`; or its problems, each a line that starts with `file`.
pub(crate) fn plan_package(
    package: &str,
    bins: &[&str],
    default_run: Option<&str>,
    config: &ServiceConfig,
    file: &str,
) -> Result<Vec<Planned>, Vec<String>> {
    if !config.services.is_empty() {
        return plan_entries(package, bins, config, file);
    }
    let (requested, origin) = match &config.name {
        Some(n) => (n.clone(), format!("`name` of package `{package}`")),
        None => (package.to_string(), format!("package `{package}`")),
    };
    let binary = match (config.binary.as_deref(), bins) {
        (Some(b), _) if bins.contains(&b) => b,
        (Some(b), _) => return Err(vec![missing(file, "`binary`", package, b, bins)]),
        (None, [only]) => only,
        (None, []) => {
            return Err(vec![format!(
                "{file}: service package `{package}` has no binary target"
            )]);
        }
        (None, _) => match default_run.filter(|d| bins.contains(d)) {
            Some(d) => d,
            None => {
                return Err(vec![format!(
                    "{file}: package `{package}` has several binaries ({}) and none is chosen: \
                     set `binary = \"{}\"` in its [package.metadata.monoship] (or cargo's \
                     `default-run`), or make one service of each with \
                     [package.metadata.monoship.services.NAME]",
                    quoted(bins),
                    bins[0]
                )]);
            }
        },
    };
    Ok(vec![Planned {
        requested,
        binary: binary.to_string(),
        origin,
    }])
}

/// The services of the `services` tables of package `package`.
fn plan_entries(
    package: &str,
    bins: &[&str],
    config: &ServiceConfig,
    file: &str,
) -> Result<Vec<Planned>, Vec<String>> {
    if config.name.is_some() || config.binary.is_some() {
        return Err(vec![format!(
            "{file}: package `{package}` sets `services` and `name` or `binary`: with \
             `services`, each [package.metadata.monoship.services.NAME] is one service \
             (set its `binary` there)"
        )]);
    }
    let mut planned = Vec::new();
    let mut problems = Vec::new();
    for (name, entry) in &config.services {
        let binary = entry.binary.as_deref().unwrap_or(name);
        let origin = format!("[package.metadata.monoship.services.{name}] of `{package}`");
        if bins.contains(&binary) {
            planned.push(Planned {
                requested: name.clone(),
                binary: binary.to_string(),
                origin,
            });
        } else {
            problems.push(missing(
                file,
                &format!("service `{name}`"),
                package,
                binary,
                bins,
            ));
        }
    }
    if problems.is_empty() {
        Ok(planned)
    } else {
        Err(problems)
    }
}

/// `file: whose: package `p` has no binary `b` (its binaries: …)`.
fn missing(file: &str, whose: &str, package: &str, binary: &str, bins: &[&str]) -> String {
    let list = match bins {
        [] => "it has none".to_string(),
        _ => format!("its binaries: {}", quoted(bins)),
    };
    format!("{file}: {whose}: package `{package}` has no binary `{binary}` ({list})")
}

/// The Kubernetes name of each planned service (`None` for those that have none), with a
/// problem for each name that cannot be mapped and for each name two services would share.
pub(crate) fn name_services(
    planned: &[Planned],
    problems: &mut Vec<String>,
) -> Vec<Option<String>> {
    let names: Vec<Option<String>> = planned
        .iter()
        .map(|p| {
            let name = kubernetes_name(&p.requested).map(|(n, _)| n);
            if name.is_none() {
                problems.push(format!(
                    "service `{}` ({}): not a Kubernetes name, even in lowercase with `_` as \
                     `-` (at most 63 lowercase letters, digits and `-`, starting and ending with \
                     a letter or digit): choose another",
                    p.requested, p.origin
                ));
            }
            name
        })
        .collect();
    let mut by_name: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, n) in names.iter().enumerate() {
        if let Some(n) = n {
            by_name.entry(n.as_str()).or_default().push(i);
        }
    }
    for (name, takers) in by_name.into_iter().filter(|(_, t)| t.len() > 1) {
        let who: Vec<String> = takers
            .iter()
            .map(|&i| {
                let p = &planned[i];
                if p.requested == name {
                    p.origin.clone()
                } else {
                    format!("{} (`{}` mapped)", p.origin, p.requested)
                }
            })
            .collect();
        problems.push(format!(
            "service name `{name}` is taken by {} services: {}: give them distinct names",
            takers.len(),
            who.join(", ")
        ));
    }
    names
}

fn quoted(items: &[&str]) -> String {
    items
        .iter()
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The services of the workspace, sorted by name, and whether they were taken by binary (no
/// member under the default `services` globs).
pub(super) fn detect_services(
    meta: &Metadata,
    members: &HashSet<&PackageId>,
    root: &Path,
    manifest: &Path,
    config: &WorkspaceConfig,
    allow_none: bool,
) -> Result<(Vec<Service>, bool), WorkspaceError> {
    let member_pkgs: Vec<_> = meta
        .packages
        .iter()
        .filter(|p| members.contains(&p.id))
        .collect();
    let dir_of = |p: &cargo_metadata::Package| {
        rel(
            root,
            p.manifest_path
                .parent()
                .map(|d| d.as_std_path())
                .unwrap_or(root),
        )
    };
    let dirs: Vec<String> = member_pkgs.iter().map(|p| dir_of(p)).collect();
    let (chosen, by_binary) = match &config.services {
        Some(globs) => (configured_services(globs, &dirs, manifest)?, false),
        None => default_services(&member_pkgs, &dirs, manifest)?,
    };
    if chosen.is_empty() && !allow_none {
        let file = manifest.display().to_string();
        return Err(ConfigError::NoServices { file }.into());
    }
    let mut problems = Vec::new();
    let mut planned: Vec<(Planned, usize)> = Vec::new();
    let mut configs = BTreeMap::new();
    for i in chosen {
        let p = member_pkgs[i];
        let svc_config = ServiceConfig::from_metadata(&p.metadata, p.manifest_path.as_std_path())?;
        match plan_member(p, &svc_config, root)? {
            Ok(list) => planned.extend(list.into_iter().map(|s| (s, i))),
            Err(lines) => problems.extend(lines),
        }
        configs.insert(i, svc_config);
    }
    let plans: Vec<Planned> = planned.iter().map(|(p, _)| p.clone()).collect();
    let names = name_services(&plans, &mut problems);
    if !problems.is_empty() {
        return Err(WorkspaceError::Services(Problems(problems)));
    }
    let mut services = Vec::new();
    for ((plan, i), name) in planned.into_iter().zip(names) {
        let p = member_pkgs[i];
        let svc_config = &configs[&i];
        let name = name.expect("no problems, so every service has a name");
        services.push(Service {
            mapped_from: (name != plan.requested).then_some(plan.requested),
            name,
            package: p.name.to_string(),
            binary: plan.binary,
            dir: dir_of(p),
            inputs: svc_config.inputs.clone(),
            features: svc_config.features.over(&config.features),
            config: svc_config.clone(),
        });
    }
    services.sort_by(|a, b| a.name.cmp(&b.name));
    Ok((services, by_binary))
}

/// The services of member `p` with its `config` (or their problems); a configuration error
/// when its `inputs` do not compile.
fn plan_member(
    p: &cargo_metadata::Package,
    config: &ServiceConfig,
    root: &Path,
) -> Result<Result<Vec<Planned>, Vec<String>>, ConfigError> {
    // Validate the globs early so a bad one is a config error naming its file.
    crate::globs::GlobList::new(
        &[],
        config.inputs.iter().map(|s| s.as_str()),
        p.manifest_path.as_std_path(),
        "inputs",
    )?;
    let mut bins: Vec<&str> = p
        .targets
        .iter()
        .filter(|t| t.is_bin())
        .map(|t| t.name.as_str())
        .collect();
    bins.sort_unstable();
    let file = rel(root, p.manifest_path.as_std_path());
    let default_run = p.default_run.as_deref();
    Ok(plan_package(&p.name, &bins, default_run, config, &file))
}

/// The members (indices into `dirs`) the configured `services` globs match; each glob must
/// match one.
fn configured_services(
    globs: &[String],
    dirs: &[String],
    manifest: &Path,
) -> Result<Vec<usize>, ConfigError> {
    let file = || manifest.display().to_string();
    if globs.is_empty() {
        return Err(ConfigError::EmptyServices { file: file() });
    }
    let mut chosen = std::collections::BTreeSet::new();
    let mut unmatched = Vec::new();
    for glob in globs {
        let matcher = config::compile_glob(glob, manifest, "services")?.compile_matcher();
        let hits: Vec<usize> = (0..dirs.len())
            .filter(|&i| matcher.is_match(&dirs[i]))
            .collect();
        if hits.is_empty() {
            unmatched.push(glob.clone());
        }
        chosen.extend(hits);
    }
    if !unmatched.is_empty() {
        return Err(ConfigError::UnmatchedServices {
            file: file(),
            globs: unmatched,
        });
    }
    Ok(chosen.into_iter().collect())
}

/// The members under the default globs, else every member with a binary target (then `true`).
fn default_services(
    members: &[&cargo_metadata::Package],
    dirs: &[String],
    manifest: &Path,
) -> Result<(Vec<usize>, bool), ConfigError> {
    let set = config::compile_globs(
        config::DEFAULT_SERVICES.iter().copied(),
        manifest,
        "services",
    )?;
    let chosen: Vec<usize> = (0..dirs.len())
        .filter(|&i| set.is_match(&dirs[i]))
        .collect();
    if !chosen.is_empty() {
        return Ok((chosen, false));
    }
    let binaries = (0..members.len())
        .filter(|&i| members[i].targets.iter().any(|t| t.is_bin()))
        .collect();
    Ok((binaries, true))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(monoship: serde_json::Value) -> ServiceConfig {
        ServiceConfig::from_metadata(&json!({ "monoship": monoship }), Path::new("Cargo.toml"))
            .unwrap()
    }

    fn plan(
        package: &str,
        bins: &[&str],
        monoship: serde_json::Value,
    ) -> Result<Vec<Planned>, Vec<String>> {
        let file = format!("apps/{package}/Cargo.toml");
        plan_package(package, bins, None, &config(monoship), &file)
    }

    fn pairs(planned: &[Planned]) -> Vec<(&str, &str)> {
        planned
            .iter()
            .map(|p| (p.requested.as_str(), p.binary.as_str()))
            .collect()
    }

    #[test]
    fn names_are_mapped_only_when_that_makes_a_kubernetes_name() {
        assert_eq!(kubernetes_name("users"), Some(("users".into(), false)));
        assert_eq!(
            kubernetes_name("my_service"),
            Some(("my-service".into(), true))
        );
        assert_eq!(
            kubernetes_name("My_Service2"),
            Some(("my-service2".into(), true))
        );
        assert_eq!(kubernetes_name("2fa"), Some(("2fa".into(), false)));
        for bad in ["_private", "api_", "api.v2", "über", "", &"a".repeat(64)] {
            assert_eq!(kubernetes_name(bad), None, "{bad}");
        }
        assert!(kubernetes_name(&"a".repeat(63)).is_some());
    }

    #[test]
    fn a_package_is_one_service_of_its_only_binary_or_the_chosen_one() {
        let one = plan("users", &["users-server"], json!({})).unwrap();
        assert_eq!(pairs(&one), [("users", "users-server")]);
        let chosen = plan(
            "users",
            &["api", "migrate"],
            json!({"binary": "api", "name": "people"}),
        );
        assert_eq!(pairs(&chosen.unwrap()), [("people", "api")]);
        let by_default_run = plan_package("u", &["a", "b"], Some("b"), &config(json!({})), "f");
        assert_eq!(pairs(&by_default_run.unwrap()), [("u", "b")]);
    }

    #[test]
    fn several_services_of_one_package_each_run_their_binary() {
        let planned = plan(
            "shop",
            &["api", "shop-worker"],
            json!({"services": {"api": {}, "worker": {"binary": "shop-worker"}}}),
        )
        .unwrap();
        assert_eq!(pairs(&planned), [("api", "api"), ("worker", "shop-worker")]);
    }

    #[test]
    fn binary_problems_name_the_package_and_its_binaries() {
        let several = plan("tools", &["a", "b"], json!({})).unwrap_err();
        assert_eq!(several.len(), 1);
        let line = &several[0];
        assert!(
            line.starts_with("apps/tools/Cargo.toml: package `tools`"),
            "{line}"
        );
        assert!(
            line.contains("(`a`, `b`)") && line.contains("binary = \"a\""),
            "{line}"
        );
        let wrong = plan("tools", &["a", "b"], json!({"binary": "c"})).unwrap_err();
        assert!(
            wrong[0].contains("no binary `c` (its binaries: `a`, `b`)"),
            "{wrong:?}"
        );
        let none = plan("lib", &[], json!({})).unwrap_err();
        assert!(none[0].contains("has no binary target"), "{none:?}");
        let both = plan("t", &["a"], json!({"name": "x", "services": {"a": {}}})).unwrap_err();
        assert!(both[0].contains("sets `services` and `name`"), "{both:?}");
        let entries = plan(
            "t",
            &["a"],
            json!({"services": {"x": {}, "y": {"binary": "z"}}}),
        );
        assert_eq!(entries.unwrap_err().len(), 2);
    }

    #[test]
    fn the_names_a_package_was_come_from_its_table() {
        let names = |text: &str| names_at("my_pkg", &text.parse::<toml::Table>().unwrap());
        assert_eq!(names("[package]\nname = \"my_pkg\"\n"), ["my-pkg"]);
        let renamed = "[package.metadata.monoship]\nname = \"Users\"\n";
        assert_eq!(names(renamed), ["users"]);
        let several = "[package.metadata.monoship.services.api]\n\
                       [package.metadata.monoship.services.jobs_runner]\nbinary = \"jobs\"\n";
        assert_eq!(names(several), ["api", "jobs-runner"]);
    }

    #[test]
    fn unmappable_and_colliding_names_are_all_reported() {
        let p = |requested: &str, origin: &str| Planned {
            requested: requested.into(),
            binary: requested.into(),
            origin: origin.into(),
        };
        let planned = [
            p("my_svc", "package `my_svc`"),
            p("my-svc", "package `my-svc`"),
            p("api.v2", "package `api.v2`"),
            p("ok_one", "package `ok_one`"),
            p("Api", "package `Api`"),
            p("api", "package `api`"),
        ];
        let mut problems = Vec::new();
        let names = name_services(&planned, &mut problems);
        assert_eq!(names[3].as_deref(), Some("ok-one"));
        assert_eq!(names[2], None);
        assert_eq!(problems.len(), 3, "{problems:#?}");
        assert!(
            problems[0].starts_with("service `api.v2` (package `api.v2`)"),
            "{}",
            problems[0]
        );
        assert_eq!(
            problems[1],
            "service name `api` is taken by 2 services: package `Api` (`Api` mapped), package `api`: \
             give them distinct names"
        );
        assert!(
            problems[2].contains("package `my_svc` (`my_svc` mapped), package `my-svc`"),
            "{}",
            problems[2]
        );
        let text = Problems(problems).to_string();
        assert!(
            text.starts_with("3 problems with the services:\n  service `api.v2`"),
            "{text}"
        );
        assert_eq!(text.lines().count(), 4);
        assert_eq!(Problems(vec!["one".into()]).to_string(), "one");
    }
}
