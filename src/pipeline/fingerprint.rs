//! No-change rebuilds in milliseconds: a stat fingerprint of a build's inputs.
//!
//! Before anything is locked, fetched or slimmed, [`compute`] hashes what decides the artifact,
//! as cheaply as the file system allows: the input file's bytes (a lock is small) and the sizes
//! and modification times of the files beside it, the handler files of `src` (paths, sizes,
//! modes and modification times, from the same walk that packs them, [`crate::srctree::walk`]),
//! the user's recipe files, the layers' manifests, local find-links directories, the resolved
//! settings, `SOURCE_DATE_EPOCH`, lpack's version and executable, and the interpreter's identity
//! (its path, size and modification time: no Python is started). After a successful build the
//! fingerprint is kept in the manifest with the artifact's size and modification time
//! ([`record`]). When the next build computes the same fingerprint and the artifact on disk
//! still has that size and time, [`up_to_date`] answers from the manifest alone: the artifact is
//! not read, no Python starts, no wheel is looked at.
//!
//! It is a shortcut, never the only check: whatever it cannot vouch for (an input that includes
//! other files, loose requirements a resolver would choose again, images, split layers, a failed
//! verify) is left to the full build, which finds an unchanged artifact by its content hash.
//! This is not the content key of a remote cache: it is local to one machine (times and paths).

use std::path::{Path, PathBuf};
use std::time::Instant;

use sha2::{Digest, Sha256};

use super::error::BuildError;
use super::outcome::{BuildOutcome, BuiltArtifact, Timings, VerifyStep};
use super::request::{BuildRequest, OutputFormat, VerifyMode};
use crate::artifact::{ArtifactManifest, FingerprintRecord, manifest_path};

/// Bumped whenever what goes into the fingerprint changes.
const VERSION: u32 = 1;

/// The fingerprint of one request's inputs, and where its artifact goes.
#[derive(Debug, Clone)]
pub struct Fingerprint {
    pub inputs: String,
    pub output: PathBuf,
    pub manifest_file: PathBuf,
    /// The handler files as the walk found them (the content key reads them from this list).
    pub src: crate::srctree::SrcTree,
}

/// Size, modification time (ns) and mode of a file.
type Stat = (u64, u128, u32);

/// A file's [`Stat`], if it exists.
fn stat(path: &Path) -> Option<Stat> {
    use std::os::unix::fs::PermissionsExt;
    let m = std::fs::metadata(path).ok()?;
    Some((m.len(), mtime_ns(&m), m.permissions().mode()))
}

fn mtime_ns(m: &std::fs::Metadata) -> u128 {
    m.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos())
}

