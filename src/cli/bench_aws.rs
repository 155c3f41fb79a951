//! The AWS side of `lpack bench`: its flags, the dry run and `--cleanup RUN_ID`. The run
//! itself goes through the same [`crate::bench::bench`] as the local backend.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::Outcome;
use crate::bench::{Settings, aws};

#[derive(Debug, Args)]
pub struct AwsArgs {
    /// (aws) The functions' execution role; lpack creates no IAM roles (docs/bench-aws.md gives the
    /// policy)
    #[arg(long, env = "LPACK_BENCH_ROLE_ARN", value_name = "ARN")]
    pub role_arn: Option<String>,
    /// (aws) Resource names start with PREFIX-RUN_ID
    #[arg(long, default_value = "lpack-bench", value_name = "PREFIX")]
    pub prefix: String,
    /// (aws) Upload zips over 50 MB through this S3 bucket (objects under lpack-bench/RUN_ID/,
    /// deleted once Lambda has copied them)
    #[arg(long, value_name = "BUCKET")]
    pub s3_bucket: Option<String>,
    /// (aws) Send every AWS request here (an emulator such as moto, in tests)
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// (aws) Keep what the run created (delete it later with --cleanup RUN_ID)
    #[arg(long)]
    pub keep: bool,
    /// (aws) Also measure SnapStart restores of python3.12+ zip functions (a published version
    /// per memory size, deleted once measured; its cache is billed 3 hours at least)
    #[arg(long)]
    pub snapstart: bool,
    /// (aws) Print what would be created, how many invocations, the estimated cost; create
    /// nothing
    #[arg(long)]
    pub dry_run: bool,
    /// (aws) Delete everything run RUN_ID created (found by its tag lpack-bench=RUN_ID), e.g.
    /// after a crash; give the same --region (and --s3-bucket)
    #[arg(long, value_name = "RUN_ID", conflicts_with_all = ["deployments", "plan", "render"])]
    pub cleanup: Option<String>,
    /// Push images to this registry instead of ECR's (tests: a local registry stands in)
    #[arg(long, value_name = "HOST:PORT", hide = true)]
    pub image_registry: Option<String>,
    /// How often to poll a function's state, in ms
    #[arg(long, value_name = "MS", default_value = "1000", hide = true)]
    pub poll_ms: u64,
}

/// The prices' region when none is given: the environment's, else us-east-1 (the run itself
/// asks the SDK's chain, profiles included).
pub fn default_region() -> String {
    std::env::var("AWS_REGION")
        .or_else(|_| std::env::var("AWS_DEFAULT_REGION"))
        .ok()
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| "us-east-1".to_string())
}

fn base(a: &AwsArgs, region: Option<String>, run_id: String, work: PathBuf) -> aws::Options {
    aws::Options {
        role_arn: a.role_arn.clone(),
        region,
        prefix: a.prefix.clone(),
        s3_bucket: a.s3_bucket.clone(),
        endpoint_url: a.endpoint_url.clone(),
        keep: a.keep,
        snapstart: a.snapstart,
        image_registry: a.image_registry.clone(),
        run_id,
        work,
        poll: Duration::from_millis(a.poll_ms.max(10)),
    }
}

/// The AWS backend's options for a new run (with a fresh run id) in `region` (`None`: the
/// SDK's chain decides).
pub fn options(a: &AwsArgs, region: Option<String>, work: PathBuf) -> anyhow::Result<aws::Options> {
    let p = &a.prefix;
    if p.is_empty()
        || p.len() > 24
        || !p
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        anyhow::bail!("--prefix: 1 to 24 letters, digits, `-` or `_`");
    }
    Ok(base(a, region, aws::new_run_id(), work))
}

/// `--dry-run`: the plan, creating nothing.
pub fn dry_run(s: &Settings, o: &aws::Options, json: bool) -> anyhow::Result<Outcome> {
    let p = aws::plan::plan(s, o)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&p)?);
    } else {
        print!("{}", aws::plan::render(&p));
    }
    if !p.problems.is_empty() {
        anyhow::bail!(
            "the plan has {} problem(s); a real run would refuse to start",
            p.problems.len()
        );
    }
    Ok(Outcome::Ok)
}

/// `--cleanup RUN_ID` (the caller has installed the Ctrl-C handler).
pub fn cleanup(
    a: &AwsArgs,
    region: Option<String>,
    run_id: &str,
    json: bool,
    quiet: bool,
) -> anyhow::Result<Outcome> {
    let o = base(a, region, run_id.to_string(), std::env::temp_dir());
    let bars = super::progress::Bars::new(!quiet && !json);
    let report = aws::cleanup_run(&o, &bars)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else if !quiet {
        for d in &report.deleted {
            println!("deleted {d}");
        }
        if report.deleted.is_empty() && report.failed.is_empty() {
            println!("nothing tagged lpack-bench={run_id} was found");
        }
    }
    if !report.failed.is_empty() {
        anyhow::bail!(
            "{} of run {run_id} could not be looked up or deleted (everything else found was deleted):\n  {}\n  hint: run `lpack bench --cleanup {run_id}` again once the cause is fixed",
            report.failed.len(),
            report.failed.join("\n  ")
        );
    }
    Ok(Outcome::Ok)
}
