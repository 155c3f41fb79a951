//! One AWS run: deploy, an after-deploy round, the forced cold rounds per memory size (every
//! deployment at once, each forcing its own function), SnapStart restores, then the summary —
//! and, whatever happened, the clean-up.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_lambda::operation::RequestId;
use aws_sdk_lambda::operation::invoke::InvokeOutput;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{Environment, InvocationType, LogType, SnapStart, SnapStartApplyOn};
use tokio::task::JoinSet;

use super::Options;
use super::cleanup::{self, Ledger, Resource};
use super::deploy::{self, Deployed, wait_ready};
use super::plan::{self, Plan, price_row};
use super::report::{self, Report};
use crate::aws::Aws;
use crate::bench::error::{BenchError, interrupted};
use crate::bench::proc::ReadOnly;
use crate::bench::results::{
    ArtifactRef, DeploymentResult, Pricing, Provenance, Results, Round, Row, RunRecord,
    SCHEMA_VERSION, Sample, summarise, today,
};
use crate::bench::runner::Measured;
use crate::bench::server::ErrorInfo;
use crate::bench::settings::Settings;
use crate::bench::stats;
use crate::progress::{Phase, Reporter};

/// Restores fired at once for a SnapStart version, at most.
const MAX_RESTORE_BATCH: u32 = 100;

static NONCE: AtomicU64 = AtomicU64::new(0);

fn nonce(run: &str) -> String {
    let n = NONCE.fetch_add(1, Ordering::SeqCst);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    format!(
        "{run}-{n}-{}",
        &crate::digest::sha256_hex(format!("{t}-{n}").as_bytes())[..8]
    )
}

/// One deployment's share of a round.
#[derive(Clone)]
struct Job {
    function: String,
    /// The row its samples go to.
    name: String,
    memory_mb: u32,
    /// Invokes at once.
    n: u32,
    /// Rounds of warm invokes after the cold one.
    warm: u32,
    environment_base: u32,
    /// Update the configuration first (a fresh `LPACK_COLD`, the memory size).
    force: bool,
    round: Round,
    qualifier: Option<String>,
    poll: Duration,
}

type Invoked = (Result<InvokeOutput, String>, f64);
/// Samples with the REPORT each came from.
type Batch = Vec<(Sample, Option<Report>)>;

async fn invoke_many(
    lambda: &aws_sdk_lambda::Client,
    function: &str,
    qualifier: Option<&str>,
    n: u32,
    event: &Blob,
) -> Vec<Invoked> {
    let mut set = JoinSet::new();
    for k in 0..n {
        let req = lambda
            .invoke()
            .function_name(function)
            .set_qualifier(qualifier.map(str::to_string))
            .invocation_type(InvocationType::RequestResponse)
            .log_type(LogType::Tail)
            .payload(event.clone());
        set.spawn(async move {
            let t = Instant::now();
            let r = req
                .send()
                .await
                .map_err(|e| format!("Invoke: {}", aws_sdk_lambda::error::DisplayErrorContext(&e)));
            (k, r, t.elapsed().as_secs_f64() * 1000.0)
        });
    }
    let mut out: Vec<(u32, Invoked)> = Vec::new();
    while let Some(j) = set.join_next().await {
        match j {
            Ok((k, r, ms)) => out.push((k, (r, ms))),
            Err(e) => out.push((u32::MAX, (Err(format!("Invoke task: {e}")), 0.0))),
        }
    }
    out.sort_by_key(|(k, _)| *k);
    out.into_iter().map(|(_, x)| x).collect()
}

