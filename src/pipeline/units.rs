//! The emit and manifest steps for zips: one function zip or a set of layer zips, each with
//! its manifest (or found up to date), the layers a function is built against, and Lambda's
//! combined unzipped limit.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::error::BuildError;
use super::outcome::BuiltArtifact;
use super::request::BuildRequest;
use crate::artifact::{
    ArtifactKind, ArtifactManifest, ArtifactRecord, SCHEMA_VERSION, SkippedRecord, TargetRecord,
    manifest_path,
};
use crate::digest::sha256_hex;
use crate::emit::zip::{Assembled, ZipOptions, write_function_zip};
use crate::fetch::FetchedWheel;
use crate::progress::Reporter;
use crate::report::UNZIPPED_LIMIT;
use crate::sink::Epoch;
use crate::slim::SlimmedWheel;
use crate::slim::audit::Finding;
use crate::slim::bytecode::BytecodePlan;
use crate::slim::recipe::RecipeSet;

/// Everything the emit step needs besides the unit itself.
pub struct Ctx<'a> {
    pub req: &'a BuildRequest,
    /// The input file built from.
    pub input: &'a Path,
    pub epoch: Epoch,
    pub recipes: &'a RecipeSet,
    pub plan: &'a BytecodePlan,
    /// Why bytecode was narrowed or left out to fit the size budget.
    pub bytecode_note: Option<&'a str>,
    pub findings: &'a [Finding],
    pub stale_rules: &'a [String],
    pub warnings: &'a [String],
    pub skipped: &'a [crate::requirements::Skipped],
    pub reporter: &'a dyn Reporter,
    /// The handler files of `src` (empty without `src`).
    pub src: &'a crate::srctree::SrcTree,
    /// When the build started (for each artifact's `seconds`).
    pub started: Instant,
}

/// One artifact to write: a function zip or one layer.
pub struct Unit {
    pub output: PathBuf,
    pub kind: ArtifactKind,
    pub prefix: String,
    pub slimmed: Vec<SlimmedWheel>,
    pub src: Vec<crate::srctree::SrcFile>,
    pub src_digests: Vec<(String, String)>,
    pub layers: Vec<crate::artifact::LayerRef>,
}

/// Write one artifact and its manifest (or find it up to date).
pub fn emit_unit(
    ctx: &Ctx<'_>,
    unit: &Unit,
    wheels: &[FetchedWheel],
) -> Result<BuiltArtifact, BuildError> {
    let manifest_file = manifest_path(&unit.output);
    let inputs_sha256 = unit_inputs_sha256(ctx, unit, wheels);
    let built = |manifest, unchanged| BuiltArtifact {
        output: unit.output.clone(),
        manifest_file: manifest_file.clone(),
        manifest,
        unchanged,
        seconds: ctx.started.elapsed().as_secs_f64(),
    };
    if let Some(previous) = up_to_date(&unit.output, &manifest_file, &inputs_sha256) {
        return Ok(built(previous, true));
    }
    let assembled = write_unit_zip(ctx, unit)?;
    let manifest = unit_manifest(ctx, unit, inputs_sha256, assembled);
    manifest.write(&manifest_file)?;
    Ok(built(manifest, false))
}

/// The input hash of a unit: everything that decides the artifact's bytes.
fn unit_inputs_sha256(ctx: &Ctx<'_>, unit: &Unit, wheels: &[FetchedWheel]) -> String {
    let req = ctx.req;
    let in_unit: std::collections::BTreeSet<&str> = unit
        .slimmed
        .iter()
        .map(|s| s.wheel.locked.name.as_str())
        .collect();
    let inputs = serde_json::json!({
        "lpack": env!("CARGO_PKG_VERSION"),
        "kind": unit.kind,
        "prefix": unit.prefix,
        "target": req.target.slug(),
        "source_date_epoch": ctx.epoch.0,
        "on_conflict": req.on_conflict,
        "recipes": ctx.recipes.digest,
        "bytecode": ctx.plan.fingerprint(),
        "wheels": wheels.iter().filter(|w| in_unit.contains(w.locked.name.as_str())).map(|w| [&w.locked.name, &w.locked.version, &w.locked.filename, &w.sha256]).collect::<Vec<_>>(),
        "src": unit.src_digests,
        "layers": unit.layers,
    });
    sha256_hex(inputs.to_string().as_bytes())
}

