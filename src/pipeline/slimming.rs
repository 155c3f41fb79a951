//! The slim and audit steps of a build: the recipe set, the bytecode plan, slimming within
//! the size budget (narrowing or dropping bytecode rather than going over it) and the ABI audit.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::error::BuildError;
use super::request::{BuildRequest, OutputFormat, SlimRequest};
use crate::digest::sha256_hex;
use crate::fetch::FetchedWheel;
use crate::progress::Reporter;
use crate::sink::Epoch;
use crate::slim::audit::{Finding, Severity, audit};
use crate::slim::bytecode::{BytecodeMode, BytecodePlan, find_python};
use crate::slim::recipe::RecipeSet;
use crate::slim::trace::TraceRoots;
use crate::slim::{SlimSettings, SlimmedWheel, slim};
use crate::sources::Sources;
use crate::target::Target;
use crate::target::UNZIPPED_LIMIT;

/// Load the effective recipe set for `target`.
pub fn load_recipes(s: &SlimRequest, target: &Target) -> Result<RecipeSet, BuildError> {
    let files: Vec<&Path> = s.recipes.iter().map(PathBuf::as_path).collect();
    let mut set = RecipeSet::load(s.profile, &files, &s.keep, &s.drop)?;
    set.add_force_drops(&s.force_drop)?;
    set.set_target(target);
    Ok(set)
}

/// The digest of the recipe set [`load_recipes`] gives (what a content key needs), remembered
/// per process by everything that decides it: the profile, the command-line globs, the target
/// and each recipe file's bytes. A run over many functions asks once per function.
pub fn recipes_digest(s: &SlimRequest, target: &Target) -> Result<String, BuildError> {
    static SEEN: std::sync::Mutex<Vec<(String, String)>> = std::sync::Mutex::new(Vec::new());
    let mut key = format!(
        "{:?}|{:?}|{:?}|{:?}|{target}",
        s.profile, s.keep, s.drop, s.force_drop
    );
    for f in &s.recipes {
        match std::fs::read(f) {
            Ok(bytes) => key.push_str(&format!("|{}:{}", f.display(), sha256_hex(&bytes))),
            // Loading reports the file that cannot be read.
            Err(_) => return Ok(load_recipes(s, target)?.digest),
        }
    }
    let known = SEEN
        .lock()
        .ok()
        .and_then(|seen| seen.iter().find(|(k, _)| *k == key).map(|(_, d)| d.clone()));
    if let Some(d) = known {
        return Ok(d);
    }
    let digest = load_recipes(s, target)?.digest;
    if let Ok(mut seen) = SEEN.lock() {
        seen.push((key, digest.clone()));
    }
    Ok(digest)
}

/// Decide the bytecode plan: explicit mode needs an interpreter; the default compiles when one
/// of the target version is found and otherwise warns what that costs.
pub fn bytecode_plan(
    s: &SlimRequest,
    target: &Target,
    warnings: &mut Vec<String>,
) -> Result<BytecodePlan, BuildError> {
    bytecode_plan_in(s, target, warnings, None)
}

/// [`bytecode_plan`], the interpreter's version remembered in `cache` (no Python starts when
/// the interpreter did not change).
pub fn bytecode_plan_in(
    s: &SlimRequest,
    target: &Target,
    warnings: &mut Vec<String>,
    cache: Option<&crate::cache::Cache>,
) -> Result<BytecodePlan, BuildError> {
    let plan = |mode, py: &Path| match cache {
        Some(c) => BytecodePlan::new_cached(mode, py, target, c),
        None => BytecodePlan::new(mode, py, target),
    };
    let python = s
        .python
        .clone()
        .or_else(|| find_python(target.runtime.minor()));
    match (s.bytecode, python) {
        (Some(BytecodeMode::None), _) => Ok(BytecodePlan::none()),
        (Some(mode), Some(py)) => Ok(plan(mode, &py)?),
        (None, Some(py)) => Ok(plan(BytecodeMode::Compile, &py)?),
        (Some(_), None) => Err(BuildError::Request(format!(
            "--bytecode needs a Python {} interpreter and none was found on PATH or in pyenv\n  hint: install python3.{} or pass --python PATH",
            target.python_version(),
            target.runtime.minor()
        ))),
        (None, None) => {
            warnings.push(format!(
                "no python3.{} found: shipping without bytecode, so every cold start compiles what it imports (typically 2-3x slower imports); install python3.{} or pass --python",
                target.runtime.minor(),
                target.runtime.minor()
            ));
            Ok(BytecodePlan::none())
        }
    }
}

