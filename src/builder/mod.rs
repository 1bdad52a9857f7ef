//! `monoship build`: compile the selected services in as few cargo invocations as feature
//! unification allows, then assemble one reproducible OCI image per service.

pub mod docker;
mod images;
pub mod plan;

use crate::image::{self, oci};
use crate::workspace::Workspace;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// Bad input (exit code 2).
    #[error("unknown service `{0}` (see `monoship services`)")]
    UnknownService(String),
    #[error("{0}")]
    Plan(String),
    /// Configuration that cannot be built (exit code 2).
    #[error("{0}")]
    Config(String),
    #[error("base image {reference}: {message}")]
    Base { reference: String, message: String },
    #[error("compilation failed ({services}): {summary}")]
    Compile { services: String, summary: String },
    #[error("cargo produced no binary for service `{0}`")]
    MissingBinary(String),
    #[error(transparent)]
    Image(#[from] image::ImageError),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BuildError + '_ {
    move |source| BuildError::Io {
        path: path.display().to_string(),
        source,
    }
}

#[derive(Debug, Clone)]
pub struct Options {
    /// Services to build (already validated names); empty means every service.
    pub services: Vec<String>,
    pub profile: String,
    pub target: String,
    /// Link statically (`+crt-static`); `None`: as configured (default true).
    pub static_link: Option<bool>,
    pub offline: bool,
    /// The git revision the build is of, and its commit time (SOURCE_DATE_EPOCH default).
    pub revision: String,
    pub epoch: u64,
    /// Where the OCI layout and build record go (default `<target-dir>/monoship`).
    pub out_dir: Option<PathBuf>,
}

/// The cargo profile of a build when neither `--profile` nor the configuration names one.
pub const DEFAULT_PROFILE: &str = "release";
/// The target of a build when neither `--target` nor the configuration names one: images run
/// on Linux, whatever the host.
pub const DEFAULT_TARGET: &str = "x86_64-unknown-linux-gnu";

impl Options {
    /// A build of `ws` at its HEAD commit: `profile` and `target` from the flags, else the
    /// configuration, else [`DEFAULT_PROFILE`] and [`DEFAULT_TARGET`]; labelled with
    /// `SOURCE_DATE_EPOCH` when set, else the commit's time. Every service unless `services`.
    pub fn at_head(
        ws: &Workspace,
        profile: Option<&str>,
        target: Option<&str>,
        offline: bool,
    ) -> Result<Options, BuildError> {
        let git =
            crate::changes::Git::open(&ws.root).map_err(|e| BuildError::Config(e.to_string()))?;
        let (revision, commit_time) = git
            .head_info()
            .map_err(|e| BuildError::Config(e.to_string()))?;
        let epoch = match std::env::var("SOURCE_DATE_EPOCH") {
            Ok(v) => v.parse().map_err(|_| {
                BuildError::Config(format!("SOURCE_DATE_EPOCH is not a number: `{v}`"))
            })?,
            Err(_) => commit_time,
        };
        let pick = |flag: Option<&str>, config: &Option<String>, default: &str| {
            flag.map(str::to_string)
                .or_else(|| config.clone())
                .unwrap_or_else(|| default.to_string())
        };
        Ok(Options {
            services: Vec::new(),
            profile: pick(profile, &ws.config.profile, DEFAULT_PROFILE),
            target: pick(target, &ws.config.target, DEFAULT_TARGET),
            static_link: None,
            offline,
            revision: revision.to_string(),
            epoch,
            out_dir: None,
        })
    }
}

