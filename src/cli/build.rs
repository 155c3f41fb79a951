//! `lpack build`: the composition root of the pipeline.
//!
//! requirements → resolve → fetch → emit → manifest, then a summary for people or `--json`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;

use super::progress::Bars;
use super::{BuildArgs, Format, Outcome, human_size};
use crate::artifact::{
    ArtifactKind, ArtifactManifest, ArtifactRecord, SCHEMA_VERSION, SkippedRecord, TargetRecord,
    manifest_path,
};
use crate::cache::{Cache, sha256_hex};
use crate::emit::sink::Epoch;
use crate::emit::zip::{SRC_PACKAGE, ZipOptions, write_function_zip};
use crate::fetch::fetch;
use crate::http::Http;
use crate::requirements::IndexOptions;
use crate::resolve::index::{DEFAULT_INDEX, IndexClient};
use crate::slim::audit::{Finding, Severity, audit};
use crate::slim::bytecode::{BytecodeMode, BytecodePlan, find_python};
use crate::slim::recipe::RecipeSet;
use crate::slim::trace::TraceRoots;
use crate::slim::{SlimSettings, SlimmedWheel, slim};
use crate::target::{Arch, Runtime, Target};
use std::collections::{BTreeMap, BTreeSet};

pub const EXAMPLES: &str = "\
Examples:
  lpack build -r requirements/datasci-py312.lock.txt --src benches/workload
  lpack build -r req.txt --runtime python3.11 --arch arm64 -o dist/fn.zip
  lpack build -r req.txt --offline --json

The artifact is byte-reproducible: set SOURCE_DATE_EPOCH to choose its single timestamp
(default 1980-01-01). A manifest, <artifact>.lpack.json, is written beside it.";

/// Lambda's limit on function + layers, unzipped.
pub const UNZIPPED_LIMIT: u64 = 262_144_000;
/// Lambda's limit on a zip uploaded directly (not via S3).
pub const DIRECT_UPLOAD_LIMIT: u64 = 50 * 1024 * 1024;

fn default_output(requirements: &Path) -> PathBuf {
    let stem = requirements
        .file_name()
        .and_then(|s| s.to_str())
        .unwrap_or("lambda");
    let stem = stem
        .strip_suffix(".txt")
        .or_else(|| stem.strip_suffix(".in"))
        .unwrap_or(stem);
    let stem = stem.strip_suffix(".lock").unwrap_or(stem);
    let stem = if stem.is_empty() { "lambda" } else { stem };
    PathBuf::from("dist").join(format!("{stem}.zip"))
}

/// Merge command line, requirements file and environment into index settings.
/// Precedence for the primary index: command line, requirements file, environment, default.
pub fn index_sources(args: &super::IndexArgs, file: &IndexOptions) -> (Vec<String>, Vec<String>) {
    let no_index = args.no_index || file.no_index;
    let mut indexes = Vec::new();
    if !no_index {
        let env = std::env::var("PIP_INDEX_URL")
            .ok()
            .or_else(|| std::env::var("UV_INDEX_URL").ok())
            .filter(|s| !s.trim().is_empty());
        let primary = args
            .index_url
            .clone()
            .or_else(|| file.index_url.clone())
            .or(env)
            .unwrap_or_else(|| DEFAULT_INDEX.to_string());
        indexes.push(primary);
        for extra in file.extra_index_urls.iter().chain(&args.extra_index_url) {
            if !indexes.contains(extra) {
                indexes.push(extra.clone());
            }
        }
    }
    let mut find_links: Vec<String> = args.find_links.clone();
    for f in &file.find_links {
        if !find_links.contains(f) {
            find_links.push(f.clone());
        }
    }
    (indexes, find_links)
}

#[derive(serde::Serialize)]
struct JsonSummary<'a> {
    artifact: String,
    manifest: String,
    sha256: &'a str,
    size: u64,
    unzipped_size: u64,
    entries: usize,
    target: &'a TargetRecord,
    packages: usize,
    downloaded: usize,
    cached: usize,
    seconds: f64,
    /// The artifact was already up to date and was not rewritten.
    unchanged: bool,
    warnings: &'a [String],
    /// `verified …`, `not verified: …` or `verify failed: …`.
    #[serde(skip_serializing_if = "Option::is_none")]
    verify: Option<&'a str>,
}

