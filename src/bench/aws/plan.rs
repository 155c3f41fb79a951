//! What an AWS run will do, worked out before anything is created: resource names, how each
//! artifact is uploaded, invocation counts and the estimated cost. `--dry-run` prints it; a
//! real run executes it, and refuses to start while it lists problems (a zip Lambda would
//! refuse, a missing handler, …) so nothing is created that cannot be measured.

use std::fmt::Write;
use std::path::PathBuf;

use serde::Serialize;

use super::super::layout::{self, Resolved};
use super::{Options, S3_PREFIX};
use crate::bench::error::BenchError;
use crate::bench::settings::Settings;
use crate::bench::stats;

use crate::target::{DIRECT_UPLOAD_LIMIT, MAX_LAYERS, UNZIPPED_LIMIT};

/// Billed durations the "typical" estimate assumes (ms).
const TYPICAL_COLD_MS: f64 = 3000.0;
const TYPICAL_AFTER_DEPLOY_MS: f64 = 8000.0;
const TYPICAL_WARM_MS: f64 = 100.0;
const TYPICAL_RESTORE_MS: f64 = 1000.0;
/// Lambda's init phase limit (on-demand), for the upper bound.
const INIT_LIMIT_MS: f64 = 10_000.0;

/// How an artifact gets to Lambda.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Upload {
    /// In the request itself.
    Direct,
    /// Put to `s3://bucket/key` first (tagged, deleted once Lambda has copied it).
    S3 { bucket: String, key: String },
    /// Pushed to the run's ECR repository under this tag.
    Image { repository: String, tag: String },
}

#[derive(Debug, Clone, Serialize)]
pub struct PlannedLayer {
    pub name: String,
    #[serde(skip)]
    pub file: PathBuf,
    pub file_name: String,
    pub sha256: String,
    pub bytes: u64,
    pub upload: Upload,
    /// A published layer (`+arn:…`): attached by its ARN, nothing published.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Planned {
    pub name: String,
    pub function_name: String,
    pub kind: String,
    pub runtime: String,
    pub arch: String,
    /// Zips: MODULE.FUNCTION; images: an override of the CMD, or none.
    pub handler: Option<String>,
    pub upload: Upload,
    /// Zip bytes, or every blob of the image.
    pub bytes: u64,
    /// Function + layers unzipped (zips).
    pub unzipped: u64,
    /// Indices into [`Plan::layers`], in order.
    pub layers: Vec<usize>,
    pub snapstart: bool,
    #[serde(skip)]
    pub resolved: Resolved,
}

/// Invocations and configuration changes.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Counts {
    pub after_deploy: u64,
    pub cold: u64,
    pub warm: u64,
    pub restores: u64,
    pub config_updates: u64,
    pub snapstart_versions: u64,
}

impl Counts {
    pub fn invocations(&self) -> u64 {
        self.after_deploy + self.cold + self.warm + self.restores
    }
}

/// Estimated cost of the run, USD.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Estimate {
    /// With the typical billed durations above.
    pub typical: f64,
    /// Every invocation billed its full timeout (cold ones the init limit more).
    pub at_most: f64,
    pub requests: f64,
    pub snapstart_cache: f64,
    pub snapstart_restores: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub run_id: String,
    pub region: String,
    pub prices_date: String,
    pub role_arn: Option<String>,
    pub deployments: Vec<Planned>,
    pub layers: Vec<PlannedLayer>,
    /// The run's ECR repository, when it has an image.
    pub repository: Option<String>,
    pub memory: Vec<u32>,
    pub runs: u32,
    pub warm: u32,
    pub concurrency: u32,
    pub timeout_s: u32,
    pub counts: Counts,
    pub cost: Estimate,
    pub problems: Vec<String>,
    pub notes: Vec<String>,
}

/// Rounds of at most `c` invokes that make `runs` cold starts.
pub fn rounds(runs: u32, c: u32) -> u32 {
    runs.div_ceil(c.max(1))
}

/// Keep `[A-Za-z0-9-_]`, the rest becomes `-`.
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

fn name_within(base: &str, suffix: &str, max: usize) -> String {
    let room = max.saturating_sub(base.len() + 1);
    let s: String = suffix.chars().take(room).collect();
    format!("{base}-{s}").trim_end_matches('-').to_string()
}

