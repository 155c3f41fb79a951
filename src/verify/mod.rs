//! Verify: does every package of an artifact import on the target Python?
//!
//! The artifact is unpacked into a temporary directory laid out like Lambda's task root and made
//! read-only. When the build left out packages the runtime provides (the aggressive profile),
//! those are installed behind it on `sys.path` — boto3 and its dependencies, pinned in
//! `data/lambda-runtime-provided.txt` and fetched through lpack's own resolver and cache — so the
//! artifact verifies as it would run. An interpreter of the target version then imports every
//! top-level module of every distribution (isolated mode, no site, no bytecode writing) and calls
//! `importlib.metadata.version()` for each distribution. A failure is traced to the file a rule
//! removed ([`attribute`]): the module the error names, the library the loader could not open —
//! in whichever distribution it was, which is often not the one whose import failed.
//!
//! A top-level module that fails from the artifact is imported from the unslimmed wheels too
//! ([`reference`], cached): when it fails there as well (an optional dependency missing) it is
//! reported as pre-existing, a warning, and only regressions fail the check.
//!
//! With a handler (`MODULE.FUNCTION`), the handler is imported from the artifact as Lambda's
//! runtime imports it, and its failures are reported in Lambda's words ([`handler`]); images
//! get that check alone ([`verify_image`]), from their app layers.
//!
//! [`deep`] imports every module of every distribution, from the unslimmed wheels and from the
//! artifact, and reports only the regressions.

pub mod attribute;
pub mod deep;
pub mod error;
pub mod handler;
mod importer;
pub mod install;
pub mod reference;
mod unpack;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};

pub use error::VerifyError;
pub use install::{install_runtime, runtime_dir};
pub(crate) use unpack::{extract_zip, set_readonly};
use unpack::{scratch, set_dirs_readonly, set_dirs_writable, unpacked_size};

use crate::artifact::{Action, ArtifactManifest, HandlerRecord};
use crate::cache::Cache;
use crate::emit::zip::SRC_PACKAGE;
use crate::http::Http;
use crate::progress::Reporter;
use crate::resolve::index::IndexClient;
use crate::target::Target;
use crate::wheel::ArchivePath;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImportResult {
    pub dist: String,
    pub module: String,
    pub ok: bool,
    #[serde(default)]
    pub error: Option<String>,
    /// Rules behind the failure (those that removed the files in `culprits`).
    #[serde(default)]
    pub rules: Vec<String>,
    /// Files a rule removed that the failure points at.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub culprits: Vec<attribute::Culprit>,
    /// The end of the traceback (for attribution).
    #[serde(default, skip_serializing)]
    pub tb: Option<String>,
    /// It fails from the unmodified wheels too: the warning that says so (not a failure).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_existing: Option<String>,
}