/// An invocation in Lambda's terms, from its response and the REPORT in its log tail.
pub(super) fn measured(
    out: &InvokeOutput,
    invocation: u32,
    round_trip_ms: f64,
) -> (Measured, Option<Report>) {
    let report = out
        .log_result()
        .and_then(report::decode_tail)
        .and_then(|t| report::parse(&t));
    let payload: &[u8] = out.payload().map(|b| b.as_ref()).unwrap_or(&[]);
    let error = match (out.function_error(), &report) {
        (Some(kind), _) => {
            let mut e = ErrorInfo::parse(payload, None);
            if e.error_type == "Unknown" {
                e.error_type = kind.to_string();
            }
            Some(e)
        }
        (None, Some(r)) if r.failed() => Some(ErrorInfo::new(
            r.error_type
                .as_deref()
                .unwrap_or(r.status.as_deref().unwrap_or("error")),
            format!("REPORT Status: {}", r.status.as_deref().unwrap_or("")),
        )),
        _ => None,
    };
    let r = report.clone().unwrap_or_default();
    let request_id = if r.request_id.is_empty() {
        out.request_id().unwrap_or("").to_string()
    } else {
        r.request_id.clone()
    };
    let m = Measured {
        invocation,
        request_id,
        init_ms: r.init(),
        duration_ms: r.duration_ms,
        round_trip_ms: (invocation == 0).then_some(round_trip_ms),
        max_memory_mb: r.max_memory_mb,
        response_bytes: Some(payload.len()),
        error,
        billed_ms: r.billed_ms,
        restore_ms: r.restore_ms,
        billed_restore_ms: r.billed_restore_ms,
    };
    (m, report)
}

async fn one_job(
    lambda: aws_sdk_lambda::Client,
    job: Job,
    event: Blob,
    run_id: String,
) -> Result<Batch, String> {
    if job.force {
        lambda
            .update_function_configuration()
            .function_name(&job.function)
            .memory_size(job.memory_mb as i32)
            .environment(
                Environment::builder()
                    .variables("LPACK_COLD", nonce(&run_id))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| {
                format!(
                    "UpdateFunctionConfiguration {}: {}",
                    job.function,
                    aws_sdk_lambda::error::DisplayErrorContext(&e)
                )
            })?;
        wait_ready(&lambda, &job.function, None, job.poll).await?;
    }
    let mut out = Vec::new();
    for w in 0..=job.warm {
        let results = invoke_many(
            &lambda,
            &job.function,
            job.qualifier.as_deref(),
            job.n,
            &event,
        )
        .await;
        for (k, (res, ms)) in results.into_iter().enumerate() {
            let resp = res?;
            let (m, report) = measured(&resp, w, ms);
            let cold = report.as_ref().is_some_and(Report::cold);
            let round = match job.round {
                Round::AfterDeploy => Round::AfterDeploy,
                _ if w == 0 && !cold && m.error.is_none() => Round::NotCold,
                r => r,
            };
            out.push((
                Sample {
                    deployment: job.name.clone(),
                    memory_mb: job.memory_mb,
                    environment: job.environment_base + k as u32,
                    round,
                    measured: m,
                },
                report,
            ));
        }
    }
    Ok(out)
}

/// Every job at once; the first failure stops the rest.
async fn run_jobs(
    lambda: &aws_sdk_lambda::Client,
    jobs: Vec<Job>,
    event: &Blob,
    run_id: &str,
) -> Result<Batch, String> {
    let mut set = JoinSet::new();
    for job in jobs {
        set.spawn(one_job(
            lambda.clone(),
            job,
            event.clone(),
            run_id.to_string(),
        ));
    }
    let mut out = Vec::new();
    while let Some(j) = set.join_next().await {
        out.extend(j.map_err(|e| format!("a round's task: {e}"))??);
    }
    Ok(out)
}

/// SnapStart facts of one deployment × memory size.
#[derive(Default, Clone, Copy)]
struct Snapshot {
    seconds: f64,
    init_ms: Option<f64>,
}

/// What the calls of a run share: the SDK, the ledger, the settings and the options.
#[derive(Clone, Copy)]
struct RunContext<'a> {
    aws: &'a Aws,
    ledger: &'a Ledger,
    s: &'a Settings,
    o: &'a Options,
}