/// What the stage reports while it runs.
#[derive(Debug, Clone)]
pub enum Event {
    Planned {
        groups: Vec<Vec<String>>,
    },
    GroupStarted {
        index: usize,
        total: usize,
        services: Vec<String>,
        /// An estimate of the compilation units (packages in the group's closure).
        units: usize,
    },
    /// A compilation unit finished (`fresh`: it was up to date).
    Unit {
        name: String,
        fresh: bool,
    },
    /// A compiler warning or error, rendered by rustc, with the crate it belongs to.
    Diagnostic {
        package: String,
        level: String,
        rendered: String,
    },
    ImageAssembled {
        service: String,
        digest: String,
        size: u64,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ServiceRecord {
    pub service: String,
    pub binary_sha256: String,
    pub binary_size: u64,
    pub image_digest: String,
    pub image_size: u64,
    pub base: String,
    /// The image digest differs from the service's image in the last build that built it (or
    /// there was none).
    pub changed: bool,
    /// The revision and time (seconds since the epoch) the image is labelled with: those of the
    /// build that first produced this binary, so an identical binary keeps its image digest
    /// across commits while the target directory keeps its records.
    #[serde(default)]
    pub image_revision: String,
    #[serde(default)]
    pub image_epoch: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BuildRecord {
    pub revision: String,
    pub services: Vec<ServiceRecord>,
}

pub use image::BUILTIN_BASE;

/// Layers unused for this long leave the layer cache.
const LAYER_CACHE_AGE: std::time::Duration = std::time::Duration::from_secs(14 * 86_400);
/// The most the layer cache keeps (least recently used layers go first).
const LAYER_CACHE_BYTES: u64 = 512 << 20;

pub struct Output {
    pub record: BuildRecord,
    pub layout: PathBuf,
    pub record_path: PathBuf,
}

pub fn run(
    ws: &Workspace,
    opts: &Options,
    emit: &mut dyn FnMut(Event),
) -> Result<Output, BuildError> {
    let services: Vec<&crate::workspace::Service> = if opts.services.is_empty() {
        ws.services.iter().collect()
    } else {
        opts.services
            .iter()
            .map(|n| {
                ws.service(n)
                    .ok_or_else(|| BuildError::UnknownService(n.clone()))
            })
            .collect::<Result<_, _>>()?
    };
    let settings: BTreeMap<&str, Settings> = services
        .iter()
        .map(|s| Ok((s.name.as_str(), Settings::resolve(ws, s, opts)?)))
        .collect::<Result<_, BuildError>>()?;
    let out_dir = opts
        .out_dir
        .clone()
        .unwrap_or_else(|| ws.target_dir.join("monoship"));
    let cache_dir = out_dir.join("cache");
    let layer_cache = cache_dir.join(concat!("layers-", env!("CARGO_PKG_VERSION")));
    // One service is one group: no need to ask cargo for its features.
    let alone = if services.len() == 1 {
        BTreeMap::new()
    } else {
        let packages: Vec<&str> = services.iter().map(|s| s.package.as_str()).collect();
        plan::features_cached(
            ws,
            &packages,
            &opts.target,
            opts.offline,
            &cache_dir.join("features.json"),
        )
        .map_err(BuildError::Plan)?
    };
    let mut features = Vec::new();
    for s in &services {
        let mut f = alone.get(&s.package).cloned().unwrap_or_default();
        // Linking differs per invocation (RUSTFLAGS), so it splits groups like features do.
        f.insert(
            "<static>".into(),
            settings[s.name.as_str()].static_link.to_string(),
        );
        features.push((s.name.as_str(), f));
    }
    // Base images first: a missing one fails before anything compiles.
    let mut bases: BTreeMap<BaseImage, image::Base> = BTreeMap::new();
    for set in settings.values() {
        if !bases.contains_key(&set.base) {
            let base = match &set.base {
                BaseImage::Builtin => image::builtin_base_cached(Some(&layer_cache))?,
                BaseImage::Pulled(reference) => pull_base(reference, &ws.target_dir)?,
            };
            bases.insert(set.base.clone(), base);
        }
    }
    let groups = plan::group(&features);
    emit(Event::Planned {
        groups: groups
            .iter()
            .map(|g| g.iter().map(|s| s.to_string()).collect())
            .collect(),
    });

    let mut binaries: BTreeMap<String, PathBuf> = BTreeMap::new();
    for (i, group) in groups.iter().enumerate() {
        let names: Vec<String> = group.iter().map(|s| s.to_string()).collect();
        let members: Vec<_> = services
            .iter()
            .filter(|s| group.contains(&s.name.as_str()))
            .copied()
            .collect();
        emit(Event::GroupStarted {
            index: i + 1,
            total: groups.len(),
            services: names.clone(),
            units: closure_size(ws, &members),
        });
        let static_link = settings[members[0].name.as_str()].static_link;
        binaries.extend(compile(ws, opts, &members, static_link, emit)?);
    }

    let layout = out_dir.join("oci");
    let record_path = out_dir.join("build.json");
    let previous: Option<BuildRecord> = std::fs::read(&record_path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    // Every service's latest image, whatever the build it came from: a service built alone
    // after others keeps its image when its binary did not change.
    let index_path = cache_dir.join("images.json");
    let mut index: BTreeMap<String, ServiceRecord> = std::fs::read(&index_path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    if let Some(p) = &previous {
        for r in &p.services {
            index.entry(r.service.clone()).or_insert_with(|| r.clone());
        }
    }
    let jobs: Vec<images::Job<'_>> = services
        .iter()
        .map(|s| {
            let set = &settings[s.name.as_str()];
            Ok(images::Job {
                service: s,
                binary: binaries
                    .get(&s.name)
                    .ok_or_else(|| BuildError::MissingBinary(s.name.clone()))?,
                version: ws
                    .package(&s.package)
                    .map(|p| p.version.clone())
                    .unwrap_or_default(),
                settings: set,
                base: &bases[&set.base],
                before: index.get(&s.name),
            })
        })
        .collect::<Result<_, BuildError>>()?;
    let mut images = Vec::new();
    let mut records = Vec::new();
    for (record, img) in images::assemble_all(&jobs, opts, &layer_cache)? {
        emit(Event::ImageAssembled {
            service: record.service.clone(),
            digest: img.digest.clone(),
            size: img.size(),
        });
        images.push((record.service.clone(), img));
        records.push(record);
    }
    // The layer cache keeps what recent builds used (and nothing of other monoship versions).
    image::layer::prune(&layer_cache, LAYER_CACHE_AGE, LAYER_CACHE_BYTES);
    if let Ok(dir) = std::fs::read_dir(&cache_dir) {
        for e in dir.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with("layers-") && e.path() != layer_cache {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    let refs: Vec<(String, &oci::Image)> = images.iter().map(|(n, i)| (n.clone(), i)).collect();
    oci::write_layout(&layout, &refs).map_err(io(&layout))?;
    let record = BuildRecord {
        revision: opts.revision.clone(),
        services: records,
    };
    let json = serde_json::to_vec_pretty(&record).expect("json");
    crate::atomic::write(&record_path, &json).map_err(io(&record_path))?;
    for r in &record.services {
        index.insert(r.service.clone(), r.clone());
    }
    // Best effort: without it a later build compares with build.json only.
    let _ =
        crate::atomic::write_in_new_dir(&index_path, &serde_json::to_vec(&index).expect("json"));
    Ok(Output {
        record,
        layout,
        record_path,
    })
}

/// The image a service's image is built on (`base`: `builtin`, or a reference).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum BaseImage {
    /// monoship's own: CA certificates, a passwd entry, nothing else.
    Builtin,
    /// An image pulled from a registry.
    Pulled(String),
}

impl BaseImage {
    fn parse(value: Option<String>) -> BaseImage {
        match value {
            None => BaseImage::Builtin,
            Some(v) if v == "builtin" => BaseImage::Builtin,
            Some(reference) => BaseImage::Pulled(reference),
        }
    }
}

/// A service's image settings: its own table, else the workspace's, else the defaults.
struct Settings {
    base: BaseImage,
    port: u16,
    env: Vec<String>,
    files: Vec<(String, u32, Vec<u8>)>,
    static_link: bool,
}

impl Settings {
    fn resolve(
        ws: &Workspace,
        s: &crate::workspace::Service,
        opts: &Options,
    ) -> Result<Settings, BuildError> {
        let (own, all) = (&s.config.image_settings, &ws.config.image_settings);
        let static_link = opts
            .static_link
            .or(own.static_link)
            .or(all.static_link)
            .unwrap_or(true);
        let base = BaseImage::parse(own.base.clone().or_else(|| all.base.clone()));
        if !static_link && base == BaseImage::Builtin {
            return Err(BuildError::Config(format!(
                "service `{}`: static = false needs a `base` image with a C library; the built-in base has none",
                s.name
            )));
        }
        let mut env: BTreeMap<&String, &String> = all.env.iter().collect();
        env.extend(own.env.iter());
        let mut files = Vec::new();
        for f in all.files.iter().chain(own.files.iter()) {
            let Some(dst) = f.dst.strip_prefix('/') else {
                return Err(BuildError::Config(format!(
                    "service `{}`: file destination `{}` must be absolute",
                    s.name, f.dst
                )));
            };
            let src = ws.root.join(&f.src);
            let data = std::fs::read(&src).map_err(|e| {
                BuildError::Config(format!("service `{}`: file `{}`: {e}", s.name, f.src))
            })?;
            files.push((dst.to_string(), f.mode.unwrap_or(0o444), data));
        }
        Ok(Settings {
            base,
            port: own.port.or(all.port).unwrap_or(9100),
            env: env.into_iter().map(|(k, v)| format!("{k}={v}")).collect(),
            files,
            static_link,
        })
    }
}

/// Pull a base image (once; its blobs are cached by digest under the target directory) and
/// take its layers as they are. Plain HTTP only for registries on this machine.
fn pull_base(reference: &str, target_dir: &Path) -> Result<image::Base, BuildError> {
    let err = |message: String| BuildError::Base {
        reference: reference.to_string(),
        message,
    };
    let host = reference.split('/').next().unwrap_or("");
    let transport = crate::registry::Transport::for_base(host);
    let cache = crate::registry::pull::cache_dir(target_dir);
    let pulled = crate::registry::pull::pull(reference, &cache, transport)
        .map_err(|e| err(e.to_string()))?;
    let config: serde_json::Value = std::fs::read(pulled.blob_path(&pulled.config.digest))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| err("unreadable image config".into()))?;
    let diff_ids: Vec<String> = config["rootfs"]["diff_ids"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|d| d.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    if diff_ids.len() != pulled.layers.len() {
        return Err(err("the config's diff_ids do not match the layers".into()));
    }
    let mut layers = Vec::new();
    for (blob, diff_id) in pulled.layers.iter().zip(diff_ids) {
        let path = pulled.blob_path(&blob.digest);
        let data = std::fs::read(&path).map_err(io(&path))?;
        layers.push(image::layer::Layer {
            blob: data,
            digest: blob.digest.clone(),
            diff_id,
            media_type: blob.media_type.clone(),
        });
    }
    let env = config["config"]["Env"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|e| e.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    Ok(image::Base {
        name: format!("{}@{}", pulled.repository, pulled.digest),
        layers,
        env,
    })
}

/// Packages in the normal/build closure of `group`.
fn closure_size(ws: &Workspace, group: &[&crate::workspace::Service]) -> usize {
    if !ws.resolved {
        return lock_closure_size(ws, group);
    }
    let mut seen = std::collections::HashSet::new();
    let mut stack: Vec<usize> = group
        .iter()
        .filter_map(|s| ws.package(&s.package).map(|p| p.node))
        .collect();
    while let Some(n) = stack.pop() {
        if seen.insert(n) {
            stack.extend(ws.nodes[n].deps.iter().copied());
        }
    }
    seen.len()
}

/// [`closure_size`] from `Cargo.lock` when the workspace was loaded without its graph: every
/// package the group's packages reach there (the lock file does not say which dependencies are
/// for other platforms or for tests, so this counts a few more than cargo compiles).
fn lock_closure_size(ws: &Workspace, group: &[&crate::workspace::Service]) -> usize {
    let Some(lock) = std::fs::read_to_string(ws.root.join("Cargo.lock"))
        .ok()
        .and_then(|t| t.parse::<toml::Table>().ok())
    else {
        return group.len();
    };
    let packages: Vec<&toml::Table> = lock
        .get("package")
        .and_then(|p| p.as_array())
        .map(|a| a.iter().filter_map(|p| p.as_table()).collect())
        .unwrap_or_default();
    fn field<'a>(p: &'a toml::Table, k: &str) -> &'a str {
        p.get(k).and_then(|v| v.as_str()).unwrap_or("")
    }
    // A dependency is "name", "name version" or "name version (source)".
    let find = |dep: &str| {
        let mut parts = dep.split_whitespace();
        let name = parts.next().unwrap_or("");
        let version = parts.next();
        packages.iter().position(|p| {
            field(p, "name") == name && version.is_none_or(|v| field(p, "version") == v)
        })
    };
    let mut seen = std::collections::HashSet::new();
    let mut stack: Vec<usize> = group.iter().filter_map(|s| find(&s.package)).collect();
    while let Some(i) = stack.pop() {
        if seen.insert(i) {
            let deps = packages[i].get("dependencies").and_then(|d| d.as_array());
            stack.extend(deps.into_iter().flatten().filter_map(|d| find(d.as_str()?)));
        }
    }
    seen.len().max(group.len())
}

/// `$CARGO_HOME`, else `~/.cargo`, as cargo finds it.
fn cargo_home() -> PathBuf {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .unwrap_or_else(|| PathBuf::from("/root/.cargo"))
}

/// One cargo invocation for `group`; returns service → executable.
fn compile(
    ws: &Workspace,
    opts: &Options,
    group: &[&crate::workspace::Service],
    static_link: bool,
    emit: &mut dyn FnMut(Event),
) -> Result<BTreeMap<String, PathBuf>, BuildError> {
    let cargo_home = cargo_home();
    let mut rustflags = std::env::var("RUSTFLAGS").unwrap_or_default();
    if static_link {
        rustflags.push_str(" -C target-feature=+crt-static");
    }
    rustflags.push_str(&format!(
        " --remap-path-prefix={}=/build --remap-path-prefix={}=/cargo",
        ws.root.display(),
        cargo_home.display()
    ));
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.args([
        "build",
        "--locked",
        "--message-format",
        "json-render-diagnostics",
        "--manifest-path",
    ])
    .arg(&ws.manifest)
    .args(["--profile", &opts.profile, "--target", &opts.target]);
    for s in group {
        cmd.args(["-p", &s.package, "--bin", &s.binary]);
    }
    if opts.offline {
        cmd.arg("--offline");
    }
    cmd.env("RUSTFLAGS", rustflags.trim())
        .env("SOURCE_DATE_EPOCH", opts.epoch.to_string())
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(Stdio::null());
    let names = group
        .iter()
        .map(|s| s.name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let mut child = cmd.spawn().map_err(|e| BuildError::Compile {
        services: names.clone(),
        summary: format!("cannot run cargo: {e}"),
    })?;
    let stderr = child.stderr.take().expect("piped");
    let stderr_tail = std::thread::spawn(move || {
        let mut tail: Vec<String> = Vec::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            tail.push(line);
            if tail.len() > 20 {
                tail.remove(0);
            }
        }
        tail
    });
    let mut out = BTreeMap::new();
    let mut errors: Vec<String> = Vec::new();
    let stdout = BufReader::new(child.stdout.take().expect("piped"));
    for msg in cargo_metadata::Message::parse_stream(stdout) {
        let Ok(msg) = msg else { continue };
        match msg {
            cargo_metadata::Message::CompilerArtifact(a) => {
                emit(Event::Unit {
                    name: a.target.name.clone(),
                    fresh: a.fresh,
                });
                if let Some(exe) = a.executable {
                    if let Some(s) = group.iter().find(|s| {
                        s.binary == a.target.name
                            && ws
                                .package(&s.package)
                                .is_some_and(|p| p.manifest_path == a.manifest_path.as_std_path())
                    }) {
                        out.insert(s.name.clone(), exe.into_std_path_buf());
                    }
                }
            }
            cargo_metadata::Message::CompilerMessage(m) => {
                let level = format!("{:?}", m.message.level).to_lowercase();
                let package = m.target.name.clone();
                if level.starts_with("error") {
                    errors.push(format!("{package}: {}", m.message.message));
                }
                emit(Event::Diagnostic {
                    package,
                    level,
                    rendered: m.message.rendered.unwrap_or(m.message.message),
                });
            }
            _ => {}
        }
    }
    let status = child.wait().map_err(|e| BuildError::Compile {
        services: names.clone(),
        summary: e.to_string(),
    })?;
    let tail = stderr_tail.join().unwrap_or_default();
    if !status.success() {
        let summary = if errors.is_empty() {
            tail.iter()
                .rev()
                .find(|l| l.starts_with("error"))
                .cloned()
                .unwrap_or_else(|| format!("cargo exited with {status}"))
        } else {
            format!("{} error(s); first: {}", errors.len(), errors[0])
        };
        return Err(BuildError::Compile {
            services: names,
            summary,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_file_estimate_covers_the_resolved_closure() {
        let opts = crate::affected::Options {
            manifest_path: Some(
                Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/fleet/Cargo.toml"),
            ),
            offline: true,
            ..Default::default()
        };
        let full = crate::affected::load_workspace(&opts).unwrap();
        let members = crate::affected::load_members(&opts).unwrap();
        assert!(full.resolved && !members.resolved);
        assert_eq!(
            full.services.iter().map(|s| &s.name).collect::<Vec<_>>(),
            members.services.iter().map(|s| &s.name).collect::<Vec<_>>()
        );
        for names in [&["search"][..], &["users", "orders"]] {
            let group = |ws: &Workspace| -> Vec<crate::workspace::Service> {
                names
                    .iter()
                    .map(|n| ws.service(n).unwrap().clone())
                    .collect()
            };
            let (a, b) = (group(&full), group(&members));
            let resolved = closure_size(&full, &a.iter().collect::<Vec<_>>());
            let estimate = closure_size(&members, &b.iter().collect::<Vec<_>>());
            // The lock file also lists other platforms' and test-only dependencies.
            assert!(
                resolved <= estimate && estimate <= resolved + 15,
                "{names:?}: resolved {resolved}, estimate {estimate}"
            );
        }
    }
}
