//! `lpack build` of one artifact: flags → [`BuildRequest`] → [`crate::pipeline::build`] → the summary for people
//! or `--json`, and the exit code. The pipeline itself lives in [`crate::pipeline`].

use clap::FromArgMatches;

use super::progress::Bars;
use super::{BuildArgs, Format, Invocation, Outcome, human_size, settings};
use crate::artifact::{ArtifactKind, TargetRecord};
use crate::config::{ConfigFile, Value};
use crate::emit::zip::SRC_PACKAGE;
use crate::fetch::FetchStats;
use crate::pipeline::BuiltImageSummary;
use crate::pipeline::many::UnitKind;
use crate::pipeline::{
    BuildOutcome, BuildRequest, BuiltArtifact, DIRECT_UPLOAD_LIMIT, Gates, ImageRequest,
    IndexSettings, OutputFormat, SlimRequest, UNZIPPED_LIMIT, VerifyMode,
};
use crate::target::{Arch, Runtime, Target};

pub const EXAMPLES: &str = "\
Examples:
  lpack build -r requirements/datasci-py312.lock.txt --src benches/workload
  lpack build -r req.txt --runtime python3.11 --arch arm64 -o dist/fn.zip
  lpack build -r req.txt --offline --json
  lpack build                  # with an lpack.toml: every function and layer it declares
  lpack build ingest -j 1      # one of them (and the layers it uses)
  lpack build -r req.txt --max-zipped 50MiB --junit lpack-junit.xml   # CI: gates as JUnit XML

On GitHub Actions (GITHUB_ACTIONS=true) --ci is on: a job summary, step outputs (status,
artifact, sha256, zipped_bytes, unzipped_bytes, headroom_bytes, ...) and annotations at the
requirements line of each failing package; --no-ci turns it off.

The artifact is byte-reproducible: set SOURCE_DATE_EPOCH to choose its single timestamp
(default 1980-01-01). A manifest, <artifact>.lpack.json, is written beside it.";

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
    /// Wheels read from local files (find-links directories), neither downloaded nor cached.
    local: usize,
    seconds: f64,
    /// The artifact was already up to date and was not rewritten.
    unchanged: bool,
    /// `local` or `remote`: copied whole from that cache tier (an earlier build of the same
    /// inputs wrote it; nothing was fetched or slimmed).
    #[serde(skip_serializing_if = "Option::is_none")]
    from_cache: Option<&'a str>,
    warnings: &'a [String],
    /// `verified …`, `not verified: …` or `verify failed: …`.
    #[serde(skip_serializing_if = "Option::is_none")]
    verify: Option<&'a str>,
    /// The handler check (function zips with a handler).
    #[serde(skip_serializing_if = "Option::is_none")]
    handler: Option<&'a crate::artifact::HandlerRecord>,
    /// Function zips built against layers: those layers (as the manifest records them).
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    layers: &'a [crate::artifact::LayerRef],
    /// With layers: function + layers, unzipped (what Lambda counts against 262,144,000 bytes).
    #[serde(skip_serializing_if = "Option::is_none")]
    combined_unzipped_size: Option<u64>,
}

impl From<&super::IndexArgs> for IndexSettings {
    fn from(a: &super::IndexArgs) -> IndexSettings {
        IndexSettings {
            index_url: a.index_url.clone(),
            extra_index_url: a.extra_index_url.clone(),
            find_links: a.find_links.clone(),
            no_index: a.no_index,
            remote: None,
        }
    }
}

impl From<&super::SlimArgs> for SlimRequest {
    fn from(s: &super::SlimArgs) -> SlimRequest {
        SlimRequest {
            profile: s.profile,
            recipes: s.recipes.clone(),
            keep: s.keep.clone(),
            drop: s.drop.clone(),
            force_drop: s.force_drop.clone(),
            bytecode: s.bytecode,
            python: s.python.clone(),
            bytecode_for_imports: s.bytecode_for_imports.clone(),
        }
    }
}