fn upload_for(bytes: u64, o: &Options, key: String) -> Result<Upload, String> {
    if bytes <= DIRECT_UPLOAD_LIMIT {
        return Ok(Upload::Direct);
    }
    match &o.s3_bucket {
        Some(b) => Ok(Upload::S3 {
            bucket: b.clone(),
            key,
        }),
        None => Err(format!(
            "{:.1} MB is over the {} MB Lambda accepts in a request: pass --s3-bucket BUCKET to upload it through S3",
            mb(bytes),
            DIRECT_UPLOAD_LIMIT >> 20
        )),
    }
}

fn mb(b: u64) -> f64 {
    b as f64 / 1024.0 / 1024.0
}

/// Work out the run. Reads manifests and checks artifacts (sha256), calls nothing on AWS.
pub fn plan(s: &Settings, o: &Options) -> Result<Plan, BenchError> {
    let base = format!("{}-{}", clean(&o.prefix), o.run_id);
    let mut p = Planner {
        o,
        repo_name: base.to_ascii_lowercase(),
        base,
        layers: Vec::new(),
        repository: None,
        problems: Vec::new(),
        notes: Vec::new(),
    };
    let mut deployments: Vec<Planned> = Vec::new();
    let mut used_names: Vec<String> = Vec::new();
    for (i, spec) in s.deployments.iter().enumerate() {
        let r = layout::resolve(spec, &o.work.join(format!("d{i}")))?;
        let mut function_name = name_within(&p.base, &clean(&r.name), 64);
        if used_names.contains(&function_name) {
            function_name = name_within(&p.base, &format!("{i}-{}", clean(&r.name)), 64);
        }
        used_names.push(function_name.clone());
        let handler = spec.handler.clone().or_else(|| s.handler.clone());
        deployments.push(p.deployment(i, r, function_name, handler));
    }
    let Planner {
        layers,
        repository,
        mut problems,
        mut notes,
        ..
    } = p;
    if o.role_arn.is_none() {
        problems.push(
            "no execution role: pass --role-arn ARN (lpack creates no IAM roles; docs/bench-aws.md gives the policy)"
                .to_string(),
        );
    }
    let counts = count(s, &deployments);
    let timeout_s = s.timeout.as_secs_f64().ceil().clamp(1.0, 900.0) as u32;
    let (prices_date, cost) = estimate(s, &deployments, timeout_s, &mut notes)?;
    Ok(Plan {
        run_id: o.run_id.clone(),
        region: s.region.clone(),
        prices_date,
        role_arn: o.role_arn.clone(),
        deployments,
        layers,
        repository,
        memory: s.memory.clone(),
        runs: s.runs,
        warm: s.warm,
        concurrency: s.concurrency.max(1),
        timeout_s,
        counts,
        cost,
        problems,
        notes,
    })
}

/// The plan as it is worked out, deployment by deployment: the shared layers, the run's
/// repository, and the problems and notes found so far.
struct Planner<'a> {
    o: &'a Options,
    /// `PREFIX-RUNID`: what every resource name starts with.
    base: String,
    repo_name: String,
    layers: Vec<PlannedLayer>,
    repository: Option<String>,
    problems: Vec<String>,
    notes: Vec<String>,
}

/// How a deployment gets to Lambda: the upload, its bytes, the unzipped size and its layers.
struct Shipping {
    upload: Upload,
    bytes: u64,
    unzipped: u64,
    layers: Vec<usize>,
}

