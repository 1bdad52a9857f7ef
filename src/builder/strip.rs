//! The binary an image carries: cargo's, without its debug info (`objcopy --strip-debug`, which
//! gives the same bytes for the same binary) unless the service sets `strip = false`. The binary
//! as cargo built it is kept beside the build record, which names it with its build id.

use super::{BuildError, io};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The directory beside the build record that keeps the unstripped binaries, one per service.
pub const DEBUG_DIR: &str = "debug";

/// The tool that strips, unless `OBJCOPY` names another (e.g. a cross target's).
const OBJCOPY: &str = "objcopy";

/// What became of a binary's debug info.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Strip {
    /// Stripped in the image; the binary as built is kept in [`DEBUG_DIR`].
    Stripped,
    /// The binary has no debug info (a profile with `strip`, or without `debug`): in the image
    /// as built.
    NothingToStrip,
    /// `strip = false`: in the image as built, debug info and all.
    Off,
}

/// Where a build id comes from.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum BuildIdSource {
    /// The linker's ELF note `.note.gnu.build-id` (which stripping keeps).
    GnuBuildId,
    /// The binary has no such note: the sha256 of the binary as cargo built it.
    Sha256,
}

/// A service's binary as cargo built it, in the build record.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DebugRecord {
    pub strip: Strip,
    /// Lowercase hex.
    pub build_id: String,
    pub build_id_source: BuildIdSource,
    /// The unstripped binary, relative to the build record's directory (`debug/SERVICE`); only
    /// when stripped (otherwise the image carries the binary as built).
    pub unstripped: Option<String>,
    /// The size of the binary as cargo built it.
    pub unstripped_size: u64,
}

/// What a binary says about itself.
#[derive(Debug, Default, PartialEq, Eq)]
struct Elf {
    build_id: Option<Vec<u8>>,
    /// It has debug info sections (see [`is_debug_info`]).
    debug_info: bool,
}

fn inspect(binary: &[u8]) -> Elf {
    use object::Object;
    let Ok(file) = object::File::parse(binary) else {
        return Elf::default();
    };
    Elf {
        build_id: file.build_id().ok().flatten().map(<[u8]>::to_vec),
        debug_info: file.sections().any(|s| is_debug_info(&s)),
    }
}

/// A section `objcopy --strip-debug` removes: a `.debug_*` (or compressed `.zdebug_*`) section
/// that is not loaded. Rust's `.debug_gdb_scripts` is loaded, and stays.
fn is_debug_info<'a>(section: &impl object::ObjectSection<'a>) -> bool {
    let loaded = matches!(section.flags(), object::SectionFlags::Elf { sh_flags }
        if sh_flags & u64::from(object::elf::SHF_ALLOC) != 0);
    !loaded
        && section
            .name()
            .is_ok_and(|n| n.starts_with(".debug_") || n.starts_with(".zdebug_"))
}

/// Strip only when the setting asks for it and the binary has debug info to strip.
fn decide(strip: bool, debug_info: bool) -> Strip {
    match (strip, debug_info) {
        (false, _) => Strip::Off,
        (true, false) => Strip::NothingToStrip,
        (true, true) => Strip::Stripped,
    }
}

/// Where one build keeps its unstripped binaries, and what strips them.
pub(super) struct Stripper<'a> {
    /// The build record's directory.
    pub out: &'a Path,
    /// For `objcopy`'s output, removed after each binary.
    pub scratch: &'a Path,
    /// `objcopy`, or the program `OBJCOPY` names.
    pub tool: String,
}

impl Stripper<'_> {
    pub(super) fn new<'a>(out: &'a Path, scratch: &'a Path) -> Stripper<'a> {
        Stripper {
            out,
            scratch,
            tool: std::env::var("OBJCOPY").unwrap_or_else(|_| OBJCOPY.to_string()),
        }
    }
}