pub fn run(args: BuildArgs) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    let runtime: Runtime = args.runtime.parse()?;
    let arch: Arch = args.arch.parse()?;
    let target = Target::new(runtime, arch);
    let reporter = Bars::new(!(args.quiet || args.json));

    let super::lock::Locked {
        input,
        sources: super::Sources {
            cache,
            http,
            client,
        },
        lock,
        pinned,
    } = super::lock::read_and_lock(
        &super::lock::LockRequest {
            requirements: args.requirements.as_deref(),
            extra: &args.extra,
            group: &args.group,
            cache_dir: args.cache_dir.as_deref(),
            offline: args.offline,
            index: &args.index,
            prerelease: args.prerelease,
        },
        &target,
        &reporter,
    )?;

    let (wheels, stats) = fetch(&lock, &cache, http.as_ref(), args.offline, &reporter)?;
    let mut warnings = lock.warnings.clone();

    let output = args
        .output
        .clone()
        .unwrap_or_else(|| default_output(&input.path));
    let manifest_file = manifest_path(&output);
    let epoch = Epoch::from_env();

    // Slim: recipes, strip, bytecode (cached per wheel), within the size budget.
    let recipes = load_recipes(&args.slim)?;
    let plan = bytecode_plan(&args.slim, &target, &mut warnings)?;
    let exclude = vec![output.clone(), manifest_file.clone()];
    let src_digests = match &args.src {
        Some(src) => crate::emit::zip::src_digests(src, &exclude)?,
        None => Vec::new(),
    };
    let (slimmed, plan, bytecode_note) = slim_within_budget(
        &SlimJob {
            args: &args,
            wheels: &wheels,
            target: &target,
            recipes: &recipes,
            epoch,
            cache: &cache,
            client: &client,
            http: http.as_ref(),
            reporter: &reporter,
            src_digests: &src_digests,
        },
        plan,
    )?;

    // ABI audit before anything is written.
    let findings = audit_bundle(&slimmed, args.src.as_deref(), &target);
    let errors: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .collect();
    if !errors.is_empty() && !args.no_audit {
        anyhow::bail!(
            "ABI audit: {} problem(s) would break imports on {target}:\n{}\n  hint: fix the pins (or the runtime), or build anyway with --no-audit",
            errors.len(),
            errors
                .iter()
                .take(20)
                .map(|f| format!("    {} {}: {}", f.code, f.path, f.message))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    for f in &findings {
        if f.severity == Severity::Warning || args.no_audit {
            warnings.push(format!("audit {} {}: {}", f.code, f.path, f.message));
        }
    }

    let dists: std::collections::BTreeSet<String> =
        wheels.iter().map(|w| w.locked.name.clone()).collect();
    let stale_rules = recipes.stale(&dists);
    let ctx = Ctx {
        args: &args,
        input: &input.path,
        target: &target,
        epoch,
        recipes: &recipes,
        plan: &plan,
        bytecode_note: bytecode_note.as_deref(),
        findings: &findings,
        stale_rules: &stale_rules,
        warnings: &warnings,
        skipped: &pinned.skipped,
        reporter: &reporter,
    };
    let finish_one = |done: &Done<'_>| {
        finish(
            &args,
            done,
            &target,
            &plan,
            &cache,
            &client,
            http.as_ref(),
            &reporter,
        )
    };

    if args.verify && args.format != Format::Zip {
        anyhow::bail!(
            "--verify checks function zips (with the layers given by --exclude-layer); build the function zip with --verify, or unpack an image with umoci and import from its /var/task"
        );
    }
    match args.format {
        Format::Zip => {
            // Distributions that --exclude-layer layers already hold stay out of the zip.
            let layers = read_layers(&args.exclude_layer)?;
            let in_layers: std::collections::BTreeMap<&str, &str> = layers
                .iter()
                .flat_map(|m| {
                    m.packages
                        .iter()
                        .map(|p| (p.name.as_str(), p.version.as_str()))
                })
                .collect();
            for w in &wheels {
                if let Some(v) = in_layers.get(w.locked.name.as_str())
                    && *v != w.locked.version
                {
                    anyhow::bail!(
                        "{} is {} in {} but {v} in the layer; the function would import the layer's copy\n  hint: build the layer and the function from the same lock",
                        w.locked.name,
                        w.locked.version,
                        input.path.display()
                    );
                }
            }
            let units: Vec<SlimmedWheel> = slimmed
                .iter()
                .filter(|s| !in_layers.contains_key(s.wheel.locked.name.as_str()))
                .cloned()
                .collect();
            let layer_refs: Vec<crate::artifact::LayerRef> = layers
                .iter()
                .map(|m| crate::artifact::LayerRef {
                    file: m.artifact.file.clone(),
                    sha256: m.artifact.sha256.clone(),
                    unzipped_size: m.artifact.unzipped_size,
                    distributions: m.packages.iter().map(|p| p.name.clone()).collect(),
                })
                .collect();
            let unit = Unit {
                output: output.clone(),
                kind: ArtifactKind::FunctionZip,
                prefix: String::new(),
                slimmed: units,
                src: args.src.clone(),
                src_digests: src_digests.clone(),
                layers: layer_refs,
            };
            let (manifest, unchanged) = emit_unit(&ctx, &unit, &wheels)?;
            let done = Done {
                output: &output,
                manifest_file: &manifest_file,
                manifest: &manifest,
                stats: &stats,
                seconds: started.elapsed().as_secs_f64(),
                unchanged,
            };
            let mut all = vec![manifest.clone()];
            all.extend(layers);
            if let Some(msg) = over_limit(&args, &all) {
                report(&args, &done, None)?;
                eprintln!("{msg}");
                return Ok(Outcome::GateFailed);
            }
            finish_one(&done)
        }
        Format::Image => {
            let manifest = build_image(&ctx, &slimmed, &cache)?;
            Ok(super::check_gates(
                std::slice::from_ref(&manifest),
                &args.gates,
            ))
        }
        Format::Layer => {
            if args.src.is_some() {
                anyhow::bail!(
                    "--src with --format layer: handler code belongs in the function zip, not a layer\n  hint: build the layer without --src, then `lpack build --format zip --src DIR --exclude-layer LAYER.zip.lpack.json`"
                );
            }
            let prefix = args.layer_layout.prefix(&target);
            let groups = match args.split.as_deref() {
                None => vec![crate::emit::layer::Group {
                    name: String::new(),
                    distributions: dists.clone(),
                }],
                Some("auto") => crate::emit::layer::split_auto(
                    &slimmed,
                    args.layer_budget
                        .unwrap_or(crate::emit::layer::DEFAULT_BUDGET),
                )?,
                Some(file) => {
                    let specs = crate::emit::layer::load_specs(Path::new(file))?;
                    crate::emit::layer::split_by_spec(&specs, &slimmed, &target)?
                }
            };
            let mut manifests = Vec::new();
            for g in &groups {
                let out = if g.name.is_empty() {
                    output.clone()
                } else {
                    sibling(&output, &g.name)
                };
                let unit = Unit {
                    output: out.clone(),
                    kind: ArtifactKind::LayerZip,
                    prefix: prefix.clone(),
                    slimmed: slimmed
                        .iter()
                        .filter(|s| g.distributions.contains(&s.wheel.locked.name))
                        .cloned()
                        .collect(),
                    src: None,
                    src_digests: Vec::new(),
                    layers: Vec::new(),
                };
                let (manifest, unchanged) = emit_unit(&ctx, &unit, &wheels)?;
                let mf = manifest_path(&out);
                report(
                    &args,
                    &Done {
                        output: &out,
                        manifest_file: &mf,
                        manifest: &manifest,
                        stats: &stats,
                        seconds: started.elapsed().as_secs_f64(),
                        unchanged,
                    },
                    None,
                )?;
                manifests.push(manifest);
            }
            if groups.len() > 1 || args.split.is_some() {
                write_layer_set(&output, &manifests)?;
            }
            if let Some(msg) = over_limit(&args, &manifests) {
                eprintln!("{msg}");
                return Ok(Outcome::GateFailed);
            }
            Ok(super::check_gates(&manifests, &args.gates))
        }
    }
}