/// The build's settings from its flags (the target parsed, defaults already applied by clap).
pub fn request(args: &BuildArgs) -> anyhow::Result<BuildRequest> {
    let runtime: Runtime = args.runtime.parse()?;
    let arch: Arch = args.arch.parse()?;
    Ok(BuildRequest {
        requirements: args.requirements.clone(),
        extras: args.extra.clone(),
        groups: args.group.clone(),
        prerelease: args.prerelease,
        no_deps: args.no_deps,
        target: Target::new(runtime, arch),
        format: match args.format {
            Format::Zip => OutputFormat::Zip,
            Format::Layer => OutputFormat::Layer,
            Format::Image => OutputFormat::Image,
        },
        output: args.output.clone(),
        src: args.src.clone(),
        handler: args.handler.clone(),
        src_filter: crate::srctree::SrcFilter {
            exclude: args.exclude.clone(),
            include: args.include.clone(),
        },
        cache_dir: args.cache_dir.clone(),
        offline: args.offline,
        index: super::remote::index_settings(&args.index)?,
        on_conflict: args.on_conflict,
        slim: (&args.slim).into(),
        gates: Gates {
            max_unzipped: args.gates.max_unzipped,
            max_zipped: args.gates.max_zipped,
        },
        layer_layout: args.layer_layout,
        split: args.split.clone(),
        layer_budget: args.layer_budget,
        exclude_layers: args.exclude_layer.clone(),
        with_layers: args.with_layer.clone(),
        prefer: if args.prefer_layer {
            crate::pipeline::Prefer::Layer
        } else if args.prefer_function {
            crate::pipeline::Prefer::Function
        } else {
            crate::pipeline::Prefer::Neither
        },
        image: ImageRequest {
            base: args.base.clone(),
            outputs: args.image_out.clone(),
            push: args.push.clone(),
            heavy_threshold: args.heavy_threshold,
            gc: args.gc,
        },
        limit_check: !args.no_limit_check,
        max_image_size: args.max_image_size,
        verify_record: !args.no_verify_record,
        audit_fails: !args.no_audit,
        verify: if args.verify {
            VerifyMode::Require
        } else if args.no_verify {
            VerifyMode::Skip
        } else {
            VerifyMode::Auto
        },
        timings: args.timings,
    })
}

/// The config keys `lpack build` layers (all of them: every key is one of its flags).
pub(super) fn keys() -> Vec<&'static str> {
    crate::config::KEYS.iter().map(|k| k.name).collect()
}

/// Defaults of a named function or layer: its input beside the config, `dist/NAME.zip`, and
/// `format = layer` for layers.
pub(super) fn derived_for_unit(
    config: &ConfigFile,
    unit: &crate::config::Unit,
    kind: UnitKind,
) -> Vec<(&'static str, Value, String)> {
    let dir = settings::config_dir(config);
    let mut derived = settings::derived_input(config);
    // Images keep their lpack manifest at dist/NAME.image.lpack.json when only pushed.
    let image = kind == UnitKind::Function
        && [&unit.settings, &config.root]
            .iter()
            .find_map(|t| t.get("format"))
            .is_some_and(|s| s.value == Value::Str("image".into()));
    let ext = if image { "image" } else { "zip" };
    derived.push((
        "output",
        Value::Str(
            dir.join("dist")
                .join(format!("{}.{ext}", unit.name))
                .display()
                .to_string(),
        ),
        "dist/NAME.zip beside the config".to_string(),
    ));
    if kind == UnitKind::Layer {
        derived.push((
            "format",
            Value::Str("layer".into()),
            LAYER_FORMAT.to_string(),
        ));
    }
    derived
}

pub(super) const LAYER_FORMAT: &str = "a [layers.NAME] table";

/// Parse the layered arguments back into `BuildArgs`.
pub(super) fn layered_args(layered: &settings::Layered) -> anyhow::Result<BuildArgs> {
    let sub = layered
        .matches
        .subcommand_matches("build")
        .ok_or_else(|| anyhow::anyhow!("internal: build arguments vanished"))?;
    Ok(BuildArgs::from_arg_matches(sub)?)
}