/// The cache's record directory for import traces (`.py` files by distribution).
const TRACES: &str = "trace-v1";

/// What slimming a build needs.
pub struct SlimJob<'a> {
    pub req: &'a BuildRequest,
    pub wheels: &'a [FetchedWheel],
    pub recipes: &'a RecipeSet,
    pub epoch: Epoch,
    pub sources: &'a Sources,
    pub reporter: &'a dyn Reporter,
    pub src_digests: &'a [(String, String)],
    /// The handler files of `src`.
    pub src: &'a [crate::srctree::SrcFile],
}

impl SlimJob<'_> {
    fn slim(&self, plan: &BytecodePlan) -> Result<Vec<SlimmedWheel>, BuildError> {
        // Rule hits are counted per pass; the last pass is the build's.
        self.recipes.reset_hits();
        Ok(slim(
            self.wheels,
            &self.req.target,
            &SlimSettings {
                recipes: self.recipes,
                bytecode: plan,
                epoch: self.epoch,
            },
            &self.sources.cache,
            self.reporter,
        )?)
    }

    /// Which modules importing `roots` loads, traced on `bare` (fragments without bytecode) and
    /// cached under the fragments, the handler code, the roots and the interpreter.
    fn trace(
        &self,
        bare: &[SlimmedWheel],
        roots: TraceRoots<'_>,
        plan: &BytecodePlan,
    ) -> Result<BTreeMap<String, BTreeSet<String>>, BuildError> {
        let what = match roots {
            TraceRoots::Handler(h) => h.to_string(),
            TraceRoots::TopLevel => "<top-level>".to_string(),
        };
        let key = sha256_hex(
            format!(
                "{:?}|{:?}|{what}|{}",
                bare.iter().map(|s| &s.fragment).collect::<Vec<_>>(),
                self.src_digests,
                plan.python_version
            )
            .as_bytes(),
        );
        let cache = &self.sources.cache;
        if let Some(subset) = cache
            .read_record(TRACES, &key)
            .and_then(|b| serde_json::from_slice(&b).ok())
        {
            return Ok(subset);
        }
        let mut behind = Vec::new();
        if let Some(python) = &plan.python
            && bare.iter().any(|s| {
                s.meta
                    .records
                    .iter()
                    .any(|r| r.rule.as_deref() == Some("runtime-provided"))
            })
        {
            // The cached runtime directory verify and bench use.
            let tools = crate::verify::Tools {
                target: &self.req.target,
                python,
                cache,
                client: &self.sources.client,
                http: self.sources.http.as_ref(),
                reporter: self.reporter,
            };
            behind.push(crate::verify::runtime_dir(&tools, false)?);
        }
        let src = match roots {
            TraceRoots::Handler(_) => self.src,
            TraceRoots::TopLevel => &[],
        };
        let subset = crate::slim::trace::imported_files(bare, src, roots, plan, &behind)?;
        cache.write_record(
            TRACES,
            &key,
            &serde_json::to_vec(&subset).unwrap_or_default(),
        )?;
        Ok(subset)
    }

    /// The budget bytecode must fit in: Lambda's unzipped limit for zips and layers (unless
    /// the limit check is off) and the `max_unzipped` gate.
    fn budget(&self) -> Option<u64> {
        let lambda = (self.req.format != OutputFormat::Image && self.req.limit_check)
            .then_some(UNZIPPED_LIMIT);
        match (lambda, self.req.gates.max_unzipped) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// Unzipped bytes of the slimmed wheels plus the handler code.
fn unzipped(slimmed: &[SlimmedWheel], src: &[crate::srctree::SrcFile]) -> u64 {
    let wheels: u64 = slimmed
        .iter()
        .flat_map(|s| &s.entries)
        .map(|e| e.size)
        .sum();
    wheels + src.iter().map(|f| f.size).sum::<u64>()
}

/// The slimmed wheels, the bytecode plan they were compiled with and, when bytecode was
/// narrowed or left out to fit the budget, why.
pub struct Slimmed {
    pub wheels: Vec<SlimmedWheel>,
    pub plan: BytecodePlan,
    pub note: Option<String>,
}

/// Slim with bytecode, but never let bytecode push the build over its budget: compile every
/// module (or what the handler imports, with `bytecode_for_imports`); when that does not fit,
/// only what importing each distribution's top-level packages loads; then nothing.
pub fn slim_within_budget(
    job: &SlimJob<'_>,
    mut plan: BytecodePlan,
) -> Result<Slimmed, BuildError> {
    let done = |wheels, plan, note| Ok(Slimmed { wheels, plan, note });
    let none = BytecodePlan {
        mode: BytecodeMode::None,
        subset: None,
        ..plan.clone()
    };
    let handler = job
        .req
        .slim
        .bytecode_for_imports
        .as_deref()
        .filter(|_| plan.mode != BytecodeMode::None);
    let slimmed = match handler {
        Some(handler) => {
            // Slim without bytecode, trace the import on that, then compile what it loaded.
            let bare = job.slim(&none)?;
            plan.subset = Some(job.trace(&bare, TraceRoots::Handler(handler), &plan)?);
            job.slim(&plan)?
        }
        None => job.slim(&plan)?,
    };
    let size = |s: &[SlimmedWheel]| unzipped(s, job.src);
    let Some(budget) = job.budget() else {
        return done(slimmed, plan, None);
    };
    let full = size(&slimmed);
    if plan.mode == BytecodeMode::None || full <= budget {
        return done(slimmed, plan, None);
    }
    let mb = crate::report::render::mb;
    let what = if plan.subset.is_some() {
        "the handler's imports"
    } else {
        "every module"
    };
    let bare = job.slim(&none)?;
    if plan.subset.is_none() {
        let narrowed = BytecodePlan {
            subset: Some(job.trace(&bare, TraceRoots::TopLevel, &plan)?),
            ..plan.clone()
        };
        let slimmed = job.slim(&narrowed)?;
        let n = size(&slimmed);
        if n <= budget {
            return done(
                slimmed,
                narrowed,
                Some(format!(
                    "compiled only what importing each distribution's top-level packages loads ({}): compiling every module would make {} unzipped, over the {} budget",
                    mb(n),
                    mb(full),
                    mb(budget)
                )),
            );
        }
    }
    let note = format!(
        "none: compiling {what} would make {} unzipped, over the {} budget; without bytecode it is {} (cold starts compile what they import)",
        mb(full),
        mb(budget),
        mb(size(&bare))
    );
    done(bare, none, Some(note))
}

/// Audit every ELF file of the slimmed wheels against the target: errors fail the build
/// (unless the request says otherwise, then they are warnings, like the audit's warnings).
pub fn audit_gate(
    req: &BuildRequest,
    slimmed: &[SlimmedWheel],
    src: &[crate::srctree::SrcFile],
    provided: &BTreeSet<String>,
    warnings: &mut Vec<String>,
) -> Result<Vec<Finding>, BuildError> {
    let mut findings = audit_bundle(slimmed, src, provided, &req.target);
    let by_user = blame_user_drops(&mut findings, slimmed, &req.slim);
    let errors: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .collect();
    if !errors.is_empty() && req.audit_fails {
        let hint = if by_user.is_empty() {
            "hint: fix the pins (or the runtime), or build anyway with --no-audit".to_string()
        } else {
            format!(
                "hint: your own {} removed what these files need (--drop / --force-drop, or `drop` / `force-drop` in the config): a --keep GLOB naming the library keeps it (--keep beats --drop); or, if nothing you run imports the files that need it, drop those too (--force-drop drops even what imports would keep); --no-audit builds anyway",
                by_user.into_iter().collect::<Vec<_>>().join(", ")
            )
        };
        return Err(BuildError::Audit(format!(
            "ABI audit: {} problem(s) would break imports on {}:\n{}\n  {hint}",
            errors.len(),
            req.target,
            errors
                .iter()
                .take(20)
                .map(|f| format!("    {} {}: {}", f.code, f.path, f.message))
                .collect::<Vec<_>>()
                .join("\n")
        )));
    }
    for f in &findings {
        if f.severity == Severity::Warning || !req.audit_fails {
            warnings.push(format!("audit {} {}: {}", f.code, f.path, f.message));
        }
    }
    Ok(findings)
}

/// A missing library (A003) that one of the user's own rules (`--drop`, `--force-drop`: ids
/// `cli.*`, recorded with every dropped file) removed: say so in the finding, instead of blaming
/// the wheels. Returns the rules that did, as the user wrote them.
fn blame_user_drops(
    findings: &mut [Finding],
    slimmed: &[SlimmedWheel],
    slim: &SlimRequest,
) -> BTreeSet<String> {
    let written = |rule: &str| -> Option<String> {
        let nth = |prefix: &str, globs: &[String]| {
            let n: usize = rule.strip_prefix(prefix)?.parse().ok()?;
            globs.get(n.checked_sub(1)?).cloned()
        };
        if let Some(g) = nth(crate::slim::recipe::FORCE_DROP, &slim.force_drop) {
            return Some(format!("force-drop rule '{g}'"));
        }
        nth("cli.drop-", &slim.drop).map(|g| format!("drop rule '{g}'"))
    };
    // Base name → (the rule as written, the dropped path).
    let mut dropped: BTreeMap<String, (String, String)> = BTreeMap::new();
    for s in slimmed {
        for r in &s.meta.records {
            if r.action != crate::artifact::Action::Drop {
                continue;
            }
            let Some(rule) = r.rule.as_deref().and_then(written) else {
                continue;
            };
            if let Some(base) = r.path.rsplit('/').next() {
                dropped.insert(base.to_string(), (rule, r.path.clone()));
            }
        }
    }
    let mut rules = BTreeSet::new();
    for f in findings.iter_mut().filter(|f| f.code == "A003") {
        let Some((base, (rule, path))) = dropped
            .iter()
            .find(|(base, _)| f.message.starts_with(&format!("needs {base},")))
        else {
            continue;
        };
        f.message = format!(
            "needs {base}, which your {rule} removed ({path}): keep it with --keep '{path}' (or `keep` in the config), or drop this file too"
        );
        rules.insert(rule.clone());
    }
    rules
}

/// Every ELF file of the slimmed wheels, audited against the target.
fn audit_bundle(
    slimmed: &[SlimmedWheel],
    src: &[crate::srctree::SrcFile],
    provided: &BTreeSet<String>,
    target: &Target,
) -> Vec<Finding> {
    // Libraries of external layers (`--with-layer`) sit in /opt, where the loader finds them.
    let mut bundle = provided.clone();
    let mut elfs = Vec::new();
    let mut optional = BTreeMap::new();
    for s in slimmed {
        optional.extend(s.optional.iter().map(|(k, v)| (k.clone(), v.clone())));
        for e in &s.entries {
            if let Some(base) = e.path.as_str().rsplit('/').next() {
                bundle.insert(base.to_string());
            }
        }
        elfs.extend(s.meta.elf.iter().cloned());
    }
    for f in src {
        if let Some(base) = f.path.as_str().rsplit('/').next() {
            bundle.insert(base.to_string());
        }
    }
    audit(&elfs, &bundle, target, &optional)
}