/// Everything the emit step needs besides the unit itself.
struct Ctx<'a> {
    args: &'a BuildArgs,
    /// The input file built from.
    input: &'a Path,
    target: &'a Target,
    epoch: Epoch,
    recipes: &'a RecipeSet,
    plan: &'a BytecodePlan,
    /// Why bytecode was narrowed or left out to fit the size budget.
    bytecode_note: Option<&'a str>,
    findings: &'a [Finding],
    stale_rules: &'a [String],
    warnings: &'a [String],
    skipped: &'a [crate::requirements::Skipped],
    reporter: &'a Bars,
}

/// One artifact to write: a function zip or one layer.
struct Unit {
    output: PathBuf,
    kind: ArtifactKind,
    prefix: String,
    slimmed: Vec<SlimmedWheel>,
    src: Option<PathBuf>,
    src_digests: Vec<(String, String)>,
    layers: Vec<crate::artifact::LayerRef>,
}

/// Write one artifact and its manifest (or find it up to date). Returns the manifest and
/// whether the artifact was left as it was.
fn emit_unit(
    ctx: &Ctx<'_>,
    unit: &Unit,
    wheels: &[crate::fetch::FetchedWheel],
) -> anyhow::Result<(ArtifactManifest, bool)> {
    let args = ctx.args;
    let manifest_file = manifest_path(&unit.output);
    let in_unit: std::collections::BTreeSet<&str> = unit
        .slimmed
        .iter()
        .map(|s| s.wheel.locked.name.as_str())
        .collect();
    // Input hash: everything that decides the artifact's bytes.
    let inputs = serde_json::json!({
        "lpack": env!("CARGO_PKG_VERSION"),
        "kind": unit.kind,
        "prefix": unit.prefix,
        "target": ctx.target.slug(),
        "source_date_epoch": ctx.epoch.0,
        "on_conflict": args.on_conflict,
        "recipes": ctx.recipes.digest,
        "bytecode": ctx.plan.fingerprint(),
        "wheels": wheels.iter().filter(|w| in_unit.contains(w.locked.name.as_str())).map(|w| [&w.locked.name, &w.locked.version, &w.locked.filename, &w.sha256]).collect::<Vec<_>>(),
        "src": unit.src_digests,
        "layers": unit.layers,
    });
    let inputs_sha256 = sha256_hex(inputs.to_string().as_bytes());
    if let Some(previous) = up_to_date(&unit.output, &manifest_file, &inputs_sha256) {
        return Ok((previous, true));
    }
    let opts = ZipOptions {
        src: unit.src.clone(),
        conflicts: args.on_conflict,
        epoch: ctx.epoch,
        exclude: vec![unit.output.clone(), manifest_file.clone()],
        prefix: unit.prefix.clone(),
    };
    let assembled = write_function_zip(&unit.slimmed, &opts, &unit.output, ctx.reporter)
        .with_context(|| format!("building {}", unit.output.display()))?;
    let mut warnings = ctx.warnings.to_vec();
    for w in &assembled.warnings {
        if !warnings.contains(w) {
            warnings.push(w.clone());
        }
    }
    let manifest = ArtifactManifest {
        schema_version: SCHEMA_VERSION,
        lpack_version: env!("CARGO_PKG_VERSION").to_string(),
        kind: unit.kind,
        target: TargetRecord::of(ctx.target),
        inputs_sha256,
        requirements: ctx.input.display().to_string(),
        source_date_epoch: ctx.epoch.0,
        artifact: ArtifactRecord {
            file: unit
                .output
                .file_name()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
            sha256: assembled.summary.sha256.clone(),
            size: assembled.summary.bytes,
            unzipped_size: assembled.unzipped_size,
            entries: assembled.summary.entries,
        },
        packages: assembled.packages.clone(),
        skipped_requirements: ctx
            .skipped
            .iter()
            .map(|s| SkippedRecord {
                requirement: s.requirement.clone(),
                location: s.location.clone(),
            })
            .collect(),
        warnings,
        profile: format!("{:?}", args.slim.profile).to_lowercase(),
        bytecode: format!("{:?}", ctx.plan.mode).to_lowercase(),
        bytecode_note: ctx.bytecode_note.map(str::to_string),
        rules: ctx
            .recipes
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
            .collect(),
        stale_rules: ctx.stale_rules.to_vec(),
        audit: ctx
            .findings
            .iter()
            .map(|f| crate::artifact::AuditRecord {
                severity: format!("{:?}", f.severity).to_lowercase(),
                code: f.code.to_string(),
                path: f.path.clone(),
                message: f.message.clone(),
            })
            .collect(),
        layer_prefix: (unit.kind == ArtifactKind::LayerZip).then(|| unit.prefix.clone()),
        layers: unit.layers.clone(),
        image: None,
        files: assembled.files.clone(),
    };
    manifest.write(&manifest_file)?;
    Ok((manifest, false))
}