impl ImportResult {
    /// A failure lpack caused (not one the wheels bring with them).
    pub fn failed(&self) -> bool {
        !self.ok && self.pre_existing.is_none()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MetadataResult {
    pub dist: String,
    pub ok: bool,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    pub python: String,
    pub runtime_provided: bool,
    pub imports: Vec<ImportResult>,
    pub metadata: Vec<MetadataResult>,
    /// The handler imported as Lambda's runtime would (when a handler was given).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handler: Option<HandlerRecord>,
    /// What limited the check (e.g. failures that could not be compared with the wheels).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl VerifyReport {
    /// No regression: every import works or fails from the wheels too, every distribution has
    /// metadata, and the handler loads.
    pub fn ok(&self) -> bool {
        self.imports.iter().all(|i| !i.failed())
            && self.metadata.iter().all(|m| m.ok)
            && !self.handler.as_ref().is_some_and(HandlerRecord::failed)
    }

    /// The warnings of modules that fail from the wheels too.
    pub fn pre_existing(&self) -> impl Iterator<Item = &ImportResult> {
        self.imports.iter().filter(|i| i.pre_existing.is_some())
    }
}

const CHECKER: &str = r#"
import sys, os, json, importlib, importlib.metadata, traceback
req = json.loads(sys.stdin.read())
# What imported modules print must not mix with the report: it goes to /dev/null.
report = os.fdopen(os.dup(1), "w")
os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
sys.path[0:0] = req["paths"]
out = {"imports": [], "metadata": []}
for dist, mod in req["modules"]:
    try:
        importlib.import_module(mod)
        out["imports"].append({"dist": dist, "module": mod, "ok": True})
    except BaseException as e:
        out["imports"].append({"dist": dist, "module": mod, "ok": False, "error": "%s: %s" % (type(e).__name__, e), "tb": "".join(traceback.format_exception(type(e), e, e.__traceback__))[-6000:]})
for dist in req["dists"]:
    try:
        v = importlib.metadata.version(dist)
        out["metadata"].append({"dist": dist, "ok": True, "version": v})
    except BaseException as e:
        out["metadata"].append({"dist": dist, "ok": False, "error": "%s: %s" % (type(e).__name__, e)})
report.write(json.dumps(out))
report.flush()
"#;

fn is_identifier(s: &str) -> bool {
    let mut c = s.chars();
    c.next().is_some_and(|f| f.is_alphabetic() || f == '_')
        && c.all(|x| x.is_alphanumeric() || x == '_')
}

/// Top-level importable names of each distribution, from the kept files of the manifest.
pub fn top_level_modules(m: &ArtifactManifest) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in &m.files {
        if f.action == Action::Drop || f.package == SRC_PACKAGE {
            continue;
        }
        let mut parts = f.path.split('/');
        let Some(first) = parts.next() else { continue };
        let nested = parts.next().is_some();
        let name = if nested {
            // A directory: a package (or namespace package) if it holds Python code.
            if !(f.path.ends_with(".py") || f.path.contains(".so") || f.path.ends_with(".pyc")) {
                continue;
            }
            first.to_string()
        } else if let Some(stem) = first.strip_suffix(".py") {
            stem.to_string()
        } else if first.ends_with(".so") || first.ends_with(".pyc") {
            first.split('.').next().unwrap_or("").to_string()
        } else {
            continue;
        };
        if !is_identifier(&name)
            || name == "__pycache__"
            || matches!(
                name.as_str(),
                "tests" | "test" | "docs" | "examples" | "benchmarks"
            )
        {
            continue;
        }
        out.entry(f.package.clone()).or_default().insert(name);
    }
    out
}

/// `/path/to/python3.12 (3.12.1 (main, …))`
pub(crate) fn describe_python(python: &Path) -> Result<String, VerifyError> {
    let (_, version) = crate::slim::bytecode::python_version(python)
        .map_err(|e| VerifyError::Io(e.to_string()))?;
    Ok(format!(
        "{} ({})",
        python.display(),
        version.lines().next().unwrap_or("")
    ))
}

/// An artifact laid out as Lambda would: `sys.path` entries, the layers' manifests, and whether
/// the runtime-provided packages sit behind it.
pub(crate) struct Layout {
    /// The task root (`/var/task`).
    pub task: std::path::PathBuf,
    /// The layers' `/opt`, if any.
    pub opt: Option<std::path::PathBuf>,
    pub paths: Vec<String>,
    pub layers: Vec<ArtifactManifest>,
    /// The runtime directory behind the artifact (builds that left its packages out).
    pub runtime: Option<std::path::PathBuf>,
}

/// What a check runs with: the target and its interpreter, and the cache, index client, HTTP
/// client and reporter that fetch the runtime's packages when a build left them out.
#[derive(Clone, Copy)]
pub struct Tools<'a> {
    pub target: &'a Target,
    pub python: &'a Path,
    pub cache: &'a Cache,
    pub client: &'a IndexClient,
    pub http: Option<&'a Http>,
    pub reporter: &'a dyn Reporter,
}