/// Enable SnapStart, publish a version, wait for its snapshot, restore it by concurrent
/// invokes, delete the version.
fn snapstart(
    run: &RunContext<'_>,
    d: &Deployed,
    name: &str,
    m: u32,
    event: &Blob,
) -> Result<(Batch, Snapshot), String> {
    let RunContext { aws, ledger, s, o } = *run;
    let lambda = aws.lambda();
    let f = &d.function_name;
    aws.rt
        .block_on(
            lambda
                .update_function_configuration()
                .function_name(f)
                .memory_size(m as i32)
                .snap_start(
                    SnapStart::builder()
                        .apply_on(SnapStartApplyOn::PublishedVersions)
                        .build(),
                )
                .environment(
                    Environment::builder()
                        .variables("LPACK_COLD", nonce(&o.run_id))
                        .build(),
                )
                .send(),
        )
        .map_err(|e| aws.error(format!("UpdateFunctionConfiguration {f} (SnapStart)"), &e))?;
    aws.rt.block_on(wait_ready(&lambda, f, None, o.poll))?;
    let t = Instant::now();
    let v = aws
        .rt
        .block_on(lambda.publish_version().function_name(f).send())
        .map_err(|e| aws.error(format!("PublishVersion {f}"), &e))?;
    let version = v
        .version()
        .ok_or("PublishVersion answered without a version")?
        .to_string();
    let res = Resource::Version {
        function: f.clone(),
        version: version.clone(),
    };
    ledger.add(res.clone());
    aws.rt
        .block_on(wait_ready(&lambda, f, Some(&version), o.poll))?;
    let mut snap = Snapshot {
        seconds: t.elapsed().as_secs_f64(),
        init_ms: None,
    };
    let batch = s.concurrency.max(s.runs.min(MAX_RESTORE_BATCH)).max(1);
    let mut out = Vec::new();
    let mut done = 0;
    while done < s.runs {
        if interrupted() {
            return Err("interrupted".into());
        }
        let n = batch.min(s.runs - done);
        let job = Job {
            function: f.clone(),
            name: name.to_string(),
            memory_mb: m,
            n,
            warm: 0,
            environment_base: done,
            force: false,
            round: Round::Steady,
            qualifier: Some(version.clone()),
            poll: o.poll,
        };
        let got = aws.rt.block_on(one_job(
            lambda.clone(),
            job,
            event.clone(),
            o.run_id.clone(),
        ))?;
        for (_, r) in &got {
            if let Some((ms, _)) = r.as_ref().and_then(|r| r.init_report.clone())
                && r.as_ref().is_some_and(|r| r.restore_ms.is_some())
            {
                snap.init_ms = Some(ms);
            }
        }
        out.extend(got);
        done += n;
    }
    // A cached version keeps costing money: gone as soon as it has been measured.
    if cleanup::delete(aws, &res).is_ok() {
        ledger.remove(&res);
    }
    Ok((out, snap))
}

/// Where finished samples go: the progress bar and the caller's callback.
type Measuring<'a> = (&'a dyn Reporter, &'a (dyn Fn(&Sample) + Sync));

fn take(batch: Batch, samples: &mut Vec<Sample>, m: Measuring) {
    let (reporter, on_sample) = m;
    reporter.advance(Phase::Bench, batch.len() as u64);
    for (x, _) in batch {
        on_sample(&x);
        samples.push(x);
    }
}

fn measure(
    aws: &Aws,
    plan: &Plan,
    s: &Settings,
    o: &Options,
    ledger: &Ledger,
    reporter: &dyn Reporter,
    on_sample: &(dyn Fn(&Sample) + Sync),
) -> Result<Results, String> {
    let deployed = deploy::deploy(aws, plan, o, ledger, reporter)?;
    let lambda = aws.lambda();
    let event = Blob::new(s.event.clone());
    let c = plan.concurrency;
    let cb: Measuring = (reporter, on_sample);
    reporter.start(Phase::Bench, plan.counts.invocations());
    let mut samples: Vec<Sample> = Vec::new();
    let job = |d: &Deployed, name: &str, m: u32, n: u32, base: u32, round: Round| Job {
        function: d.function_name.clone(),
        name: name.to_string(),
        memory_mb: m,
        n,
        warm: if round == Round::AfterDeploy {
            0
        } else {
            s.warm
        },
        environment_base: base,
        force: round != Round::AfterDeploy,
        round,
        qualifier: None,
        poll: o.poll,
    };
    let pairs: Vec<(&Deployed, &plan::Planned)> = deployed.iter().zip(&plan.deployments).collect();
    let first = c.min(s.runs);
    let jobs = pairs
        .iter()
        .map(|(d, p)| job(d, &p.name, plan.memory[0], first, 0, Round::AfterDeploy))
        .collect();
    let batch = aws
        .rt
        .block_on(run_jobs(&lambda, jobs, &event, &o.run_id))
        .map_err(|e| aws.redact(&e))?;
    take(batch, &mut samples, cb);
    let mut snapshots: HashMap<(String, u32), Snapshot> = HashMap::new();
    for &m in &plan.memory {
        for r in 0..plan::rounds(s.runs, c) {
            if interrupted() {
                return Err("interrupted".into());
            }
            let n = c.min(s.runs - r * c);
            let jobs = pairs
                .iter()
                .map(|(d, p)| job(d, &p.name, m, n, r * c, Round::Steady))
                .collect();
            let batch = aws
                .rt
                .block_on(run_jobs(&lambda, jobs, &event, &o.run_id))
                .map_err(|e| aws.redact(&e))?;
            take(batch, &mut samples, cb);
        }
        for (d, p) in pairs.iter().filter(|(_, p)| p.snapstart) {
            let name = format!("{}+snapstart", p.name);
            let run = RunContext { aws, ledger, s, o };
            let (batch, snap) = snapstart(&run, d, &name, m, &event).map_err(|e| aws.redact(&e))?;
            snapshots.insert((name, m), snap);
            take(batch, &mut samples, cb);
        }
    }
    reporter.finish(Phase::Bench);
    samples.sort_by(|a, b| {
        (
            &a.deployment,
            a.memory_mb,
            a.environment,
            a.measured.invocation,
        )
            .cmp(&(
                &b.deployment,
                b.memory_mb,
                b.environment,
                b.measured.invocation,
            ))
    });
    results(aws, plan, s, &deployed, samples, &snapshots).map_err(|e| e.to_string())
}

