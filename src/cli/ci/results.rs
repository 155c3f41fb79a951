//! Each command's result as a [`CiReport`]: its summary, step outputs and checks.
//!
//! Outputs by command (all write `status`: `passed` or `failed`):
//! - build: `artifact`, `artifacts` (one a line), `manifest`, `sha256`, `zipped_bytes`,
//!   `unzipped_bytes`, `headroom_bytes` (under Lambda's 262,144,000-byte limit, function +
//!   layers; negative when over); images add `image_digest`.
//! - size-report: `artifacts`, `zipped_bytes`, `unzipped_bytes`, `headroom_bytes`; with
//!   `--diff`: `delta_unzipped_bytes`, `delta_zipped_bytes`.
//! - audit: `artifact`, `sha256`, `errors`, `warnings`.
//! - verify: `artifact`, `sha256`, `failures`.
//! - bench: `summary_json`, `report_html`, `errors`.

use std::fmt::Write as _;

use super::{Check, CiReport, Locator, Status};
use crate::artifact::ArtifactManifest;
use crate::cli::human_size;
use crate::pipeline::{BuildOutcome, Gates, UNZIPPED_LIMIT};
use crate::report::{DiffReport, GateFailure, SizeReport};

/// Markdown table cell: no pipes or newlines.
fn cell(s: &str) -> String {
    s.trim_end()
        .replace('|', "\\|")
        .replace("\r\n", "<br>")
        .replace('\n', "<br>")
}

fn status_word(passed: bool) -> &'static str {
    if passed { "passed" } else { "failed" }
}

/// The checks table: every check that did not pass, then a count of those that did.
fn checks_markdown(checks: &[Check]) -> String {
    let mut s = String::new();
    let shown: Vec<&Check> = checks
        .iter()
        .filter(|c| c.status != Status::Passed)
        .collect();
    let passed = checks.len() - shown.len();
    if !shown.is_empty() {
        s.push_str("| Check | Result | Where | Details |\n|---|---|---|---|\n");
        for c in &shown {
            let result = match c.status {
                Status::Failed => "failed",
                Status::Warning => "warning",
                Status::Skipped => "skipped",
                Status::Passed => "passed",
            };
            let place = match &c.location {
                Some(l) => match l.line {
                    Some(n) => format!("`{}:{n}`", l.file),
                    None => format!("`{}`", l.file),
                },
                None => String::new(),
            };
            let _ = writeln!(
                s,
                "| {}: {} | {result} | {place} | {} |",
                c.suite,
                cell(&c.name),
                cell(&c.message)
            );
        }
        s.push('\n');
    }
    let _ = writeln!(s, "{passed} of {} check(s) passed.", checks.len());
    s
}

/// The gate checks of a size report: the limit (when checked) and each `--max-*` that was set.
/// A failed gate points at the biggest distribution's line.
fn gate_checks(
    r: &SizeReport,
    failures: &[GateFailure],
    gates: &Gates,
    loc: &Locator,
    checks: &mut Vec<Check>,
) {
    let biggest = r
        .distributions
        .iter()
        .find(|d| !d.name.starts_with('<'))
        .and_then(|d| loc.package(&d.name));
    for (name, set) in [
        ("max-unzipped", gates.max_unzipped.is_some()),
        ("max-zipped", gates.max_zipped.is_some()),
    ] {
        let failed: Vec<&GateFailure> = failures.iter().filter(|f| f.gate == name).collect();
        if failed.is_empty() {
            if set {
                checks.push(Check::passed("gates", name));
            }
            continue;
        }
        for f in failed {
            let label = match &f.artifact {
                Some(a) => format!("{name} {a}"),
                None => name.to_string(),
            };
            checks.push(Check::failed("gates", label, &f.message).at_opt(biggest.clone()));
        }
    }
}

