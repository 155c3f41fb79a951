//! Guard: no slimming rule removes a module that kept code imports.
//!
//! Every wheel gets an *import graph* (computed once, cached by the wheel's sha256): its modules —
//! Python sources and extension modules, by installed path and module name — and, for each
//! source, what it imports ([`super::imports`]). Before any fragment is written, the guard takes
//! the recipe verdicts of every module file of every wheel in the build and, to a fixed point,
//! keeps each module that a kept module imports unguarded (at module level or lazily, inside a
//! function), together with the packages above it. A module whose every importer is itself
//! dropped stays dropped (tests importing tests), and so does one imported only under
//! `try/except ImportError`: it is optional by the package's own design.
//!
//! A kept module gets the verdict `guard.imported-by`, naming its importer (`path:line`) and the
//! rule that wanted it gone. Rules that cannot be overridden: `omit` (the runtime provides the
//! distribution) and `--force-drop`. A user `--drop` or `--recipe` rule overridden by the guard
//! is a warning that names both.
//!
//! The same graph tells the ABI audit which extension modules are *optional*: every site that
//! imports them is guarded.

use std::collections::{BTreeMap, HashMap};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::imports::{Import, extract, module_name};
use super::recipe::{Action, RecipeSet, Tier};
use super::{SlimError, Verdict, data_dir_of, plan_entry};
use crate::cache::Cache;
use crate::digest::sha256_hex;
use crate::fetch::FetchedWheel;
use crate::target::Target;
use crate::wheel::{Wheel, WheelError, open_archive};

/// Bumped whenever the graph's shape or the import extraction changes.
const GRAPH_FORMAT: u32 = 1;
/// Bumped whenever the guard's algorithm or outcome shape changes.
const GUARD_FORMAT: u32 = 1;

/// The verdict id of a module kept because kept code imports it.
pub const RULE: &str = "guard.imported-by";

/// One module of a wheel.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModuleNode {
    /// Installed path (`numpy/testing/__init__.py`).
    pub path: String,
    /// Module name (`numpy.testing`).
    pub module: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub imports: Vec<Import>,
}

/// The import graph of one wheel.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WheelGraph {
    pub format: u32,
    pub modules: Vec<ModuleNode>,
}

/// Why the guard kept a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rescue {
    /// `path:line` of the import that needs it.
    pub importer: String,
    /// The rule that wanted it gone.
    pub rule: String,
}

impl Rescue {
    pub fn note(&self) -> String {
        format!(
            "imported by {}; rule {} wanted it dropped",
            self.importer, self.rule
        )
    }
}

/// The guard's result for one build.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct GuardOutcome {
    pub format: u32,
    /// dist → installed path → why it is kept.
    pub rescued: BTreeMap<String, BTreeMap<String, Rescue>>,
    /// dist → installed path of an extension module → a guarded site importing it
    /// (`path:line`): every site importing it is guarded.
    pub optional: BTreeMap<String, BTreeMap<String, String>>,
    /// User rules the guard overrode.
    pub warnings: Vec<String>,
}

impl GuardOutcome {
    /// The rescued paths of one distribution, as a cache-key fragment.
    pub fn key_for(&self, dist: &str) -> String {
        match self.rescued.get(dist) {
            Some(r) if !r.is_empty() => {
                let mut s = String::new();
                for (p, why) in r {
                    s.push_str(p);
                    s.push('\u{0}');
                    s.push_str(&why.importer);
                    s.push('\n');
                }
                sha256_hex(s.as_bytes())
            }
            _ => "-".to_string(),
        }
    }
}