/// The binary for `service`'s image (`built`, as cargo built it, or stripped) and its record.
/// A stripped binary's original is kept at `<out>/debug/<service>`; otherwise an earlier one
/// there is removed, so what is there always belongs to the last build of the service.
pub(super) fn prepare(
    service: &str,
    built: Vec<u8>,
    strip: bool,
    stripper: &Stripper<'_>,
) -> Result<(Vec<u8>, DebugRecord), BuildError> {
    let elf = inspect(&built);
    let outcome = decide(strip, elf.debug_info);
    let (build_id, build_id_source) = match &elf.build_id {
        Some(id) => (
            id.iter().map(|b| format!("{b:02x}")).collect(),
            BuildIdSource::GnuBuildId,
        ),
        None => (
            crate::image::digest::hex(&crate::image::digest::sha256(&built)).to_string(),
            BuildIdSource::Sha256,
        ),
    };
    let kept: PathBuf = stripper.out.join(DEBUG_DIR).join(service);
    let unstripped_size = built.len() as u64;
    let (binary, unstripped) = if outcome == Strip::Stripped {
        keep(&kept, &built)?;
        let stripped = objcopy(service, &kept, stripper)?;
        (stripped, Some(format!("{DEBUG_DIR}/{service}")))
    } else {
        match std::fs::remove_file(&kept) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(&kept)(e)),
            _ => {}
        }
        (built, None)
    };
    let record = DebugRecord {
        strip: outcome,
        build_id,
        build_id_source,
        unstripped,
        unstripped_size,
    };
    Ok((binary, record))
}

/// `built` at `path` (executable), written only when what is there differs.
fn keep(path: &Path, built: &[u8]) -> Result<(), BuildError> {
    let same = std::fs::metadata(path).is_ok_and(|m| m.len() == built.len() as u64)
        && std::fs::read(path).is_ok_and(|b| b == built);
    if !same {
        crate::atomic::write_in_new_dir(path, built).map_err(io(path))?;
    }
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).map_err(io(path))
}

