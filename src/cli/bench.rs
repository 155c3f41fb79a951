//! `lpack bench`: cold starts of built artifacts, measured locally through the real runtime
//! client or on AWS Lambda (`--backend aws`, [`super::bench_aws`]). Flags → the plan
//! ([`crate::bench::plan::resolve`]) and the backend ([`crate::bench::local::prepare`] or the AWS
//! options) → [`crate::bench::bench`] → outputs written, the table, REPORT lines and the gate
//! rendered; `--compare` puts two result directories side by side.

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;

use super::{CacheNetArgs, IndexArgs, Outcome};
use crate::bench::{self, Backend, Results, Round, Sample, local, plan, stats};

pub const EXAMPLES: &str = "\
Examples:
  # Cold starts of a function zip (20 fresh processes, 1024 MB), results in bench-results/
  lpack bench dist/app.zip.lpack.json --handler app.handler

  # Zip vs zip + layer vs image, side by side, 50 runs each, 3 warm invokes per environment
  lpack bench dist/fat.zip.lpack.json dist/fn.zip.lpack.json+dist/deps.zip.lpack.json \\
      dist/img.lpack.json --handler handler.handler --runs 50 --warm 3 --out results/

  # A plan file (deployments, handler, event, memory sizes) and a CI gate against main
  lpack bench --plan benches/seed.toml --out results/ --max-init-p95 1500 \\
      --baseline main-results/summary.json --max-regression 10
  cat results/summary.md >> \"$GITHUB_STEP_SUMMARY\"

What it does: each deployment is laid out once as Lambda does (zip → task root, layers → /opt
in order, image → its layers with WORKDIR, ENV and CMD), read-only, and every run starts a
fresh `python -m awslambdaric MOD.FUNC` of the target version against lpack's own Runtime API
on 127.0.0.1. Init Duration = process start → first GET /next; Duration = event → response;
Max Memory Used = peak RSS. One extra cold start under -X importtime gives the import profile.

Outputs in --out: samples.csv, samples.json, summary.json, summary.md, init-ecdf.svg,
init-percentiles.svg, imports.svg, report.html (self-contained).

Not modelled locally: code download from S3 / image chunk cache, the Firecracker microVM, a
cold page cache, CPU scaled to memory (unless a delegated cgroup is available).

On AWS Lambda itself (build lpack with `--features aws`; credentials from the usual chain):
  # What it would create, how many invocations, what it would cost: creates nothing
  lpack bench --backend aws --plan benches/seed.toml --role-arn $ROLE --s3-bucket $BUCKET --dry-run
  # The run: deploys, forces cold starts, measures, deletes everything it created
  lpack bench --backend aws --plan benches/seed.toml --role-arn $ROLE --s3-bucket $BUCKET --out aws/
  # After a crash: delete what run RUN_ID left (found by its tag lpack-bench=RUN_ID)
  lpack bench --cleanup RUN_ID --region eu-west-1 --s3-bucket $BUCKET
  # Local numbers next to Lambda's, with the ratio per deployment
  lpack bench --compare results/ aws/

Exit codes: 0 ok, 1 a gate (--max-init-p50/--max-init-p95/--max-regression) failed, 2 an
invocation failed or another error.";