impl Planner<'_> {
    /// Plan deployment `i`: its upload, layers and SnapStart.
    fn deployment(
        &mut self,
        i: usize,
        r: Resolved,
        function_name: String,
        handler: Option<String>,
    ) -> Planned {
        let runtime = r.target.runtime.to_string();
        let arch = r.target.arch.to_string();
        let ship = match &r.image {
            Some(img) => self.image(&r, img),
            None => self.zip(i, &r, handler.is_some()),
        };
        let snapstart = self.o.snapstart && r.image.is_none() && r.target.runtime.minor() >= 12;
        if self.o.snapstart && !snapstart {
            self.notes.push(format!(
                "{}: no SnapStart (it takes python3.12+ zip functions)",
                r.name
            ));
        }
        Planned {
            name: r.name.clone(),
            function_name,
            kind: r.kind().to_string(),
            runtime,
            arch,
            handler,
            upload: ship.upload,
            bytes: ship.bytes,
            unzipped: ship.unzipped,
            layers: ship.layers,
            snapstart,
            resolved: r,
        }
    }

    /// An image is pushed to the run's repository, tagged by the deployment's name.
    fn image(&mut self, r: &Resolved, img: &layout::ResolvedImage) -> Shipping {
        let repo = self
            .repository
            .get_or_insert_with(|| self.repo_name.clone())
            .clone();
        let bytes = img.image.layers.iter().map(|b| b.size).sum::<u64>()
            + std::fs::metadata(
                img.dir
                    .join("blobs/sha256")
                    .join(img.record.config_digest.trim_start_matches("sha256:")),
            )
            .map(|m| m.len())
            .unwrap_or(0);
        if img.record.base.starts_with("oci-layout:") {
            self.notes.push(format!(
                "{}: built on {}, not on an AWS base image: Lambda runs it only if that base holds a runtime interface client",
                r.name, img.record.base
            ));
        }
        let tag = clean(&r.name).to_ascii_lowercase();
        Shipping {
            upload: Upload::Image {
                repository: repo,
                tag: tag.chars().take(128).collect(),
            },
            bytes,
            unzipped: 0,
            layers: Vec::new(),
        }
    }

    /// A zip: in the request or through S3, its layers added once each; notes what Lambda refuses.
    fn zip(&mut self, i: usize, r: &Resolved, has_handler: bool) -> Shipping {
        let o = self.o;
        if !has_handler {
            self.problems.push(format!(
                "{}: no handler; pass --handler MODULE.FUNCTION, or set `handler` in lpack.toml or the plan",
                r.name
            ));
        }
        let bytes = r.manifest.artifact.size;
        let key = format!("{S3_PREFIX}/{}/{i}-{}", o.run_id, r.manifest.artifact.file);
        let up = upload_for(bytes, o, key).unwrap_or_else(|e| {
            self.problems
                .push(format!("{}: {}: {e}", r.name, r.manifest.artifact.file));
            Upload::Direct
        });
        let mut unzipped = r.manifest.artifact.unzipped_size;
        if r.layers.len() > MAX_LAYERS {
            self.problems.push(format!(
                "{}: {} layers; a function takes {MAX_LAYERS} at most",
                r.name,
                r.layers.len()
            ));
        }
        let mut layer_idx = Vec::new();
        for (k, (file, lm)) in r.layers.iter().enumerate() {
            unzipped += lm.artifact.unzipped_size;
            let arn = r.layer_arns.get(k).cloned().flatten();
            layer_idx.push(self.layer(&r.name, file, lm, arn));
        }
        if unzipped > UNZIPPED_LIMIT {
            self.problems.push(format!(
                "{}: {:.1} MB unzipped (function + layers) is over Lambda's 250 MB limit: CreateFunction would refuse it",
                r.name,
                mb(unzipped)
            ));
        }
        Shipping {
            upload: up,
            bytes,
            unzipped,
            layers: layer_idx,
        }
    }

    /// The index of a layer in the plan, added the first time a deployment uses its bytes.
    fn layer(
        &mut self,
        name: &str,
        file: &std::path::Path,
        lm: &crate::artifact::ArtifactManifest,
        arn: Option<String>,
    ) -> usize {
        if let Some(at) = self
            .layers
            .iter()
            .position(|l| l.sha256 == lm.artifact.sha256)
        {
            return at;
        }
        let j = self.layers.len();
        let (layer_name, upload) = match arn {
            Some(_) => (lm.artifact.file.clone(), Upload::Direct),
            None => {
                let key = format!(
                    "{S3_PREFIX}/{}/layer{j}-{}",
                    self.o.run_id, lm.artifact.file
                );
                let up = upload_for(lm.artifact.size, self.o, key).unwrap_or_else(|e| {
                    self.problems
                        .push(format!("{name}: layer {}: {e}", lm.artifact.file));
                    Upload::Direct
                });
                (name_within(&self.base, &format!("layer{j}"), 64), up)
            }
        };
        self.layers.push(PlannedLayer {
            name: layer_name,
            file: file.to_path_buf(),
            file_name: lm.artifact.file.clone(),
            sha256: lm.artifact.sha256.clone(),
            bytes: lm.artifact.size,
            upload,
            arn,
        });
        j
    }
}

fn count(s: &Settings, ds: &[Planned]) -> Counts {
    let c = s.concurrency.max(1);
    let n = ds.len() as u64;
    let mems = s.memory.len() as u64;
    let snaps = ds.iter().filter(|d| d.snapstart).count() as u64;
    Counts {
        after_deploy: n * u64::from(c.min(s.runs)),
        cold: n * mems * u64::from(s.runs),
        warm: n * mems * u64::from(s.runs) * u64::from(s.warm),
        restores: snaps * mems * u64::from(s.runs),
        config_updates: n * mems * u64::from(rounds(s.runs, c)) + snaps * mems,
        snapstart_versions: snaps * mems,
    }
}