/// Audit records of a manifest (what a build kept as warnings, or `--no-audit` errors).
fn audit_checks(manifest: &ArtifactManifest, loc: &Locator, checks: &mut Vec<Check>) {
    for a in &manifest.audit {
        let at = loc.owner(&a.path).and_then(|p| loc.package(p));
        let name = format!("{} {}", a.code, a.path);
        let c = if a.severity == "error" {
            Check::failed("audit", name, &a.message)
        } else {
            Check::warning("audit", name, &a.message)
        };
        checks.push(c.at_opt(at));
    }
}

fn culprits(msg: &mut String, culprits: &[crate::verify::attribute::Culprit]) {
    for c in culprits {
        let _ = write!(msg, "\ncaused by: {} ({})", c.path, c.package);
        if let Some(rule) = &c.rule {
            let _ = write!(msg, " dropped by {rule}");
        }
    }
}

fn verify_checks(report: &crate::verify::VerifyReport, loc: &Locator, checks: &mut Vec<Check>) {
    for i in &report.imports {
        let name = format!("import {}", i.module);
        checks.push(if i.ok {
            Check::passed("verify", name)
        } else if let Some(why) = &i.pre_existing {
            Check::warning("verify", name, why).at_opt(loc.package(&i.dist))
        } else {
            let mut msg = i.error.clone().unwrap_or_default();
            culprits(&mut msg, &i.culprits);
            Check::failed("verify", name, msg).at_opt(loc.package(&i.dist))
        });
    }
    if let Some(h) = &report.handler {
        let name = format!("handler {}", h.handler);
        // A syntax error or a raise points at the user's own file and line.
        let at = h.source.clone().map(|file| super::Location {
            file,
            line: h.line.map(|l| l as usize),
        });
        checks.push(match h.status.as_str() {
            "ok" => Check::passed("verify", name),
            "warning" => {
                Check::warning("verify", name, crate::verify::handler::describe(h)).at_opt(at)
            }
            _ => Check::failed("verify", name, crate::verify::handler::describe(h)).at_opt(at),
        });
    }
    for m in report.metadata.iter().filter(|m| !m.ok) {
        checks.push(
            Check::failed(
                "verify",
                format!("metadata {}", m.dist),
                m.error.clone().unwrap_or_default(),
            )
            .at_opt(loc.package(&m.dist)),
        );
    }
}

/// `lpack build`.
pub fn build(outcome: &BuildOutcome, gates: &Gates, limit_check: bool) -> CiReport {
    let manifests: Vec<ArtifactManifest> = match &outcome.image {
        Some(img) => vec![img.manifest.clone()],
        None => outcome
            .artifacts
            .iter()
            .map(|a| a.manifest.clone())
            .collect(),
    };
    let loc = Locator::new(manifests.first());
    let checks = build_checks(outcome, gates, limit_check, &manifests, &loc);
    let passed = outcome.passed();
    let mut outputs = vec![("status".to_string(), status_word(passed).to_string())];
    let mut md = format!("### lpack build: {}\n\n", status_word(passed));
    md.push_str("| Artifact | Kind | Target | Zipped | Unzipped | Headroom | sha256 |\n|---|---|---|---:|---:|---:|---|\n");
    artifact_rows(outcome, &mut md, &mut outputs);
    md.push('\n');
    if let Some(v) = &outcome.verify {
        let _ = writeln!(md, "{}\n", v.status);
    }
    md.push_str(&checks_markdown(&checks));
    md.push('\n');
    CiReport {
        command: "lpack build".into(),
        summary: md,
        outputs,
        checks,
    }
}