/// Where cold starts happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendArg {
    /// This machine: the real runtime client against lpack's own Runtime API
    Local,
    /// AWS Lambda: deploy, force cold starts, measure, delete (needs the `aws` feature)
    Aws,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Deployments: an artifact manifest each (function zip or image), a function with its layers as FN.zip.lpack.json+LAYER.zip.lpack.json
    #[arg(value_name = "MANIFEST[+LAYER...]")]
    pub deployments: Vec<String>,
    /// A plan file: deployments, handler, event, memory sizes, runs, warm, concurrency (flags override it)
    #[arg(long, value_name = "PLAN.toml")]
    pub plan: Option<PathBuf>,
    /// Handler as MODULE.FUNCTION [default: the image's CMD]
    #[arg(long, value_name = "MODULE.FUNCTION")]
    pub handler: Option<String>,
    /// Event passed to every invocation (JSON file) [default: {}]
    #[arg(long, value_name = "FILE")]
    pub event: Option<PathBuf>,
    /// Cold starts per deployment × memory size [default: 20]
    #[arg(long, value_name = "N")]
    pub runs: Option<u32>,
    /// Further (warm) invokes on each environment after its cold start [default: 0]
    #[arg(long, value_name = "N")]
    pub warm: Option<u32>,
    /// Environments running at once [default: 1]
    #[arg(long, value_name = "C")]
    pub concurrency: Option<u32>,
    /// Memory sizes in MB, comma separated [default: 1024]
    #[arg(long, value_name = "MB,...")]
    pub memory: Option<String>,
    /// Invocation timeout in seconds; init gets 10 s more, as on Lambda [default: 30]
    #[arg(long, value_name = "S")]
    pub timeout: Option<f64>,
    /// Interpreter of the target version [default: python3.X on PATH or in pyenv]
    #[arg(long, value_name = "PATH")]
    pub python: Option<PathBuf>,
    /// A directory holding awslambdaric (and what the runtime provides) to use as the runtime
    /// directory instead of installing the pinned set from data/ through lpack's cache
    #[arg(long, value_name = "DIR")]
    pub runtime_dir: Option<PathBuf>,
    /// Where to write samples, summary, charts and report.html
    #[arg(long, value_name = "DIR", default_value = "bench-results")]
    pub out: PathBuf,
    /// Region whose prices the cost uses (see data/lambda-prices.toml); with --backend aws
    /// also where the functions run [default: us-east-1 locally; the AWS config's region]
    #[arg(long)]
    pub region: Option<String>,
    /// Share of invocations that are cold starts, for the cost (e.g. 1% or 0.01)
    #[arg(long, value_name = "SHARE", default_value = "1%", value_parser = parse_share)]
    pub cold_share: f64,
    /// Skip the extra -X importtime cold start per deployment
    #[arg(long)]
    pub no_import_profile: bool,
    /// Fail (exit 1) when a deployment's Init Duration p50 exceeds MS
    #[arg(long, value_name = "MS")]
    pub max_init_p50: Option<f64>,
    /// Fail (exit 1) when a deployment's Init Duration p95 exceeds MS
    #[arg(long, value_name = "MS")]
    pub max_init_p95: Option<f64>,
    /// A previous run's summary.json to compare against (with --max-regression)
    #[arg(long, value_name = "SUMMARY.json")]
    pub baseline: Option<PathBuf>,
    /// Fail (exit 1) when Init p50 or p95 grew more than PCT percent over --baseline
    #[arg(long, value_name = "PCT", requires = "baseline")]
    pub max_regression: Option<f64>,
    /// Where the runtime directory's packages come from
    #[command(flatten)]
    pub index: IndexArgs,
    #[command(flatten)]
    pub net: CacheNetArgs,
    /// A delegated cgroup v2 directory: shape CPU (2 CPUs in init, memory/1769 after) and memory per environment [default: none, unthrottled]
    #[arg(long, env = "LPACK_CGROUP", value_name = "DIR")]
    pub cgroup: Option<PathBuf>,
    /// Render the outputs (summary.md, charts, report.html) again from a previous run's DIR
    /// (its summary.json and samples.json), without running anything
    #[arg(long, value_name = "DIR", conflicts_with_all = ["deployments", "plan"])]
    pub render: Option<PathBuf>,
    /// Lay deployments out here and keep them afterwards (for inspecting what the runtime saw)
    #[arg(long, value_name = "DIR", hide = true)]
    pub keep_work: Option<PathBuf>,
    /// Where cold starts happen
    #[arg(long, value_enum, default_value = "local")]
    pub backend: BackendArg,
    #[command(flatten)]
    pub aws: super::bench_aws::AwsArgs,
    /// Put two result directories side by side (e.g. local vs AWS) with the ratio B / A per
    /// deployment; runs nothing
    #[arg(long, num_args = 2, value_names = ["DIR_A", "DIR_B"], conflicts_with_all = ["deployments", "plan", "render"])]
    pub compare: Option<Vec<PathBuf>>,
    /// Print summary.json on stdout instead of the table
    #[arg(long)]
    pub json: bool,
    /// Print nothing but errors and gate failures
    #[arg(short, long)]
    pub quiet: bool,
    #[command(flatten)]
    pub ci: super::ci::CiArgs,
    /// A REPORT line (as Lambda logs it) per invocation on stderr
    #[arg(short, long)]
    pub verbose: bool,
}