/// Write the unit's zip: its slimmed wheels and handler files under its prefix.
fn write_unit_zip(ctx: &Ctx<'_>, unit: &Unit) -> Result<Assembled, BuildError> {
    let opts = ZipOptions {
        src: unit.src.clone(),
        conflicts: ctx.req.on_conflict,
        epoch: ctx.epoch,
        prefix: unit.prefix.clone(),
    };
    write_function_zip(&unit.slimmed, &opts, &unit.output, ctx.reporter).map_err(|source| {
        BuildError::Emit {
            path: unit.output.clone(),
            source,
        }
    })
}

/// The manifest of a unit's freshly written zip.
fn unit_manifest(
    ctx: &Ctx<'_>,
    unit: &Unit,
    inputs_sha256: String,
    assembled: Assembled,
) -> ArtifactManifest {
    let req = ctx.req;
    ArtifactManifest {
        schema_version: SCHEMA_VERSION,
        lpack_version: env!("CARGO_PKG_VERSION").to_string(),
        kind: unit.kind,
        target: TargetRecord::of(&req.target),
        inputs_sha256,
        requirements: ctx.input.display().to_string(),
        source_date_epoch: ctx.epoch.0,
        artifact: ArtifactRecord {
            file: unit
                .output
                .file_name()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
            sha256: assembled.summary.sha256,
            size: assembled.summary.bytes,
            unzipped_size: assembled.unzipped_size,
            entries: assembled.summary.entries,
        },
        packages: assembled.packages,
        skipped_requirements: skipped_records(ctx.skipped),
        warnings: merged_warnings(ctx.warnings, &assembled.warnings),
        profile: format!("{:?}", req.slim.profile).to_lowercase(),
        bytecode: format!("{:?}", ctx.plan.mode).to_lowercase(),
        bytecode_note: ctx.bytecode_note.map(str::to_string),
        rules: rule_records(ctx.recipes),
        stale_rules: ctx.stale_rules.to_vec(),
        audit: audit_records(ctx.findings),
        layer_prefix: (unit.kind == ArtifactKind::LayerZip).then(|| unit.prefix.clone()),
        layers: unit.layers.clone(),
        image: None,
        handler: (unit.kind == ArtifactKind::FunctionZip)
            .then(|| req.handler.clone())
            .flatten(),
        verify: None,
        timings: None,
        fingerprint: None,
        files: assembled.files,
    }
}

/// The build's warnings, then the zip's own that are not among them yet.
fn merged_warnings(build: &[String], zip: &[String]) -> Vec<String> {
    let mut warnings = build.to_vec();
    for w in zip {
        if !warnings.contains(w) {
            warnings.push(w.clone());
        }
    }
    warnings
}

/// The manifest's record of the recipe rules that matched something.
fn rule_records(recipes: &RecipeSet) -> Vec<crate::artifact::RuleRecord> {
    recipes
        .rules()
        .iter()
        .filter(|r| r.hits() > 0)
        .map(|r| crate::artifact::RuleRecord {
            id: r.id.clone(),
            action: format!("{:?}", r.action).to_lowercase(),
            category: r.category.clone(),
            reason: r.reason.clone(),
            origin: r.origin.clone(),
            hits: r.hits(),
        })
        .collect()
}

/// The manifest's record of the ABI audit's findings.
fn audit_records(findings: &[Finding]) -> Vec<crate::artifact::AuditRecord> {
    findings
        .iter()
        .map(|f| crate::artifact::AuditRecord {
            severity: format!("{:?}", f.severity).to_lowercase(),
            code: f.code.to_string(),
            path: f.path.clone(),
            message: f.message.clone(),
        })
        .collect()
}

/// The manifest's record of requirements that did not apply to the target.
pub fn skipped_records(skipped: &[crate::requirements::Skipped]) -> Vec<SkippedRecord> {
    skipped
        .iter()
        .map(|s| SkippedRecord {
            requirement: s.requirement.clone(),
            location: s.location.clone(),
        })
        .collect()
}

