//! `lpack explain PATH -r LOCK`: settings → [`crate::pipeline::explain::explain`] → which rule
//! keeps, strips or drops the path, and why, for people.

use super::{ExplainArgs, Outcome};
use crate::pipeline::explain::{Decision, ExplainRequest, explain};
use crate::slim::recipe::Action;
use crate::target::{Arch, Runtime, Target};

/// The config keys `explain` shares with `build` besides [`super::settings::SOURCE_KEYS`].
const KEYS: &[&str] = &[
    "requirements",
    "extra",
    "group",
    "prerelease",
    "runtime",
    "arch",
    "profile",
    "recipe",
    "keep",
    "drop",
    "force-drop",
    "bytecode",
    "python",
    "bytecode-for-imports",
];

pub fn run(_parsed: ExplainArgs, inv: &super::Invocation) -> anyhow::Result<Outcome> {
    // Parsed again with the config's and LPACK_* settings layered under the flags.
    let args: ExplainArgs = super::settings::layer_command(inv, "explain", KEYS)?;
    let runtime: Runtime = args.runtime.parse()?;
    let arch: Arch = args.arch.parse()?;
    let explained = explain(&ExplainRequest {
        path: args.path.clone(),
        requirements: args.requirements.clone(),
        extras: args.extra.clone(),
        groups: args.group.clone(),
        prerelease: args.prerelease,
        target: Target::new(runtime, arch),
        slim: (&args.slim).into(),
        cache_dir: args.net.cache_dir.clone(),
        offline: args.net.offline,
        index: super::remote::index_settings(&args.index)?,
    })?;
    let found = &explained.explanations;
    for e in found {
        println!("{}  (from {}, {} bytes)", e.installed, e.wheel, e.size);
        match &e.decision {
            Decision::Builtin { rule } => println!("  dropped by built-in rule {rule}"),
            Decision::Imported { importer, rule } => {
                println!(
                    "  kept: {} — imported by {importer} (kept code); rule {} ({}) wanted it dropped: {}",
                    crate::slim::guard::RULE,
                    rule.id,
                    rule.origin,
                    rule.reason
                );
                println!(
                    "  hint: a module that kept code imports is never dropped; --force-drop GLOB drops it anyway"
                );
            }
            Decision::Recipes {
                action,
                rule,
                strip,
                optional,
                also,
            } => {
                if let Some(site) = optional {
                    println!(
                        "  optional: every import of this extension module is guarded (e.g. {site}); the audit reports what it needs as warnings"
                    );
                }
                let verb = match action {
                    Action::Drop => "dropped",
                    Action::Keep => "kept",
                    Action::Strip => "kept and stripped",
                    Action::Omit => "omitted",
                };
                match rule {
                    Some(r) => println!("  {verb}: rule {} ({}) — {}", r.id, r.origin, r.reason),
                    None => println!("  {verb}: no keep/drop rule matches (kept by default)"),
                }
                if let Some(s) = strip {
                    println!("  strip rule: {s}");
                }
                if !also.is_empty() {
                    println!("  also matched, lower precedence: {}", also.join(", "));
                }
            }
        }
    }
    if found.is_empty() {
        println!(
            "{}: no wheel of {} installs this path",
            args.path.trim_start_matches("./").trim_end_matches('/'),
            explained.input.display()
        );
        return Ok(Outcome::GateFailed);
    }
    Ok(Outcome::Ok)
}