/// `--format image`: app layers on a base image, written to every `--image-out`.
fn build_image(
    ctx: &Ctx<'_>,
    slimmed: &[SlimmedWheel],
    cache: &Cache,
) -> anyhow::Result<ArtifactManifest> {
    use crate::emit::image::{self as img, ImageOut};
    let args = ctx.args;
    let handler = args.handler.clone().ok_or_else(|| {
        anyhow::anyhow!(
            "--format image needs --handler MODULE.FUNCTION (the image's CMD), e.g. --handler app.handler"
        )
    })?;
    let Some((module, _func)) = handler.rsplit_once('.') else {
        anyhow::bail!("--handler `{handler}` must be MODULE.FUNCTION, e.g. app.handler");
    };
    let src_files: Vec<(String, PathBuf, bool)> = match &args.src {
        Some(src) => crate::emit::zip::list_src(src, &[])?
            .into_iter()
            .map(|(p, d, x)| (p.to_string(), d, x))
            .collect(),
        None => Vec::new(),
    };
    let module_path = module.replace('.', "/");
    let candidates = [
        format!("{module_path}.py"),
        format!("{module_path}/__init__.py"),
    ];
    let in_src = src_files.iter().any(|(p, _, _)| candidates.contains(p));
    let in_deps = slimmed.iter().any(|s| {
        s.entries
            .iter()
            .any(|e| candidates.iter().any(|c| c == e.path.as_str()))
    });
    if !in_src && !in_deps {
        anyhow::bail!(
            "handler module `{module}` is not in the image: no {} in --src{}\n  hint: pass --src with your handler code, or fix --handler",
            candidates[0],
            args.src
                .as_ref()
                .map(|s| format!(" {}", s.display()))
                .unwrap_or_else(|| " (none given)".to_string())
        );
    }
    if args.image_out.is_empty() && args.push.is_none() {
        anyhow::bail!(
            "--format image needs --image-out oci-layout:DIR[:TAG] or docker-archive:FILE.tar[:TAG], or --push REF"
        );
    }
    // Fail on a bad push reference before any work.
    let registry = match &args.push {
        Some(r) => Some(crate::emit::registry::Registry::connect(r)?),
        None => None,
    };
    let outs: Vec<ImageOut> = args
        .image_out
        .iter()
        .map(|o| ImageOut::parse(o).map_err(|e| anyhow::anyhow!("--image-out {e}")))
        .collect::<Result<_, _>>()?;
    let spec = img::spec_for(ctx.target);
    let base_ref = args.base.clone().unwrap_or_else(|| spec.base.clone());
    let base = match base_ref.strip_prefix("oci-layout:") {
        Some(rest) => {
            let (dir, tag) = match rest.rsplit_once(':') {
                Some((d, t)) if !t.contains('/') => (PathBuf::from(d), Some(t.to_string())),
                _ => (PathBuf::from(rest), None),
            };
            img::read_oci_layout(&dir, tag.as_deref(), ctx.target.arch)?
        }
        None => crate::emit::registry::Registry::connect(&base_ref)?
            .pull_base(ctx.target.arch, cache)?,
    };
    let settings = img::ImageSettings {
        entrypoint: spec.entrypoint.clone(),
        cmd: vec![handler.clone()],
        workdir: spec.workdir.clone(),
        env: spec.env.clone(),
        heavy_threshold: args.heavy_threshold,
        epoch: ctx.epoch,
        gzip_level: 6,
    };
    let built = img::build_image(slimmed, &src_files, ctx.target, base, &settings, cache)?;
    let mut written = Vec::new();
    for out in &outs {
        match out {
            ImageOut::OciLayout { dir, tag } => {
                img::write_oci_layout(&built, dir, tag)?;
                written.push(format!("oci-layout:{}:{tag}", dir.display()));
            }
            ImageOut::DockerArchive { file, tag } => {
                img::write_docker_archive(&built, file, tag, ctx.epoch)?;
                written.push(format!("docker-archive:{}:{tag}", file.display()));
            }
        }
    }

    let pushed = match &registry {
        Some(reg) => {
            let report = reg.push(&built)?;
            written.push(format!("{}@{}", report.reference, report.digest));
            Some(report)
        }
        None => None,
    };

    // Records: the app files under /var/task.
    let mut files: Vec<crate::artifact::FileRecord> = Vec::new();
    for s in slimmed {
        files.extend(s.meta.records.iter().cloned().map(|mut r| {
            if r.action != crate::artifact::Action::Drop {
                r.path = format!("var/task/{}", r.path);
            }
            r
        }));
    }
    for (p, disk, _) in &src_files {
        let size = std::fs::metadata(disk).map(|m| m.len()).unwrap_or(0);
        files.push(crate::artifact::FileRecord {
            path: format!("var/task/{p}"),
            package: SRC_PACKAGE.to_string(),
            original_size: size,
            size,
            compressed_size: 0,
            action: crate::artifact::Action::Keep,
            rule: None,
            note: None,
        });
    }
    files.sort_by(|a, b| a.path.cmp(&b.path).then(a.package.cmp(&b.package)));
    let unzipped: u64 = files
        .iter()
        .filter(|f| f.action != crate::artifact::Action::Drop)
        .map(|f| f.size)
        .sum();
    let total_blobs: u64 =
        built.blobs.iter().map(|b| b.size).sum::<u64>() + built.manifest.len() as u64;
    let first = outs.first().map(|o| match o {
        ImageOut::OciLayout { dir, .. } => dir.clone(),
        ImageOut::DockerArchive { file, .. } => file.clone(),
    });
    // Without a local output the manifest goes where -o (or its default) points.
    let manifest_file = manifest_path(&first.unwrap_or_else(|| {
        args.output
            .clone()
            .unwrap_or_else(|| default_output(ctx.input).with_extension("image"))
    }));
    let manifest = ArtifactManifest {
        schema_version: SCHEMA_VERSION,
        lpack_version: env!("CARGO_PKG_VERSION").to_string(),
        kind: ArtifactKind::Image,
        target: TargetRecord::of(ctx.target),
        inputs_sha256: sha256_hex(built.manifest_digest.as_bytes()),
        requirements: ctx.input.display().to_string(),
        source_date_epoch: ctx.epoch.0,
        artifact: ArtifactRecord {
            file: written.first().cloned().unwrap_or_default(),
            sha256: built
                .manifest_digest
                .trim_start_matches("sha256:")
                .to_string(),
            size: total_blobs,
            unzipped_size: unzipped,
            entries: files.len(),
        },
        packages: crate::emit::zip::package_records(slimmed, &files),
        skipped_requirements: ctx
            .skipped
            .iter()
            .map(|s| SkippedRecord {
                requirement: s.requirement.clone(),
                location: s.location.clone(),
            })
            .collect(),
        warnings: ctx.warnings.to_vec(),
        profile: format!("{:?}", args.slim.profile).to_lowercase(),
        bytecode: format!("{:?}", ctx.plan.mode).to_lowercase(),
        bytecode_note: ctx.bytecode_note.map(str::to_string),
        rules: Vec::new(),
        stale_rules: ctx.stale_rules.to_vec(),
        audit: Vec::new(),
        layer_prefix: None,
        layers: Vec::new(),
        image: Some(crate::artifact::ImageRecord {
            manifest_digest: built.manifest_digest.clone(),
            config_digest: built.config_digest.clone(),
            base: built.base.reference.clone(),
            base_manifest_digest: built.base.manifest_digest.clone(),
            layers: built.layers.clone(),
            outputs: written.clone(),
        }),
        files,
    };
    manifest.write(&manifest_file)?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "image": written,
                "manifest_digest": built.manifest_digest,
                "config_digest": built.config_digest,
                "layers": built.layers,
                "manifest": manifest_file.display().to_string(),
                "push": pushed,
            }))?
        );
    } else if !args.quiet {
        for w in ctx.warnings {
            eprintln!("warning: {w}");
        }
        println!(
            "Built image for {} (base {})",
            ctx.target, built.base.reference
        );
        for w in &written {
            println!("  {w}");
        }
        println!("  manifest digest {}", built.manifest_digest);
        if let Some(p) = &pushed {
            println!(
                "  pushed {}@{}: {} blob(s) uploaded ({}), {} already there",
                p.reference,
                p.digest,
                p.uploaded,
                human_size(p.uploaded_bytes),
                p.already_present
            );
        }
        println!(
            "  {} base layer(s) + {} app layer(s) under /var/task, CMD [\"{handler}\"]:",
            built.base.layers.len(),
            built.layers.len()
        );
        for l in &built.layers {
            println!(
                "    {}  {} zipped · {} unzipped  {}",
                &l.digest[..19],
                human_size(l.size),
                human_size(l.tar_size),
                l.description
            );
        }
        println!("  lpack manifest {}", manifest_file.display());
    }
    Ok(manifest)
}

