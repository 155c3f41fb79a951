//! `lpack build`: finds the config, then builds one artifact ([`super::build::run`]) or, when the
//! config declares `[functions.NAME]` / `[layers.NAME]`, one request per unit (settings layered
//! per unit) through [`crate::pipeline::many::build_many`], then each unit's summary, one table (or
//! one `--json` document) and one exit code.

use super::build::{
    derived_for_unit, image_json, json_summary, keys, layered_args, render, request,
};
use super::progress::Bars;
use super::{BuildArgs, Invocation, Outcome, human_size, settings};
use crate::config::ConfigFile;
use crate::pipeline::many::{UnitKind, UnitOutcome, UnitRequest, UnitResult};

/// `lpack build`.
pub fn run(args: BuildArgs, inv: &Invocation) -> anyhow::Result<Outcome> {
    let config = inv.load_config()?;
    let quiet = args.quiet || args.json;
    let r = match &config {
        Some(c) if c.has_units() => run_units(&args, inv, c),
        _ => super::build::run(args, inv, config.as_ref()),
    };
    // Uploads finish (and the remote's warnings are printed) whether or not the build passed.
    super::remote::finish(quiet);
    r
}

/// The units to build: the named ones (all when none are named) and the layers they use.
fn select<'c>(
    names: &[String],
    config: &'c ConfigFile,
) -> anyhow::Result<Vec<(&'c crate::config::Unit, UnitKind)>> {
    let all = names.is_empty();
    let mut want: Vec<String> = names.to_vec();
    for n in names {
        let known = config
            .functions
            .iter()
            .chain(&config.layers)
            .any(|u| &u.name == n);
        if !known {
            let list: Vec<&str> = config
                .functions
                .iter()
                .chain(&config.layers)
                .map(|u| u.name.as_str())
                .collect();
            anyhow::bail!(
                "{} declares no function or layer named `{n}`\n  hint: it declares: {}",
                config.path.display(),
                list.join(", ")
            );
        }
        if let Some(f) = config.functions.iter().find(|f| &f.name == n) {
            want.extend(f.layers.iter().map(|(l, _)| l.clone()));
        }
    }
    let mut out = Vec::new();
    for l in &config.layers {
        if all || want.contains(&l.name) {
            out.push((l, UnitKind::Layer));
        }
    }
    for f in &config.functions {
        if all || want.contains(&f.name) {
            out.push((f, UnitKind::Function));
        }
    }
    Ok(out)
}

#[derive(serde::Serialize)]
struct JsonUnit<'a> {
    name: &'a str,
    kind: UnitKind,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    artifacts: Vec<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    image: Option<serde_json::Value>,
    gate_failures: Vec<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    over_limit: Option<&'a str>,
}