/// The checks of a build: Lambda's limit, the gates, the ABI audit and verify.
fn build_checks(
    outcome: &BuildOutcome,
    gates: &Gates,
    limit_check: bool,
    manifests: &[ArtifactManifest],
    loc: &Locator,
) -> Vec<Check> {
    let report = crate::report::build(manifests);
    let mut checks = Vec::new();
    if outcome.image.is_none() {
        checks.push(match (&outcome.over_limit, limit_check) {
            (Some(msg), _) => Check::failed("gates", "lambda-unzipped-limit", msg)
                .at_opt(loc.input().map(|file| super::Location { file, line: None })),
            (None, true) => Check::passed("gates", "lambda-unzipped-limit"),
            (None, false) => Check::skipped("gates", "lambda-unzipped-limit", "--no-limit-check"),
        });
    }
    gate_checks(&report, &outcome.gate_failures, gates, loc, &mut checks);
    for m in manifests {
        audit_checks(m, loc, &mut checks);
    }
    if !manifests
        .iter()
        .any(|m| m.audit.iter().any(|a| a.severity == "error"))
    {
        checks.push(Check::passed("audit", "abi"));
    }
    if let Some(v) = &outcome.verify {
        match &v.report {
            Some(r) => verify_checks(r, loc, &mut checks),
            None if v.status.starts_with("verified") => {
                checks.push(Check::passed("verify", "imports"))
            }
            None => checks.push(Check::skipped("verify", "imports", &v.status)),
        }
    }
    checks
}

/// One summary row per artifact and the step outputs that name them and total their sizes.
fn artifact_rows(outcome: &BuildOutcome, md: &mut String, outputs: &mut Vec<(String, String)>) {
    let (mut zipped, mut unzipped, mut layers) = (0u64, 0u64, 0u64);
    let mut paths = Vec::new();
    if let Some(img) = &outcome.image {
        let m = &img.manifest;
        let digest = img.manifest_digest.trim_start_matches("sha256:");
        paths.push(img.manifest_file.display().to_string());
        zipped = img.layers.iter().map(|l| l.size).sum();
        unzipped = m.artifact.unzipped_size;
        outputs.push(("artifact".into(), paths[0].clone()));
        outputs.push(("manifest".into(), paths[0].clone()));
        outputs.push(("sha256".into(), digest.to_string()));
        outputs.push(("image_digest".into(), img.manifest_digest.clone()));
        let _ = writeln!(
            md,
            "| `{}` | image | {} {} | {} | {} | - | `{}` |",
            paths[0],
            m.target.runtime,
            m.target.arch,
            human_size(zipped),
            human_size(unzipped),
            short(digest)
        );
    } else {
        for (i, a) in outcome.artifacts.iter().enumerate() {
            let m = &a.manifest;
            let path = a.output.display().to_string();
            zipped += m.artifact.size;
            unzipped += m.artifact.unzipped_size;
            layers += m.layers.iter().map(|l| l.unzipped_size).sum::<u64>();
            if i == 0 {
                outputs.push(("artifact".into(), path.clone()));
                outputs.push(("manifest".into(), a.manifest_file.display().to_string()));
                outputs.push(("sha256".into(), m.artifact.sha256.clone()));
            }
            let own = UNZIPPED_LIMIT as i64
                - (m.artifact.unzipped_size + m.layers.iter().map(|l| l.unzipped_size).sum::<u64>())
                    as i64;
            let _ = writeln!(
                md,
                "| `{path}` | {} | {} {} | {} | {} | {} | `{}` |",
                kind(m),
                m.target.runtime,
                m.target.arch,
                human_size(m.artifact.size),
                human_size(m.artifact.unzipped_size),
                signed_size(own),
                short(&m.artifact.sha256)
            );
            paths.push(path);
        }
    }
    outputs.push(("artifacts".into(), paths.join("\n")));
    outputs.push(("zipped_bytes".into(), zipped.to_string()));
    outputs.push(("unzipped_bytes".into(), unzipped.to_string()));
    if outcome.image.is_none() {
        let headroom = UNZIPPED_LIMIT as i64 - (unzipped + layers) as i64;
        outputs.push(("headroom_bytes".into(), headroom.to_string()));
    }
}

/// The first 12 characters of a digest (manifests are files a user may have edited).
fn short(digest: &str) -> String {
    digest.chars().take(12).collect()
}

