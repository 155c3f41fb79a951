//! `lpack explain`: which rule keeps, strips or drops one installed path, and why — the verdicts
//! of a build, for one path, as data (the CLI renders them).

use std::path::PathBuf;

use super::error::BuildError;
use super::request::{IndexSettings, SlimRequest};
use crate::cache::Cache;
use crate::fetch::{FetchedWheel, fetch};
use crate::progress::Silent;
use crate::resolve::solver::Prerelease;
use crate::slim::guard::GuardOutcome;
use crate::slim::recipe::{Action, RecipeSet, Tier};
use crate::slim::{Verdict, plan_entry};
use crate::target::Target;
use crate::wheel::Wheel;

/// What to explain.
#[derive(Debug, Clone)]
pub struct ExplainRequest {
    /// The installed path (or the path inside the wheel).
    pub path: String,
    /// Any input `lpack build` takes (loose or pinned requirements, pyproject.toml, uv.lock,
    /// pylock.toml); `None`: the project's own, found in the working directory.
    pub requirements: Option<PathBuf>,
    /// pyproject.toml / uv.lock extras and dependency groups, as `build` takes them.
    pub extras: Vec<String>,
    pub groups: Vec<String>,
    pub prerelease: Prerelease,
    pub target: Target,
    pub slim: SlimRequest,
    pub cache_dir: Option<PathBuf>,
    pub offline: bool,
    pub index: IndexSettings,
}

/// A rule that decided, or also matched.
#[derive(Debug, Clone)]
pub struct RuleRef {
    pub id: String,
    /// The recipe file (or flag) it came from.
    pub origin: String,
    pub reason: String,
}

/// Why a path is kept, stripped or dropped.
#[derive(Debug, Clone)]
pub enum Decision {
    /// Left out before any recipe (e.g. bytecode of other Pythons, console scripts).
    Builtin { rule: String },
    /// Kept because kept code imports it, although `rule` wanted it dropped.
    Imported { importer: String, rule: RuleRef },
    /// The recipes' verdict.
    Recipes {
        action: Action,
        /// `None`: no keep/drop rule matched (kept by default).
        rule: Option<RuleRef>,
        strip: Option<String>,
        /// An extension module only guarded imports load: a guarded import site.
        optional: Option<String>,
        /// Other matching rules of lower precedence: `id (action, tier)`.
        also: Vec<String>,
    },
}

/// One wheel file installing the path.
#[derive(Debug, Clone)]
pub struct Explanation {
    pub installed: String,
    pub wheel: String,
    pub size: u64,
    pub decision: Decision,
}

/// What [`explain`] found: the input it read, and the path's explanations (empty: no wheel of
/// the input installs it).
#[derive(Debug, Clone)]
pub struct Explained {
    pub input: PathBuf,
    pub explanations: Vec<Explanation>,
}

/// Explain the path for the wheels the input locks to, read and locked exactly as `build` does
/// (fetched into the cache if needed).
pub fn explain(req: &ExplainRequest) -> Result<Explained, BuildError> {
    let target = &req.target;
    let recipes = super::slimming::load_recipes(&req.slim, target)?;
    let (input, wheels, cache) = lock_and_fetch(req)?;
    let guard = crate::slim::guard::guard(&wheels, target, &recipes, &cache)?;
    let wanted = req.path.trim_start_matches("./").trim_end_matches('/');
    let mut out = Vec::new();
    for w in &wheels {
        out.extend(explain_in(w, wanted, target, &recipes, &guard)?);
    }
    Ok(Explained {
        input,
        explanations: out,
    })
}

/// Read and lock the input as `build` does and fetch its wheels: the input file, the wheels
/// and the cache they are in.
fn lock_and_fetch(req: &ExplainRequest) -> Result<(PathBuf, Vec<FetchedWheel>, Cache), BuildError> {
    let crate::sources::Locked {
        input,
        sources: crate::sources::Sources { cache, http, .. },
        lock,
        ..
    } = crate::sources::read_and_lock(
        &crate::sources::LockRequest {
            requirements: req.requirements.as_deref(),
            extra: &req.extras,
            group: &req.groups,
            cache_dir: req.cache_dir.as_deref(),
            offline: req.offline,
            index: &req.index,
            prerelease: req.prerelease,
            landed: None,
        },
        &req.target,
        &Silent,
    )?;
    let (wheels, _) = fetch(&lock, &cache, http.as_ref(), req.offline, &Silent)?;
    Ok((input.path, wheels, cache))
}

/// The explanations of the entries of `w` that install the path `wanted` (or are it, inside
/// the wheel).
fn explain_in(
    w: &FetchedWheel,
    wanted: &str,
    target: &Target,
    recipes: &RecipeSet,
    guard: &GuardOutcome,
) -> Result<Vec<Explanation>, BuildError> {
    let wheel = Wheel::open(&w.path, &w.locked.filename)
        .map_err(|e| BuildError::Request(format!("cannot read {}: {e}", w.locked.filename)))?;
    let data_dir = wheel
        .dist_info_dir()
        .map(|d| d.trim_end_matches(".dist-info").to_string() + ".data");
    let mut out = Vec::new();
    for e in &wheel.entries {
        let verdict = plan_entry(&e.path, data_dir.as_deref(), target);
        let installed = match &verdict {
            Verdict::Keep(p) => p.as_str().to_string(),
            Verdict::Drop { .. } => e.path.as_str().to_string(),
        };
        if installed != wanted && e.path.as_str() != wanted {
            continue;
        }
        let decision = decide(&w.locked.name, &installed, verdict, recipes, guard);
        out.push(Explanation {
            installed,
            wheel: w.locked.filename.clone(),
            size: e.size,
            decision,
        });
    }
    Ok(out)
}

/// Why the path `installed` of the distribution `dist` is kept, stripped or dropped: by a
/// built-in rule, by the import guard (kept code imports it), or by the recipes.
fn decide(
    dist: &str,
    installed: &str,
    verdict: Verdict,
    recipes: &RecipeSet,
    guard: &GuardOutcome,
) -> Decision {
    if let Verdict::Drop { rule } = verdict {
        return Decision::Builtin {
            rule: rule.to_string(),
        };
    }
    if let Some(why) = guard.rescued.get(dist).and_then(|r| r.get(installed)) {
        return Decision::Imported {
            importer: why.importer.clone(),
            rule: rule_ref(recipes, &why.rule),
        };
    }
    let d = recipes.decide(dist, installed);
    Decision::Recipes {
        action: d.action,
        rule: d.rule.as_deref().map(|id| rule_ref(recipes, id)),
        strip: d.strip.clone(),
        optional: guard
            .optional
            .get(dist)
            .and_then(|o| o.get(installed))
            .map(|s| s.to_string()),
        also: also_matching(recipes, dist, installed, &d),
    }
}

/// The rule `id`, with the recipe file it came from and its reason.
fn rule_ref(recipes: &RecipeSet, id: &str) -> RuleRef {
    let r = recipes.rule(id);
    RuleRef {
        id: id.to_string(),
        origin: r.map(|r| r.origin.clone()).unwrap_or_default(),
        reason: r.map(|r| r.reason.clone()).unwrap_or_default(),
    }
}

/// The other rules matching the path, of lower precedence than the deciding ones (`d`):
/// `id (action, tier)`.
fn also_matching(
    recipes: &RecipeSet,
    dist: &str,
    installed: &str,
    d: &crate::slim::recipe::Decision,
) -> Vec<String> {
    recipes
        .rules()
        .iter()
        .filter(|r| r.matches(dist, installed))
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
        .collect()
}
