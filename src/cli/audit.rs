//! `lpack audit ARTIFACT`: check every ELF file of a zip against a Lambda runtime.

use std::collections::BTreeSet;
use std::io::Read;

use super::{AuditArgs, Outcome};
use crate::slim::audit::{Severity, audit};
use crate::slim::elf_facts;
use crate::target::{Arch, Runtime, Target};
use crate::wheel::open_archive;

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
    let name = args.artifact.display().to_string();
    let mut archive = open_archive(&args.artifact, &name)?;
    let mut bundle = BTreeSet::new();
    let mut elfs = Vec::new();
    let mut files: Vec<(String, Option<String>)> = Vec::new();
    for i in 0..archive.len() {
        let mut f = archive.by_index(i)?;
        let path = String::from_utf8_lossy(f.name_raw()).into_owned();
        if let Some(base) = path.trim_end_matches('/').rsplit('/').next() {
            bundle.insert(base.to_string());
        }
        if path.ends_with(".py") && !f.is_dir() {
            let mut src = Vec::new();
            f.read_to_end(&mut src)?;
            files.push((path, Some(String::from_utf8_lossy(&src).into_owned())));
            continue;
        }
        if !f.is_dir() && (path.ends_with(".so") || path.ends_with(".pyc")) {
            files.push((path.clone(), None));
        }
        if f.is_dir() || f.size() < 64 {
            continue;
        }
        let mut magic = [0u8; 4];
        if f.read_exact(&mut magic).is_err() || &magic != b"\x7fELF" {
            continue;
        }
        let mut data = magic.to_vec();
        f.read_to_end(&mut data)?;
        if let Some(facts) = elf_facts(&path, &data) {
            elfs.push(facts);
        }
    }
    // Extension modules only guarded imports load are optional (warnings, not errors).
    let optional = crate::slim::guard::optional_in(files);
    let findings = audit(&elfs, &bundle, &target, &optional);
    let errors = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    if args.ci.wanted() {
        super::ci::results::audit(&name, manifest.as_ref(), elfs.len(), &findings)
            .emit(&args.ci)?;
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "target": target.slug(),
                "elf_files": elfs.len(),
                "errors": errors,
                "findings": findings,
            }))?
        );
    } else {
        println!(
            "Audited {} ELF file(s) in {} for {target}",
            elfs.len(),
            args.artifact.display()
        );
        for f in &findings {
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
