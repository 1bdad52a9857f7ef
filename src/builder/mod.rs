//! `monoship build`: compile the selected services in as few cargo invocations as feature
//! unification allows, then assemble one reproducible OCI image per service.

mod cargo;
pub mod container;
pub mod docker;
mod images;
pub mod plan;
mod settings;
pub mod strip;

use cargo::{cargo_home, compile};
use settings::{BaseImage, Settings, pull_base};

use crate::image::{self, oci};
use crate::workspace::Workspace;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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
    #[error("stripping the binary of `{service}`: {message}")]
    Strip { service: String, message: String },
    #[error(transparent)]
    Image(#[from] image::ImageError),
    /// `--builder docker|podman`.
    #[error(transparent)]
    Container(#[from] docker::DockerBuildError),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

impl BuildError {
    /// Bad input or configuration (exit code 2) rather than a failed build (1).
    pub fn is_usage(&self) -> bool {
        match self {
            BuildError::UnknownService(_) | BuildError::Config(_) => true,
            BuildError::Container(e) => e.is_usage(),
            _ => false,
        }
    }
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
    /// The caller's async runtime (multi-threaded), for pulling base images; `None`: a small
    /// one of the stage's own when a base is pulled.
    pub runtime: Option<tokio::runtime::Handle>,
}

/// The build record's file name, beside the OCI layout (directory [`LAYOUT`]).
pub const BUILD_RECORD: &str = "build.json";
pub const LAYOUT: &str = "oci";

/// The cargo profile of a build when neither `--profile` nor the configuration names one.
pub const DEFAULT_PROFILE: &str = "release";
/// The target of a build when neither `--target` nor the configuration names one: images run
/// on Linux, whatever the host.
pub const DEFAULT_TARGET: &str = "x86_64-unknown-linux-gnu";

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
    /// Compiling is over: the images of this many services are being assembled.
    Assembling {
        images: usize,
    },
    ImageAssembled {
        service: String,
        digest: String,
        size: u64,
    },
    /// A build of `--builder docker|podman` started or ended.
    Container(docker::Event),
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ServiceRecord {
    pub service: String,
    /// The binary in the image (stripped, unless it had nothing to strip or `strip = false`).
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
    /// The binary as cargo built it: its build id, whether the image's is stripped, and where
    /// the unstripped one is kept (monoship's builder only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub debug: Option<strip::DebugRecord>,
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

/// Where a build writes: the OCI layout and records, and its caches.
struct Dirs {
    out: PathBuf,
    cache: PathBuf,
    /// The layer cache of this monoship version.
    layers: PathBuf,
}

/// Build the services of `opts` (all when none): compile them in as few cargo invocations as
/// their features allow, assemble one image each, then write the OCI layout and the records.
pub fn run(
    ws: &Workspace,
    opts: &Options,
    emit: &mut dyn FnMut(Event),
) -> Result<Output, BuildError> {
    let services = select(ws, opts)?;
    let settings: BTreeMap<&str, Settings> = services
        .iter()
        .map(|s| Ok((s.name.as_str(), Settings::resolve(ws, s, opts)?)))
        .collect::<Result<_, BuildError>>()?;
    let out = opts
        .out_dir
        .clone()
        .unwrap_or_else(|| ws.target_dir.join("monoship"));
    let cache = out.join("cache");
    let dirs = Dirs {
        layers: cache.join(concat!("layers-", env!("CARGO_PKG_VERSION"))),
        cache,
        out,
    };
    let groups = plan_groups(ws, opts, &services, &settings, &dirs)?;
    // Base images first: a missing one fails before anything compiles.
    let bases = bases(ws, &settings, &dirs, opts.runtime.as_ref())?;
    emit(Event::Planned {
        groups: groups
            .iter()
            .map(|g| g.iter().map(|s| s.to_string()).collect())
            .collect(),
    });
    let binaries = compile_groups(ws, opts, &services, &groups, &settings, emit)?;
    let record_path = dirs.out.join(BUILD_RECORD);
    let index_path = dirs.cache.join("images.json");
    let mut index = latest_images(&record_path, &index_path);
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
    emit(Event::Assembling { images: jobs.len() });
    let mut images = Vec::new();
    let mut records = Vec::new();
    for (record, img) in images::assemble_all(&jobs, opts, &dirs)? {
        emit(Event::ImageAssembled {
            service: record.service.clone(),
            digest: img.digest.clone(),
            size: img.size(),
        });
        images.push((record.service.clone(), img));
        records.push(record);
    }
    prune_caches(&dirs);
    let layout = dirs.out.join(LAYOUT);
    let refs: Vec<(String, &oci::Image)> = images.iter().map(|(n, i)| (n.clone(), i)).collect();
    oci::write_layout(&layout, &refs).map_err(io(&layout))?;
    let record = BuildRecord {
        revision: opts.revision.clone(),
        services: records,
    };
    write_records(&record, &record_path, &mut index, &index_path)?;
    Ok(Output {
        record,
        layout,
        record_path,
    })
}

/// Compile every group, in order; service → executable.
fn compile_groups(
    ws: &Workspace,
    opts: &Options,
    services: &[&crate::workspace::Service],
    groups: &[Vec<&str>],
    settings: &BTreeMap<&str, Settings>,
    emit: &mut dyn FnMut(Event),
) -> Result<BTreeMap<String, PathBuf>, BuildError> {
    let mut binaries = BTreeMap::new();
    for (i, group) in groups.iter().enumerate() {
        let members: Vec<_> = services
            .iter()
            .filter(|s| group.contains(&s.name.as_str()))
            .copied()
            .collect();
        emit(Event::GroupStarted {
            index: i + 1,
            total: groups.len(),
            services: group.iter().map(|s| s.to_string()).collect(),
            units: closure_size(ws, &members),
        });
        let static_link = settings[members[0].name.as_str()].static_link;
        binaries.extend(compile(ws, opts, &members, static_link, emit)?);
    }
    Ok(binaries)
}

/// The build record (after the layout it names), then the image index (best effort: without
/// it a later build compares with build.json only).
fn write_records(
    record: &BuildRecord,
    record_path: &Path,
    index: &mut BTreeMap<String, ServiceRecord>,
    index_path: &Path,
) -> Result<(), BuildError> {
    let json = serde_json::to_vec_pretty(record).expect("json");
    crate::atomic::write(record_path, &json).map_err(io(record_path))?;
    for r in &record.services {
        index.insert(r.service.clone(), r.clone());
    }
    let _ = crate::atomic::write_in_new_dir(index_path, &serde_json::to_vec(index).expect("json"));
    Ok(())
}

/// The services of `opts`, every one when it names none.
fn select<'a>(
    ws: &'a Workspace,
    opts: &Options,
) -> Result<Vec<&'a crate::workspace::Service>, BuildError> {
    if opts.services.is_empty() {
        return Ok(ws.services.iter().collect());
    }
    opts.services
        .iter()
        .map(|n| {
            ws.service(n)
                .ok_or_else(|| BuildError::UnknownService(n.clone()))
        })
        .collect()
}

/// The cargo invocations: services whose features (and linking) agree share one.
fn plan_groups<'a>(
    ws: &Workspace,
    opts: &Options,
    services: &[&'a crate::workspace::Service],
    settings: &BTreeMap<&str, Settings>,
    dirs: &Dirs,
) -> Result<Vec<Vec<&'a str>>, BuildError> {
    // One service is one group: no need to ask cargo for its features.
    let alone = if services.len() == 1 {
        Vec::new()
    } else {
        let packages: Vec<(&str, &crate::config::Features)> = services
            .iter()
            .map(|s| (s.package.as_str(), &s.features))
            .collect();
        plan::features_cached(
            ws,
            &packages,
            &opts.target,
            opts.offline,
            &dirs.cache.join("features.json"),
        )
        .map_err(BuildError::Plan)?
    };
    let mut features = Vec::new();
    for (i, s) in services.iter().enumerate() {
        let mut f = alone.get(i).cloned().unwrap_or_default();
        // Linking differs per invocation (RUSTFLAGS), and so do the feature flags: both split
        // groups like features do.
        f.insert(
            "<static>".into(),
            settings[s.name.as_str()].static_link.to_string(),
        );
        f.insert("<features>".into(), format!("{:?}", s.features));
        features.push((s.name.as_str(), f));
    }
    Ok(plan::group(&features))
}