/// Unpack the artifact into `root/task` (read-only) and its layers into `root/opt`; for builds
/// that left them out, the runtime-provided packages go behind ([`runtime_dir`], cached).
pub(crate) fn lay_out(
    artifact: &Path,
    manifest: &ArtifactManifest,
    root: &Path,
    tools: &Tools<'_>,
) -> Result<Layout, VerifyError> {
    let (target, cache) = (tools.target, tools.cache);
    let task = root.join("task");
    extract_zip(artifact, &task)?;
    let needs_runtime = manifest
        .files
        .iter()
        .any(|f| f.action == Action::Drop && f.rule.as_deref() == Some("runtime-provided"));
    let mut paths = vec![task.display().to_string()];
    // Layers the function was built against, extracted like /opt, in Lambda's order:
    // /opt/python/lib/python3.X/site-packages, then /opt/python.
    let mut layers: Vec<ArtifactManifest> = Vec::new();
    let mut opt_dir = None;
    if !manifest.layers.is_empty() {
        let opt = root.join("opt");
        let beside = artifact.parent().unwrap_or(Path::new("."));
        for l in &manifest.layers {
            if let Some(ext) = &l.external {
                // A layer lpack did not build: its zip as given (or the cached download), as
                // it was at build time; only what the function leaves to it is imported.
                let zip = external_zip(ext, &l.sha256, cache, artifact)?;
                extract_zip(&zip, &opt)?;
                let indexed = crate::extlayer::index(&zip, &ext.source, target)
                    .map_err(|e| VerifyError::Io(e.to_string()))?;
                layers.push(indexed.manifest_for(target, &l.distributions));
                continue;
            }
            let zip = beside.join(&l.file);
            if !zip.is_file() {
                return Err(VerifyError::Io(format!(
                    "layer {} (used by this function) is not beside {}; verify needs it to import what the function leaves to it",
                    l.file,
                    artifact.display()
                )));
            }
            extract_zip(&zip, &opt)?;
            if let Ok(m) = ArtifactManifest::read(&zip) {
                layers.push(m);
            }
        }
        let site = opt.join(target.layer_site_packages());
        paths.push(site.display().to_string());
        paths.push(opt.join("python").display().to_string());
        set_dirs_readonly(&opt);
        opt_dir = Some(opt);
    }
    let mut runtime = None;
    if needs_runtime {
        // The same cached runtime directory `lpack bench` uses (without the runtime client).
        let rt = runtime_dir(tools, false)?;
        paths.push(rt.display().to_string());
        runtime = Some(rt);
    }
    set_dirs_readonly(&task);
    Ok(Layout {
        task,
        opt: opt_dir,
        paths,
        layers,
        runtime,
    })
}

/// The zip of an external layer: the file given at build time, or the download cached by its
/// sha256; refused when it is no longer the layer the function was built against.
fn external_zip(
    ext: &crate::artifact::ExternalLayerRecord,
    sha256: &str,
    cache: &Cache,
    artifact: &Path,
) -> Result<std::path::PathBuf, VerifyError> {
    let zip = if crate::extlayer::is_arn(&ext.source) {
        crate::extlayer::cached_zip(cache, sha256).ok_or_else(|| {
            VerifyError::Io(format!(
                "layer {} (used by {}) is not in the cache at {}\n  hint: build again with the same --cache-dir (that downloads it), then verify",
                ext.source,
                artifact.display(),
                cache.root().display()
            ))
        })?
    } else {
        std::path::PathBuf::from(&ext.source)
    };
    let now = crate::digest::sha256_file(&zip).map_err(|e| {
        VerifyError::Io(format!(
            "layer {} (used by {}): cannot read it: {e}\n  hint: verify needs the layer zip the function was built against, at the path given to --with-layer",
            ext.source,
            artifact.display()
        ))
    })?;
    if now != sha256 {
        return Err(VerifyError::Io(format!(
            "layer {} changed since {} was built against it (sha256 {now}, built against {sha256})\n  hint: build the function again against the layer as it is now",
            ext.source,
            artifact.display()
        )));
    }
    Ok(zip)
}

/// About how many bytes laying `artifact` out takes: its files and those of the lpack layers
/// beside it that it was built against (what [`lay_out`] unpacks; external layers aside).
fn laid_out_size(artifact: &Path, manifest: &ArtifactManifest) -> u64 {
    let beside = artifact.parent().unwrap_or(Path::new("."));
    let layers = manifest
        .layers
        .iter()
        .filter(|l| l.external.is_none())
        .map(|l| unpacked_size(&beside.join(&l.file)));
    unpacked_size(artifact) + layers.sum::<u64>()
}