fn results(
    aws: &Aws,
    plan: &Plan,
    s: &Settings,
    deployed: &[Deployed],
    samples: Vec<Sample>,
    snapshots: &HashMap<(String, u32), Snapshot>,
) -> Result<Results, BenchError> {
    let mut notes = Vec::new();
    let row = price_row(&aws.region, &mut notes)?;
    let (prices_date, _, _) = stats::price_table().map_err(BenchError::Input)?;
    let (cache_gb_s, restore_gb) = stats::snapstart_prices().map_err(BenchError::Input)?;
    let deployments = summaries(plan, s, deployed, &samples, snapshots, &row, restore_gb);
    let not_cold: usize = deployments.iter().map(|d| d.not_cold).sum();
    run_notes(aws, plan, not_cold, (cache_gb_s, restore_gb), &mut notes);
    let mut targets: Vec<String> = plan
        .deployments
        .iter()
        .map(|d| format!("{} {}", d.runtime, d.arch))
        .collect();
    targets.dedup();
    let artifacts = plan
        .deployments
        .iter()
        .flat_map(|d| {
            d.resolved.artifacts.iter().map(|(f, h)| ArtifactRef {
                deployment: d.name.clone(),
                file: f.clone(),
                sha256: h.clone(),
            })
        })
        .collect();
    Ok(Results {
        schema_version: SCHEMA_VERSION,
        provenance: Provenance {
            lpack_version: env!("CARGO_PKG_VERSION").to_string(),
            date: today(),
            backend: "aws".to_string(),
            target: targets.join(", "),
            python: "AWS Lambda's managed runtime (zips) or the image's own Python".to_string(),
            host_cpu: format!("AWS Lambda, {}", aws.region),
            host_cpus: 0,
            cpu_shaping: "Lambda's own: CPU in proportion to memory (1,769 MB = 1 vCPU)"
                .to_string(),
            memory_source: "Max Memory Used in Lambda's REPORT line".to_string(),
            read_only: ReadOnly::Lambda,
            runs: s.runs,
            warm: s.warm,
            concurrency: plan.concurrency,
            timeout_s: f64::from(plan.timeout_s),
            region: aws.region.clone(),
            prices_date,
            cold_share: s.cold_share,
            artifacts,
            notes,
            aws: None,
        },
        deployments,
        import_profiles: Vec::new(),
        samples,
    })
}

