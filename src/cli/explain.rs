//! `lpack explain PATH -r LOCK`: which rule keeps, strips or drops a path, and why.

use super::{ExplainArgs, Outcome};
use crate::fetch::fetch;
use crate::progress::Silent;
use crate::requirements::read_pinned;
use crate::resolve::resolve_pinned;
use crate::slim::recipe::{Action, Tier};
use crate::slim::{Verdict, plan_entry};
use crate::target::{Arch, Runtime, Target};
use crate::wheel::Wheel;

/// The config keys `explain` shares with `build`.
const KEYS: &[&str] = &[
    "requirements",
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
    "index-url",
    "extra-index-url",
    "find-links",
    "no-index",
    "cache-dir",
    "offline",
];

pub fn run(_parsed: ExplainArgs, inv: &super::Invocation) -> anyhow::Result<Outcome> {
    // Parsed again with the config's and LPACK_* settings layered under the flags.
    let args: ExplainArgs = super::settings::layer_command(inv, "explain", KEYS)?;
    let requirements = match &args.requirements {
        Some(r) => r.clone(),
        None => crate::resolve::inputs::find_input(&std::env::current_dir()?)?,
    };
    let runtime: Runtime = args.runtime.parse()?;
    let arch: Arch = args.arch.parse()?;
    let target = Target::new(runtime, arch);
    let recipes = crate::build::slimming::load_recipes(&(&args.slim).into())?;
    let pinned = read_pinned(&requirements, &target)?;
    let super::Sources {
        cache,
        http,
        client,
    } = super::sources(
        args.net.cache_dir.as_deref(),
        args.net.offline,
        &args.index,
        &pinned.index,
    )?;
    let lock = resolve_pinned(&pinned, &target, &client, &Silent)?;
    let (wheels, _) = fetch(&lock, &cache, http.as_ref(), args.net.offline, &Silent)?;
    let guard = crate::slim::guard::guard(&wheels, &target, &recipes, &cache)?;
    let wanted = args.path.trim_start_matches("./").trim_end_matches('/');
    let mut found = false;
    for w in &wheels {
        let wheel = Wheel::open(&w.path, &w.locked.filename)?;
        let data_dir = wheel
            .dist_info_dir()
            .map(|d| d.trim_end_matches(".dist-info").to_string() + ".data");
        for e in &wheel.entries {
            let verdict = plan_entry(&e.path, data_dir.as_deref(), &target);
            let installed = match &verdict {
                Verdict::Keep(p) => p.as_str().to_string(),
                Verdict::Drop { .. } => e.path.as_str().to_string(),
            };
            if installed != wanted && e.path.as_str() != wanted {
                continue;
            }
            found = true;
            println!(
                "{installed}  (from {}, {} bytes)",
                w.locked.filename, e.size
            );
            if let Verdict::Drop { rule } = verdict {
                println!("  dropped by built-in rule {rule}");
                continue;
            }
            let d = recipes.decide(&w.locked.name, &installed);
            if let Some(why) = guard
                .rescued
                .get(&w.locked.name)
                .and_then(|r| r.get(&installed))
            {
                let r = recipes.rule(&why.rule);
                println!(
                    "  kept: {} — imported by {} (kept code); rule {} ({}) wanted it dropped: {}",
                    crate::slim::guard::RULE,
                    why.importer,
                    why.rule,
                    r.map(|r| r.origin.as_str()).unwrap_or(""),
                    r.map(|r| r.reason.as_str()).unwrap_or("")
                );
                println!(
                    "  hint: a module that kept code imports is never dropped; --force-drop GLOB drops it anyway"
                );
                continue;
            }
            if let Some(site) = guard
                .optional
                .get(&w.locked.name)
                .and_then(|o| o.get(&installed))
            {
                println!(
                    "  optional: every import of this extension module is guarded (e.g. {site}); the audit reports what it needs as warnings"
                );
            }
            let verb = match d.action {
                Action::Drop => "dropped",
                Action::Keep => "kept",
                Action::Strip => "kept and stripped",
                Action::Omit => "omitted",
            };
            match &d.rule {
                Some(id) => {
                    let r = recipes.rule(id);
                    println!(
                        "  {verb}: rule {id} ({}) — {}",
                        r.map(|r| r.origin.as_str()).unwrap_or(""),
                        r.map(|r| r.reason.as_str()).unwrap_or("")
                    );
                }
                None => println!("  {verb}: no keep/drop rule matches (kept by default)"),
            }
            if let Some(s) = &d.strip {
                println!("  strip rule: {s}");
            }
            let others: Vec<String> = recipes
                .rules()
                .iter()
                .filter(|r| r.matches(&w.locked.name, &installed))
                .filter(|r| Some(&r.id) != d.rule.as_ref() && Some(&r.id) != d.strip.as_ref())
                .map(|r| {
                    let tier = match r.tier {
                        Tier::Protected => "protected",
                        Tier::UserKeep => "--keep",
                        Tier::UserDrop => "--drop",
                        Tier::UserFile => "--recipe",
                        Tier::Builtin => "built-in",
                    };
                    format!("{} ({:?}, {tier})", r.id, r.action)
                })
                .collect();
            if !others.is_empty() {
                println!("  also matched, lower precedence: {}", others.join(", "));
            }
        }
    }
    if !found {
        println!(
            "{wanted}: no wheel of {} installs this path",
            requirements.display()
        );
        return Ok(Outcome::GateFailed);
    }
    Ok(Outcome::Ok)
}