/// Verify an artifact with an interpreter of the target version: its top-level modules (each
/// failure compared with the wheels), its distributions' metadata and, given one, its handler.
pub fn verify(
    artifact: &Path,
    manifest: &ArtifactManifest,
    handler: Option<&str>,
    tools: &Tools<'_>,
) -> Result<VerifyReport, VerifyError> {
    let tmp = scratch(laid_out_size(artifact, manifest))?;
    let result = verify_in(tmp.path(), artifact, manifest, handler, tools);
    set_dirs_writable(tmp.path());
    result
}

/// Verify the artifact laid out under `root`: import every top-level module and read every
/// distribution's metadata, attribute the failures, compare them with the wheels, and check
/// the handler.
fn verify_in(
    root: &Path,
    artifact: &Path,
    manifest: &ArtifactManifest,
    handler: Option<&str>,
    tools: &Tools<'_>,
) -> Result<VerifyReport, VerifyError> {
    let (python, cache) = (tools.python, tools.cache);
    let Layout {
        task,
        opt,
        paths,
        layers: layer_modules,
        runtime,
    } = lay_out(artifact, manifest, root, tools)?;

    let request = checker_request(manifest, &layer_modules, &paths);
    let mut out = run_checker(python, root, &request)?;
    let mut all = vec![manifest];
    all.extend(layer_modules.iter());
    attribute_failures(&mut out.imports, &attribute::Dropped::index(&all));

    // Failures the wheels bring with them are not lpack's: compare each with the wheels.
    let mut notes = Vec::new();
    let failing: Vec<String> = out
        .imports
        .iter()
        .filter(|i| !i.ok)
        .map(|i| i.module.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if !failing.is_empty() {
        match reference::from_wheels(
            &failing,
            manifest,
            &layer_modules,
            runtime.as_deref(),
            &root.join("reference"),
            tools,
        ) {
            Ok(results) => mark_pre_existing(&mut out.imports, &results, &all, cache),
            Err(e) => notes.push(format!(
                "the failing imports could not be compared with the unmodified wheels: {e}"
            )),
        }
    }

    let handler = match handler {
        Some(h) => Some(check_handler(
            &HandlerSite {
                task,
                opt,
                paths,
                runtime: runtime.clone(),
                scratch: root.join("handler"),
                manifests: &all,
            },
            h,
            tools,
        )?),
        None => None,
    };
    Ok(VerifyReport {
        python: describe_python(python)?,
        runtime_provided: runtime.is_some(),
        imports: out.imports,
        metadata: out.metadata,
        handler,
        notes,
    })
}

/// The checker's request: import paths, top-level modules and distributions to read.
fn checker_request(
    manifest: &ArtifactManifest,
    layer_modules: &[ArtifactManifest],
    paths: &[String],
) -> serde_json::Value {
    let mut modules = top_level_modules(manifest);
    for lm in layer_modules {
        // Layer records carry the `python/…` prefix; strip it to get importable names.
        let mut stripped = lm.clone();
        for f in &mut stripped.files {
            f.path = lm.installed_path(&f.path).to_string();
        }
        for (d, ms) in top_level_modules(&stripped) {
            modules.entry(d).or_default().extend(ms);
        }
    }
    let pairs: Vec<(String, String)> = modules
        .iter()
        .flat_map(|(d, ms)| ms.iter().map(move |m| (d.clone(), m.clone())))
        .collect();
    let dists: Vec<String> = manifest
        .packages
        .iter()
        .chain(layer_modules.iter().flat_map(|m| m.packages.iter()))
        .map(|p| p.name.clone())
        .collect();
    serde_json::json!({"paths": paths, "modules": pairs, "dists": dists})
}

/// What the checker reports: one result per import and per distribution's metadata.
#[derive(Deserialize)]
struct CheckerOut {
    imports: Vec<ImportResult>,
    metadata: Vec<MetadataResult>,
}

/// Run the checker with `python` (isolated, in `root`) on `request` and read its answer.
fn run_checker(
    python: &Path,
    root: &Path,
    request: &serde_json::Value,
) -> Result<CheckerOut, VerifyError> {
    let run = || -> Result<(String, String, bool), String> {
        let mut child = Command::new(python)
            .args(["-I", "-S", "-B", "-c", CHECKER])
            .current_dir(root)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(request.to_string().as_bytes())
                .map_err(|e| e.to_string())?;
        }
        let out = child.wait_with_output().map_err(|e| e.to_string())?;
        Ok((
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
            out.status.success(),
        ))
    };
    let (stdout, stderr, success) = run().map_err(VerifyError::Io)?;
    if !success {
        return Err(VerifyError::Io(format!(
            "the checker crashed: {}",
            stderr.lines().last().unwrap_or("")
        )));
    }
    serde_json::from_str(&stdout)
        .map_err(|e| VerifyError::Io(format!("unreadable checker output: {e}")))
}