fn kind(m: &ArtifactManifest) -> &'static str {
    match m.kind {
        crate::artifact::ArtifactKind::FunctionZip => "function zip",
        crate::artifact::ArtifactKind::LayerZip => "layer",
        crate::artifact::ArtifactKind::Image => "image",
    }
}

fn signed_size(v: i64) -> String {
    if v < 0 {
        format!("-{}", human_size(v.unsigned_abs()))
    } else {
        human_size(v as u64)
    }
}

/// `lpack size-report` (and `--diff`, with `diff` and the old report).
pub fn size_report(
    r: &SizeReport,
    manifests: &[ArtifactManifest],
    failures: &[GateFailure],
    gates: &Gates,
    diff: Option<&DiffReport>,
) -> CiReport {
    let loc = Locator::new(manifests.first());
    let mut checks = Vec::new();
    gate_checks(r, failures, gates, &loc, &mut checks);
    let passed = failures.is_empty();
    let zipped: u64 = r.artifacts.iter().map(|a| a.zipped).sum();
    let unzipped: u64 = r.artifacts.iter().map(|a| a.unzipped).sum();
    let mut outputs = vec![
        ("status".to_string(), status_word(passed).to_string()),
        (
            "artifacts".into(),
            r.artifacts
                .iter()
                .map(|a| a.file.clone())
                .collect::<Vec<_>>()
                .join("\n"),
        ),
        ("zipped_bytes".into(), zipped.to_string()),
        ("unzipped_bytes".into(), unzipped.to_string()),
    ];
    if let Some(l) = r.limits.iter().find(|l| l.name == "unzipped") {
        outputs.push(("headroom_bytes".into(), l.headroom.to_string()));
    }
    let mut md = format!("### lpack size-report: {}\n\n", status_word(passed));
    if let Some(d) = diff {
        outputs.push((
            "delta_unzipped_bytes".into(),
            d.total.delta_after.to_string(),
        ));
        outputs.push((
            "delta_zipped_bytes".into(),
            d.total.delta_zipped.to_string(),
        ));
        md.push_str(&crate::report::render::diff_table(d, true));
    } else {
        md.push_str(&crate::report::render::markdown(r, Some(15)));
    }
    md.push('\n');
    if !checks.is_empty() {
        md.push_str(&checks_markdown(&checks));
        md.push('\n');
    }
    CiReport {
        command: "lpack size-report".into(),
        summary: md,
        outputs,
        checks,
    }
}

/// `lpack audit`.
pub fn audit(
    artifact: &str,
    manifest: Option<&ArtifactManifest>,
    elf_files: usize,
    findings: &[crate::slim::audit::Finding],
) -> CiReport {
    use crate::slim::audit::Severity;
    let loc = Locator::new(manifest);
    let mut checks = Vec::new();
    for f in findings {
        let at = loc.owner(&f.path).and_then(|p| loc.package(p));
        let name = format!("{} {}", f.code, f.path);
        checks.push(
            if f.severity == Severity::Error {
                Check::failed("audit", name, &f.message)
            } else {
                Check::warning("audit", name, &f.message)
            }
            .at_opt(at),
        );
    }
    let errors = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    if errors == 0 {
        checks.push(Check::passed("audit", "abi"));
    }
    let passed = errors == 0;
    let mut outputs = vec![
        ("status".to_string(), status_word(passed).to_string()),
        ("artifact".into(), artifact.to_string()),
    ];
    if let Some(m) = manifest {
        outputs.push(("sha256".into(), m.artifact.sha256.clone()));
    }
    outputs.push(("errors".into(), errors.to_string()));
    outputs.push(("warnings".into(), (findings.len() - errors).to_string()));
    let mut md = format!(
        "### lpack audit: {}\n\n`{artifact}`: {elf_files} ELF file(s), {errors} error(s), {} warning(s)\n\n",
        status_word(passed),
        findings.len() - errors
    );
    md.push_str(&checks_markdown(&checks));
    md.push('\n');
    CiReport {
        command: "lpack audit".into(),
        summary: md,
        outputs,
        checks,
    }
}