/// `format = layer`: one layer zip, or several with `split` (plus the layer-set file).
pub fn emit_layers(
    ctx: &Ctx<'_>,
    slimmed: &[SlimmedWheel],
    wheels: &[FetchedWheel],
    output: &Path,
) -> Result<Vec<BuiltArtifact>, BuildError> {
    let req = ctx.req;
    if req.src.is_some() {
        return Err(BuildError::Request(
            "--src with --format layer: handler code belongs in the function zip, not a layer\n  hint: build the layer without --src, then `lpack build --format zip --src DIR --exclude-layer LAYER.zip.lpack.json`".to_string(),
        ));
    }
    let prefix = req.layer_layout.prefix(&req.target);
    let groups = match req.split.as_deref() {
        None => vec![crate::emit::layer::Group {
            name: String::new(),
            distributions: wheels.iter().map(|w| w.locked.name.clone()).collect(),
        }],
        Some("auto") => crate::emit::layer::split_auto(
            slimmed,
            req.layer_budget
                .unwrap_or(crate::emit::layer::DEFAULT_BUDGET),
        )?,
        Some(file) => {
            let specs = crate::emit::layer::load_specs(Path::new(file))?;
            crate::emit::layer::split_by_spec(&specs, slimmed, &req.target)?
        }
    };
    let mut built = Vec::new();
    for g in &groups {
        let out = if g.name.is_empty() {
            output.to_path_buf()
        } else {
            sibling(output, &g.name)
        };
        let unit = Unit {
            output: out,
            kind: ArtifactKind::LayerZip,
            prefix: prefix.clone(),
            slimmed: slimmed
                .iter()
                .filter(|s| g.distributions.contains(&s.wheel.locked.name))
                .cloned()
                .collect(),
            src: Vec::new(),
            src_digests: Vec::new(),
            layers: Vec::new(),
        };
        built.push(emit_unit(ctx, &unit, wheels)?);
    }
    if groups.len() > 1 || req.split.is_some() {
        let manifests: Vec<ArtifactManifest> = built.iter().map(|b| b.manifest.clone()).collect();
        write_layer_set(output, &manifests)?;
    }
    Ok(built)
}

/// `dist/app.zip` + `datasci` → `dist/app-datasci.zip`.
fn sibling(output: &Path, name: &str) -> PathBuf {
    let stem = output
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "layer".to_string());
    output.with_file_name(format!("{stem}-{name}.zip"))
}

/// A manifest read earlier by this process, while its file keeps its size and mtime: the
/// functions of a config read their layer's (1.6 MB for the seed stack) once, not once each.
fn read_manifest_once(path: &Path) -> Result<ArtifactManifest, BuildError> {
    type Seen = Vec<(PathBuf, (u64, std::time::SystemTime), ArtifactManifest)>;
    static SEEN: std::sync::Mutex<Seen> = std::sync::Mutex::new(Vec::new());
    let file = if path.extension().is_some_and(|e| e == "json") {
        path.to_path_buf()
    } else {
        manifest_path(path)
    };
    let stamp = std::fs::metadata(&file)
        .ok()
        .and_then(|m| Some((m.len(), m.modified().ok()?)));
    if let Some(stamp) = stamp
        && let Some(m) = SEEN.lock().ok().and_then(|seen| {
            seen.iter()
                .find(|(p, s, _)| *p == file && *s == stamp)
                .map(|(_, _, m)| m.clone())
        })
    {
        return Ok(m);
    }
    let m = ArtifactManifest::read(&file)?;
    if let (Some(stamp), Ok(mut seen)) = (stamp, SEEN.lock()) {
        seen.retain(|(p, _, _)| *p != file);
        if seen.len() >= 8 {
            seen.remove(0);
        }
        seen.push((file, stamp, m.clone()));
    }
    Ok(m)
}

/// Manifests of the layers a function zip is built against (a layer zip or its manifest each).
pub fn read_layers(paths: &[PathBuf]) -> Result<Vec<ArtifactManifest>, BuildError> {
    let mut out = Vec::new();
    for p in paths {
        let m = read_manifest_once(p)?;
        if m.kind != ArtifactKind::LayerZip {
            return Err(BuildError::Layers(format!(
                "--exclude-layer {}: that manifest describes a {:?}, not a layer\n  hint: pass the .lpack.json written beside a `--format layer` build",
                p.display(),
                m.kind
            )));
        }
        out.push(m);
    }
    if out.len() > crate::emit::layer::MAX_LAYERS {
        return Err(BuildError::Layers(format!(
            "{} layers given; Lambda allows a function at most 5",
            out.len()
        )));
    }
    let mut owner: std::collections::BTreeMap<&str, &str> = std::collections::BTreeMap::new();
    for m in &out {
        for p in &m.packages {
            if let Some(first) = owner.insert(&p.name, &m.artifact.file) {
                return Err(BuildError::Layers(format!(
                    "{} is in two layers ({first} and {}); Lambda extracts layers over each other, so only one copy would be used\n  hint: split distributions between layers without overlap (--split)",
                    p.name, m.artifact.file
                )));
            }
        }
    }
    Ok(out)
}

