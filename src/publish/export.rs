//! Publishing into an OCI image layout (a directory) instead of a registry: for
//! `podman run oci:DIR:users:TAG`, `skopeo copy oci:DIR:users:TAG docker://…`, or a hand-off
//! across an air gap.
//!
//! Per image, each blob is copied unless the layout holds it already (blobs are named by their
//! digest, so one that is there is the same), and `index.json` is written last: it lists
//! `SERVICE:TAG` for every tag, keeping the entries of other names that were there, so a
//! failure never leaves the index naming a missing blob. `publish.json` is not written: the
//! record of a layout is its `index.json`.

use super::layout::LocalImage;
use super::{
    BlobAction, BlobCounts, Event, Options, Outcome, PublishError, ServiceResult, naming, selected,
};
use crate::builder::BuildRecord;
use crate::image::{digest, oci};
use serde_json::{Value, json};
use std::path::Path;

/// The reference an exported image goes by, without its tag: `oci:DIR:SERVICE`.
pub fn reference(dest: &Path, service: &str) -> String {
    format!("oci:{}:{service}", dest.display())
}

/// Export the images of `build` (selected by `opts.services`, tagged by `opts.tags` besides
/// the revision's short sha) from the build's layout in `opts.from` into the layout at `dest`.
pub fn export(
    build: &BuildRecord,
    build_path: &Path,
    opts: &Options,
    dest: &Path,
    emit: &mut dyn FnMut(Event),
) -> Result<Vec<ServiceResult>, PublishError> {
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| PublishError::Io { path, source }
    };
    let chosen = selected(build, build_path, opts)?;
    let tags = naming::tags(&build.revision, &opts.tags).map_err(PublishError::from)?;
    let images = super::layout::read_images(&opts.from.join(crate::builder::LAYOUT), &chosen)?;
    let mut index = read_index(dest)?;
    let blobs = dest.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).map_err(io(&blobs))?;
    let mut results = Vec::new();
    for image in &images {
        let names: Vec<String> = tags
            .iter()
            .map(|t| format!("{}:{t}", image.service))
            .collect();
        let tagged = names.iter().all(|n| {
            index.iter().any(|m| {
                ref_name(m) == Some(n.as_str()) && m.get("digest") == Some(&json!(image.digest))
            })
        });
        let mut r = copy_image(image, dest, &tags, emit)?;
        if tagged && r.uploaded_bytes == 0 {
            r.result = Outcome::Unchanged;
        }
        index.retain(|m| !names.iter().any(|n| ref_name(m) == Some(n.as_str())));
        for name in names {
            index.push(json!({
                "mediaType": image.media_type,
                "digest": image.digest,
                "size": image.manifest.len(),
                "annotations": {oci::REF_NAME: name},
            }));
        }
        emit(Event::Finished(r.clone()));
        results.push(r);
    }
    oci::write_index(dest, &index).map_err(|(path, e)| io(&path)(e))?;
    Ok(results)
}

fn ref_name(entry: &Value) -> Option<&str> {
    entry.pointer("/annotations")?.get(oci::REF_NAME)?.as_str()
}

/// The entries of the layout's `index.json` (none when there is no layout yet).
fn read_index(dest: &Path) -> Result<Vec<Value>, PublishError> {
    let path = dest.join("index.json");
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(PublishError::Io {
                path: path.display().to_string(),
                source,
            });
        }
    };
    let layout_err = |detail: String| PublishError::Layout {
        path: path.display().to_string(),
        detail,
    };
    let doc: Value = serde_json::from_slice(&bytes)
        .map_err(|e| layout_err(format!("not an OCI image index: {e}")))?;
    match doc.get("manifests") {
        Some(Value::Array(entries)) => Ok(entries.clone()),
        None => Ok(Vec::new()),
        Some(_) => Err(layout_err(
            "not an OCI image index: `manifests` is not a list".into(),
        )),
    }
}

/// Copy the blobs of `image` that `dest` lacks, then its manifest.
fn copy_image(
    image: &LocalImage,
    dest: &Path,
    tags: &[String],
    emit: &mut dyn FnMut(Event),
) -> Result<ServiceResult, PublishError> {
    emit(Event::Started {
        service: image.service.clone(),
        image: reference(dest, &image.service),
        tags: tags.to_vec(),
    });
    let mut counts = BlobCounts::default();
    let mut copied = 0u64;
    for b in &image.blobs {
        let path = dest.join("blobs/sha256").join(digest::hex(&b.digest));
        let action = if std::fs::metadata(&path).is_ok_and(|m| m.len() == b.size) {
            counts.present = counts.present.saturating_add(1);
            BlobAction::Present
        } else {
            let data = image.read_blob(&b.digest)?;
            write_blob(&path, &data)?;
            counts.uploaded = counts.uploaded.saturating_add(1);
            copied = copied.saturating_add(b.size);
            BlobAction::Uploaded
        };
        emit(Event::Blob {
            service: image.service.clone(),
            digest: b.digest.clone(),
            size: b.size,
            action,
            from: None,
        });
    }
    let manifest = dest.join("blobs/sha256").join(digest::hex(&image.digest));
    write_blob(&manifest, &image.manifest)?;
    Ok(ServiceResult {
        service: image.service.clone(),
        reference: reference(dest, &image.service),
        digest: image.digest.clone(),
        tags: tags.to_vec(),
        result: Outcome::Pushed,
        uploaded_bytes: copied,
        blobs: counts,
    })
}