/// Name, for each failed import, the dropped files its error mentions and their rules.
fn attribute_failures(imports: &mut [ImportResult], index: &attribute::Dropped) {
    for i in imports {
        if !i.ok {
            let text = format!(
                "{}\n{}",
                i.error.as_deref().unwrap_or(""),
                i.tb.as_deref().unwrap_or("")
            );
            i.culprits = index.culprits(&text);
            i.rules = i
                .culprits
                .iter()
                .filter_map(|c| c.rule.clone())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
        }
    }
}

/// Mark the failures that the wheels share as pre-existing, with the warning that names what
/// is missing.
fn mark_pre_existing(
    imports: &mut [ImportResult],
    results: &BTreeMap<String, reference::FromWheels>,
    manifests: &[&ArtifactManifest],
    cache: &Cache,
) {
    for i in imports.iter_mut().filter(|i| !i.ok) {
        let Some(r) = results.get(&i.module).filter(|r| !r.ok) else {
            continue;
        };
        let package = manifests
            .iter()
            .flat_map(|m| m.packages.iter())
            .find(|p| p.name == i.dist);
        let extra = reference::missing_module(&r.error).and_then(|missing| {
            let p = package?;
            let wheel = reference::wheel_path(p, cache)?;
            let top = missing.split('.').next().unwrap_or(missing);
            reference::declared(&wheel, &p.filename, top)
        });
        i.pre_existing = Some(reference::pre_existing_message(
            &i.module,
            &i.dist,
            package.map(|p| p.version.as_str()),
            &r.error,
            extra,
        ));
    }
}

/// An artifact laid out for the handler check.
struct HandlerSite<'a> {
    task: std::path::PathBuf,
    opt: Option<std::path::PathBuf>,
    paths: Vec<String>,
    runtime: Option<std::path::PathBuf>,
    /// A writable directory of the check's own.
    scratch: std::path::PathBuf,
    /// The artifact's manifests (attribution of failures to dropped files).
    manifests: &'a [&'a ArtifactManifest],
}

/// Import `handler` from the laid-out artifact; when it needs a package the Lambda runtime
/// provides (boto3, …), put the runtime's packages behind it (cached) and try again.
fn check_handler(
    site: &HandlerSite<'_>,
    handler: &str,
    tools: &Tools<'_>,
) -> Result<HandlerRecord, VerifyError> {
    let (target, python) = (tools.target, tools.python);
    let mut roots = handler::Roots {
        task: site.task.clone(),
        opt: site.opt.clone(),
        paths: site.paths.clone(),
        runtime: site.runtime.clone(),
        python_dir: format!("python{}", target.python_version()),
    };
    let mut raw =
        handler::import_handler(python, handler, &roots, &site.scratch, handler::TIMEOUT)?;
    let mut note = None;
    if roots.runtime.is_none() && raw.missing_runtime_module().is_some() {
        match runtime_dir(tools, false) {
            Ok(rt) => {
                roots.paths.push(rt.display().to_string());
                roots.runtime = Some(rt);
                raw = handler::import_handler(
                    python,
                    handler,
                    &roots,
                    &site.scratch,
                    handler::TIMEOUT,
                )?;
            }
            Err(e) => note = Some(e.to_string()),
        }
    }
    let caused_by = attribute::Dropped::index(site.manifests)
        .culprits(&raw.error_text())
        .iter()
        .map(ToString::to_string)
        .collect();
    Ok(handler::judge(handler, &raw, caused_by, note.as_deref()))
}