/// Lambda's combined limit: function + layers unzipped. `None` when within it (or unchecked).
pub fn over_limit(req: &BuildRequest, manifests: &[ArtifactManifest]) -> Option<String> {
    if !req.limit_check {
        return None;
    }
    let total: u64 = manifests.iter().map(|m| m.artifact.unzipped_size).sum();
    if total <= UNZIPPED_LIMIT {
        return None;
    }
    let mb = crate::report::render::mb;
    let r = crate::report::build(manifests);
    let over = total - UNZIPPED_LIMIT;
    let biggest: Vec<String> = r
        .distributions
        .iter()
        .take(5)
        .map(|d| format!("{} {}", d.name, mb(d.after)))
        .collect();
    // What would fit: the smallest single distribution whose removal brings it under.
    let fits = r
        .distributions
        .iter()
        .filter(|d| d.after >= over)
        .min_by_key(|d| d.after)
        .map(|d| format!("without {} ({}) it would fit", d.name, mb(d.after)))
        .unwrap_or_else(|| "no single distribution's removal makes it fit".to_string());
    // Suggest only what is left to try.
    let names: Vec<&str> = r
        .distributions
        .iter()
        .take(3)
        .map(|d| d.name.as_str())
        .collect();
    let hint = if req.slim.profile == crate::slim::recipe::Profile::Aggressive {
        format!(
            "the aggressive profile is already on: --drop the parts of {} you do not import (`lpack size-report` shows what each holds), take packages the function does not need out of the requirements, or ship a container image (--format image: 10 GB); layers do not help (they count too). --no-limit-check builds anyway",
            names.join(", ")
        )
    } else {
        format!(
            "--profile aggressive, --drop the parts of {} you do not import, or ship a container image (--format image: 10 GB); layers do not help (they count too). --no-limit-check builds anyway",
            names.join(", ")
        )
    };
    Some(format!(
        "over Lambda's limit: {} unzipped ({}) is {} more than 262,144,000 bytes (\"Unzipped size must be smaller than 262144000 bytes\")\n  biggest: {}\n  {fits}\n  hint: {hint}",
        mb(total),
        if manifests.len() > 1 {
            "function + layers"
        } else {
            "this artifact"
        },
        mb(over),
        biggest.join(", ")
    ))
}

/// `dist/app.layers.lpack.json`: the layers of a split and their combined size.
fn write_layer_set(output: &Path, manifests: &[ArtifactManifest]) -> Result<(), BuildError> {
    let stem = output
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "layer".to_string());
    let path = output.with_file_name(format!("{stem}.layers.lpack.json"));
    let layers: Vec<serde_json::Value> = manifests
        .iter()
        .map(|m| {
            serde_json::json!({
                "file": m.artifact.file,
                "manifest": format!("{}.lpack.json", m.artifact.file),
                "sha256": m.artifact.sha256,
                "zipped": m.artifact.size,
                "unzipped": m.artifact.unzipped_size,
                "distributions": m.packages.iter().map(|p| &p.name).collect::<Vec<_>>(),
            })
        })
        .collect();
    let combined: u64 = manifests.iter().map(|m| m.artifact.unzipped_size).sum();
    let body = serde_json::to_vec_pretty(&serde_json::json!({
        "schema_version": 1,
        "kind": "layer-set",
        "layers": layers,
        "combined_unzipped": combined,
        "limit": UNZIPPED_LIMIT,
    }))
    .unwrap_or_default();
    crate::outfile::write_output(&path, &body).map_err(|source| BuildError::Write { path, source })
}

/// The previous manifest, if it was made from the same inputs and the artifact is intact.
fn up_to_date(
    output: &Path,
    manifest_file: &Path,
    inputs_sha256: &str,
) -> Option<ArtifactManifest> {
    // An up-to-date artifact is not rewritten, so sweep what killed builds left beside it here.
    let dir = match output.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    crate::outfile::sweep_stale_temps(
        dir,
        crate::outfile::OUTPUT_TEMP_PREFIX,
        crate::outfile::OUTPUT_TEMP_SUFFIX,
    );
    let previous = ArtifactManifest::read(manifest_file).ok()?;
    if previous.inputs_sha256 != inputs_sha256 {
        return None;
    }
    let meta = std::fs::metadata(output).ok()?;
    if meta.len() != previous.artifact.size {
        return None;
    }
    (crate::digest::sha256_file(output).ok()? == previous.artifact.sha256).then_some(previous)
}