fn write_blob(path: &Path, data: &[u8]) -> Result<(), PublishError> {
    crate::atomic::write(path, data).map_err(|source| PublishError::Io {
        path: path.display().to_string(),
        source,
    })
}

/// A build as `monoship build` leaves it, for the tests of what reads one.
#[cfg(test)]
pub(crate) mod fixture {
    use super::*;
    use crate::builder::ServiceRecord;
    use crate::image::layer::{self, Entry};
    use crate::image::oci::{Image, ImageSpec};

    /// A build dir with one image per service, as `monoship build` leaves it.
    pub(crate) fn built(dir: &Path, services: &[&str]) -> BuildRecord {
        let mut images = Vec::new();
        for s in services {
            let file = Entry::File {
                path: format!("app/{s}"),
                mode: 0o755,
                data: s.as_bytes().to_vec(),
            };
            let spec = ImageSpec {
                entrypoint: vec![format!("/app/{s}")],
                user: "65532".into(),
                env: Vec::new(),
                working_dir: "/".into(),
                exposed_ports: Vec::new(),
                labels: Default::default(),
                created: "1970-01-01T00:00:00Z".into(),
            };
            let shared = layer::build(
                vec![Entry::Dir {
                    path: "app".into(),
                    mode: 0o755,
                }],
                0,
            );
            let own = layer::build(vec![file], 0);
            images.push((
                s.to_string(),
                Image::assemble(&spec, vec![shared.unwrap(), own.unwrap()]),
            ));
        }
        let refs: Vec<(String, &Image)> = images.iter().map(|(s, i)| (s.clone(), i)).collect();
        oci::write_layout(&dir.join(crate::builder::LAYOUT), &refs).unwrap();
        BuildRecord {
            revision: "0123456789abcdef0123456789abcdef01234567".into(),
            services: images
                .iter()
                .map(|(s, i)| ServiceRecord {
                    service: s.clone(),
                    binary_sha256: String::new(),
                    binary_size: 0,
                    image_digest: i.digest.clone(),
                    image_size: i.size(),
                    base: String::new(),
                    changed: true,
                    image_revision: String::new(),
                    image_epoch: 0,
                    debug: None,
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fixture::built;
    use super::*;

    fn names(dest: &Path) -> Vec<String> {
        let index = read_index(dest).unwrap();
        let mut names: Vec<String> = index
            .iter()
            .filter_map(|m| ref_name(m).map(String::from))
            .collect();
        names.sort();
        names
    }

    #[test]
    fn copies_missing_blobs_and_writes_the_index_last() {
        let tmp = tempfile::tempdir().unwrap();
        let build = built(tmp.path(), &["users", "orders"]);
        let dest = tmp.path().join("export");
        let mut opts = Options {
            from: tmp.path().to_path_buf(),
            registry: None,
            image: String::new(),
            prefix: String::new(),
            tags: vec!["latest".into()],
            services: vec!["users".into()],
            insecure: false,
        };
        let mut events = Vec::new();
        let out = export(&build, Path::new("build.json"), &opts, &dest, &mut |e| {
            events.push(e)
        })
        .unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].result, Outcome::Pushed);
        assert_eq!(out[0].blobs.uploaded, 3, "two layers and the config");
        assert_eq!(out[0].reference, format!("oci:{}:users", dest.display()));
        assert_eq!(names(&dest), ["users:0123456789ab", "users:latest"]);
        assert!(dest.join("oci-layout").is_file());
        for m in read_index(&dest).unwrap() {
            let blob = dest
                .join("blobs/sha256")
                .join(digest::hex(m["digest"].as_str().unwrap()));
            assert_eq!(digest::sha256(&std::fs::read(blob).unwrap()), m["digest"]);
        }

        // Again: nothing to copy, nothing changed. Then orders: the shared layer is there.
        let again = export(&build, Path::new("build.json"), &opts, &dest, &mut |_| {}).unwrap();
        assert_eq!(again[0].result, Outcome::Unchanged);
        assert_eq!(again[0].blobs.present, 3);
        opts.services = vec!["orders".into()];
        opts.tags.clear();
        let orders = export(&build, Path::new("build.json"), &opts, &dest, &mut |_| {}).unwrap();
        assert_eq!((orders[0].blobs.present, orders[0].blobs.uploaded), (1, 2));
        assert_eq!(
            names(&dest),
            ["orders:0123456789ab", "users:0123456789ab", "users:latest"]
        );
        assert!(events.iter().any(|e| matches!(
            e,
            Event::Blob {
                action: BlobAction::Uploaded,
                ..
            }
        )));
    }

    #[test]
    fn an_index_that_is_not_one_is_refused_untouched() {
        let tmp = tempfile::tempdir().unwrap();
        let build = built(tmp.path(), &["users"]);
        let dest = tmp.path().join("export");
        std::fs::create_dir_all(&dest).unwrap();
        std::fs::write(dest.join("index.json"), "{\"manifests\": 3}").unwrap();
        let opts = Options {
            from: tmp.path().to_path_buf(),
            registry: None,
            image: String::new(),
            prefix: String::new(),
            tags: Vec::new(),
            services: Vec::new(),
            insecure: false,
        };
        let e = export(&build, Path::new("build.json"), &opts, &dest, &mut |_| {}).unwrap_err();
        assert!(
            e.to_string()
                .ends_with("index.json: not an OCI image index: `manifests` is not a list"),
            "{e}"
        );
        assert!(!dest.join("blobs").exists());
        assert_eq!(
            std::fs::read_to_string(dest.join("index.json")).unwrap(),
            "{\"manifests\": 3}"
        );
    }
}