/// The price row of `region`, or us-east-1's with a note when the table has no row for it.
pub fn price_row(region: &str, notes: &mut Vec<String>) -> Result<stats::PriceRow, BenchError> {
    match stats::price_for(region) {
        Ok(r) => Ok(r),
        Err(_) => {
            notes.push(format!(
                "lpack's price table has no row for {region}: costs use us-east-1's prices"
            ));
            stats::price_for("us-east-1").map_err(BenchError::Input)
        }
    }
}

fn estimate(
    s: &Settings,
    ds: &[Planned],
    timeout_s: u32,
    notes: &mut Vec<String>,
) -> Result<(String, Estimate), BenchError> {
    let row = price_row(&s.region, notes)?;
    let (date, _, _) = stats::price_table().map_err(BenchError::Input)?;
    let (cache_gb_s, restore_gb) = stats::snapstart_prices().map_err(BenchError::Input)?;
    let c = s.concurrency.max(1);
    let timeout_ms = f64::from(timeout_s) * 1000.0;
    let mut e = Estimate::default();
    let mut invocations = 0u64;
    for d in ds {
        let price = if d.arch == "arm64" {
            row.arm64
        } else {
            row.x86_64
        };
        let cost = |ms: f64, mem: u32, n: u64| n as f64 * stats::invocation_cost(ms, mem, price);
        let after = u64::from(c.min(s.runs));
        let after_ms = if d.kind == "image" {
            TYPICAL_AFTER_DEPLOY_MS
        } else {
            TYPICAL_COLD_MS
        };
        e.typical += cost(after_ms, s.memory[0], after);
        e.at_most += cost(timeout_ms + INIT_LIMIT_MS, s.memory[0], after);
        invocations += after;
        for &m in &s.memory {
            let cold = u64::from(s.runs);
            let warm = cold * u64::from(s.warm);
            e.typical += cost(TYPICAL_COLD_MS, m, cold) + cost(TYPICAL_WARM_MS, m, warm);
            e.at_most += cost(timeout_ms + INIT_LIMIT_MS, m, cold) + cost(timeout_ms, m, warm);
            invocations += cold + warm;
            if d.snapstart {
                let gb = f64::from(m) / 1024.0;
                e.typical += cost(TYPICAL_RESTORE_MS, m, cold);
                e.at_most += cost(timeout_ms + INIT_LIMIT_MS, m, cold);
                invocations += cold;
                e.snapstart_cache += gb * stats::SNAPSTART_MIN_CACHE_S * cache_gb_s;
                e.snapstart_restores += gb * restore_gb * cold as f64;
            }
        }
    }
    e.requests = invocations as f64 * row.requests_per_million / 1e6;
    let fixed = e.requests + e.snapstart_cache + e.snapstart_restores;
    e.typical += fixed;
    e.at_most += fixed;
    Ok((date, e))
}

fn size(bytes: u64) -> String {
    if bytes < 100 * 1024 {
        format!("{:.1} kB", bytes as f64 / 1024.0)
    } else {
        format!("{:.1} MB", mb(bytes))
    }
}

fn upload_text(u: &Upload, bytes: u64) -> String {
    let b = size(bytes);
    match u {
        Upload::Direct if bytes > DIRECT_UPLOAD_LIMIT => {
            format!("{b}, too big for the request (needs --s3-bucket)")
        }
        Upload::Direct => format!("{b}, in the request"),
        Upload::S3 { bucket, key } => format!("{b}, through s3://{bucket}/{key}"),
        Upload::Image { repository, tag } => format!("{b} of blobs, pushed to {repository}:{tag}"),
    }
}

