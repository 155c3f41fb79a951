//! `lpack audit ARTIFACT`: the target (flags, else the manifest beside the artifact) →
//! [`crate::slim::audit::audit_artifact`] → findings for people or `--json`.

use super::{AuditArgs, Outcome};
use crate::slim::audit::{Severity, audit_artifact_with};
use crate::target::{Arch, Runtime, Target};

pub fn run(args: AuditArgs) -> anyhow::Result<Outcome> {
    // The target: flags win, then the manifest beside the artifact, then the defaults.
    let manifest = crate::artifact::ArtifactManifest::read(&args.artifact).ok();
    let runtime: Runtime = match (&args.runtime, &manifest) {
        (Some(r), _) => r.parse()?,
        (None, Some(m)) => m.target.runtime.parse()?,
        (None, None) => Runtime::Python312,
    };
    let arch: Arch = match (&args.arch, &manifest) {
        (Some(a), _) => a.parse()?,
        (None, Some(m)) => m.target.arch.parse()?,
        (None, None) => Arch::X86_64,
    };
    let target = Target::new(runtime, arch);
    // Libraries of the layers lpack did not build (`--with-layer`), recorded in the manifest.
    let provided: std::collections::BTreeSet<String> = manifest
        .iter()
        .flat_map(|m| m.layers.iter())
        .filter_map(|l| l.external.as_ref())
        .flat_map(|e| e.libraries.iter())
        .filter_map(|p| p.rsplit('/').next())
        .map(str::to_string)
        .collect();
    let result = audit_artifact_with(&args.artifact, &target, &provided)?;
    let (findings, errors) = (&result.findings, result.errors());
    if args.ci.wanted() {
        let name = args.artifact.display().to_string();
        super::ci::results::audit(&name, manifest.as_ref(), result.elf_files, findings)
            .emit(&args.ci)?;
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "target": target.slug(),
                "elf_files": result.elf_files,
                "errors": errors,
                "findings": findings,
            }))?
        );
    } else {
        println!(
            "Audited {} ELF file(s) in {} for {target}",
            result.elf_files,
            args.artifact.display()
        );
        for f in findings {
            println!(
                "  {} {} {}: {}",
                if f.severity == Severity::Error {
                    "error"
                } else {
                    "warning"
                },
                f.code,
                f.path,
                f.message
            );
        }
        if findings.is_empty() {
            println!("  no problems found");
        }
    }
    Ok(if errors > 0 {
        Outcome::GateFailed
    } else {
        Outcome::Ok
    })
}