/// One build from flags, `LPACK_*` variables and the shared settings of `config` (a config with
/// named functions and layers goes to [`super::units`] instead).
pub fn run(
    args: BuildArgs,
    inv: &Invocation,
    config: Option<&ConfigFile>,
) -> anyhow::Result<Outcome> {
    if !args.names.is_empty() {
        let what = match config {
            Some(c) => format!(
                "{} declares no [functions.NAME] or [layers.NAME]",
                c.path.display()
            ),
            None => "no lpack.toml or [tool.lpack] was found".to_string(),
        };
        anyhow::bail!(
            "cannot build {}: {what}\n  hint: declare them in the config (see `lpack init`), or drop the names to build from flags",
            args.names.join(", ")
        );
    }
    let empty = crate::config::Table::new();
    let (root, derived) = match config {
        Some(c) => (&c.root, settings::derived_input(c)),
        None => (&empty, Vec::new()),
    };
    let layered = settings::layer(&inv.argv, "build", &keys(), &[root], &derived)?;
    let args = layered_args(&layered)?;
    let mut req = request(&args)?;
    // With a config, the artifact is the project's: dist/<project name>.zip beside the config
    // (the pyproject's [project].name, else the config's directory name).
    if let (None, Some(c)) = (&req.output, config) {
        let dir = settings::config_dir(c);
        let name = crate::pipeline::default_output(&dir.join("pyproject.toml"));
        let name = if req.format == OutputFormat::Image {
            name.with_extension("image")
        } else {
            name
        };
        req.output = Some(dir.join(name));
    }
    let reporter = Bars::new(!(args.quiet || args.json));
    if args.no_verify_record {
        eprintln!(
            "warning: --no-verify-record: wheels whose RECORD does not match their files are shipped anyway; a corrupt or tampered file would not be caught"
        );
    }
    let outcome = match crate::pipeline::build(&req, &reporter) {
        Ok(o) => o,
        Err(e) => {
            // CI: the error as `status=error`, in the summary and as an annotation.
            if args.ci.wanted() {
                let input = req.requirements.as_deref();
                super::ci::results::error("lpack build", &e.to_string(), input).emit(&args.ci)?;
            }
            let message = settings::name_config_keys(&e.to_string(), &layered.sources);
            return Err(anyhow::Error::new(e).context(message));
        }
    };
    render(&args, &req, &outcome)?;
    if args.ci.wanted() {
        super::ci::results::build(&outcome, &req.gates, req.limit_check).emit(&args.ci)?;
    }
    Ok(if outcome.passed() {
        Outcome::Ok
    } else {
        Outcome::GateFailed
    })
}

/// Print what the build did, in the order the checks ran: each artifact's summary, then
/// Lambda's limit, or the verify report and the gates.
pub(super) fn render(
    args: &BuildArgs,
    req: &BuildRequest,
    outcome: &BuildOutcome,
) -> anyhow::Result<()> {
    let verify = outcome.verify.as_ref();
    if let Some(image) = &outcome.image {
        render_image(args, &req.target, image)?;
        if let Some(v) = verify.filter(|_| !args.json && !args.quiet) {
            println!("  {}", v.status);
        }
    }
    for built in &outcome.artifacts {
        report(
            args,
            built,
            &outcome.stats,
            verify.map(|v| v.status.as_str()),
            &outcome.timings.stages,
            outcome.restored_from,
        )?;
    }
    if args.timings && !args.json && !args.quiet {
        print!("{}", timings_text(&outcome.timings.stages));
    }
    if let (Some(resolved), false) = (&outcome.resolved, args.json || args.quiet) {
        print_resolved(resolved);
    }
    if let Some(msg) = &outcome.over_limit {
        eprintln!("{msg}");
    }
    if let Some(r) = verify.and_then(|v| v.report.as_ref()) {
        super::verify::print(r, true);
    }
    for f in &outcome.gate_failures {
        eprintln!("gate failed: {}", f.message);
    }
    Ok(())
}