fn parse_share(s: &str) -> Result<f64, String> {
    let (num, pct) = match s.trim().strip_suffix('%') {
        Some(n) => (n.trim(), true),
        None => (s.trim(), false),
    };
    let v: f64 = num.parse().map_err(|_| format!("`{s}` is not a share"))?;
    let v = if pct { v / 100.0 } else { v };
    if !(0.0..=1.0).contains(&v) {
        return Err(format!("`{s}`: a share is between 0 and 100 %"));
    }
    Ok(v)
}

extern "C" fn on_signal(_: libc::c_int) {
    bench::interrupt();
}

fn install_ctrl_c() {
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }
}

/// Read a previous run's results back from its output directory.
fn read_results(dir: &Path) -> anyhow::Result<Results> {
    let read = |f: &str| -> anyhow::Result<Vec<u8>> {
        let p = dir.join(f);
        std::fs::read(&p).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", p.display()))
    };
    let mut r: Results = serde_json::from_slice(&read("summary.json")?)
        .map_err(|e| anyhow::anyhow!("{}/summary.json: {e}", dir.display()))?;
    r.samples = serde_json::from_slice(&read("samples.json")?)
        .map_err(|e| anyhow::anyhow!("{}/samples.json: {e}", dir.display()))?;
    Ok(r)
}

/// The config keys `bench` shares with `build` besides [`super::settings::SOURCE_KEYS`]: the
/// handler it invokes and the interpreter of the target version. With `--plan`, the plan file
/// is the bench's own settings, so the config's handler does not override it.
fn keys(args: &BenchArgs) -> &'static [&'static str] {
    if args.plan.is_some() {
        &["python"]
    } else {
        &["handler", "python"]
    }
}

/// The function of the config a bench of `deployments` measures: the first deployment's
/// manifest `dist/NAME.zip.lpack.json` (or the `output` a function sets) names it.
fn function_benched(deployments: &[String], config: &crate::config::ConfigFile) -> Option<String> {
    let first = deployments.first()?.split('+').next()?;
    let first = first.split_once('=').map_or(first, |(_, m)| m);
    let file = Path::new(first.split(',').next()?).file_name()?.to_str()?;
    let artifact = file.strip_suffix(".lpack.json").unwrap_or(file);
    config
        .functions
        .iter()
        .find(|f| {
            let by_output = f.settings.get("output").is_some_and(|o| {
                Path::new(&o.value.display())
                    .file_name()
                    .is_some_and(|n| n.to_str() == Some(artifact))
            });
            by_output
                || artifact == format!("{}.zip", f.name)
                || artifact == format!("{}.image", f.name)
        })
        .map(|f| f.name.clone())
}