/// `dist/app.zip` + `datasci` → `dist/app-datasci.zip`.
fn sibling(output: &Path, name: &str) -> PathBuf {
    let stem = output
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "layer".to_string());
    output.with_file_name(format!("{stem}-{name}.zip"))
}

/// Manifests of the layers named by --exclude-layer (a layer zip or its manifest).
fn read_layers(paths: &[PathBuf]) -> anyhow::Result<Vec<ArtifactManifest>> {
    let mut out = Vec::new();
    for p in paths {
        let m = ArtifactManifest::read(p)?;
        if m.kind != ArtifactKind::LayerZip {
            anyhow::bail!(
                "--exclude-layer {}: that manifest describes a {:?}, not a layer\n  hint: pass the .lpack.json written beside a `--format layer` build",
                p.display(),
                m.kind
            );
        }
        out.push(m);
    }
    if out.len() > crate::emit::layer::MAX_LAYERS {
        anyhow::bail!(
            "{} layers given; Lambda allows a function at most 5",
            out.len()
        );
    }
    let mut owner: std::collections::BTreeMap<&str, &str> = std::collections::BTreeMap::new();
    for m in &out {
        for p in &m.packages {
            if let Some(first) = owner.insert(&p.name, &m.artifact.file) {
                anyhow::bail!(
                    "{} is in two layers ({first} and {}); Lambda extracts layers over each other, so only one copy would be used\n  hint: split distributions between layers without overlap (--split)",
                    p.name,
                    m.artifact.file
                );
            }
        }
    }
    Ok(out)
}

/// Lambda's combined limit: function + layers unzipped. `None` when within it (or unchecked).
fn over_limit(args: &BuildArgs, manifests: &[ArtifactManifest]) -> Option<String> {
    if args.no_limit_check {
        return None;
    }
    let total: u64 = manifests.iter().map(|m| m.artifact.unzipped_size).sum();
    if total <= crate::report::UNZIPPED_LIMIT {
        return None;
    }
    let r = crate::report::build(manifests);
    let over = total - crate::report::UNZIPPED_LIMIT;
    let biggest: Vec<String> = r
        .distributions
        .iter()
        .take(5)
        .map(|d| format!("{} {}", d.name, crate::report::render::mb(d.after)))
        .collect();
    // What would fit: the smallest single distribution whose removal brings it under.
    let fits = r
        .distributions
        .iter()
        .filter(|d| d.after >= over)
        .min_by_key(|d| d.after)
        .map(|d| {
            format!(
                "without {} ({}) it would fit",
                d.name,
                crate::report::render::mb(d.after)
            )
        })
        .unwrap_or_else(|| "no single distribution's removal makes it fit".to_string());
    Some(format!(
        "over Lambda's limit: {} unzipped ({}) is {} more than 262,144,000 bytes (\"Unzipped size must be smaller than 262144000 bytes\")\n  biggest: {}\n  {fits}\n  hint: --profile aggressive, --drop what you do not import, or ship a container image; layers do not help (they count too). --no-limit-check builds anyway",
        crate::report::render::mb(total),
        if manifests.len() > 1 {
            "function + layers"
        } else {
            "this artifact"
        },
        crate::report::render::mb(over),
        biggest.join(", ")
    ))
}

/// `dist/app.layers.lpack.json`: the layers of a split and their combined size.
fn write_layer_set(output: &Path, manifests: &[ArtifactManifest]) -> anyhow::Result<()> {
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
        "limit": crate::report::UNZIPPED_LIMIT,
    }))?;
    crate::cache::write_output(&path, &body)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))
}

/// What a build produced (or found up to date).
struct Done<'a> {
    output: &'a Path,
    manifest_file: &'a Path,
    manifest: &'a ArtifactManifest,
    stats: &'a crate::fetch::FetchStats,
    seconds: f64,
    unchanged: bool,
}