/// The import graph of a wheel, from the cache or computed (sources parsed in parallel).
pub fn wheel_graph(
    w: &FetchedWheel,
    target: &Target,
    cache: &Cache,
) -> Result<WheelGraph, SlimError> {
    // Which extension modules define a module depends on the target's Python.
    let key = sha256_hex(
        format!(
            "graph {GRAPH_FORMAT}\nwheel {}\nextensions {}\n",
            w.sha256,
            target.extension_suffix()
        )
        .as_bytes(),
    );
    if let Some(bytes) = cache.read_record("graph-v1", &key)
        && let Ok(g) = serde_json::from_slice::<WheelGraph>(&bytes)
        && g.format == GRAPH_FORMAT
    {
        return Ok(g);
    }
    let wheel = Wheel::open(&w.path, &w.locked.filename)?;
    let data_dir = data_dir_of(&wheel);
    let mut archive = open_archive(&w.path, &w.locked.filename)?;
    let mut sources: Vec<(String, String, Option<String>)> = Vec::new();
    for e in &wheel.entries {
        let Verdict::Keep(installed) = plan_entry(&e.path, data_dir.as_deref(), target) else {
            continue;
        };
        let path = installed.as_str();
        // An extension module for another Python defines no module on the target.
        if !target.imports_extension(path) {
            continue;
        }
        let Some(module) = module_name(path) else {
            continue;
        };
        let source = if path.ends_with(".py") {
            let mut f = archive
                .by_index(e.index)
                .map_err(|source| WheelError::Corrupt {
                    wheel: w.locked.filename.clone(),
                    source,
                })?;
            let mut buf = Vec::new();
            std::io::Read::read_to_end(&mut f, &mut buf).map_err(|source| WheelError::Io {
                path: w.path.clone(),
                source,
            })?;
            Some(String::from_utf8_lossy(&buf).into_owned())
        } else {
            None
        };
        sources.push((path.to_string(), module, source));
    }
    let mut modules: Vec<ModuleNode> = sources
        .into_par_iter()
        .map(|(path, module, source)| {
            let imports = match &source {
                Some(src) => extract(src, &module, path.ends_with("/__init__.py")),
                None => Vec::new(),
            };
            ModuleNode {
                path,
                module,
                imports,
            }
        })
        .collect();
    modules.sort_by(|a, b| a.path.cmp(&b.path));
    let g = WheelGraph {
        format: GRAPH_FORMAT,
        modules,
    };
    let json = serde_json::to_vec(&g).map_err(|e| SlimError::Write(e.to_string()))?;
    cache.write_record("graph-v1", &key, &json)?;
    Ok(g)
}

/// What a rule would do to one module file, before the guard.
#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Kept,
    /// Dropped by a rule the guard may override.
    Dropped {
        rule: String,
        tier: Tier,
    },
    /// Left out for good (`omit`: the runtime provides it; `--force-drop`).
    Gone,
}

/// One module name may be defined by files of several wheels (namespace packages).
type NodeId = (usize, usize);

/// The modules an import makes Python load: the module, every package above it, and each
/// `from`-imported name that is itself a module.
fn targets(imp: &Import) -> Vec<String> {
    let mut out = Vec::new();
    let mut acc = String::new();
    for part in imp.module.split('.') {
        if !acc.is_empty() {
            acc.push('.');
        }
        acc.push_str(part);
        out.push(acc.clone());
    }
    for n in &imp.names {
        out.push(format!("{}.{n}", imp.module));
    }
    out
}

/// Run the guard over every wheel of a build (cached by the wheels, the recipes and the target).
pub fn guard(
    wheels: &[FetchedWheel],
    target: &Target,
    recipes: &RecipeSet,
    cache: &Cache,
) -> Result<GuardOutcome, SlimError> {
    let mut desc = format!(
        "guard {GUARD_FORMAT}\nlpack {}\nrecipes {}\ntarget {}\n",
        env!("CARGO_PKG_VERSION"),
        recipes.digest,
        target.slug()
    );
    let mut ids: Vec<(&str, &str)> = wheels
        .iter()
        .map(|w| (w.locked.name.as_str(), w.sha256.as_str()))
        .collect();
    ids.sort();
    for (n, s) in &ids {
        desc.push_str(&format!("{n} {s}\n"));
    }
    let key = sha256_hex(desc.as_bytes());
    if let Some(bytes) = cache.read_record("guard-v1", &key)
        && let Ok(g) = serde_json::from_slice::<GuardOutcome>(&bytes)
        && g.format == GUARD_FORMAT
    {
        return Ok(g);
    }
    let graphs: Vec<WheelGraph> = wheels
        .par_iter()
        .map(|w| wheel_graph(w, target, cache))
        .collect::<Result<_, _>>()?;
    let dists: Vec<&str> = wheels.iter().map(|w| w.locked.name.as_str()).collect();
    let outcome = run_guard(&dists, &graphs, recipes);
    let json = serde_json::to_vec(&outcome).map_err(|e| SlimError::Write(e.to_string()))?;
    cache.write_record("guard-v1", &key, &json)?;
    Ok(outcome)
}

