//! Reproducible layers: sorted entries, fixed owner and time, no extended attributes or user
//! names, and gzip with a fixed header. The same files give the same digest, always.

use super::digest::{self, sha256};
use std::io::Read;
use std::path::Path;

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

/// The media type of the layers built here.
pub const LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// Build a layer from `entries` (paths relative to `/`, without a leading slash), every entry
/// owned by 0:0 with modification time `mtime`.
pub fn build(entries: Vec<Entry>, mtime: u64) -> std::io::Result<Layer> {
    build_with(entries, mtime, None)
}

/// [`build`], keeping compressed layers in `cache` (a directory) by the digest of their
/// uncompressed tar: the same files are compressed once, then read back.
pub fn build_with(
    mut entries: Vec<Entry>,
    mtime: u64,
    cache: Option<&Path>,
) -> std::io::Result<Layer> {
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
    let cached = cache.map(|dir| dir.join(format!("{}.gz", digest::hex(&diff_id))));
    let blob = match cached.as_deref().and_then(|p| read_cached(p, &diff_id)) {
        Some(blob) => blob,
        None => {
            let blob = gzip(&raw)?;
            if let Some(path) = &cached {
                // Best effort: a cache that cannot be written only costs time.
                if let Err(e) = crate::atomic::write_in_new_dir(path, &blob) {
                    tracing::debug!("layer cache {}: {e}", path.display());
                }
            }
            blob
        }
    };
    Ok(Layer {
        digest: sha256(&blob),
        diff_id,
        blob,
        media_type: LAYER_GZIP.to_string(),
    })
}

/// Input per deflate chunk: chunks are compressed in parallel, so the output depends on this
/// size and the level only, never on the number of cores.
const CHUNK: usize = 512 * 1024;
const LEVEL: u32 = 6;

/// One gzip member (fixed header: no name, time 0, OS "unknown") whose deflate stream is the
/// concatenation of independently compressed [`CHUNK`]s, each but the last ending on a sync
/// flush (the way `pigz` splits its work), compressed on every core.
fn gzip(raw: &[u8]) -> std::io::Result<Vec<u8>> {
    let chunks: Vec<&[u8]> = if raw.is_empty() {
        vec![raw]
    } else {
        raw.chunks(CHUNK).collect()
    };
    let last = chunks.len() - 1;
    let numbered: Vec<(usize, &[u8])> = chunks.into_iter().enumerate().collect();
    let parts = crate::parallel::map(&numbered, |(i, chunk)| deflate(chunk, *i == last));
    let mut crc = flate2::Crc::new();
    crc.update(raw);
    // ID1 ID2 CM=deflate FLG=0 MTIME=0 XFL=0 OS=255
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];
    for p in parts {
        out.extend_from_slice(&p?);
    }
    out.extend_from_slice(&crc.sum().to_le_bytes());
    out.extend_from_slice(&(raw.len() as u32).to_le_bytes());
    Ok(out)
}

