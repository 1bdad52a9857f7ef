//! Build settings kept in the monoship tables of the manifests: a change of a service's cargo
//! features (`features`, `no-default-features`, `all-features`) changes its binary, and a
//! change of its image settings (`files`, `env`, `port`, `static`, `base`, `strip`) its image,
//! whether in its own table or in the workspace's defaults, though `[package.metadata]` and
//! `[workspace.metadata]` do not count otherwise. And the files each image carries, which are
//! inputs of their services.

use super::manifest;
use super::{Reason, ReasonKind};
use crate::config::{FeatureSettings, Features, ImageSettings};
use crate::workspace::Workspace;
use std::collections::HashMap;
use std::path::Path;
use toml::{Table, Value};

/// A file's content at base or head (`None`: it does not exist there).
pub(super) type Read<'a> = &'a dyn Fn(&str) -> Result<Option<Vec<u8>>, String>;

/// The build settings of one monoship table.
#[derive(Debug, Default, PartialEq, serde::Deserialize)]
struct Keys {
    #[serde(flatten)]
    features: FeatureSettings,
    #[serde(flatten)]
    image: ImageSettings,
}

/// A service's build settings: its own keys over the workspace's.
#[derive(Debug, PartialEq)]
struct Effective {
    features: Features,
    image: ImageSettings,
}

impl Keys {
    fn over(&self, defaults: &Keys) -> Effective {
        Effective {
            features: self.features.over(&defaults.features),
            image: self.image.over(&defaults.image),
        }
    }
}

/// The build keys of a manifest's monoship table (`workspace` or `package`); `None` when
/// they do not parse.
fn build_keys(manifest: &Table, section: &str) -> Option<Keys> {
    let table = manifest
        .get(section)
        .and_then(|s| s.get("metadata"))
        .and_then(|m| m.get("monoship"));
    match table {
        None => Some(Keys::default()),
        Some(Value::Table(t)) => Value::Table(t.clone()).try_into().ok(),
        Some(_) => None,
    }
}

/// The build keys of one manifest as `read` finds it; a missing manifest has none.
fn keys_at(read: Read<'_>, path: &str, section: &str) -> Result<Option<Keys>, String> {
    Ok(match read(path)? {
        Some(bytes) => build_keys(&manifest::parse(&bytes, path)?, section),
        None => Some(Keys::default()),
    })
}

/// What differs between two effective settings (`None` for either: it could not be read).
fn what_changed(before: &Option<Effective>, after: &Option<Effective>) -> Option<&'static str> {
    let (Some(b), Some(a)) = (before, after) else {
        return Some("the build settings");
    };
    match (b.features != a.features, b.image != a.image) {
        (true, true) => Some("the cargo features and image settings"),
        (true, false) => Some("the cargo features"),
        (false, true) => Some("the image settings"),
        (false, false) => None,
    }
}

/// The services whose cargo features or image settings differ between base and head, each
/// with its reason: the service's manifest when its own keys changed, else the root manifest.
pub(super) fn settings_changes(
    ws: &Workspace,
    base: Read<'_>,
    head: Read<'_>,
) -> Result<Vec<(usize, Reason)>, String> {
    let root = |read| keys_at(read, "Cargo.toml", "workspace");
    let (root_base, root_head) = (root(base)?, root(head)?);
    let effective =
        |own: &Option<Keys>, all: &Option<Keys>| Some(own.as_ref()?.over(all.as_ref()?));
    let mut out = Vec::new();
    for (i, s) in ws.services.iter().enumerate() {
        let path = if s.dir.is_empty() {
            "Cargo.toml".to_string()
        } else {
            format!("{}/Cargo.toml", s.dir)
        };
        let own_base = keys_at(base, &path, "package")?;
        let own_head = keys_at(head, &path, "package")?;
        let before = effective(&own_base, &root_base);
        let after = effective(&own_head, &root_head);
        let Some(what) = what_changed(&before, &after) else {
            continue;
        };
        let at = if own_base == own_head {
            "Cargo.toml"
        } else {
            &path
        };
        out.push((
            i,
            Reason {
                kind: ReasonKind::Manifest,
                path: Some(at.to_string()),
                via: vec![s.package.clone()],
                text: format!("{at} changed: {what} of {}", s.name),
            },
        ));
    }
    Ok(out)
}

/// The files each service's image carries (`files`, its own and the workspace's), by
/// workspace-relative path.
pub(super) fn image_files(ws: &Workspace) -> HashMap<String, Vec<usize>> {
    let mut out: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, s) in ws.services.iter().enumerate() {
        for f in &s
            .config
            .image_settings
            .over(&ws.config.image_settings)
            .files
        {
            let path =
                crate::workspace::rel(Path::new(""), &super::refs::normalize(Path::new(&f.src)));
            let services = out.entry(path).or_default();
            if !services.contains(&i) {
                services.push(i);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> Table {
        manifest::parse(text.as_bytes(), "Cargo.toml").unwrap()
    }

    #[test]
    fn build_keys_come_from_the_monoship_table_only() {
        let t = table(
            "[package]\nname = \"a\"\n[package.metadata.monoship]\nport = 1\n\
             features = [\"x\"]\nno-default-features = true\nreplicas = 2\n",
        );
        let keys = build_keys(&t, "package").unwrap();
        assert_eq!(keys.features.features, Some(vec!["x".to_string()]));
        assert_eq!(keys.features.no_default_features, Some(true));
        assert_eq!(keys.image.port, Some(1));
        let none = table("[package]\nname = \"a\"\n");
        assert_eq!(build_keys(&none, "package"), Some(Keys::default()));
        let bad = table("[package.metadata.monoship]\nfeatures = 3\n");
        assert_eq!(build_keys(&bad, "package"), None);
    }

    #[test]
    fn what_changed_names_features_and_image_settings() {
        let keys = |text: &str| {
            let t = table(&format!("[package.metadata.monoship]\n{text}"));
            Some(build_keys(&t, "package").unwrap().over(&Keys::default()))
        };
        let plain = keys("replicas = 2");
        assert_eq!(what_changed(&plain, &keys("replicas = 3")), None);
        assert_eq!(
            what_changed(&plain, &keys("all-features = true")),
            Some("the cargo features")
        );
        assert_eq!(
            what_changed(&plain, &keys("env = { A = \"1\" }")),
            Some("the image settings")
        );
        assert_eq!(
            what_changed(&plain, &keys("strip = false")),
            Some("the image settings")
        );
        assert_eq!(what_changed(&None, &plain), Some("the build settings"));
    }
}