/// The guard proper, on graphs and the recipe set (no I/O).
pub fn run_guard(dists: &[&str], graphs: &[WheelGraph], recipes: &RecipeSet) -> GuardOutcome {
    let mut index: HashMap<&str, Vec<NodeId>> = HashMap::new();
    let mut state: HashMap<NodeId, State> = HashMap::new();
    for (wi, g) in graphs.iter().enumerate() {
        for (ni, m) in g.modules.iter().enumerate() {
            index.entry(m.module.as_str()).or_default().push((wi, ni));
            let d = recipes.evaluate(dists[wi], &m.path);
            let s = match (d.action, d.rule) {
                (Action::Drop, Some(rule)) => match recipes.rule(&rule) {
                    Some(r)
                        if r.action == Action::Omit
                            || rule.starts_with(super::recipe::FORCE_DROP) =>
                    {
                        State::Gone
                    }
                    Some(r) => State::Dropped { rule, tier: r.tier },
                    None => State::Gone,
                },
                _ => State::Kept,
            };
            state.insert((wi, ni), s);
        }
    }
    let mut queue: Vec<NodeId> = Vec::new();
    for (wi, g) in graphs.iter().enumerate() {
        for ni in 0..g.modules.len() {
            if state.get(&(wi, ni)) == Some(&State::Kept) {
                queue.push((wi, ni));
            }
        }
    }
    queue.reverse();
    let mut outcome = GuardOutcome {
        format: GUARD_FORMAT,
        ..GuardOutcome::default()
    };
    let mut warned = std::collections::BTreeSet::new();
    while let Some((wi, ni)) = queue.pop() {
        let node = &graphs[wi].modules[ni];
        for imp in node.imports.iter().filter(|i| !i.guarded) {
            for t in targets(imp) {
                let Some(ids) = index.get(t.as_str()) else {
                    continue;
                };
                for &id in ids {
                    let Some(State::Dropped { rule, tier }) = state.get(&id).cloned() else {
                        continue;
                    };
                    let target_node = &graphs[id.0].modules[id.1];
                    let rescue = Rescue {
                        importer: format!("{}:{}", node.path, imp.line),
                        rule: rule.clone(),
                    };
                    if matches!(tier, Tier::UserDrop | Tier::UserFile)
                        && warned.insert(target_node.path.clone())
                    {
                        outcome.warnings.push(format!(
                            "rule {rule} wants {} dropped, but {} imports it: kept (drop it anyway with --force-drop GLOB)",
                            target_node.path, rescue.importer
                        ));
                    }
                    outcome
                        .rescued
                        .entry(dists[id.0].to_string())
                        .or_default()
                        .insert(target_node.path.clone(), rescue);
                    state.insert(id, State::Kept);
                    queue.push(id);
                }
            }
        }
    }
    outcome.optional = optional_extensions(dists, graphs, &state);
    outcome
}

/// Optional extension modules of one tree whose files are all kept (an artifact read back by
/// `lpack audit`): `(installed path, Python source if it is a .py file)`.
pub fn optional_in(files: Vec<(String, Option<String>)>) -> BTreeMap<String, String> {
    let modules: Vec<ModuleNode> = files
        .into_par_iter()
        .filter_map(|(path, source)| {
            let module = module_name(&path)?;
            let imports = source
                .map(|src| extract(&src, &module, path.ends_with("/__init__.py")))
                .unwrap_or_default();
            Some(ModuleNode {
                path,
                module,
                imports,
            })
        })
        .collect();
    let state: HashMap<NodeId, State> = (0..modules.len()).map(|i| ((0, i), State::Kept)).collect();
    let graphs = [WheelGraph {
        format: GRAPH_FORMAT,
        modules,
    }];
    optional_extensions(&["artifact"], &graphs, &state)
        .remove("artifact")
        .unwrap_or_default()
}