/// `lpack bench` with no deployment and no plan: what `lpack build` built from the config, if
/// it built one function (several: say which to name).
fn config_deployments(inv: &super::Invocation) -> anyhow::Result<Vec<String>> {
    let none = || {
        anyhow::anyhow!(
            "nothing to bench\n  hint: name artifact manifests (lpack bench dist/NAME.zip.lpack.json), pass --plan PLAN.toml, or run it in a project whose lpack.toml (`lpack init`) says what `lpack build` builds"
        )
    };
    let Some(config) = inv.load_config()? else {
        return Err(none());
    };
    let found = super::build::function_manifests(&config)?;
    let shown = |p: &Path| {
        let dir = super::settings::config_dir(&config);
        p.strip_prefix(&dir).unwrap_or(p).display().to_string()
    };
    match found.as_slice() {
        [] => Err(none()),
        [(_, m)] if m.is_file() => Ok(vec![m.display().to_string()]),
        [(_, m)] => anyhow::bail!(
            "nothing built yet: {} does not exist\n  hint: run `lpack build` first; `lpack bench` then measures what it built",
            shown(m)
        ),
        many => anyhow::bail!(
            "{} declares {} functions: name the ones to bench, e.g. `lpack bench {}`\n  hint: their manifests: {}",
            config.path.display(),
            many.len(),
            shown(&many[0].1),
            many.iter()
                .map(|(_, m)| shown(m))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The bench's arguments with the config's (and `LPACK_*`) settings layered under the flags;
/// not for --compare / --cleanup / --render, which run nothing.
fn layered_args(mut parsed: BenchArgs, inv: &super::Invocation) -> anyhow::Result<BenchArgs> {
    let runs_something =
        parsed.compare.is_none() && parsed.aws.cleanup.is_none() && parsed.render.is_none();
    if runs_something && parsed.deployments.is_empty() && parsed.plan.is_none() {
        parsed.deployments = config_deployments(inv)?;
    }
    let parsed_deployments = parsed.deployments.clone();
    let args: BenchArgs =
        if parsed.compare.is_some() || parsed.aws.cleanup.is_some() || parsed.render.is_some() {
            parsed
        } else {
            super::settings::layer_command_for(inv, "bench", keys(&parsed), |c| {
                function_benched(&parsed.deployments, c)
            })?
        };
    // (Layering parses the command line again: the deployments found in the config go back in.)
    let args = if args.deployments.is_empty() && args.plan.is_none() {
        BenchArgs {
            deployments: parsed_deployments,
            ..args
        }
    } else {
        args
    };
    Ok(args)
}

/// `--compare A B`: two earlier runs side by side.
fn compare(dirs: &[PathBuf], args: &BenchArgs) -> anyhow::Result<Outcome> {
    let (a, b) = (&dirs[0], &dirs[1]);
    let c = bench::compare::compare(
        &bench::compare::read_summary(a)?,
        a,
        &bench::compare::read_summary(b)?,
        b,
    );
    if args.json {
        println!("{}", serde_json::to_string_pretty(&c)?);
    } else {
        print!("{}", bench::compare::text(&c));
    }
    Ok(Outcome::Ok)
}

/// `--render DIR`: an earlier run's outputs written again (and its gate applied).
fn render(dir: &Path, args: &BenchArgs) -> anyhow::Result<Outcome> {
    let r = read_results(dir)?;
    crate::bench::output::write_all(&r, dir)
        .map_err(|e| anyhow::anyhow!("writing {}: {e}", dir.display()))?;
    if !args.quiet {
        print!("{}", crate::bench::output::text_table(&r));
        println!("Rendered {} again", dir.display());
    }
    gate(&r, args)
}

/// The backend `--backend` names, prepared (the local one finds its interpreter and runtime
/// directory here).
fn backend(
    args: &BenchArgs,
    plan: &plan::ResolvedPlan,
    work_dir: PathBuf,
) -> anyhow::Result<Backend> {
    Ok(match args.backend {
        BackendArg::Local => Backend::Local(local::prepare(
            &plan.deployments[0]
                .artifacts
                .first()
                .cloned()
                .unwrap_or_default(),
            &local::Prepare {
                python: args.python.clone(),
                runtime_dir: args.runtime_dir.clone(),
                cache_dir: args.net.cache_dir.clone(),
                offline: args.net.offline,
                index: super::remote::index_settings(&args.index)?,
                import_profile: !args.no_import_profile,
                cgroup: args.cgroup.clone(),
            },
            work_dir,
            &super::progress::Bars::new(!args.quiet && !args.json),
        )?),
        BackendArg::Aws => Backend::Aws(super::bench_aws::options(
            &args.aws,
            args.region.clone(),
            work_dir,
        )?),
    })
}

pub fn run(parsed: BenchArgs, inv: &super::Invocation) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    let args = layered_args(parsed, inv)?;
    if let Some(dirs) = &args.compare {
        return compare(dirs, &args);
    }
    if let Some(run_id) = &args.aws.cleanup {
        install_ctrl_c();
        return super::bench_aws::cleanup(
            &args.aws,
            args.region.clone(),
            run_id,
            args.json,
            args.quiet,
        );
    }
    if let Some(dir) = &args.render {
        return render(dir, &args);
    }
    let plan = plan::resolve(&plan::PlanRequest {
        plan: args.plan.clone(),
        deployments: args.deployments.clone(),
        memory: args.memory.clone(),
        event: args.event.clone(),
        timeout: args.timeout,
        runs: args.runs,
        warm: args.warm,
        concurrency: args.concurrency,
        handler: args.handler.clone(),
    })?;
    let work = tempfile::Builder::new().prefix("lpack-bench-").tempdir()?;
    let work_dir = match &args.keep_work {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            std::fs::canonicalize(d)?.join("w")
        }
        None => work.path().join("w"),
    };
    let backend = backend(&args, &plan, work_dir)?;
    let region = match (&backend, &args.region) {
        (_, Some(r)) => r.clone(),
        (Backend::Aws(_), None) => super::bench_aws::default_region(),
        (Backend::Local(_), None) => "us-east-1".to_string(),
    };
    let settings = bench::Settings {
        deployments: plan.deployments,
        runs: plan.runs,
        warm: plan.warm,
        concurrency: plan.concurrency,
        memory: plan.memory,
        timeout: plan.timeout,
        handler: plan.handler,
        event: plan.event,
        region,
        cold_share: args.cold_share,
    };
    if let Backend::Aws(o) = &backend {
        if args.aws.dry_run {
            return super::bench_aws::dry_run(&settings, o, args.json);
        }
        // Even with --quiet: the run id is how what it creates is found again.
        if cfg!(feature = "aws") {
            eprintln!(
                "lpack bench: AWS run {} (if it is ever cut short: `lpack bench --cleanup {}`)",
                o.run_id, o.run_id
            );
        }
    } else if args.aws.dry_run {
        anyhow::bail!("--dry-run is for --backend aws (the local backend creates nothing)");
    }
    install_ctrl_c();
    let bars = super::progress::Bars::new(!args.quiet && !args.json && !args.verbose);
    let verbose = args.verbose;
    let on_sample = move |s: &Sample| {
        if verbose {
            print_report(s);
        }
    };
    let result = bench::bench(&settings, &backend, &bars, &on_sample);
    if args.keep_work.is_none() {
        bench::local::cleanup(work.path());
    }
    let results = result?;
    crate::bench::output::write_all(&results, &args.out)
        .map_err(|e| anyhow::anyhow!("writing {}: {e}", args.out.display()))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    } else if !args.quiet {
        print_human(&results, &args.out, started);
    }
    finish(&results, &args)
}