/// One summary per deployment (and its SnapStart variant) and memory size, priced.
fn summaries(
    plan: &Plan,
    s: &Settings,
    deployed: &[Deployed],
    samples: &[Sample],
    snapshots: &HashMap<(String, u32), Snapshot>,
    row: &stats::PriceRow,
    restore_gb: f64,
) -> Vec<DeploymentResult> {
    let mut deployments = Vec::new();
    for (d, p) in deployed.iter().zip(&plan.deployments) {
        let price_ms = if p.arch == "arm64" {
            row.arm64
        } else {
            row.x86_64
        };
        let mut rows = vec![(p.name.clone(), p.kind.clone(), 0.0)];
        if p.snapstart {
            rows.push((
                format!("{}+snapstart", p.name),
                "zip+snapstart".into(),
                restore_gb,
            ));
        }
        for (name, kind, restore) in &rows {
            for &m in &plan.memory {
                let mine: Vec<&Sample> = samples
                    .iter()
                    .filter(|x| &x.deployment == name && x.memory_mb == m)
                    .collect();
                let mut r = summarise(
                    &Row {
                        name,
                        kind,
                        handler: &d.handler,
                        memory_mb: m,
                        unpack_ms: 0.0,
                    },
                    &mine,
                    &Pricing {
                        cold_share: s.cold_share,
                        price_ms,
                        requests_per_million: row.requests_per_million,
                        restore_per_gb: *restore,
                    },
                );
                if let Some(snap) = snapshots.get(&(name.clone(), m)) {
                    r.snapshot_s = Some(snap.seconds);
                    r.snapshot_init_ms = snap.init_ms;
                }
                deployments.push(r);
            }
        }
    }
    deployments
}

/// The notes on how an AWS run measured, priced SnapStart and where it ran.
fn run_notes(
    aws: &Aws,
    plan: &Plan,
    not_cold: usize,
    snapstart_prices: (f64, f64),
    notes: &mut Vec<String>,
) {
    let (cache_gb_s, restore_gb) = snapstart_prices;
    notes.push(format!(
        "AWS Lambda ({}): each cold start forced by a configuration update (a fresh LPACK_COLD) before its round; Init, Restore, Billed Duration and Max Memory Used from each invoke's REPORT line; round trip measured by lpack",
        aws.region
    ));
    if not_cold > 0 {
        notes.push(format!(
            "{not_cold} forced invoke(s) came back without Init or Restore Duration (warm): discarded from every figure, counted under `not cold`"
        ));
    }
    notes.push(
        "after deploy: the first round after each function was created is reported apart (after-deploy Init p50) and never pooled"
            .to_string(),
    );
    if plan.deployments.iter().any(|d| d.snapstart) {
        let mb = plan.memory[0];
        notes.push(format!(
            "SnapStart: the cache costs ${:.4} per version-hour at {mb} MB (3 hours at least per version); every version was deleted once measured. Restores are billed ${:.7} per GB on top of their Billed Duration",
            f64::from(mb) / 1024.0 * 3600.0 * cache_gb_s,
            restore_gb
        ));
    }
    if let Some(u) = &aws.endpoint_url {
        notes.push(format!(
            "run against --endpoint-url {u}: an emulator's numbers are not Lambda's"
        ));
    }
}

