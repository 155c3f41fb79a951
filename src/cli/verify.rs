//! `lpack verify ARTIFACT`: settings → [`crate::pipeline::check::verify_artifact`] → the import
//! report (or, with `--deep`, the regressions) for people or `--json`.

use super::{Outcome, VerifyArgs};
use crate::pipeline::check::{ArtifactCheck, VerifyArtifactRequest, verify_artifact};
use crate::verify::VerifyReport;

/// The config keys `verify` shares with `build` besides [`super::settings::SOURCE_KEYS`].
const KEYS: &[&str] = &["python"];

pub fn run(_parsed: VerifyArgs, inv: &super::Invocation) -> anyhow::Result<Outcome> {
    // Parsed again with the config's and LPACK_* settings layered under the flags.
    let args: VerifyArgs = super::settings::layer_command(inv, "verify", KEYS)?;
    let check = verify_artifact(
        &VerifyArtifactRequest {
            artifact: args.artifact.clone(),
            python: args.python.clone(),
            deep: args.deep,
            cache_dir: args.net.cache_dir.clone(),
            offline: args.net.offline,
            index: super::remote::index_settings(&args.index)?,
        },
        &super::progress::Bars::new(args.deep && !args.json),
    )?;
    match &check {
        ArtifactCheck::Deep(r) if args.json => println!("{}", serde_json::to_string_pretty(r)?),
        ArtifactCheck::Deep(r) => print_deep(r),
        ArtifactCheck::Imports(r) if args.json => {
            println!("{}", serde_json::to_string_pretty(r)?)
        }
        ArtifactCheck::Imports(r) => print(r, false),
    }
    if args.ci.wanted() {
        // Read again for the lines of its input (the check read it too, but returns only results).
        let manifest = crate::artifact::ArtifactManifest::read(&args.artifact)?;
        let name = args.artifact.display().to_string();
        let report = match &check {
            ArtifactCheck::Deep(r) => super::ci::results::verify(&name, &manifest, None, Some(r)),
            ArtifactCheck::Imports(r) => {
                super::ci::results::verify(&name, &manifest, Some(r), None)
            }
        };
        report.emit(&args.ci)?;
    }
    Ok(if check.ok() {
        Outcome::Ok
    } else {
        Outcome::GateFailed
    })
}

fn print_culprits(culprits: &[crate::verify::attribute::Culprit]) {
    for c in culprits {
        eprintln!("  caused by: {c}");
    }
    if let Some(c) = culprits.first() {
        eprintln!(
            "  hint: `lpack explain {} -r LOCK` shows the rule; keep it with --keep '{}'",
            c.path, c.path
        );
    }
}

/// Human summary of a deep verify.
pub fn print_deep(r: &crate::verify::deep::DeepReport) {
    println!(
        "Deep-verified with {}{}: {} modules; {} import from both the wheels and the artifact, {} regression(s), {} fail from the wheels too (pre-existing)",
        r.python,
        if r.runtime_provided {
            " (runtime-provided packages behind both)"
        } else {
            ""
        },
        r.modules,
        r.ok,
        r.regressions.len(),
        r.pre_existing.len()
    );
    for g in &r.regressions {
        eprintln!(
            "regression: `import {}` ({}) works from the wheels but not from the artifact: {}",
            g.module, g.dist, g.error
        );
        if g.culprits.is_empty() {
            eprintln!("  no dropped file matches the error; a stripped library may be the cause");
        }
        print_culprits(&g.culprits);
    }
}

/// Human summary of a verify report. `quiet` (after a build, whose summary shows the status
/// and whose manifest warnings already name pre-existing failures and handler warnings): only
/// what fails.
pub fn print(report: &VerifyReport, quiet: bool) {
    let failed: Vec<_> = report.imports.iter().filter(|i| i.failed()).collect();
    let meta_failed: Vec<_> = report.metadata.iter().filter(|m| !m.ok).collect();
    if !quiet {
        let pre = report.pre_existing().count();
        println!(
            "Verified with {}{}: {} of {} top-level modules import{}, {} of {} distributions have metadata",
            report.python,
            if report.runtime_provided {
                " (runtime-provided packages behind the artifact)"
            } else {
                ""
            },
            report.imports.iter().filter(|i| i.ok).count(),
            report.imports.len(),
            if pre > 0 {
                format!(" ({pre} fail from the unmodified wheels too)")
            } else {
                String::new()
            },
            report.metadata.len() - meta_failed.len(),
            report.metadata.len()
        );
        if let Some(h) = report.handler.as_ref().filter(|h| h.status == "ok") {
            println!("Handler {} loads as Lambda's runtime imports it", h.handler);
        }
        for i in report.pre_existing() {
            eprintln!("warning: {}", i.pre_existing.as_deref().unwrap_or(""));
        }
        if let Some(h) = report.handler.as_ref().filter(|h| h.status == "warning") {
            eprintln!("warning: {}", crate::verify::handler::describe(h));
        }
    }
    for n in &report.notes {
        eprintln!("verify: {n}");
    }
    for f in failed {
        eprintln!(
            "verify: `import {}` ({}) failed: {}",
            f.module,
            f.dist,
            f.error.as_deref().unwrap_or("")
        );
        print_culprits(&f.culprits);
    }
    for m in meta_failed {
        eprintln!(
            "verify: importlib.metadata.version({:?}) failed: {}",
            m.dist,
            m.error.as_deref().unwrap_or("")
        );
    }
    if let Some(h) = report.handler.as_ref().filter(|h| h.failed()) {
        eprintln!(
            "verify: the handler {} would fail Lambda's init:\n  [ERROR] {}: {}",
            h.handler,
            h.error_type.as_deref().unwrap_or(""),
            h.message.as_deref().unwrap_or("")
        );
        if let Some(at) = crate::verify::handler::location(h) {
            match &h.text {
                Some(t) => eprintln!("  at {at}: {t}"),
                None => eprintln!("  at {at}"),
            }
        }
        for c in &h.caused_by {
            eprintln!("  caused by: {c}");
        }
        if let Some(hint) = &h.hint {
            eprintln!("  hint: {hint}");
        }
    }
}