/// `lpack verify` (plain or `--deep`).
pub fn verify(
    artifact: &str,
    manifest: &ArtifactManifest,
    plain: Option<&crate::verify::VerifyReport>,
    deep: Option<&crate::verify::deep::DeepReport>,
) -> CiReport {
    let loc = Locator::new(Some(manifest));
    let mut checks = Vec::new();
    let mut headline = String::new();
    if let Some(r) = plain {
        verify_checks(r, &loc, &mut checks);
        headline = format!("{} import check(s) with {}", r.imports.len(), r.python);
    }
    if let Some(d) = deep {
        for r in &d.regressions {
            let mut msg = r.error.clone();
            culprits(&mut msg, &r.culprits);
            checks.push(
                Check::failed("verify", format!("regression {}", r.module), msg)
                    .at_opt(loc.package(&r.dist)),
            );
        }
        if d.regressions.is_empty() {
            checks.push(Check::passed("verify", "no-regressions"));
        }
        headline = format!(
            "deep: {} module(s), {} ok, {} regression(s), {} pre-existing failure(s), with {}",
            d.modules,
            d.ok,
            d.regressions.len(),
            d.pre_existing.len(),
            d.python
        );
    }
    let failures = checks.iter().filter(|c| c.status == Status::Failed).count();
    let passed = failures == 0;
    let outputs = vec![
        ("status".to_string(), status_word(passed).to_string()),
        ("artifact".into(), artifact.to_string()),
        ("sha256".into(), manifest.artifact.sha256.clone()),
        ("failures".into(), failures.to_string()),
    ];
    let mut md = format!(
        "### lpack verify: {}\n\n`{artifact}`: {headline}\n\n",
        status_word(passed)
    );
    md.push_str(&checks_markdown(&checks));
    md.push('\n');
    CiReport {
        command: "lpack verify".into(),
        summary: md,
        outputs,
        checks,
    }
}

/// `lpack bench`: its `summary.md`, the gate results and where the outputs are.
pub fn bench(
    out: &std::path::Path,
    summary_md: &str,
    errors: usize,
    failures: &[String],
) -> CiReport {
    let mut checks: Vec<Check> = failures
        .iter()
        .map(|f| Check::failed("bench", f.split(':').next().unwrap_or("gate").trim(), f))
        .collect();
    if errors > 0 {
        checks.push(Check::failed(
            "bench",
            "invocations",
            format!("{errors} invocation(s) failed"),
        ));
    }
    let passed = checks.is_empty();
    let outputs = vec![
        ("status".to_string(), status_word(passed).to_string()),
        (
            "summary_json".into(),
            out.join("summary.json").display().to_string(),
        ),
        (
            "report_html".into(),
            out.join("report.html").display().to_string(),
        ),
        ("errors".into(), errors.to_string()),
    ];
    let mut md = format!("### lpack bench: {}\n\n{summary_md}\n", status_word(passed));
    if !checks.is_empty() {
        md.push_str(&checks_markdown(&checks));
        md.push('\n');
    }
    CiReport {
        command: "lpack bench".into(),
        summary: md,
        outputs,
        checks,
    }
}

/// A command that failed with an error (exit 2): `status=error`, the message in the summary and
/// as one annotation on the input file.
pub fn error(command: &str, message: &str, input: Option<&std::path::Path>) -> CiReport {
    let at = input.map(|p| super::Location {
        file: super::repo_path(p),
        line: None,
    });
    let check = Check::failed("error", command.trim_start_matches("lpack "), message).at_opt(at);
    CiReport {
        command: command.to_string(),
        summary: format!(
            "### {command}: error\n\n```text\n{}\n```\n\n",
            message.trim_end()
        ),
        outputs: vec![("status".into(), "error".into())],
        checks: vec![check],
    }
}