/// `objcopy --strip-debug INPUT OUTPUT`, OUTPUT in a directory of its own under the scratch
/// directory; the stripped bytes.
fn objcopy(service: &str, input: &Path, stripper: &Stripper<'_>) -> Result<Vec<u8>, BuildError> {
    let failed = |message: String| BuildError::Strip {
        service: service.to_string(),
        message,
    };
    let (tool, scratch) = (&stripper.tool, stripper.scratch);
    std::fs::create_dir_all(scratch).map_err(io(scratch))?;
    let dir = tempfile::Builder::new()
        .prefix(service)
        .tempdir_in(scratch)
        .map_err(io(scratch))?;
    let output = dir.path().join(service);
    let run = Command::new(tool)
        .arg("--strip-debug")
        .arg(input)
        .arg(&output)
        .stdin(Stdio::null())
        .output();
    match run {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(failed(format!(
            "`{tool}` not found: install binutils (e.g. `apt-get install binutils`), \
             or set `strip = false`"
        ))),
        Err(e) => Err(failed(format!("cannot run `{tool}`: {e}"))),
        Ok(o) if !o.status.success() => {
            let stderr = String::from_utf8_lossy(&o.stderr);
            let first = stderr.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
            Err(failed(format!(
                "`{tool}` exited with {}: {first}",
                o.status
            )))
        }
        Ok(_) => std::fs::read(&output).map_err(io(&output)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_only_what_has_debug_info_and_only_when_asked() {
        assert_eq!(decide(true, true), Strip::Stripped);
        assert_eq!(decide(true, false), Strip::NothingToStrip);
        assert_eq!(decide(false, true), Strip::Off);
        assert_eq!(decide(false, false), Strip::Off);
    }

    #[test]
    fn a_binary_that_is_no_elf_file_is_kept_with_its_hash_as_build_id() {
        let tmp = tempfile::TempDir::new().unwrap();
        let scratch = tmp.path().join("scratch");
        let stripper = Stripper::new(tmp.path(), &scratch);
        // An earlier build's unstripped binary does not outlive a build that keeps the binary.
        std::fs::create_dir_all(tmp.path().join(DEBUG_DIR)).unwrap();
        std::fs::write(tmp.path().join("debug/users"), b"old").unwrap();
        let (binary, record) =
            prepare("users", b"not an ELF file".to_vec(), true, &stripper).unwrap();
        assert_eq!(binary, b"not an ELF file");
        assert_eq!(record.strip, Strip::NothingToStrip);
        assert_eq!(record.build_id_source, BuildIdSource::Sha256);
        assert_eq!(
            record.build_id,
            crate::image::digest::hex(&crate::image::digest::sha256(b"not an ELF file"))
        );
        assert_eq!(record.unstripped, None);
        assert_eq!(record.unstripped_size, 15);
        assert!(!tmp.path().join("debug/users").exists());
    }

    /// A small C program, compiled with debug info by the C compiler cargo links with; `ld`
    /// flags in `link`.
    fn compiled(dir: &Path, link: &str) -> Vec<u8> {
        let src = dir.join("main.c");
        std::fs::write(&src, "int main(void) { return 0; }\n").unwrap();
        let exe = dir.join(format!("main{link}"));
        let out = Command::new("cc")
            .arg("-g")
            .arg(format!("-Wl,{link}"))
            .arg("-o")
            .arg(&exe)
            .arg(&src)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::read(exe).unwrap()
    }

    #[test]
    fn a_binary_with_debug_info_is_stripped_and_kept_with_its_build_id() {
        let tmp = tempfile::TempDir::new().unwrap();
        let scratch = tmp.path().join("scratch");
        let stripper = Stripper::new(tmp.path(), &scratch);
        let built = compiled(tmp.path(), "--build-id=sha1");
        let elf = inspect(&built);
        assert!(elf.debug_info);
        let (binary, record) = prepare("users", built.clone(), true, &stripper).unwrap();
        assert_eq!(record.strip, Strip::Stripped);
        assert!(binary.len() < built.len());
        let stripped = inspect(&binary);
        assert!(!stripped.debug_info);
        assert_eq!(
            stripped.build_id, elf.build_id,
            "stripping keeps the build id"
        );
        assert_eq!(record.build_id_source, BuildIdSource::GnuBuildId);
        assert_eq!(record.build_id.len(), 40);
        assert_eq!(record.unstripped.as_deref(), Some("debug/users"));
        assert_eq!(record.unstripped_size, built.len() as u64);
        assert_eq!(
            std::fs::read(tmp.path().join("debug/users")).unwrap(),
            built
        );
        // The same input, the same bytes; nothing left in the scratch directory.
        let (again, _) = prepare("users", built.clone(), true, &stripper).unwrap();
        assert_eq!(again, binary);
        assert_eq!(std::fs::read_dir(&scratch).unwrap().count(), 0);
        // strip = false: the binary as built, and no stale unstripped copy.
        let (kept, record) = prepare("users", built.clone(), false, &stripper).unwrap();
        assert_eq!(
            (kept, record.strip, record.unstripped),
            (built, Strip::Off, None)
        );
        assert!(!tmp.path().join("debug/users").exists());
    }

    #[test]
    fn without_a_build_id_note_the_build_id_is_the_binary_hash() {
        let tmp = tempfile::TempDir::new().unwrap();
        let scratch = tmp.path().join("scratch");
        let stripper = Stripper::new(tmp.path(), &scratch);
        let built = compiled(tmp.path(), "--build-id=none");
        assert_eq!(inspect(&built).build_id, None);
        let (binary, record) = prepare("users", built.clone(), true, &stripper).unwrap();
        assert_eq!(record.strip, Strip::Stripped);
        assert!(!inspect(&binary).debug_info);
        assert_eq!(record.build_id_source, BuildIdSource::Sha256);
        assert_eq!(
            record.build_id,
            crate::image::digest::hex(&crate::image::digest::sha256(&built))
        );
    }

    #[test]
    fn a_missing_objcopy_is_one_line_naming_it_and_what_to_do() {
        let tmp = tempfile::TempDir::new().unwrap();
        let scratch = tmp.path().join("scratch");
        let mut stripper = Stripper::new(tmp.path(), &scratch);
        stripper.tool = "no-such-objcopy".into();
        let built = compiled(tmp.path(), "--build-id=sha1");
        let err = prepare("users", built, true, &stripper)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "stripping the binary of `users`: `no-such-objcopy` not found: install binutils \
             (e.g. `apt-get install binutils`), or set `strip = false`"
        );
    }

    #[test]
    fn the_record_reads_as_build_json_has_it() {
        let record = DebugRecord {
            strip: Strip::Stripped,
            build_id: "ab01".into(),
            build_id_source: BuildIdSource::GnuBuildId,
            unstripped: Some("debug/users".into()),
            unstripped_size: 10,
        };
        let json = serde_json::to_value(&record).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"strip": "stripped", "build_id": "ab01",
                "build_id_source": "gnu-build-id", "unstripped": "debug/users",
                "unstripped_size": 10})
        );
        assert_eq!(serde_json::from_value::<DebugRecord>(json).unwrap(), record);
        assert_eq!(
            serde_json::to_value(Strip::NothingToStrip).unwrap(),
            "nothing-to-strip"
        );
    }
}
