//! `lpack plan`: the config's units as CI jobs (see [`crate::config::plan`]).

use clap::{Args, ValueEnum};
use serde_json::{Value, json};

use super::{Invocation, Outcome};
use crate::config::plan::{PlannedUnit, shards, units};

pub const EXAMPLES: &str = "Examples:
  lpack plan                                  every unit, its layers and its command (JSON)
  lpack plan --format github-matrix --only layers
  lpack plan --format github-matrix --only functions   two matrices: layers, then functions
  lpack plan --format codebuild > buildspec.json       a batch build-graph (JSON is YAML)

Each job runs `lpack build NAME…`; with a remote cache (--remote-cache, or LPACK_REMOTE_CACHE
in the CI environment) a unit another job built is downloaded, not rebuilt. The final job
(`report`) takes every artifact from the remote cache and runs `lpack size-report` on their
manifests. See docs/remote-cache.md for complete workflows.";

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Output: plain JSON, a GitHub Actions matrix (`{"include": […]}`, sharded when over --max-jobs), or a CodeBuild buildspec with a batch build-graph
    #[arg(long, value_enum, default_value_t = PlanFormat::Json)]
    pub format: PlanFormat,

    /// Only these units (for a two-stage workflow: layers, then functions)
    #[arg(long, value_enum)]
    pub only: Option<Only>,

    /// At most this many jobs; more units are packed several to a job [default: 256 for github-matrix (GitHub's limit), 100 for codebuild]
    #[arg(long, value_name = "N")]
    pub max_jobs: Option<usize>,

    /// Remote cache URL to put in every job's command (else jobs read LPACK_REMOTE_CACHE)
    #[arg(long, value_name = "URL")]
    pub remote_cache: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    Json,
    GithubMatrix,
    Codebuild,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Only {
    Layers,
    Functions,
}

/// `lpack build A B …` (+ the remote cache flag).
fn build_command(names: &[&str], remote: Option<&str>) -> String {
    let mut c = format!("lpack build {}", names.join(" "));
    if let Some(r) = remote {
        c.push_str(&format!(" --remote-cache {r}"));
    }
    c
}

/// The report job: every artifact from the remote (read only: nothing is built that the
/// matrix did not), then one size report over every manifest.
fn report_command(all: &[PlannedUnit], remote: Option<&str>) -> String {
    let mut pull = String::from("lpack build -q --remote-cache-mode read");
    if let Some(r) = remote {
        pull.push_str(&format!(" --remote-cache {r}"));
    }
    let manifests: Vec<&str> = all.iter().map(|u| u.manifest.as_str()).collect();
    format!("{pull} && lpack size-report {}", manifests.join(" "))
}

/// A CodeBuild identifier: letters, digits and underscores.
fn identifier(kind: &str, name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("{kind}_{clean}")
}

/// `lpack plan`.
pub fn run(args: PlanArgs, inv: &Invocation) -> anyhow::Result<Outcome> {
    let Some(config) = inv.load_config()? else {
        anyhow::bail!(
            "no lpack.toml or [tool.lpack] was found\n  hint: lpack plan reads the [functions.NAME] and [layers.NAME] of a config (see `lpack init`)"
        );
    };
    if !config.has_units() {
        anyhow::bail!(
            "{} declares no [functions.NAME] or [layers.NAME]: there is one build, `lpack build`, nothing to plan\n  hint: declare the functions and layers in the config (see `lpack init`)",
            config.path.display()
        );
    }
    let all = units(&config);
    let selected: Vec<PlannedUnit> = all
        .iter()
        .filter(|u| match args.only {
            None => true,
            Some(Only::Layers) => u.kind == "layer",
            Some(Only::Functions) => u.kind == "function",
        })
        .cloned()
        .collect();
    let remote = args.remote_cache.as_deref();
    let doc: Value = match args.format {
        PlanFormat::Json => json!({
            "config": config.path.display().to_string(),
            "units": selected.iter().map(|u| json!({
                "name": u.name,
                "kind": u.kind,
                "depends_on": u.depends_on,
                "manifest": u.manifest,
                "command": build_command(&[&u.name], remote),
            })).collect::<Vec<_>>(),
            "report": {"command": report_command(&all, remote), "manifests": all.iter().map(|u| &u.manifest).collect::<Vec<_>>()},
        }),
        PlanFormat::GithubMatrix => github_matrix(&selected, args.max_jobs, remote),
        PlanFormat::Codebuild => codebuild(&all, &selected, args.max_jobs, remote),
    };
    println!("{}", serde_json::to_string_pretty(&doc)?);
    Ok(Outcome::Ok)
}

/// A GitHub Actions matrix: one job per unit, or shards when over `max_jobs` (default 256).
fn github_matrix(selected: &[PlannedUnit], max_jobs: Option<usize>, remote: Option<&str>) -> Value {
    let groups = shards(selected, max_jobs.unwrap_or(256));
    let n = groups.len();
    let include: Vec<Value> = groups
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let names: Vec<&str> = g.iter().map(|u| u.name.as_str()).collect();
            let name = if g.len() == 1 {
                g[0].name.clone()
            } else {
                format!("shard {} of {n}", i + 1)
            };
            json!({
                "name": name,
                "units": names.join(" "),
                "command": build_command(&names, remote),
            })
        })
        .collect();
    json!({ "include": include })
}

/// A CodeBuild buildspec: a batch build-graph of jobs, each after the jobs of its layers.
fn codebuild(
    all: &[PlannedUnit],
    selected: &[PlannedUnit],
    max_jobs: Option<usize>,
    remote: Option<&str>,
) -> Value {
    let groups = shards(selected, max_jobs.unwrap_or(100).saturating_sub(1));
    // Which job builds each unit.
    let mut job_of = std::collections::BTreeMap::new();
    let ids: Vec<String> = groups
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let id = if g.len() == 1 {
                identifier(g[0].kind, &g[0].name)
            } else {
                format!("shard_{}", i + 1)
            };
            for u in g {
                job_of.insert(u.name.clone(), id.clone());
            }
            id
        })
        .collect();
    let mut graph: Vec<Value> = groups
        .iter()
        .zip(&ids)
        .map(|(g, id)| {
            let mut deps: Vec<&String> = g
                .iter()
                .flat_map(|u| &u.depends_on)
                .filter_map(|l| job_of.get(l))
                .filter(|j| *j != id)
                .collect();
            deps.sort();
            deps.dedup();
            let names: Vec<&str> = g.iter().map(|u| u.name.as_str()).collect();
            let mut e = json!({
                "identifier": id,
                "env": {"variables": {"LPACK_UNITS": names.join(" ")}},
            });
            if !deps.is_empty() {
                e["depend-on"] = json!(deps);
            }
            e
        })
        .collect();
    graph.push(json!({
        "identifier": "report",
        "env": {"variables": {"LPACK_UNITS": "", "LPACK_REPORT": "1"}},
        "depend-on": ids,
    }));
    let mut build = String::from("if [ -n \"$LPACK_REPORT\" ]; then ");
    build.push_str(&report_command(all, remote));
    build.push_str("; else lpack build $LPACK_UNITS");
    if let Some(r) = remote {
        build.push_str(&format!(" --remote-cache {r}"));
    }
    build.push_str("; fi");
    json!({
        "version": 0.2,
        "batch": {"fast-fail": false, "build-graph": graph},
        "phases": {"build": {"commands": [build]}},
    })
}