/// Every base image the services use, once each.
fn bases(
    ws: &Workspace,
    settings: &BTreeMap<&str, Settings>,
    dirs: &Dirs,
    runtime: Option<&tokio::runtime::Handle>,
) -> Result<BTreeMap<BaseImage, image::Base>, BuildError> {
    let mut bases = BTreeMap::new();
    for set in settings.values() {
        if !bases.contains_key(&set.base) {
            let base = match &set.base {
                BaseImage::Builtin => image::builtin_base_cached(Some(&dirs.layers))?,
                BaseImage::Pulled(reference) => pull_base(reference, &ws.target_dir, runtime)?,
            };
            bases.insert(set.base.clone(), base);
        }
    }
    Ok(bases)
}

/// Every service's latest image, whatever the build it came from (the image index, then the
/// last build record): a service built alone after others keeps its image when its binary
/// did not change.
fn latest_images(record_path: &Path, index_path: &Path) -> BTreeMap<String, ServiceRecord> {
    let previous: Option<BuildRecord> = std::fs::read(record_path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let mut index: BTreeMap<String, ServiceRecord> = std::fs::read(index_path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    for r in previous.iter().flat_map(|p| &p.services) {
        index.entry(r.service.clone()).or_insert_with(|| r.clone());
    }
    index
}

/// The layer cache keeps what recent builds used (and nothing of other monoship versions).
fn prune_caches(dirs: &Dirs) {
    image::layer::prune(&dirs.layers, LAYER_CACHE_AGE, LAYER_CACHE_BYTES);
    if let Ok(dir) = std::fs::read_dir(&dirs.cache) {
        for e in dir.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with("layers-") && e.path() != dirs.layers {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
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