/// The input was resolved (loose requirements, or pins whose dependencies this build chose):
/// which versions it chose, and how to keep them.
fn print_resolved(resolved: &[String]) {
    const SHOWN: usize = 12;
    let more = resolved.len().saturating_sub(SHOWN);
    println!(
        "  resolved {} package(s) for this target: {}{}",
        resolved.len(),
        resolved
            .iter()
            .take(SHOWN)
            .cloned()
            .collect::<Vec<_>>()
            .join(", "),
        if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        }
    );
    println!(
        "  hint: a later build may choose newer versions; `lpack lock` writes these to pylock.toml, and building from it (-r pylock.toml, or requirements = \"pylock.toml\" in the config) keeps them"
    );
}

/// The image summary in `--json`.
pub(super) fn image_json(image: &BuiltImageSummary) -> serde_json::Value {
    serde_json::json!({
        "image": image.written,
        "manifest_digest": image.manifest_digest,
        "config_digest": image.config_digest,
        "layers": image.layers,
        "manifest": image.manifest_file.display().to_string(),
        "push": image.pushed,
        "verify": image.manifest.verify.as_ref().map(|v| &v.status),
        "handler": image.manifest.verify.as_ref().and_then(|v| v.handler.as_ref()),
    })
}

/// One artifact's summary in `--json`.
pub(super) fn json_summary(
    built: &BuiltArtifact,
    stats: &FetchStats,
    verify: Option<&str>,
    from_cache: Option<&str>,
) -> anyhow::Result<serde_json::Value> {
    let manifest = &built.manifest;
    Ok(serde_json::to_value(JsonSummary {
        artifact: built.output.display().to_string(),
        manifest: built.manifest_file.display().to_string(),
        sha256: &manifest.artifact.sha256,
        size: manifest.artifact.size,
        unzipped_size: manifest.artifact.unzipped_size,
        entries: manifest.artifact.entries,
        target: &manifest.target,
        packages: manifest.packages.len(),
        downloaded: stats.downloaded,
        cached: stats.cached,
        local: stats.local,
        seconds: built.seconds,
        unchanged: built.unchanged,
        from_cache,
        warnings: &manifest.warnings,
        verify,
        handler: manifest.verify.as_ref().and_then(|v| v.handler.as_ref()),
        layers: &manifest.layers,
        combined_unzipped_size: (!manifest.layers.is_empty()).then(|| {
            manifest.artifact.unzipped_size
                + manifest.layers.iter().map(|l| l.unzipped_size).sum::<u64>()
        }),
    })?)
}

/// The image summary (human or `--json`).
fn render_image(
    args: &BuildArgs,
    target: &Target,
    image: &BuiltImageSummary,
) -> anyhow::Result<()> {
    if args.json {
        println!("{}", serde_json::to_string_pretty(&image_json(image))?);
    } else if !args.quiet {
        for w in &image.manifest.warnings {
            eprintln!("warning: {w}");
        }
        println!("Built image for {} (base {})", target, image.base_reference);
        for w in &image.written {
            println!("  {w}");
        }
        for n in &image.notes {
            println!("  {n}");
        }
        println!("  manifest digest {}", image.manifest_digest);
        if let Some(p) = &image.pushed {
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
            "  {} base layer(s) + {} app layer(s) under /var/task, CMD [\"{}\"]:",
            image.base_layers,
            image.layers.len(),
            image.handler
        );
        for l in &image.layers {
            println!(
                "    {}  {} zipped · {} unzipped  {}",
                &l.digest[..19],
                human_size(l.size),
                human_size(l.tar_size),
                l.description
            );
        }
        if let Some(line) = src_line(&image.manifest) {
            println!("{line}");
        }
        println!("  lpack manifest {}", image.manifest_file.display());
    }
    Ok(())
}

/// What the handler code (`--src`) contributed: `  <src>: 3 files, 12.1 kB`.
fn src_line(manifest: &crate::artifact::ArtifactManifest) -> Option<String> {
    let (n, bytes) = manifest
        .files
        .iter()
        .filter(|f| f.package == SRC_PACKAGE && f.action != crate::artifact::Action::Drop)
        .fold((0usize, 0u64), |(n, b), f| (n + 1, b + f.size));
    (n > 0).then(|| {
        format!(
            "  {SRC_PACKAGE} (handler code): {n} files, {}",
            human_size(bytes)
        )
    })
}