/// Check an image's handler: lpack's app layers (`layers`, gzip tars in order) applied onto
/// an empty root, the image's WORKDIR as the task root, the runtime's packages behind it when
/// the handler needs them (the base image holds them). The base image's own layers are not
/// applied: the local interpreter stands in for them.
pub fn verify_image(
    layers: &[std::path::PathBuf],
    workdir: &str,
    manifest: &ArtifactManifest,
    handler: &str,
    tools: &Tools<'_>,
) -> Result<VerifyReport, VerifyError> {
    let tmp = tempfile::tempdir().map_err(|e| VerifyError::Io(e.to_string()))?;
    let rootfs = tmp.path().join("rootfs");
    let result = (|| {
        for l in layers {
            apply_layer(l, &rootfs)?;
        }
        let task = match ArchivePath::new(workdir.trim_matches('/')) {
            Ok(p) => rootfs.join(p.as_str()),
            Err(_) => rootfs.join("var/task"),
        };
        std::fs::create_dir_all(&task).map_err(|e| VerifyError::Io(e.to_string()))?;
        set_readonly(&rootfs, true);
        let needs_runtime = manifest
            .files
            .iter()
            .any(|f| f.action == Action::Drop && f.rule.as_deref() == Some("runtime-provided"));
        let runtime = if needs_runtime {
            Some(runtime_dir(tools, false)?)
        } else {
            None
        };
        let mut paths = vec![task.display().to_string()];
        paths.extend(runtime.iter().map(|p| p.display().to_string()));
        let record = check_handler(
            &HandlerSite {
                task,
                opt: None,
                paths,
                runtime: runtime.clone(),
                scratch: tmp.path().join("handler"),
                manifests: &[manifest],
            },
            handler,
            tools,
        )?;
        Ok(VerifyReport {
            python: describe_python(tools.python)?,
            runtime_provided: runtime.is_some(),
            imports: Vec::new(),
            metadata: Vec::new(),
            handler: Some(record),
            notes: Vec::new(),
        })
    })();
    set_readonly(tmp.path(), false);
    result
}

/// Apply one of lpack's gzip tar layers onto `root`: its directories and regular files (what
/// lpack writes; links and whiteouts, which it never writes, are skipped), paths checked.
fn apply_layer(blob: &Path, root: &Path) -> Result<(), VerifyError> {
    let err = |e: String| VerifyError::Io(format!("image layer {}: {e}", blob.display()));
    let f = std::fs::File::open(blob).map_err(|e| err(e.to_string()))?;
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(f));
    for entry in ar.entries().map_err(|e| err(e.to_string()))? {
        let mut e = entry.map_err(|e| err(e.to_string()))?;
        let raw = e
            .path()
            .map_err(|e| err(e.to_string()))?
            .to_string_lossy()
            .into_owned();
        let clean = raw
            .trim_start_matches("./")
            .trim_start_matches('/')
            .trim_end_matches('/');
        if clean.is_empty() || clean == "." {
            continue;
        }
        let path = ArchivePath::new(clean).map_err(|why| err(format!("`{raw}` {why}")))?;
        let target = root.join(path.as_str());
        let kind = e.header().entry_type();
        if kind.is_dir() {
            std::fs::create_dir_all(&target).map_err(|e| err(e.to_string()))?;
        } else if kind.is_file() {
            if let Some(d) = target.parent() {
                std::fs::create_dir_all(d).map_err(|e| err(e.to_string()))?;
            }
            let mut out = std::fs::File::create(&target).map_err(|e| err(e.to_string()))?;
            std::io::copy(&mut e, &mut out).map_err(|e| err(e.to_string()))?;
        }
    }
    Ok(())
}
