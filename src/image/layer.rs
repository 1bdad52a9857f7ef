//! Reproducible layers: sorted entries, fixed owner and time, no extended attributes or user
//! names, and gzip with a fixed header. The same files give the same digest, always.

use sha2::{Digest, Sha256};
use std::io::Write;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Dir {
        path: String,
        mode: u32,
    },
    File {
        path: String,
        mode: u32,
        data: Vec<u8>,
    },
}

impl Entry {
    pub fn path(&self) -> &str {
        match self {
            Entry::Dir { path, .. } | Entry::File { path, .. } => path,
        }
    }
}

/// A compressed layer blob with its digests.
#[derive(Debug, Clone)]
pub struct Layer {
    pub blob: Vec<u8>,
    /// `sha256:` of the compressed blob.
    pub digest: String,
    /// `sha256:` of the uncompressed tar (the image config's `diff_ids`).
    pub diff_id: String,
    /// The layer's media type in the manifest.
    pub media_type: String,
}

pub fn sha256(data: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(data))
}

/// Build a layer from `entries` (paths relative to `/`, without a leading slash), every entry
/// owned by 0:0 with modification time `mtime`.
pub fn build(mut entries: Vec<Entry>, mtime: u64) -> std::io::Result<Layer> {
    entries.sort_by(|a, b| a.path().cmp(b.path()));
    entries.dedup_by(|a, b| a.path() == b.path());
    let mut tar = tar::Builder::new(Vec::new());
    tar.mode(tar::HeaderMode::Deterministic);
    for e in &entries {
        let mut h = tar::Header::new_ustar();
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(mtime);
        match e {
            Entry::Dir { path, mode } => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(*mode);
                h.set_size(0);
                tar.append_data(&mut h, format!("{path}/"), std::io::empty())?;
            }
            Entry::File { path, mode, data } => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(*mode);
                h.set_size(data.len() as u64);
                tar.append_data(&mut h, path, data.as_slice())?;
            }
        }
    }
    let raw = tar.into_inner()?;
    let diff_id = sha256(&raw);
    let mut gz = flate2::GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(Vec::new(), flate2::Compression::new(6));
    gz.write_all(&raw)?;
    let blob = gz.finish()?;
    Ok(Layer {
        digest: sha256(&blob),
        diff_id,
        blob,
        media_type: super::oci::LAYER_GZIP.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, data: &str) -> Entry {
        Entry::File {
            path: path.into(),
            mode: 0o555,
            data: data.as_bytes().to_vec(),
        }
    }

    #[test]
    fn same_files_same_digest_in_any_order() {
        let a = build(vec![file("app/x", "1"), file("app/y", "2")], 1).unwrap();
        let b = build(vec![file("app/y", "2"), file("app/x", "1")], 1).unwrap();
        assert_eq!(a.digest, b.digest);
        assert_eq!(a.diff_id, b.diff_id);
        let c = build(vec![file("app/x", "1"), file("app/y", "3")], 1).unwrap();
        assert_ne!(a.digest, c.digest);
        let d = build(vec![file("app/x", "1"), file("app/y", "2")], 2).unwrap();
        assert_ne!(a.digest, d.digest, "mtime is part of the layer");
    }

    #[test]
    fn entries_are_owned_by_root_with_fixed_time() {
        let layer = build(
            vec![
                Entry::Dir {
                    path: "tmp".into(),
                    mode: 0o1777,
                },
                file("app/x", "1"),
            ],
            7,
        )
        .unwrap();
        let raw = {
            let mut d = flate2::read::GzDecoder::new(layer.blob.as_slice());
            let mut v = Vec::new();
            std::io::Read::read_to_end(&mut d, &mut v).unwrap();
            v
        };
        assert_eq!(sha256(&raw), layer.diff_id);
        let mut ar = tar::Archive::new(raw.as_slice());
        let mut seen = Vec::new();
        for e in ar.entries().unwrap() {
            let e = e.unwrap();
            let h = e.header();
            assert_eq!(
                (h.uid().unwrap(), h.gid().unwrap(), h.mtime().unwrap()),
                (0, 0, 7)
            );
            assert!(h.username().unwrap().unwrap_or("").is_empty());
            seen.push((e.path().unwrap().display().to_string(), h.mode().unwrap()));
        }
        assert_eq!(
            seen,
            vec![("app/x".to_string(), 0o555), ("tmp/".to_string(), 0o1777)]
        );
    }
}