/// Print the build summary (human or `--json`).
fn report(
    args: &BuildArgs,
    built: &BuiltArtifact,
    stats: &FetchStats,
    verify: Option<&str>,
    timings: &crate::timings::Report,
    from_cache: Option<&str>,
) -> anyhow::Result<()> {
    let BuiltArtifact {
        output,
        manifest_file,
        manifest,
        unchanged,
        seconds,
    } = built;
    // The artifact's own time is when it was written; the line people read (and compare with
    // `time`) is the whole build's, the import check included.
    let (unchanged, seconds) = (*unchanged, seconds.max(timings.wall));
    let warnings = &manifest.warnings;
    if args.json {
        let mut v = json_summary(built, stats, verify, from_cache)?;
        if let Some(o) = v.as_object_mut() {
            o.insert("timings".to_string(), serde_json::to_value(timings)?);
        }
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    if args.quiet {
        return Ok(());
    }
    for w in warnings {
        eprintln!("warning: {w}");
    }
    let a = &manifest.artifact;
    headline(manifest, output, unchanged);
    size_lines(manifest);
    limit_line(manifest);
    external_lines(manifest);
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
    if let Some(tier) = from_cache {
        let what = if unchanged {
            "left as it was"
        } else {
            "copied whole"
        };
        println!(
            "  {what}: an earlier build of the same inputs wrote it (found in the {tier} cache by its content key) · {seconds:.2} s"
        );
        return Ok(());
    }
    let local = if stats.local > 0 {
        format!(", {} local file(s)", stats.local)
    } else {
        String::new()
    };
    println!(
        "  {} wheel(s) downloaded ({}), {} from cache{local} · {:.2} s",
        stats.downloaded,
        human_size(stats.downloaded_bytes),
        stats.cached,
        seconds
    );
    Ok(())
}

/// Print what was built (or found up to date), for which runtime, and its layer prefix.
fn headline(
    manifest: &crate::artifact::ArtifactManifest,
    output: &std::path::Path,
    unchanged: bool,
) {
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
}

/// Print the profile and the sizes before and after slimming, packages and files.
fn size_lines(manifest: &crate::artifact::ArtifactManifest) {
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
    if let Some(line) = src_line(manifest) {
        println!("{line}");
    }
}

/// Print the headroom under (or the excess over) Lambda's unzipped limit, layers included.
fn limit_line(manifest: &crate::artifact::ArtifactManifest) {
    let a = &manifest.artifact;
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
}

/// For each layer lpack did not build (`--with-layer`): its size, what it provides of the lock
/// (left out of the function), and version mismatches; then what the function still ships.
fn external_lines(manifest: &crate::artifact::ArtifactManifest) {
    let mut any = false;
    for l in &manifest.layers {
        let Some(ext) = &l.external else { continue };
        any = true;
        let provided = if l.distributions.is_empty() {
            "none of your distributions".to_string()
        } else {
            format!(
                "{} of your distributions, left out of the function: {}",
                l.distributions.len(),
                l.distributions.join(", ")
            )
        };
        println!(
            "  layer {} ({} distributions, {} unzipped): provides {provided}",
            l.file,
            ext.packages.len(),
            human_size(l.unzipped_size)
        );
        for m in &ext.mismatches {
            println!("    {m}");
        }
    }
    if any {
        let ships: Vec<String> = manifest
            .packages
            .iter()
            .map(|p| format!("{} {}", p.name, p.version))
            .collect();
        if ships.is_empty() {
            println!(
                "  the function ships no distributions of its own (the layers provide them all)"
            );
        } else {
            println!("  the function still ships: {}", ships.join(", "));
        }
    }
}

/// The manifests `lpack build` with no flags writes for the config's functions (or its one
/// build): `(function name, manifest path)`, name `None` for a config without units. Layers
/// are left out (they are benched under a function). Used by `lpack bench` without arguments.
pub(super) fn function_manifests(
    config: &ConfigFile,
) -> anyhow::Result<Vec<(Option<String>, std::path::PathBuf)>> {
    let argv: Vec<std::ffi::OsString> = vec!["lpack".into(), "build".into()];
    let mut out = Vec::new();
    if config.has_units() {
        for unit in &config.functions {
            let derived = derived_for_unit(config, unit, UnitKind::Function);
            let layered = settings::layer(
                &argv,
                "build",
                &keys(),
                &[&unit.settings, &config.root],
                &derived,
            )?;
            let req = request(&layered_args(&layered)?)?;
            if let Some(m) = manifest_of(&req) {
                out.push((Some(unit.name.clone()), m));
            }
        }
        return Ok(out);
    }
    let layered = settings::layer(
        &argv,
        "build",
        &keys(),
        &[&config.root],
        &settings::derived_input(config),
    )?;
    let req = request(&layered_args(&layered)?)?;
    let output = req.output.clone().unwrap_or_else(|| {
        let dir = settings::config_dir(config);
        let name = crate::pipeline::default_output(&dir.join("pyproject.toml"));
        dir.join(if req.format == OutputFormat::Image {
            name.with_extension("image")
        } else {
            name
        })
    });
    let req = crate::pipeline::BuildRequest {
        output: Some(output),
        ..req
    };
    if let Some(m) = manifest_of(&req) {
        out.push((None, m));
    }
    Ok(out)
}

/// Where a build of `req` writes its manifest: beside the artifact, or for an image beside its
/// first local output (else beside `output`). `None` for layers.
fn manifest_of(req: &crate::pipeline::BuildRequest) -> Option<std::path::PathBuf> {
    use crate::emit::image::ImageOut;
    match req.format {
        OutputFormat::Layer => None,
        OutputFormat::Zip => req.output.as_deref().map(crate::artifact::manifest_path),
        OutputFormat::Image => {
            let first = req
                .image
                .outputs
                .iter()
                .find_map(|o| match ImageOut::parse(o) {
                    Ok(ImageOut::OciLayout { dir, .. }) => Some(dir),
                    Ok(ImageOut::DockerArchive { file, .. }) => Some(file),
                    Err(_) => None,
                });
            first
                .or_else(|| req.output.clone())
                .map(|p| crate::artifact::manifest_path(&p))
        }
    }
}

/// `--timings` for people: a row per stage, the critical path and the totals.
pub(super) fn timings_text(t: &crate::timings::Report) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Timings: {:.2} s wall, {:.2} s CPU, peak memory {}",
        t.wall,
        t.cpu,
        human_size(t.peak_rss)
    );
    if t.stages.is_empty() {
        let _ = writeln!(
            s,
            "  no stage ran: the inputs' fingerprint and the artifact are as the last build left them"
        );
        return s;
    }
    let _ = writeln!(
        s,
        "  {:<10} {:>8} {:>8}   {:>15}  pieces",
        "stage", "wall s", "CPU s", "from → to (s)"
    );
    for st in &t.stages {
        let _ = writeln!(
            s,
            "  {:<10} {:>8.3} {:>8.3}   {:>6.2} → {:>6.2}  {}",
            st.stage.name(),
            st.wall,
            st.cpu,
            st.start,
            st.end,
            st.spans
        );
    }
    if !t.critical_path.is_empty() {
        let steps: Vec<String> = t
            .critical_path
            .iter()
            .map(|p| {
                let what = match &p.item {
                    Some(i) => format!("{} {i}", p.stage.name()),
                    None => p.stage.name().to_string(),
                };
                if p.waited >= 0.01 {
                    format!("(waited {:.2} s) {what} {:.2} s", p.waited, p.seconds)
                } else {
                    format!("{what} {:.2} s", p.seconds)
                }
            })
            .collect();
        let _ = writeln!(s, "  critical path: {}", steps.join(" → "));
    }
    s
}