/// After the run: the gate, CI outputs, and an error for failed invocations or for what could
/// not be deleted on AWS.
fn finish(results: &crate::bench::Results, args: &BenchArgs) -> anyhow::Result<Outcome> {
    let (outcome, failures) = gate_failures(results, args)?;
    let errors = results.errors();
    if args.ci.wanted() {
        let md = std::fs::read_to_string(args.out.join("summary.md")).unwrap_or_default();
        super::ci::results::bench(&args.out, &md, errors, &failures).emit(&args.ci)?;
    }
    if errors > 0 {
        for d in results.deployments.iter().filter(|d| d.errors > 0) {
            if let Some(e) = &d.first_error {
                eprintln!(
                    "bench: {} @ {} MB: {} of {} invocations failed; first: {}: {}",
                    d.name,
                    d.memory_mb,
                    d.errors,
                    d.errors + d.n,
                    e.error_type,
                    e.error_message
                );
                for l in e.stack_trace.iter().take(12) {
                    eprintln!("    {}", l.trim_end());
                }
            }
        }
        anyhow::bail!(
            "{errors} invocation(s) failed (details in {})",
            args.out.join("summary.md").display()
        );
    }
    if let Some(left) = results
        .provenance
        .aws
        .as_ref()
        .filter(|a| !a.left_behind.is_empty())
    {
        anyhow::bail!(
            "the bench ran, but could not delete:\n  {}\n  hint: `lpack bench --cleanup {}` tries again",
            left.left_behind.join("\n  "),
            left.run_id
        );
    }
    Ok(outcome)
}

