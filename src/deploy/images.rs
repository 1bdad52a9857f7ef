//! Which image a service is deployed with: always pinned by digest (`repo@sha256:…`), from
//! `--image SERVICE=REF`, else the publish record (`publish.json`), else the build record
//! (`build.json`) and the image name template.

use crate::builder::BuildRecord;
use crate::invalid::Invalid;
use crate::publish::{PublishRecord, naming};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The image one service is deployed with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Artifact {
    /// `host/repository@sha256:…`
    pub reference: String,
    /// `sha256:…`
    pub digest: String,
    /// The git revision it was built from, when known.
    pub revision: Option<String>,
    /// Where the reference came from: `--image`, `publish.json`, `build.json`, `promote`.
    pub source: String,
    /// `monoship promote`: where this digest ran before (recorded on the Deployment).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub promoted_from: Option<PromotedFrom>,
}

/// The environment a promoted image ran in, recorded as `monoship.dev/promoted-from`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct PromotedFrom {
    pub environment: String,
    /// `sha256:…`: the digest that ran there (the same as the one deployed).
    pub digest: String,
    /// The git revision it was built from.
    pub revision: Option<String>,
    /// When it was promoted (RFC 3339, UTC).
    pub time: String,
}

impl PromotedFrom {
    /// The annotation's value: this, as one line of JSON.
    pub fn annotation(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// `repo@sha256:<64 hex>`, or why not.
pub fn check_reference(reference: &str) -> Result<&str, Invalid> {
    let Some((repo, digest)) = reference.rsplit_once('@') else {
        return Err(Invalid(format!(
            "image `{reference}` is not pinned by digest: give `repo@sha256:<64 hex digits>` \
             (tags can move; deploys are by digest)"
        )));
    };
    let hex = digest.strip_prefix("sha256:").unwrap_or("");
    let hex_ok = hex.len() == 64
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !hex_ok {
        return Err(Invalid(format!(
            "image `{reference}`: the digest must be `sha256:` and 64 lowercase hex digits"
        )));
    }
    let name = repo.split_once(':').map_or(repo, |(n, _)| n);
    let repo_ok = !repo.is_empty()
        && !repo.contains("//")
        && !repo.contains(char::is_whitespace)
        && name
            .rsplit('/')
            .next()
            .is_some_and(|last| !last.is_empty() && last == last.to_ascii_lowercase());
    if !repo_ok {
        return Err(Invalid(format!(
            "image `{reference}`: `{repo}` is not an image name"
        )));
    }
    Ok(digest)
}

/// `--image SERVICE=REF` → (service, reference), the reference checked.
pub fn parse_image_flag(flag: &str) -> Result<(String, String), Invalid> {
    let Some((service, reference)) = flag.split_once('=') else {
        return Err(Invalid(format!("--image `{flag}`: expected SERVICE=REF")));
    };
    if service.is_empty() {
        return Err(Invalid(format!(
            "--image `{flag}`: the service name is empty"
        )));
    }
    check_reference(reference)?;
    Ok((service.to_string(), reference.to_string()))
}

/// The records of a build directory (`<target-dir>/monoship` or `--from-build`).
#[derive(Debug, Default)]
pub struct Records {
    pub dir: PathBuf,
    pub build: Option<BuildRecord>,
    pub publish: Option<PublishRecord>,
}

/// Read `build.json` and `publish.json` of `path`: a directory, or a `build.json` file.
/// Missing records are `None`; unreadable ones are errors.
pub fn read_records(path: &Path) -> Result<Records, Invalid> {
    let dir = if path.is_file() {
        path.parent().map(Path::to_path_buf).unwrap_or_default()
    } else {
        path.to_path_buf()
    };
    let build_path = if path.is_file() {
        path.to_path_buf()
    } else {
        dir.join(crate::builder::BUILD_RECORD)
    };
    Ok(Records {
        build: read_json(&build_path)?,
        publish: read_json(&dir.join(crate::publish::PUBLISH_RECORD))?,
        dir,
    })
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>, Invalid> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Invalid(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Invalid(format!("{}: {e}", path.display()))),
    }
}

/// How image names are made from the build record (the publish settings).
#[derive(Debug, Clone, Default)]
pub struct Naming {
    pub registry: Option<String>,
    pub template: String,
    pub prefix: String,
}

/// The image for `service`: the flag, else `publish.json`, else `build.json` + naming.
/// `head` is the workspace's revision, for references given with `--image`.
pub fn resolve(
    service: &str,
    flags: &BTreeMap<String, String>,
    records: &Records,
    naming: &Naming,
    head: Option<&str>,
) -> Result<Artifact, Invalid> {
    if let Some(reference) = flags.get(service) {
        let digest = check_reference(reference)?.to_string();
        return Ok(Artifact {
            reference: reference.clone(),
            digest,
            revision: head.map(str::to_string),
            source: "--image".into(),
            promoted_from: None,
        });
    }
    let built = records.build.as_ref().and_then(|b| {
        b.services
            .iter()
            .find(|s| s.service == service)
            .map(|s| (b, s))
    });
    let published = records.publish.as_ref().and_then(|p| {
        p.services
            .iter()
            .find(|s| s.service == service)
            .map(|s| (p, s))
    });
    if let Some((record, p)) = published {
        if let Some((_, b)) = built
            && b.image_digest != p.digest
        {
            return Err(Invalid(format!(
                "{service}: the build record has image {} but the publish record has {}: \
                     run `monoship publish {service}` (or pass --image {service}=REF)",
                b.image_digest, p.digest
            )));
        }
        check_reference(&p.reference)?;
        return Ok(Artifact {
            reference: p.reference.clone(),
            digest: p.digest.clone(),
            revision: Some(record.revision.clone()),
            source: crate::publish::PUBLISH_RECORD.into(),
            promoted_from: None,
        });
    }
    if let Some((record, b)) = built {
        let registry = naming.registry.as_deref();
        if registry.is_none() && naming.template.contains("{registry}") {
            return Err(Invalid(format!(
                "{service}: no published image (no entry in {}) and no `registry` to name it: \
                 run `monoship publish` or pass --image {service}=REPO@sha256:…",
                records.dir.join(crate::publish::PUBLISH_RECORD).display()
            )));
        }
        let name = naming::image_name(&naming.template, registry, &naming.prefix, service)
            .map_err(|e| Invalid(format!("{service}: {e}")))?;
        let reference = format!("{name}@{}", b.image_digest);
        check_reference(&reference)?;
        return Ok(Artifact {
            reference,
            digest: b.image_digest.clone(),
            revision: Some(record.revision.clone()),
            source: crate::builder::BUILD_RECORD.into(),
            promoted_from: None,
        });
    }
    Err(Invalid(format!(
        "{service}: no image to deploy: it is in neither {} nor {}; run `monoship build` and \
         `monoship publish`, or pass --image {service}=REPO@sha256:…",
        records.dir.join(crate::publish::PUBLISH_RECORD).display(),
        records.dir.join(crate::builder::BUILD_RECORD).display()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn references_must_be_pinned_by_digest() {
        assert!(check_reference(&format!("example.test/fleet/users@sha256:{HEX}")).is_ok());
        assert!(check_reference(&format!("localhost:5000/users@sha256:{HEX}")).is_ok());
        let tag = check_reference("example.test/fleet/users:v1")
            .unwrap_err()
            .0;
        assert!(tag.contains("not pinned by digest"), "{tag}");
        assert!(check_reference("example.test/users@sha256:abc").is_err());
        assert!(check_reference(&format!("@sha256:{HEX}")).is_err());
        let (s, r) = parse_image_flag(&format!("users=example.test/u@sha256:{HEX}")).unwrap();
        assert_eq!((s.as_str(), r.len()), ("users", 14 + 8 + 64));
        assert!(parse_image_flag("users").is_err());
    }

    fn records(publish: bool) -> Records {
        let digest = format!("sha256:{HEX}");
        Records {
            dir: PathBuf::from("/t/monoship"),
            build: Some(
                serde_json::from_value(json!({"revision": "r1", "services": [
                    {"service": "users", "binary_sha256": "x", "binary_size": 1,
                     "image_digest": digest, "image_size": 2, "base": "b", "changed": true}]}))
                .unwrap(),
            ),
            publish: publish.then(|| {
                serde_json::from_value(json!({"registry": "reg.test", "revision": "r1",
                    "services": [{"service": "users",
                        "reference": format!("reg.test/users@{digest}"), "digest": digest,
                        "tags": [], "result": "pushed", "uploaded_bytes": 0,
                        "blobs": {"uploaded": 0, "mounted": 0, "present": 0}}]}))
                .unwrap()
            }),
        }
    }

    #[test]
    fn flag_then_publish_record_then_build_record() {
        let naming = Naming {
            registry: Some("other.test/acme".into()),
            template: naming::DEFAULT_TEMPLATE.into(),
            prefix: String::new(),
        };
        let mut flags = BTreeMap::new();
        let a = resolve("users", &flags, &records(true), &naming, Some("head")).unwrap();
        assert_eq!(a.reference, format!("reg.test/users@sha256:{HEX}"));
        assert_eq!(a.revision.as_deref(), Some("r1"));
        let a = resolve("users", &flags, &records(false), &naming, None).unwrap();
        assert_eq!(a.reference, format!("other.test/acme/users@sha256:{HEX}"));
        assert_eq!(a.source, "build.json");
        flags.insert("users".into(), format!("x.test/u@sha256:{HEX}"));
        let a = resolve("users", &flags, &records(true), &naming, Some("head")).unwrap();
        assert_eq!(
            (a.source.as_str(), a.revision.as_deref()),
            ("--image", Some("head"))
        );
    }

    #[test]
    fn no_reference_is_a_clear_error() {
        let naming = Naming {
            template: naming::DEFAULT_TEMPLATE.into(),
            ..Default::default()
        };
        let err = resolve("users", &BTreeMap::new(), &records(false), &naming, None)
            .unwrap_err()
            .0;
        assert!(
            err.contains("monoship publish") && err.contains("--image"),
            "{err}"
        );
        let err = resolve("orders", &BTreeMap::new(), &records(true), &naming, None)
            .unwrap_err()
            .0;
        assert!(err.contains("no image to deploy"), "{err}");
    }
}