/// Summary, then the gates, then `--verify`: the same for fresh and up-to-date artifacts.
#[allow(clippy::too_many_arguments)]
fn finish(
    args: &BuildArgs,
    done: &Done<'_>,
    target: &Target,
    plan: &BytecodePlan,
    cache: &Cache,
    client: &IndexClient,
    http: Option<&Http>,
    reporter: &Bars,
) -> anyhow::Result<Outcome> {
    let (verified, status) = verify_after_build(
        args,
        done.output,
        done.manifest,
        target,
        plan,
        cache,
        client,
        http,
        reporter,
    )?;
    report(args, done, Some(&status))?;
    if let Some(r) = &verified {
        super::verify::print(r, true);
    }
    if !gates_pass(args, done.manifest) {
        return Ok(Outcome::GateFailed);
    }
    Ok(match verified {
        Some(r) if !r.ok() => Outcome::GateFailed,
        _ => Outcome::Ok,
    })
}

/// Import the handler with the bundle (and, for aggressive builds, the runtime-provided
/// packages behind it) and return the `.py` files it loads, by distribution.
/// What slimming a build needs.
struct SlimJob<'a> {
    args: &'a BuildArgs,
    wheels: &'a [crate::fetch::FetchedWheel],
    target: &'a Target,
    recipes: &'a RecipeSet,
    epoch: Epoch,
    cache: &'a Cache,
    client: &'a IndexClient,
    http: Option<&'a Http>,
    reporter: &'a Bars,
    src_digests: &'a [(String, String)],
}