fn print_report(s: &Sample) {
    let m = &s.measured;
    let mark = match s.round {
        Round::Steady => "",
        Round::AfterDeploy => " (after deploy)",
        Round::NotCold => " (forced, but not cold: discarded)",
    };
    if m.duration_ms.is_none() && m.error.is_none() {
        eprintln!(
            "[{} @ {} MB] RequestId: {} — no REPORT in the log tail{mark}",
            s.deployment, s.memory_mb, m.request_id
        );
        return;
    }
    let mut line = stats::report_line(
        if m.request_id.is_empty() {
            "-"
        } else {
            &m.request_id
        },
        m.duration_ms.unwrap_or(0.0),
        s.memory_mb,
        m.max_memory_mb.unwrap_or(0),
        m.init_ms,
    );
    if let Some(b) = m.billed_ms {
        // Lambda's own billed figure (the local line computes one).
        if let Some(i) = line.find("Billed Duration: ") {
            let end = line[i..].find('\t').map_or(line.len(), |e| i + e);
            line.replace_range(i..end, &format!("Billed Duration: {b} ms"));
        }
    }
    if let Some(r) = m.restore_ms {
        line.push_str(&format!(
            "Restore Duration: {r:.2} ms\tBilled Restore Duration: {} ms\t",
            m.billed_restore_ms.unwrap_or(0)
        ));
    }
    eprintln!("[{} @ {} MB] {line}{mark}", s.deployment, s.memory_mb);
    if let Some(e) = &m.error {
        eprintln!(
            "[{} @ {} MB] ERROR {}: {}",
            s.deployment, s.memory_mb, e.error_type, e.error_message
        );
    }
}

fn print_human(r: &Results, out: &Path, started: Instant) {
    print!("{}", crate::bench::output::text_table(r));
    let lines = crate::bench::output::import_lines(r, 5);
    if !lines.is_empty() {
        let names: Vec<&str> = r
            .import_profiles
            .iter()
            .map(|p| p.deployment.as_str())
            .collect();
        println!("\nSlowest imports ({}):", names.join(" → "));
        for l in lines {
            println!("  {l}");
        }
    }
    let p = &r.provenance;
    println!(
        "\n{} · {} · CPU shaping: {} · {:.1} s wall",
        p.target,
        p.python,
        p.cpu_shaping,
        started.elapsed().as_secs_f64()
    );
    for n in &p.notes {
        println!("note: {n}");
    }
    println!("Wrote {} (open report.html)", out.display());
}

fn gate_inputs(r: &Results) -> Vec<stats::GateInput<'_>> {
    r.deployments
        .iter()
        .map(|d| stats::GateInput {
            name: &d.name,
            memory_mb: d.memory_mb,
            init_p50: d.init_ms.as_ref().map(|f| f.p50),
            init_p95: d.init_ms.as_ref().map(|f| f.p95),
        })
        .collect()
}

fn gate(r: &Results, args: &BenchArgs) -> anyhow::Result<Outcome> {
    Ok(gate_failures(r, args)?.0)
}

/// The gates, printed, and what failed (for `--ci`).
fn gate_failures(r: &Results, args: &BenchArgs) -> anyhow::Result<(Outcome, Vec<String>)> {
    let baseline: Option<Results> = match &args.baseline {
        Some(p) => {
            let b = std::fs::read(p)
                .map_err(|e| anyhow::anyhow!("cannot read the baseline {}: {e}", p.display()))?;
            Some(
                serde_json::from_slice(&b).map_err(|e| {
                    anyhow::anyhow!("{} is not a bench summary.json: {e}", p.display())
                })?,
            )
        }
        None => None,
    };
    let old = baseline.as_ref().map(gate_inputs).unwrap_or_default();
    let g = stats::Gate {
        max_init_p50: args.max_init_p50,
        max_init_p95: args.max_init_p95,
        max_regression: args.max_regression,
    };
    let failures = stats::gate(&gate_inputs(r), &old, &g);
    for f in &failures {
        eprintln!("gate failed: {f}");
    }
    let outcome = if failures.is_empty() {
        Outcome::Ok
    } else {
        Outcome::GateFailed
    };
    Ok((outcome, failures))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cold_share_accepts_percent_and_fraction() {
        assert_eq!(parse_share("1%"), Ok(0.01));
        assert_eq!(parse_share("0.25"), Ok(0.25));
        assert!(parse_share("150%").is_err());
    }
}