/// Raw deflate of `data`: ends the stream when `finish`, else with a sync flush, so that the
/// next chunk's stream can follow it.
fn deflate(data: &[u8], finish: bool) -> std::io::Result<Vec<u8>> {
    use flate2::{Compress, Compression, FlushCompress, Status};
    let mut c = Compress::new(Compression::new(LEVEL), false);
    let flush = if finish {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    let mut out = Vec::with_capacity(data.len() / 2 + 1024);
    loop {
        if out.capacity() - out.len() < 1024 {
            out.reserve(out.capacity().max(64 * 1024));
        }
        let consumed = c.total_in() as usize;
        let status = c
            .compress_vec(&data[consumed..], &mut out, flush)
            .map_err(std::io::Error::other)?;
        let done = c.total_in() as usize == data.len() && out.len() < out.capacity();
        match status {
            Status::StreamEnd => return Ok(out),
            _ if !finish && done => return Ok(out),
            _ => {}
        }
    }
}

/// A cached blob, if it is there and decompresses to the tar with digest `diff_id`. Its time
/// is set to now, for [`prune`].
fn read_cached(path: &Path, diff_id: &str) -> Option<Vec<u8>> {
    let blob = std::fs::read(path).ok()?;
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(blob.as_slice())
        .read_to_end(&mut raw)
        .ok()?;
    if sha256(&raw) != diff_id {
        return None;
    }
    if let Ok(f) = std::fs::File::options().append(true).open(path) {
        let _ = f.set_modified(std::time::SystemTime::now());
    }
    Some(blob)
}

/// Keep a layer cache small: remove the blobs not used for `max_age`, then the least recently
/// used ones until the rest take at most `max_bytes`. Returns the number of files removed.
pub fn prune(cache: &Path, max_age: std::time::Duration, max_bytes: u64) -> usize {
    let Ok(dir) = std::fs::read_dir(cache) else {
        return 0;
    };
    let now = std::time::SystemTime::now();
    let mut files: Vec<(std::time::SystemTime, u64, std::path::PathBuf)> = dir
        .flatten()
        .filter_map(|e| {
            let meta = e.metadata().ok()?;
            meta.is_file()
                .then(|| (meta.modified().unwrap_or(now), meta.len(), e.path()))
        })
        .collect();
    files.sort_by_key(|f| std::cmp::Reverse(f.0));
    let mut kept = 0u64;
    let mut removed = 0;
    for (time, len, path) in files {
        let old = now.duration_since(time).unwrap_or_default() > max_age;
        if old || kept + len > max_bytes {
            removed += usize::from(std::fs::remove_file(&path).is_ok());
        } else {
            kept += len;
        }
    }
    removed
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
    fn pruning_removes_old_and_least_recently_used_blobs() {
        use std::time::{Duration, SystemTime};
        let dir = tempfile::tempdir().unwrap();
        let day = Duration::from_secs(86_400);
        let put = |name: &str, len: usize, age: Duration| {
            let p = dir.path().join(name);
            std::fs::write(&p, vec![0u8; len]).unwrap();
            let f = std::fs::File::options().append(true).open(&p).unwrap();
            f.set_modified(SystemTime::now() - age).unwrap();
        };
        put("fresh.gz", 100, Duration::ZERO);
        put("recent.gz", 100, day);
        put("older.gz", 100, day * 2);
        put("ancient.gz", 10, day * 30);
        assert_eq!(prune(dir.path(), day * 14, 250), 2);
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["fresh.gz", "recent.gz"]);
        // A blob read from the cache counts as used now.
        let layer = build_with(vec![file("app/x", "1")], 1, Some(dir.path())).unwrap();
        let name = format!("{}.gz", digest::hex(&layer.diff_id));
        std::fs::write(dir.path().join(&name), &layer.blob).unwrap();
        let f = std::fs::File::options()
            .append(true)
            .open(dir.path().join(&name))
            .unwrap();
        f.set_modified(SystemTime::now() - day * 20).unwrap();
        build_with(vec![file("app/x", "1")], 1, Some(dir.path())).unwrap();
        assert_eq!(prune(dir.path(), day * 14, 1 << 20), 0);
    }

    #[test]
    fn chunked_gzip_is_one_valid_member() {
        // Several chunks of mixed compressible and incompressible bytes, and the edge sizes.
        let mut x: u64 = 1;
        let mut data = Vec::new();
        for i in 0..(CHUNK * 2 + 12_345) {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            data.push(if (i / 4096) % 2 == 0 {
                (x >> 56) as u8
            } else {
                b'a'
            });
        }
        for len in [0, 1, CHUNK, CHUNK + 1, data.len()] {
            let gz = gzip(&data[..len]).unwrap();
            let mut out = Vec::new();
            let mut d = flate2::read::GzDecoder::new(gz.as_slice());
            d.read_to_end(&mut out).unwrap();
            assert_eq!(out, &data[..len], "length {len}");
            let mut rest = Vec::new();
            d.into_inner().read_to_end(&mut rest).unwrap();
            assert!(rest.is_empty(), "one gzip member, nothing after it");
        }
        assert_eq!(gzip(&data).unwrap(), gzip(&data).unwrap());
    }

    #[test]
    fn cached_layers_are_the_same_and_survive_a_damaged_cache() {
        let dir = tempfile::tempdir().unwrap();
        let files = || vec![file("app/x", "1"), file("app/y", "2")];
        let plain = build(files(), 1).unwrap();
        let first = build_with(files(), 1, Some(dir.path())).unwrap();
        let cached: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(cached.len(), 1, "one blob cached");
        let path = cached[0].as_ref().unwrap().path();
        assert_eq!(std::fs::read(&path).unwrap(), first.blob);
        let again = build_with(files(), 1, Some(dir.path())).unwrap();
        assert_eq!(
            (&again.digest, &again.diff_id),
            (&plain.digest, &plain.diff_id)
        );
        // A truncated blob is not used: the layer is compressed again and the cache repaired.
        std::fs::write(&path, &first.blob[..first.blob.len() / 2]).unwrap();
        let repaired = build_with(files(), 1, Some(dir.path())).unwrap();
        assert_eq!(repaired.digest, plain.digest);
        assert_eq!(std::fs::read(&path).unwrap(), plain.blob);
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