impl SlimJob<'_> {
    fn slim(&self, plan: &BytecodePlan) -> anyhow::Result<Vec<SlimmedWheel>> {
        // Rule hits are counted per pass; the last pass is the build's.
        self.recipes.reset_hits();
        Ok(slim(
            self.wheels,
            self.target,
            &SlimSettings {
                recipes: self.recipes,
                bytecode: plan,
                epoch: self.epoch,
            },
            self.cache,
            self.reporter,
        )?)
    }

    /// Which modules importing `roots` loads, traced on `bare` (fragments without bytecode) and
    /// cached under the fragments, the handler code, the roots and the interpreter.
    fn trace(
        &self,
        bare: &[SlimmedWheel],
        roots: TraceRoots<'_>,
        plan: &BytecodePlan,
    ) -> anyhow::Result<BTreeMap<String, BTreeSet<String>>> {
        let what = match roots {
            TraceRoots::Handler(h) => h.to_string(),
            TraceRoots::TopLevel => "<top-level>".to_string(),
        };
        let key = sha256_hex(
            format!(
                "{:?}|{:?}|{what}|{}",
                bare.iter().map(|s| &s.fragment).collect::<Vec<_>>(),
                self.src_digests,
                plan.python_version
            )
            .as_bytes(),
        );
        if let Some(subset) = self.cache.read_trace(&key) {
            return Ok(subset);
        }
        let runtime_dir = tempfile::tempdir()?;
        let mut behind = Vec::new();
        if bare.iter().any(|s| {
            s.meta
                .records
                .iter()
                .any(|r| r.rule.as_deref() == Some("runtime-provided"))
        }) {
            crate::verify::install_runtime(
                runtime_dir.path(),
                self.target,
                self.cache,
                self.client,
                self.http,
                self.reporter,
            )?;
            behind.push(runtime_dir.path().to_path_buf());
        }
        let src = match roots {
            TraceRoots::Handler(_) => self.args.src.as_deref(),
            TraceRoots::TopLevel => None,
        };
        let subset = crate::slim::trace::imported_files(bare, src, roots, plan, &behind)?;
        self.cache.write_trace(&key, &subset)?;
        Ok(subset)
    }

    /// The budget bytecode must fit in: Lambda's unzipped limit for zips and layers (unless
    /// `--no-limit-check`) and the `--max-unzipped` gate.
    fn budget(&self) -> Option<u64> {
        let lambda = (self.args.format != Format::Image && !self.args.no_limit_check)
            .then_some(UNZIPPED_LIMIT);
        match (lambda, self.args.gates.max_unzipped) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// Unzipped bytes of the slimmed wheels plus the handler code.
fn unzipped(slimmed: &[SlimmedWheel], src_digests: &[(String, String)], src: Option<&Path>) -> u64 {
    let wheels: u64 = slimmed
        .iter()
        .flat_map(|s| &s.entries)
        .map(|e| e.size)
        .sum();
    let src: u64 = src
        .map(|dir| {
            src_digests
                .iter()
                .filter_map(|(rel, _)| std::fs::metadata(dir.join(rel)).ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0);
    wheels + src
}

/// Slim with bytecode, but never let bytecode push the build over its budget: compile every
/// module (or what the handler imports, with `--bytecode-for-imports`); when that does not fit,
/// only what importing each distribution's top-level packages loads; then nothing. Returns the
/// slimmed wheels, the plan used and, when it fell back, why.
fn slim_within_budget(
    job: &SlimJob<'_>,
    mut plan: BytecodePlan,
) -> anyhow::Result<(Vec<SlimmedWheel>, BytecodePlan, Option<String>)> {
    let none = BytecodePlan {
        mode: BytecodeMode::None,
        subset: None,
        ..plan.clone()
    };
    let handler = job
        .args
        .slim
        .bytecode_for_imports
        .as_deref()
        .filter(|_| plan.mode != BytecodeMode::None);
    let slimmed = match handler {
        Some(handler) => {
            // Slim without bytecode, trace the import on that, then compile what it loaded.
            let bare = job.slim(&none)?;
            plan.subset = Some(job.trace(&bare, TraceRoots::Handler(handler), &plan)?);
            job.slim(&plan)?
        }
        None => job.slim(&plan)?,
    };
    let size = |s: &[SlimmedWheel]| unzipped(s, job.src_digests, job.args.src.as_deref());
    let Some(budget) = job.budget() else {
        return Ok((slimmed, plan, None));
    };
    let full = size(&slimmed);
    if plan.mode == BytecodeMode::None || full <= budget {
        return Ok((slimmed, plan, None));
    }
    let mb = crate::report::render::mb;
    let what = if plan.subset.is_some() {
        "the handler's imports"
    } else {
        "every module"
    };
    let bare = job.slim(&none)?;
    if plan.subset.is_none() {
        let narrowed = BytecodePlan {
            subset: Some(job.trace(&bare, TraceRoots::TopLevel, &plan)?),
            ..plan.clone()
        };
        let slimmed = job.slim(&narrowed)?;
        let n = size(&slimmed);
        if n <= budget {
            return Ok((
                slimmed,
                narrowed,
                Some(format!(
                    "compiled only what importing each distribution's top-level packages loads ({}): compiling every module would make {} unzipped, over the {} budget",
                    mb(n),
                    mb(full),
                    mb(budget)
                )),
            ));
        }
    }
    Ok((
        bare.clone(),
        none,
        Some(format!(
            "none: compiling {what} would make {} unzipped, over the {} budget; without bytecode it is {} (cold starts compile what they import)",
            mb(full),
            mb(budget),
            mb(size(&bare))
        )),
    ))
}

fn gates_pass(args: &BuildArgs, manifest: &ArtifactManifest) -> bool {
    super::check_gates(std::slice::from_ref(manifest), &args.gates) == Outcome::Ok
}

/// The previous manifest, if it was made from the same inputs and the artifact is intact.
fn up_to_date(
    output: &Path,
    manifest_file: &Path,
    inputs_sha256: &str,
) -> Option<ArtifactManifest> {
    let previous = ArtifactManifest::read(manifest_file).ok()?;
    if previous.inputs_sha256 != inputs_sha256 {
        return None;
    }
    let meta = std::fs::metadata(output).ok()?;
    if meta.len() != previous.artifact.size {
        return None;
    }
    (crate::cache::sha256_file(output).ok()? == previous.artifact.sha256).then_some(previous)
}

#[allow(clippy::too_many_arguments)]
fn verify_after_build(
    args: &BuildArgs,
    output: &Path,
    manifest: &ArtifactManifest,
    target: &Target,
    plan: &BytecodePlan,
    cache: &Cache,
    client: &IndexClient,
    http: Option<&Http>,
    reporter: &Bars,
) -> anyhow::Result<(Option<crate::verify::VerifyReport>, String)> {
    if args.no_verify {
        return Ok((None, "not verified (--no-verify)".to_string()));
    }
    let host = match std::env::consts::ARCH {
        "aarch64" => "arm64",
        other => other,
    };
    if target.arch.to_string() != host && !args.verify {
        return Ok((
            None,
            format!(
                "not verified: a {} artifact does not load on this {host} host (verify it on {} or in CI)",
                target.arch, target.arch
            ),
        ));
    }
    let python = plan
        .python
        .clone()
        .or_else(|| args.slim.python.clone())
        .or_else(|| find_python(target.runtime.minor()));
    let Some(python) = python else {
        if args.verify {
            return Err(crate::verify::VerifyError::NoPython(target.python_version()).into());
        }
        return Ok((
            None,
            format!(
                "not verified: no python{} found to import it with (install it or pass --python; --no-verify silences this)",
                target.python_version()
            ),
        ));
    };
    // A verified artifact (with the same layers and interpreter) stays verified.
    let version = crate::slim::bytecode::python_version(&python)
        .map(|(_, v)| v)
        .unwrap_or_default();
    let key = sha256_hex(
        format!(
            "verify 1\n{}\n{:?}\n{version}\n",
            manifest.artifact.sha256,
            manifest
                .layers
                .iter()
                .map(|l| l.sha256.as_str())
                .collect::<Vec<_>>()
        )
        .as_bytes(),
    );
    if let Some(status) = cache.read_record("verify-v1", &key) {
        return Ok((None, String::from_utf8_lossy(&status).into_owned()));
    }
    let report = crate::verify::verify(
        output,
        manifest,
        target,
        Some(&python),
        cache,
        client,
        http,
        reporter,
    )?;
    let failed = report.imports.iter().filter(|i| !i.ok).count()
        + report.metadata.iter().filter(|m| !m.ok).count();
    let status = if failed == 0 {
        let s = format!(
            "verified: {} top-level modules import with Python {}",
            report.imports.len(),
            version.split_whitespace().next().unwrap_or("")
        );
        cache.write_record("verify-v1", &key, s.as_bytes())?;
        s
    } else {
        format!(
            "verify failed: {failed} import(s) fail from the artifact (it is kept: {}); --no-verify skips this check",
            output.display()
        )
    };
    Ok((Some(report), status))
}

/// Print the build summary (human or `--json`).
fn report(args: &BuildArgs, done: &Done<'_>, verify: Option<&str>) -> anyhow::Result<()> {
    let Done {
        output,
        manifest_file,
        manifest,
        stats,
        seconds,
        unchanged,
    } = *done;
    let warnings = &manifest.warnings;
    if args.json {
        let summary = JsonSummary {
            artifact: output.display().to_string(),
            manifest: manifest_file.display().to_string(),
            sha256: &manifest.artifact.sha256,
            size: manifest.artifact.size,
            unzipped_size: manifest.artifact.unzipped_size,
            entries: manifest.artifact.entries,
            target: &manifest.target,
            packages: manifest.packages.len(),
            downloaded: stats.downloaded,
            cached: stats.cached,
            seconds,
            unchanged,
            warnings,
            verify,
        };
        println!("{}", serde_json::to_string_pretty(&summary)?);
        return Ok(());
    }
    if args.quiet {
        return Ok(());
    }
    for w in warnings {
        eprintln!("warning: {w}");
    }
    let a = &manifest.artifact;
    let before: u64 = manifest
        .packages
        .iter()
        .map(|p| p.original_size)
        .sum::<u64>()
        + manifest
            .files
            .iter()
            .filter(|f| f.package == SRC_PACKAGE)
            .map(|f| f.original_size)
            .sum::<u64>();
    let files = manifest
        .files
        .iter()
        .filter(|f| f.action != crate::artifact::Action::Drop)
        .count();
    let (rt, arch, glibc) = (
        &manifest.target.runtime,
        &manifest.target.arch,
        &manifest.target.glibc,
    );
    let what = match manifest.kind {
        ArtifactKind::FunctionZip => "function zip",
        ArtifactKind::LayerZip => "layer",
        ArtifactKind::Image => "image",
    };
    if unchanged {
        println!(
            "{what} {} is up to date for {rt} on {arch} (glibc {glibc})",
            output.display()
        );
    } else {
        println!(
            "Built {what} {} for {rt} on {arch} (glibc {glibc})",
            output.display()
        );
    }
    if let Some(prefix) = &manifest.layer_prefix {
        println!("  packages under {prefix}/ (on sys.path as /opt/{prefix})");
    }
    println!(
        "  profile {} · bytecode {} · {} unzipped before slimming → {} after",
        manifest.profile,
        manifest.bytecode,
        human_size(before),
        human_size(a.unzipped_size)
    );
    if let Some(note) = &manifest.bytecode_note {
        println!("  bytecode: {note}");
    }
    println!(
        "  {} packages, {files} files · {} zipped · {} unzipped",
        manifest.packages.len(),
        human_size(a.size),
        human_size(a.unzipped_size)
    );
    // Lambda counts the function with all its layers.
    let layers: u64 = manifest.layers.iter().map(|l| l.unzipped_size).sum();
    let counted = a.unzipped_size + layers;
    let with_layers = if manifest.layers.is_empty() {
        String::new()
    } else {
        format!(
            " with {} layer(s) ({}): {} in all",
            manifest.layers.len(),
            manifest
                .layers
                .iter()
                .map(|l| l.file.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            human_size(counted)
        )
    };
    if counted > UNZIPPED_LIMIT {
        println!(
            "  over Lambda's unzipped limit by {}{with_layers} (limit {} for function + layers)",
            human_size(counted - UNZIPPED_LIMIT),
            human_size(UNZIPPED_LIMIT)
        );
    } else {
        println!(
            "  {} of headroom under Lambda's unzipped limit ({}){with_layers}",
            human_size(UNZIPPED_LIMIT - counted),
            human_size(UNZIPPED_LIMIT)
        );
    }
    if a.size > DIRECT_UPLOAD_LIMIT {
        println!("  larger than 50 MB zipped: upload it through S3, not directly");
    }
    if !manifest.stale_rules.is_empty() {
        println!(
            "  stale rules (matched nothing): {}",
            manifest.stale_rules.join(", ")
        );
    }
    if let Some(v) = verify {
        println!("  {v}");
    }
    println!("  sha256 {}", a.sha256);
    println!("  manifest {}", manifest_file.display());
    println!(
        "  {} wheel(s) downloaded ({}), {} from cache · {:.2} s",
        stats.downloaded,
        human_size(stats.downloaded_bytes),
        stats.cached,
        seconds
    );
    Ok(())
}

/// Load the effective recipe set from the slim flags.
pub fn load_recipes(s: &super::SlimArgs) -> anyhow::Result<RecipeSet> {
    let files: Vec<&Path> = s.recipes.iter().map(PathBuf::as_path).collect();
    let mut set = RecipeSet::load(s.profile, &files, &s.keep, &s.drop)?;
    set.add_force_drops(&s.force_drop)?;
    Ok(set)
}

/// Decide the bytecode plan: explicit mode needs an interpreter; the default compiles when one
/// of the target version is found and otherwise warns what that costs.
fn bytecode_plan(
    s: &super::SlimArgs,
    target: &Target,
    warnings: &mut Vec<String>,
) -> anyhow::Result<BytecodePlan> {
    let python = s
        .python
        .clone()
        .or_else(|| find_python(target.runtime.minor()));
    match (s.bytecode, python) {
        (Some(BytecodeMode::None), _) => Ok(BytecodePlan::none()),
        (Some(mode), Some(py)) => Ok(BytecodePlan::new(mode, &py, target)?),
        (None, Some(py)) => Ok(BytecodePlan::new(BytecodeMode::Compile, &py, target)?),
        (Some(_), None) => anyhow::bail!(
            "--bytecode needs a Python {} interpreter and none was found on PATH or in pyenv\n  hint: install python3.{} or pass --python PATH",
            target.python_version(),
            target.runtime.minor()
        ),
        (None, None) => {
            warnings.push(format!(
                "no python3.{} found: shipping without bytecode, so every cold start compiles what it imports (typically 2-3x slower imports); install python3.{} or pass --python",
                target.runtime.minor(),
                target.runtime.minor()
            ));
            Ok(BytecodePlan::none())
        }
    }
}

/// Audit every ELF file of the slimmed wheels against the target.
fn audit_bundle(slimmed: &[SlimmedWheel], src: Option<&Path>, target: &Target) -> Vec<Finding> {
    let mut bundle = std::collections::BTreeSet::new();
    let mut elfs = Vec::new();
    let mut optional = std::collections::BTreeMap::new();
    for s in slimmed {
        optional.extend(s.optional.iter().map(|(k, v)| (k.clone(), v.clone())));
        for e in &s.entries {
            if let Some(base) = e.path.as_str().rsplit('/').next() {
                bundle.insert(base.to_string());
            }
        }
        elfs.extend(s.meta.elf.iter().cloned());
    }
    if let Some(src) = src {
        for e in walkdir::WalkDir::new(src).into_iter().flatten() {
            if e.file_type().is_file() {
                bundle.insert(e.file_name().to_string_lossy().into_owned());
            }
        }
    }
    audit(&elfs, &bundle, target, &optional)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_names() {
        assert_eq!(
            default_output(Path::new("requirements/datasci-py312.lock.txt")),
            PathBuf::from("dist/datasci-py312.zip")
        );
        assert_eq!(
            default_output(Path::new("req.in")),
            PathBuf::from("dist/req.zip")
        );
    }
}