/// Plan, deploy, measure; then delete everything (unless `--keep`), on every path.
pub(super) fn bench(
    s: &Settings,
    o: &Options,
    reporter: &dyn Reporter,
    on_sample: &(dyn Fn(&Sample) + Sync),
) -> Result<Results, BenchError> {
    let plan = plan::plan(s, o)?;
    if !plan.problems.is_empty() {
        return Err(BenchError::Input(format!(
            "the AWS run cannot start ({} problem(s)):\n  {}\n  hint: `--dry-run` shows the whole plan; nothing was created",
            plan.problems.len(),
            plan.problems.join("\n  ")
        )));
    }
    let aws =
        Aws::connect(o.region.as_deref(), o.endpoint_url.as_deref()).map_err(BenchError::Aws)?;
    let ledger = Ledger::default();
    let outcome = measure(&aws, &plan, s, o, &ledger, reporter, on_sample);
    let left_behind = if o.keep {
        Vec::new()
    } else {
        cleanup::delete_all(&aws, ledger.live(), reporter).1
    };
    let mut record = RunRecord {
        run_id: o.run_id.clone(),
        region: aws.region.clone(),
        endpoint_url: o.endpoint_url.clone(),
        created: ledger.history(),
        kept: o.keep,
        left_behind: left_behind.clone(),
        not_cold: 0,
    };
    let after = if o.keep {
        format!(
            "everything it created is kept: `lpack bench --cleanup {}` deletes it",
            o.run_id
        )
    } else if left_behind.is_empty() {
        "everything it created was deleted".to_string()
    } else {
        format!(
            "it could not delete:\n  {}\n  hint: `lpack bench --cleanup {}` (with the same --region{}) tries again",
            left_behind.join("\n  "),
            o.run_id,
            if o.s3_bucket.is_some() {
                " and --s3-bucket"
            } else {
                ""
            }
        )
    };
    match outcome {
        Ok(mut r) => {
            record.not_cold = r.deployments.iter().map(|d| d.not_cold).sum();
            if o.keep || !left_behind.is_empty() {
                r.provenance.notes.push(aws.redact(&after));
            }
            r.provenance.aws = Some(record);
            Ok(r)
        }
        Err(e) if e == "interrupted" || interrupted() => {
            Err(BenchError::Aws(format!("interrupted; {after}")))
        }
        Err(e) => Err(BenchError::Aws(format!("{}; {after}", aws.redact(&e)))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    fn tail(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn a_response_becomes_a_sample_in_lambdas_terms() {
        let cold = InvokeOutput::builder()
            .status_code(200)
            .log_result(tail("START RequestId: r1 Version: $LATEST\nEND RequestId: r1\nREPORT RequestId: r1\tDuration: 41.70 ms\tBilled Duration: 734 ms\tMemory Size: 1024 MB\tMax Memory Used: 121 MB\tInit Duration: 691.90 ms\t\n"))
            .payload(Blob::new(b"{\"ok\": true}".to_vec()))
            .build();
        let (m, r) = measured(&cold, 0, 812.5);
        assert!(r.is_some_and(|r| r.cold()));
        assert_eq!(m.request_id, "r1");
        assert_eq!((m.init_ms, m.duration_ms), (Some(691.9), Some(41.7)));
        assert_eq!((m.billed_ms, m.max_memory_mb), (Some(734), Some(121)));
        assert_eq!(m.round_trip_ms, Some(812.5));
        assert_eq!(m.response_bytes, Some(12));
        assert!(m.error.is_none());

        // A handler error: the payload's errorType, the REPORT's numbers.
        let failed = InvokeOutput::builder()
            .status_code(200)
            .function_error("Unhandled")
            .log_result(tail("REPORT RequestId: r2\tDuration: 3.10 ms\tBilled Duration: 4 ms\tMemory Size: 128 MB\tMax Memory Used: 40 MB\t\n"))
            .payload(Blob::new(
                b"{\"errorType\": \"ValueError\", \"errorMessage\": \"boom\", \"stackTrace\": [\"  File x\"]}".to_vec(),
            ))
            .build();
        let (m, _) = measured(&failed, 1, 5.0);
        let e = m.error.expect("error");
        assert_eq!(
            (e.error_type.as_str(), e.error_message.as_str()),
            ("ValueError", "boom")
        );
        assert_eq!(m.round_trip_ms, None, "round trips are for cold starts");

        // An init that failed: Status in REPORT, Init Duration from INIT_REPORT.
        let init = InvokeOutput::builder()
            .status_code(200)
            .function_error("Unhandled")
            .log_result(tail("INIT_REPORT Init Duration: 80.49 ms\tPhase: invoke\tStatus: error\tError Type: Runtime.ImportModuleError\nREPORT RequestId: r3\tDuration: 98.71 ms\tBilled Duration: 99 ms\tMemory Size: 512 MB\tMax Memory Used: 46 MB\tStatus: error\tError Type: Runtime.ImportModuleError\n"))
            .payload(Blob::new(b"{\"errorType\": \"Runtime.ImportModuleError\", \"errorMessage\": \"No module named 'x'\"}".to_vec()))
            .build();
        let (m, r) = measured(&init, 0, 120.0);
        assert_eq!(m.init_ms, Some(80.49));
        assert!(r.is_some_and(|r| r.cold()));
        assert_eq!(
            m.error.map(|e| e.error_type),
            Some("Runtime.ImportModuleError".to_string())
        );

        // No log tail (an emulator): nothing measured, not cold.
        let bare = InvokeOutput::builder().status_code(200).build();
        let (m, r) = measured(&bare, 0, 3.0);
        assert!(r.is_none());
        assert_eq!((m.init_ms, m.duration_ms), (None, None));
    }
}