/// One unit (a function or layer of a config) of a many-unit build.
pub struct UnitCi<'a> {
    pub name: &'a str,
    /// `function` or `layer`.
    pub kind: &'a str,
    /// The build's outcome with its gates and whether Lambda's limit was checked; or why it
    /// failed or was not built.
    pub result: Result<(&'a BuildOutcome, &'a Gates, bool), String>,
}

/// An output name for a unit: GitHub allows letters, digits, `_` and `-`.
fn output_prefix(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `lpack build` of a config's functions and layers: one section per unit, the unit's outputs
/// prefixed with its name (`ingest_sha256`, …), `status` and `artifacts` for the whole run, and
/// every unit's checks named after it.
pub fn units(units: &[UnitCi<'_>]) -> CiReport {
    let mut checks = Vec::new();
    let mut outputs = Vec::new();
    let mut sections = String::new();
    let mut artifacts = Vec::new();
    let (mut error, mut failed) = (false, false);
    for u in units {
        let prefix = output_prefix(u.name);
        let _ = writeln!(sections, "#### {} ({})\n", u.name, u.kind);
        match &u.result {
            Ok((outcome, gates, limit_check)) => {
                let one = build(outcome, gates, *limit_check);
                failed |= !outcome.passed();
                for (k, v) in one.outputs {
                    if k == "artifacts" {
                        artifacts.extend(v.lines().map(str::to_string));
                    }
                    outputs.push((format!("{prefix}_{k}"), v));
                }
                // The unit's own summary without its heading.
                let body = one
                    .summary
                    .split_once("\n\n")
                    .map(|(_, b)| b.to_string())
                    .unwrap_or_default();
                sections.push_str(&body);
                checks.extend(one.checks.into_iter().map(|mut c| {
                    c.name = format!("{} {}", u.name, c.name);
                    c
                }));
            }
            Err(why) => {
                error = true;
                outputs.push((format!("{prefix}_status"), "error".to_string()));
                let _ = writeln!(sections, "```text\n{}\n```\n", why.trim_end());
                checks.push(Check::failed("error", u.name, why.as_str()));
            }
        }
    }
    let status = if error { "error" } else { status_word(!failed) };
    let mut all = vec![
        ("status".to_string(), status.to_string()),
        ("artifacts".to_string(), artifacts.join("\n")),
    ];
    all.extend(outputs);
    CiReport {
        command: "lpack build".into(),
        summary: format!("### lpack build: {status}\n\n{sections}"),
        outputs: all,
        checks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bench_gate_failures_become_checks_and_outputs() {
        let r = bench(
            std::path::Path::new("results"),
            "| deployment |\n",
            2,
            &["a-zip @ 1024 MB: Init Duration p50 900.0 ms > --max-init-p50 500 ms".to_string()],
        );
        assert_eq!(r.outputs[0], ("status".to_string(), "failed".to_string()));
        assert_eq!(
            r.outputs[1],
            (
                "summary_json".to_string(),
                "results/summary.json".to_string()
            )
        );
        assert_eq!(r.checks.len(), 2);
        assert_eq!(r.checks[0].name, "a-zip @ 1024 MB");
        assert!(
            r.summary
                .starts_with("### lpack bench: failed\n\n| deployment |")
        );
        let xml = super::super::junit::render(&r.command, &r.checks);
        assert!(xml.contains("failures=\"2\""), "{xml}");
    }

    #[test]
    fn an_error_is_status_error_with_one_annotation() {
        let r = error(
            "lpack build",
            "no wheel fits\n  hint: pin an older numpy",
            None,
        );
        assert_eq!(r.outputs, [("status".to_string(), "error".to_string())]);
        assert_eq!(
            r.annotations(),
            ["::error title=lpack error%3A build::no wheel fits%0A  hint: pin an older numpy"]
        );
        assert!(
            r.summary
                .contains("```text\nno wheel fits\n  hint: pin an older numpy\n```")
        );
    }
}