/// Name, size and time of every file in a directory (not its subdirectories, not `skip`, not
/// lpack's temp files), sorted.
fn listing(dir: &Path, skip: &[&Path]) -> Vec<(String, Option<Stat>)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.file_type().is_ok_and(|t| !t.is_dir()))
                .filter(|e| {
                    let name = e.file_name();
                    let name = name.to_string_lossy();
                    !(name.starts_with(crate::outfile::OUTPUT_TEMP_PREFIX)
                        && name.ends_with(crate::outfile::OUTPUT_TEMP_SUFFIX))
                })
                .filter(|e| {
                    !skip
                        .iter()
                        .any(|s| s.file_name() == Some(&e.file_name()) && same_dir(s, dir))
                })
                .map(|e| {
                    (
                        e.file_name().to_string_lossy().into_owned(),
                        stat(&e.path()),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Is `file` in `dir` (comparing canonical directories)?
fn same_dir(file: &Path, dir: &Path) -> bool {
    let parent = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    match (std::fs::canonicalize(parent), std::fs::canonicalize(dir)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Does a requirements file pull in other files (`-r`, `-c`, `-e`)? Their contents are not
/// fingerprinted, so such inputs always take the full build.
fn includes_files(text: &str) -> bool {
    text.lines().map(str::trim_start).any(|l| {
        [
            "-r",
            "-c",
            "-e",
            "--requirement",
            "--constraint",
            "--editable",
        ]
        .iter()
        .any(|p| l.starts_with(p))
    })
}

/// A request's `Debug` text without its `target: Target { … }` (whose tag table is a hash map,
/// printed in a different order by every process); the target goes in as its slug instead.
fn without_target(debug: &str) -> String {
    const OPEN: &str = "target: Target {";
    let Some(at) = debug.find(OPEN) else {
        return debug.to_string();
    };
    let mut depth = 0usize;
    for (i, c) in debug[at..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return format!("{}{}", &debug[..at], &debug[at + i + 1..]);
                }
            }
            _ => {}
        }
    }
    debug.to_string()
}

/// The fingerprint of `req`'s inputs; `None` when this request is left to the full build.
pub fn compute(req: &BuildRequest) -> Option<Fingerprint> {
    if !single_artifact(req) {
        return None;
    }
    let input = input_of(req)?;
    let bytes = std::fs::read(&input).ok()?;
    if includes_files(&String::from_utf8_lossy(&bytes)) {
        return None;
    }
    let output = req
        .output
        .clone()
        .unwrap_or_else(|| super::request::default_output(&input));
    let manifest_file = manifest_path(&output);
    let mut h = Hasher(Sha256::new());
    put_request(&mut h, req, &input, &bytes);
    put_around(&mut h, req, &input, &[&output, &manifest_file])?;
    put_python(&mut h, req);
    let src = put_src(&mut h, req, &input, &output, &manifest_file)?;
    let inputs = crate::digest::hex(&h.0.finalize());
    Some(Fingerprint {
        inputs,
        output,
        manifest_file,
        src,
    })
}

/// Does `req` build one artifact (a function zip, or one layer without `src`)? Only those are
/// fingerprinted.
fn single_artifact(req: &BuildRequest) -> bool {
    match req.format {
        OutputFormat::Zip => true,
        OutputFormat::Layer => req.split.is_none() && req.src.is_none(),
        OutputFormat::Image => false,
    }
}

/// The input file: the one given, or the project's own in the current directory.
fn input_of(req: &BuildRequest) -> Option<PathBuf> {
    match &req.requirements {
        Some(p) => Some(p.clone()),
        None => {
            let cwd = std::env::current_dir().ok()?;
            crate::resolve::inputs::find_input(&cwd).ok()
        }
    }
}

/// The fingerprint being computed: labelled values, each label and value followed by a NUL.
struct Hasher(Sha256);

impl Hasher {
    /// Add `value` under `label`.
    fn put(&mut self, label: &str, value: String) {
        self.0.update(label.as_bytes());
        self.0.update([0]);
        self.0.update(value.as_bytes());
        self.0.update([0]);
    }
}

/// Hash lpack itself (version, executable), the request's settings and the input file's name
/// and `bytes`.
fn put_request(h: &mut Hasher, req: &BuildRequest, input: &Path, bytes: &[u8]) {
    h.put("fingerprint", VERSION.to_string());
    h.put("lpack", env!("CARGO_PKG_VERSION").to_string());
    let exe = std::env::current_exe().ok();
    h.put(
        "exe",
        format!("{exe:?} {:?}", exe.as_deref().and_then(stat)),
    );
    let request = format!(
        "{:?}",
        BuildRequest {
            timings: false,
            ..req.clone()
        }
    );
    h.put("request", without_target(&request));
    h.put("target", req.target.slug());
    h.put("epoch", crate::sink::Epoch::from_env().0.to_string());
    h.put("input", format!("{input:?}"));
    h.put("input bytes", crate::digest::sha256_hex(bytes));
}

/// Hash the files the build reads besides its input: those beside the input (but `own`, this
/// build's outputs), the user's recipes, the layers and their manifests, and local find-links
/// directories; `None` when a recipe cannot be read.
fn put_around(h: &mut Hasher, req: &BuildRequest, input: &Path, own: &[&Path]) -> Option<()> {
    let dir = match input.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    // What a lock's neighbours say (pyproject.toml beside uv.lock, …); this build's own outputs
    // are left out.
    h.put("input dir", format!("{:?}", listing(&dir, own)));
    for r in &req.slim.recipes {
        let body = std::fs::read(r).ok()?;
        h.put(
            "recipe",
            format!("{r:?} {}", crate::digest::sha256_hex(&body)),
        );
    }
    for l in &req.exclude_layers {
        h.put("layer", format!("{l:?} {:?}", stat(l)));
        if l.extension().is_none_or(|e| e != "json") {
            let m = manifest_path(l);
            h.put("layer manifest", format!("{m:?} {:?}", stat(&m)));
        }
    }
    for f in &req.index.find_links {
        let p = Path::new(f.strip_prefix("file://").unwrap_or(f));
        if p.is_dir() {
            h.put("find-links", format!("{f} {:?}", listing(p, &[])));
        }
    }
    Some(())
}

/// Hash the interpreter's identity (path, size, modification time): no Python is started.
fn put_python(h: &mut Hasher, req: &BuildRequest) {
    let python = req
        .slim
        .python
        .clone()
        .or_else(|| crate::slim::bytecode::find_python(req.target.runtime.minor()));
    h.put(
        "python",
        format!("{python:?} {:?}", python.as_deref().and_then(stat)),
    );
}

/// Hash the handler files (path, executable bit, stat), from the walk that packs them; the
/// walk, or `None` when it fails.
fn put_src(
    h: &mut Hasher,
    req: &BuildRequest,
    input: &Path,
    output: &Path,
    manifest_file: &Path,
) -> Option<crate::srctree::SrcTree> {
    let mut warnings = Vec::new();
    let tree = super::walk_src(req, input, output, manifest_file, &mut warnings).ok()?;
    for f in &tree.files {
        h.put(
            "src",
            format!("{} {} {:?}", f.path, f.executable, stat(&f.disk)),
        );
    }
    Some(tree)
}

/// The artifact as it is on disk now: its size and modification time.
fn artifact_stat(output: &Path) -> Option<(u64, u128)> {
    let m = std::fs::metadata(output).ok()?;
    m.is_file().then(|| (m.len(), mtime_ns(&m)))
}

/// The outcome of a build that found `fp` unchanged, from the manifest alone; `None` when the
/// full build must run.
pub fn up_to_date(
    req: &BuildRequest,
    fp: &Fingerprint,
    started: Instant,
) -> Result<Option<BuildOutcome>, BuildError> {
    // The manifest is read only when its fingerprint line can match (a cheap substring test
    // spares parsing a large manifest that cannot).
    let Ok(body) = std::fs::read(&fp.manifest_file) else {
        return Ok(None);
    };
    if !std::str::from_utf8(&body).is_ok_and(|t| t.contains(&fp.inputs)) {
        return Ok(None);
    }
    let Ok(manifest) = serde_json::from_slice::<ArtifactManifest>(&body) else {
        return Ok(None);
    };
    let Some(rec) = &manifest.fingerprint else {
        return Ok(None);
    };
    if manifest.schema_version != crate::artifact::SCHEMA_VERSION
        || rec.inputs != fp.inputs
        || artifact_stat(&fp.output) != Some((rec.artifact_size, rec.artifact_mtime_ns))
        || rec.artifact_size != manifest.artifact.size
    {
        return Ok(None);
    }
    // The verify status this build would show: the one recorded, when it passed.
    let verify = match (req.format, &manifest.verify, req.verify) {
        (OutputFormat::Layer, _, _) => None,
        (_, _, VerifyMode::Skip) => Some(VerifyStep {
            status: "not verified (--no-verify)".to_string(),
            report: None,
        }),
        (_, Some(v), _) if v.status.starts_with("verified") => Some(VerifyStep {
            status: v.status.clone(),
            report: None,
        }),
        _ => return Ok(None),
    };
    let mut counted = vec![manifest.clone()];
    if req.format == OutputFormat::Zip {
        counted.extend(super::units::read_layers(&req.exclude_layers)?);
    }
    let over_limit = super::units::over_limit(req, &counted);
    if over_limit.is_some() {
        return Ok(None);
    }
    let gate_failures = super::gate_failures(req, std::slice::from_ref(&manifest));
    let stats = crate::fetch::FetchStats {
        cached: manifest.packages.len(),
        ..Default::default()
    };
    Ok(Some(BuildOutcome {
        format: req.format,
        artifacts: vec![BuiltArtifact {
            output: fp.output.clone(),
            manifest_file: fp.manifest_file.clone(),
            manifest,
            unchanged: true,
            seconds: started.elapsed().as_secs_f64(),
        }],
        image: None,
        stats,
        over_limit: None,
        gate_failures,
        verify,
        timings: Timings::default(),
        resolved: None,
        restored_from: None,
    }))
}

/// Keep `fp` in the artifact's manifest with the artifact's size and time as they are now.
/// Returns whether the manifest changed (and must be written).
pub fn record(built: &mut BuiltArtifact, fp: &Fingerprint) -> bool {
    let Some((size, mtime)) = artifact_stat(&built.output) else {
        return false;
    };
    if size != built.manifest.artifact.size || built.output != fp.output {
        return false;
    }
    let rec = FingerprintRecord {
        inputs: fp.inputs.clone(),
        artifact_size: size,
        artifact_mtime_ns: mtime,
    };
    if built.manifest.fingerprint.as_ref() == Some(&rec) {
        return false;
    }
    built.manifest.fingerprint = Some(rec);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_target_table_is_left_out() {
        assert_eq!(
            without_target("A { x: 1, target: Target { t: {b: 1, a: 2} }, y: 2 }"),
            "A { x: 1, , y: 2 }"
        );
        assert_eq!(without_target("A { y: 2 }"), "A { y: 2 }");
    }

    #[test]
    fn inputs_that_include_files_are_left_to_the_full_build() {
        assert!(includes_files("numpy==2.0\n-r base.txt\n"));
        assert!(includes_files("  --constraint c.txt\n"));
        assert!(!includes_files(
            "numpy==2.0 \\\n    --hash=sha256:00\n# -r in a comment\n"
        ));
    }
}