/// `lpack build` with a config that declares functions and layers: build the selected ones in
/// one run, then one summary table (or one JSON document) and one exit code.
fn run_units(args: &BuildArgs, inv: &Invocation, config: &ConfigFile) -> anyhow::Result<Outcome> {
    let selected = select(&args.names, config)?;
    if selected.len() > 1 && args.output.is_some() {
        anyhow::bail!(
            "--output names one artifact, but this run builds {} ({})\n  hint: set `output` in each [functions.NAME] table, or name one function: lpack build NAME -o FILE",
            selected.len(),
            selected
                .iter()
                .map(|(u, _)| u.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    // Layers inherit the shared settings but not those that describe a function.
    let layer_root = config.root_for_layers();
    // Each unit's settings, layered on both cores (a config of hundreds of functions spends
    // measurable time here before anything builds); the first error in config order is shown.
    let layered: Vec<anyhow::Result<_>> = {
        use rayon::prelude::*;
        selected
            .par_iter()
            .map(|(unit, kind)| unit_request(inv, config, &layer_root, unit, *kind))
            .collect()
    };
    let mut units = Vec::new();
    let mut unit_args = Vec::new();
    let mut unit_sources = Vec::new();
    for r in layered {
        let (unit, a, sources) = r?;
        units.push(unit);
        unit_args.push(a);
        unit_sources.push(sources);
    }
    exclude_nested_functions(&mut units);
    let bars = Bars::new(!(args.quiet || args.json));
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let make = |name: &str| -> Box<dyn crate::progress::Reporter> { Box::new(bars.named(name)) };
    let outcomes = crate::pipeline::many::build_many(&units, jobs, &make);
    render_units(args, &units, &unit_args, &unit_sources, &outcomes)
}

/// One unit's request: its settings layered over the command line, the environment and the
/// config ([`settings::layer`]), with the arguments and where each setting came from.
fn unit_request(
    inv: &Invocation,
    config: &ConfigFile,
    layer_root: &crate::config::Table,
    unit: &crate::config::Unit,
    kind: UnitKind,
) -> anyhow::Result<(UnitRequest, BuildArgs, Vec<settings::SourceRow>)> {
    let derived = derived_for_unit(config, unit, kind);
    let root = if kind == UnitKind::Layer {
        layer_root
    } else {
        &config.root
    };
    let layered = settings::layer(
        &inv.argv,
        "build",
        &keys(),
        &[&unit.settings, root],
        &derived,
    )
    .map_err(|e| {
        anyhow::anyhow!(
            "{} `{}`: {e}",
            if kind == UnitKind::Layer {
                "layer"
            } else {
                "function"
            },
            unit.name
        )
    })?;
    if kind == UnitKind::Layer {
        layer_refuses_function_settings(&unit.name, &layered)?;
    }
    let a = layered_args(&layered)?;
    let request = request(&a)?;
    let unit = UnitRequest {
        name: unit.name.clone(),
        kind,
        request,
        layers: unit.layers.iter().map(|(l, _)| l.clone()).collect(),
    };
    Ok((unit, a, layered.sources))
}

/// One function's code is not another's: a function whose `src` holds another function's `src`
/// (`src = "."` beside `functions/report`) leaves that folder out, as if it were excluded.
fn exclude_nested_functions(units: &mut [UnitRequest]) {
    let srcs: Vec<std::path::PathBuf> = units
        .iter()
        .filter(|u| u.kind == UnitKind::Function)
        .filter_map(|u| {
            u.request
                .src
                .as_deref()
                .and_then(|s| std::path::absolute(s).ok())
        })
        .collect();
    for u in units.iter_mut().filter(|u| u.kind == UnitKind::Function) {
        let Some(own) = u
            .request
            .src
            .as_deref()
            .and_then(|s| std::path::absolute(s).ok())
        else {
            continue;
        };
        for other in &srcs {
            let Ok(rel) = other.strip_prefix(&own) else {
                continue;
            };
            let rel = rel.to_string_lossy().replace('\\', "/");
            let rel = rel.trim_matches('/');
            if rel.is_empty() || rel.starts_with("..") {
                continue;
            }
            let glob = format!("/{rel}/");
            if !u.request.src_filter.exclude.contains(&glob) {
                u.request.src_filter.exclude.push(glob);
            }
        }
    }
}

/// A layer is built from packages only: a function's setting given on the command line or by
/// an `LPACK_*` variable (which apply to every build of the run) cannot apply to it. (The
/// config's own are filtered or refused where they are written.)
fn layer_refuses_function_settings(layer: &str, layered: &settings::Layered) -> anyhow::Result<()> {
    for r in &layered.sources {
        if !crate::config::FUNCTION_ONLY.contains(&r.key.as_str()) {
            continue;
        }
        let given = match &r.source {
            settings::Source::CommandLine => format!("--{}", r.key),
            settings::Source::Env { variable } => format!("${variable}"),
            settings::Source::File { location } => format!("`{}` ({location})", r.key),
            _ => continue,
        };
        anyhow::bail!(
            "{given} applies to every build of this run, but `{layer}` is a layer (packages only)\n  hint: write `{}` in the config instead: in a [functions.NAME] table, or at the top of the file, where it applies to functions only",
            r.key
        );
    }
    Ok(())
}

/// Each unit's summary, then one table; the exit code of the whole run.
fn render_units(
    args: &BuildArgs,
    units: &[UnitRequest],
    unit_args: &[BuildArgs],
    unit_sources: &[Vec<settings::SourceRow>],
    outcomes: &[UnitOutcome],
) -> anyhow::Result<Outcome> {
    let mut failed = false;
    let mut gate = false;
    let mut json = Vec::new();
    let mut rows: Vec<[String; 6]> = Vec::new();
    for (((o, u), a), sources) in outcomes.iter().zip(units).zip(unit_args).zip(unit_sources) {
        let kind = match o.kind {
            UnitKind::Function => "function",
            UnitKind::Layer => "layer",
        };
        match &o.result {
            UnitResult::Built(outcome) => {
                if !outcome.passed() {
                    gate = true;
                }
                json.push(built_unit(args, a, u, o, kind, outcome, &mut rows)?);
            }
            UnitResult::Failed(e) => {
                failed = true;
                let why = settings::name_config_keys(&e.to_string(), sources);
                json.push(not_built(o, kind, "failed", why, &mut rows));
            }
            UnitResult::Skipped(why) => {
                failed = true;
                let why = format!("not built: {why}");
                json.push(not_built(o, kind, "skipped", why, &mut rows));
            }
        }
    }
    if args.ci.wanted() {
        ci_report(units, outcomes).emit(&args.ci)?;
    }
    let outcome = if failed {
        None
    } else if gate {
        Some(Outcome::GateFailed)
    } else {
        Some(Outcome::Ok)
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "units": json,
                "status": match outcome { Some(Outcome::Ok) => "ok", Some(Outcome::GateFailed) => "gate failed", None => "failed" },
            }))?
        );
    } else if !args.quiet {
        println!();
        print_table(&rows);
    }
    match outcome {
        Some(o) => Ok(o),
        None => anyhow::bail!(
            "{} of {} builds failed (see above)",
            outcomes
                .iter()
                .filter(|o| !matches!(o.result, UnitResult::Built(_)))
                .count(),
            outcomes.len()
        ),
    }
}