/// The dry run's text.
pub fn render(p: &Plan) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Dry run: nothing is created and nothing is invoked.\n");
    let _ = writeln!(
        out,
        "run id    {} (a real run makes its own and prints it first)",
        p.run_id
    );
    let _ = writeln!(
        out,
        "region    {} · role {}",
        p.region,
        p.role_arn.as_deref().unwrap_or("(none given)")
    );
    let mems: Vec<String> = p.memory.iter().map(|m| format!("{m} MB")).collect();
    let _ = writeln!(
        out,
        "plan      {} deployment(s) × {} · {} cold starts each ({} round(s) of {}), {} warm invoke(s) after each, timeout {} s\n",
        p.deployments.len(),
        mems.join(", "),
        p.runs,
        rounds(p.runs, p.concurrency),
        p.concurrency,
        p.warm,
        p.timeout_s
    );
    let _ = writeln!(
        out,
        "Would create, each tagged {}={} and deleted at the end (unless --keep):",
        super::TAG,
        p.run_id
    );
    render_resources(&mut out, p);
    render_counts_and_cost(&mut out, p);
    for n in &p.notes {
        let _ = writeln!(out, "note: {n}");
    }
    if !p.problems.is_empty() {
        let _ = writeln!(out, "\nProblems (a real run refuses to start):");
        for pr in &p.problems {
            let _ = writeln!(out, "  {pr}");
        }
    }
    out
}

/// The resources a run creates: repository, layer versions, functions, SnapStart versions.
fn render_resources(out: &mut String, p: &Plan) {
    if let Some(r) = &p.repository {
        let _ = writeln!(
            out,
            "  ECR repository  {r}  (deleted with the images pushed to it)"
        );
    }
    for l in &p.layers {
        if let Some(arn) = &l.arn {
            let _ = writeln!(
                out,
                "  (attaches)      {arn}  published already: attached as it is, neither published nor deleted"
            );
            continue;
        }
        let _ = writeln!(
            out,
            "  layer version   {}  {} ({})",
            l.name,
            l.file_name,
            upload_text(&l.upload, l.bytes)
        );
    }
    for d in &p.deployments {
        let layers: Vec<&str> = d
            .layers
            .iter()
            .map(|&i| p.layers[i].name.as_str())
            .collect();
        let _ = writeln!(
            out,
            "  function        {}  {} {} {}, {}{}{}",
            d.function_name,
            d.kind,
            d.runtime,
            d.arch,
            upload_text(&d.upload, d.bytes),
            if layers.is_empty() {
                String::new()
            } else {
                format!(", layers {}", layers.join(" + "))
            },
            match &d.handler {
                Some(h) => format!(", handler {h}"),
                None => ", handler: the image's CMD".to_string(),
            }
        );
        if d.snapstart {
            let _ = writeln!(
                out,
                "  SnapStart       {}: one published version per memory size, deleted once measured",
                d.function_name
            );
        }
    }
}

/// The invocation counts and the estimated cost, typical and at most.
fn render_counts_and_cost(out: &mut String, p: &Plan) {
    let c = &p.counts;
    let _ = writeln!(
        out,
        "\nInvocations: {} after deploy + {} cold + {} warm + {} SnapStart restores = {}; {} configuration updates, {} SnapStart versions",
        c.after_deploy,
        c.cold,
        c.warm,
        c.restores,
        c.invocations(),
        c.config_updates,
        c.snapstart_versions
    );
    let e = &p.cost;
    let _ = writeln!(
        out,
        "Estimated cost ({} prices of {}, init billed):",
        p.region, p.prices_date
    );
    let _ = writeln!(
        out,
        "  typical  ${:.4}  (cold starts billed {:.0} s, {:.0} s right after an image deploy, warm invokes {:.0} ms)",
        e.typical,
        TYPICAL_COLD_MS / 1000.0,
        TYPICAL_AFTER_DEPLOY_MS / 1000.0,
        TYPICAL_WARM_MS
    );
    let _ = writeln!(
        out,
        "  at most  ${:.4}  (every invocation billed its {} s timeout, cold ones {:.0} s of init more)",
        e.at_most,
        p.timeout_s,
        INIT_LIMIT_MS / 1000.0
    );
    let _ = writeln!(
        out,
        "  both include requests ${:.6}, SnapStart cache ${:.4} (3 hours minimum per version) and restores ${:.4};\n  S3 and ECR storage for the minutes of the run come to less than $0.01",
        e.requests, e.snapstart_cache, e.snapstart_restores
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_cover_the_runs() {
        assert_eq!(rounds(20, 1), 20);
        assert_eq!(rounds(20, 8), 3);
        assert_eq!(rounds(5, 0), 5);
    }

    #[test]
    fn names_fit() {
        let base = "lpack-bench-261201-120005-3fa9";
        let n = name_within(base, &"x".repeat(80), 64);
        assert_eq!(n.len(), 64);
        assert!(n.starts_with(base));
        assert_eq!(clean("c-layers+fn"), "c-layers-fn");
    }
}