/// Extension modules every kept importer imports under a guard.
fn optional_extensions(
    dists: &[&str],
    graphs: &[WheelGraph],
    state: &HashMap<NodeId, State>,
) -> BTreeMap<String, BTreeMap<String, String>> {
    // module name → (any unguarded site, first guarded site)
    let mut sites: HashMap<String, (bool, Option<String>)> = HashMap::new();
    for (wi, g) in graphs.iter().enumerate() {
        for (ni, m) in g.modules.iter().enumerate() {
            if state.get(&(wi, ni)) != Some(&State::Kept) {
                continue;
            }
            for imp in &m.imports {
                for t in targets(imp) {
                    let e = sites.entry(t).or_insert((false, None));
                    if imp.guarded {
                        if e.1.is_none() {
                            e.1 = Some(format!("{}:{}", m.path, imp.line));
                        }
                    } else {
                        e.0 = true;
                    }
                }
            }
        }
    }
    let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for (wi, g) in graphs.iter().enumerate() {
        for m in &g.modules {
            if m.path.ends_with(".py") || m.path.ends_with(".pyc") {
                continue;
            }
            if let Some((false, Some(site))) = sites.get(&m.module) {
                out.entry(dists[wi].to_string())
                    .or_default()
                    .insert(m.path.clone(), site.clone());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slim::recipe::Profile;

    fn node(path: &str, src: &str) -> ModuleNode {
        let module = module_name(path).expect("module");
        ModuleNode {
            path: path.to_string(),
            imports: extract(src, &module, path.ends_with("__init__.py")),
            module,
        }
    }

    fn graph(nodes: Vec<ModuleNode>) -> WheelGraph {
        WheelGraph {
            format: GRAPH_FORMAT,
            modules: nodes,
        }
    }

    #[test]
    fn keeps_what_kept_code_imports() {
        let recipes = RecipeSet::load(Profile::Safe, &[], &[], &[]).expect("recipes");
        let numpy = graph(vec![
            node(
                "numpy/__init__.py",
                "def __getattr__(n):\n    import numpy.testing as testing\n    return testing\n",
            ),
            node(
                "numpy/testing/__init__.py",
                "from ._private.utils import *\n",
            ),
            node("numpy/testing/_private/__init__.py", ""),
            node(
                "numpy/testing/_private/utils.py",
                "import os\n\nfrom numpy._core.tests._natype import pd_NA\n",
            ),
            node("numpy/_core/__init__.py", ""),
            node("numpy/_core/tests/__init__.py", ""),
            node("numpy/_core/tests/_natype.py", "pd_NA = None\n"),
            node(
                "numpy/_core/tests/test_x.py",
                "import numpy._core.tests.helpers\n",
            ),
            node("numpy/_core/tests/helpers.py", ""),
            node(
                "numpy/_core/opt.py",
                "try:\n    import numpy._core.tests.optional\nexcept ImportError:\n    pass\n",
            ),
            node("numpy/_core/tests/optional.py", ""),
        ]);
        let out = run_guard(&["numpy"], &[numpy], &recipes);
        let rescued: Vec<(&str, &str)> = out.rescued["numpy"]
            .iter()
            .map(|(p, r)| (p.as_str(), r.importer.as_str()))
            .collect();
        assert_eq!(
            rescued,
            vec![
                (
                    "numpy/_core/tests/__init__.py",
                    "numpy/testing/_private/utils.py:3"
                ),
                (
                    "numpy/_core/tests/_natype.py",
                    "numpy/testing/_private/utils.py:3"
                ),
            ],
            "{:?}",
            out.rescued
        );
        assert!(
            out.rescued["numpy"]
                .values()
                .all(|r| r.rule == "common.tests")
        );
    }

    #[test]
    fn optional_extension_modules() {
        let recipes = RecipeSet::load(Profile::Safe, &[], &[], &[]).expect("recipes");
        let numba = graph(vec![
            node("numba/__init__.py", ""),
            node("numba/np/__init__.py", ""),
            node("numba/np/ufunc/__init__.py", ""),
            node(
                "numba/np/ufunc/parallel.py",
                "def launch():\n    try:\n        from numba.np.ufunc import omppool as lib\n    except ImportError:\n        pass\n    from numba.np.ufunc import workqueue\n",
            ),
            node("numba/np/ufunc/omppool.cpython-312-x86_64-linux-gnu.so", ""),
            node(
                "numba/np/ufunc/workqueue.cpython-312-x86_64-linux-gnu.so",
                "",
            ),
        ]);
        let out = run_guard(&["numba"], &[numba], &recipes);
        let opt = &out.optional["numba"];
        assert_eq!(opt.len(), 1, "{opt:?}");
        assert_eq!(
            opt["numba/np/ufunc/omppool.cpython-312-x86_64-linux-gnu.so"],
            "numba/np/ufunc/parallel.py:3"
        );
    }

    #[test]
    fn user_drop_collision_warns_and_force_drop_wins() {
        let g = || {
            graph(vec![
                node("pkg/__init__.py", "from pkg import extra\n"),
                node("pkg/extra.py", ""),
            ])
        };
        let recipes =
            RecipeSet::load(Profile::Safe, &[], &[], &["pkg/extra.py".into()]).expect("recipes");
        let out = run_guard(&["pkg"], &[g()], &recipes);
        assert!(out.rescued["pkg"].contains_key("pkg/extra.py"));
        assert_eq!(out.warnings.len(), 1);
        assert!(out.warnings[0].contains("cli.drop-1"), "{:?}", out.warnings);
        assert!(out.warnings[0].contains("pkg/__init__.py:1"));
    }
}