/// A built unit: its summary (unless `--json`), its table rows and its JSON entry.
fn built_unit<'a>(
    args: &BuildArgs,
    a: &BuildArgs,
    u: &UnitRequest,
    o: &'a UnitOutcome,
    kind: &str,
    outcome: &'a crate::pipeline::BuildOutcome,
    rows: &mut Vec<[String; 6]>,
) -> anyhow::Result<JsonUnit<'a>> {
    if !args.json {
        if !args.quiet {
            println!("── {} ({kind})", o.name);
        }
        render(a, &u.request, outcome)?;
    }
    let status = if !outcome.passed() {
        "gate failed"
    } else if outcome.artifacts.iter().all(|b| b.unchanged) && outcome.image.is_none() {
        "up to date"
    } else {
        "built"
    };
    for b in &outcome.artifacts {
        rows.push([
            o.name.clone(),
            kind.to_string(),
            b.output.display().to_string(),
            human_size(b.manifest.artifact.size),
            human_size(b.manifest.artifact.unzipped_size),
            status.to_string(),
        ]);
    }
    if let Some(img) = &outcome.image {
        rows.push([
            o.name.clone(),
            "image".to_string(),
            img.written.join(", "),
            human_size(img.layers.iter().map(|l| l.size).sum()),
            human_size(img.layers.iter().map(|l| l.tar_size).sum()),
            status.to_string(),
        ]);
    }
    Ok(JsonUnit {
        name: &o.name,
        kind: o.kind,
        status,
        error: None,
        artifacts: outcome
            .artifacts
            .iter()
            .map(|b| {
                json_summary(
                    b,
                    &outcome.stats,
                    outcome.verify.as_ref().map(|v| v.status.as_str()),
                    outcome.restored_from,
                )
            })
            .collect::<anyhow::Result<_>>()?,
        image: outcome.image.as_ref().map(image_json),
        gate_failures: outcome
            .gate_failures
            .iter()
            .map(|f| f.message.as_str())
            .collect(),
        over_limit: outcome.over_limit.as_deref(),
    })
}

/// A unit that failed or was skipped: its error printed, its table row and its JSON entry.
fn not_built<'a>(
    o: &'a UnitOutcome,
    kind: &str,
    status: &'static str,
    why: String,
    rows: &mut Vec<[String; 6]>,
) -> JsonUnit<'a> {
    eprintln!("error: {kind} `{}`: {why}", o.name);
    rows.push([
        o.name.clone(),
        kind.to_string(),
        "-".into(),
        "-".into(),
        "-".into(),
        status.into(),
    ]);
    JsonUnit {
        name: &o.name,
        kind: o.kind,
        status,
        error: Some(why),
        artifacts: Vec::new(),
        image: None,
        gate_failures: Vec::new(),
        over_limit: None,
    }
}

/// `--ci` / `--junit` for the whole run, one section per unit.
fn ci_report(units: &[UnitRequest], outcomes: &[UnitOutcome]) -> super::ci::CiReport {
    use super::ci::results::UnitCi;
    let cis: Vec<UnitCi<'_>> = outcomes
        .iter()
        .zip(units)
        .map(|(o, u)| UnitCi {
            name: &o.name,
            kind: match o.kind {
                UnitKind::Function => "function",
                UnitKind::Layer => "layer",
            },
            result: match &o.result {
                UnitResult::Built(outcome) => {
                    Ok((outcome, &u.request.gates, u.request.limit_check))
                }
                UnitResult::Failed(e) => Err(e.to_string()),
                UnitResult::Skipped(why) => Err(format!("not built: {why}")),
            },
        })
        .collect();
    super::ci::results::units(&cis)
}

fn print_table(rows: &[[String; 6]]) {
    let header = ["NAME", "KIND", "ARTIFACT", "ZIPPED", "UNZIPPED", "STATUS"];
    let mut width = header.map(str::len);
    for r in rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: [&str; 6]| {
        let mut out = String::new();
        for (i, (c, w)) in cells.iter().zip(width).enumerate() {
            if i == 3 || i == 4 {
                out.push_str(&format!("{c:>w$}  "));
            } else {
                out.push_str(&format!("{c:<w$}  "));
            }
        }
        println!("{}", out.trim_end());
    };
    line(header);
    for r in rows {
        line([&r[0], &r[1], &r[2], &r[3], &r[4], &r[5]]);
    }
}
