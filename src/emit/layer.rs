//! Lambda layers: where packages go inside a layer, and how distributions are split into layers.
//!
//! A layer zip holds packages under `python/` (default; Lambda puts `/opt/python` on `sys.path`)
//! or `python/lib/python3.X/site-packages/` (`--layer-layout site-packages`). Handler code never
//! goes into a layer. Splits group distributions, each kept whole:
//! - `layers/*.toml` names layers by distribution, optionally with their dependencies (from the
//!   wheels' `Requires-Dist`, markers evaluated for the target); what no layer claims goes into a
//!   final `rest` layer;
//! - `auto` packs distributions, largest first, into at most five layers of at most `budget`
//!   zipped bytes each (default 50 MiB: each layer can then be published by direct upload).
//!
//! Lambda allows five layers and counts function + layers against 262,144,000 bytes unzipped.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Deserialize;

use crate::artifact::Action;
use crate::slim::SlimmedWheel;
use crate::target::Target;
use crate::wheel::{Wheel, normalize_name};

pub use crate::target::MAX_LAYERS;
/// Default zipped budget per layer for `--split auto` (Lambda's direct-upload limit).
pub const DEFAULT_BUDGET: u64 = crate::target::DIRECT_UPLOAD_LIMIT;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LayerLayout {
    /// python/<packages> (on sys.path as /opt/python)
    #[default]
    Python,
    /// python/lib/python3.X/site-packages/<packages>
    SitePackages,
}

impl LayerLayout {
    pub fn prefix(self, target: &Target) -> String {
        match self {
            LayerLayout::Python => "python".to_string(),
            LayerLayout::SitePackages => target.layer_site_packages(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error("cannot read layer spec {path}: {detail}")]
    Spec { path: String, detail: String },
    #[error(
        "{count} layers would be needed to keep each under {budget} zipped, but Lambda allows {MAX_LAYERS}:\n{plan}\n  hint: raise --layer-budget, use --profile aggressive, or ship a container image"
    )]
    TooMany {
        count: usize,
        budget: String,
        plan: String,
    },
    #[error("{0}")]
    Wheel(#[from] crate::wheel::WheelError),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerSpec {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub distributions: Vec<String>,
    /// Also put the distributions' dependencies (from the lock) into this layer.
    #[serde(default = "yes")]
    pub dependencies: bool,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SpecFile {
    layer: Vec<LayerSpec>,
}

/// A named group of distributions that becomes one layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub name: String,
    pub distributions: BTreeSet<String>,
}

/// Read `layers/*.toml`.
pub fn load_specs(path: &Path) -> Result<Vec<LayerSpec>, LayerError> {
    let err = |detail: String| LayerError::Spec {
        path: path.display().to_string(),
        detail,
    };
    let src = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    let f: SpecFile = toml::from_str(&src).map_err(|e| err(e.message().to_string()))?;
    let mut seen = BTreeSet::new();
    for l in &f.layer {
        if l.name.is_empty()
            || !l
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(err(format!(
                "layer name `{}` must be letters, digits, - or _",
                l.name
            )));
        }
        if !seen.insert(l.name.clone()) {
            return Err(err(format!("layer `{}` is declared twice", l.name)));
        }
    }
    if f.layer.len() > MAX_LAYERS {
        return Err(err(format!(
            "{} layers declared; Lambda allows {MAX_LAYERS}",
            f.layer.len()
        )));
    }
    Ok(f.layer)
}

/// Distribution names a wheel requires on the target (Requires-Dist, markers evaluated, no
/// extras).
pub fn requires(w: &SlimmedWheel, target: &Target) -> Result<Vec<String>, LayerError> {
    let wheel = Wheel::open(&w.wheel.path, &w.wheel.locked.filename)?;
    let Some(di) = wheel.dist_info_dir() else {
        return Ok(Vec::new());
    };
    let meta_path = format!("{di}/METADATA");
    let Some(entry) = wheel.entries.iter().find(|e| e.path.as_str() == meta_path) else {
        return Ok(Vec::new());
    };
    let text = String::from_utf8_lossy(&wheel.read_entry(entry.index)?).into_owned();
    let env = crate::requirements::marker_environment(target);
    let mut out = Vec::new();
    for line in text.lines() {
        if line.is_empty() {
            break; // headers end at the first blank line
        }
        let Some(spec) = line.strip_prefix("Requires-Dist:") else {
            continue;
        };
        if let Ok(req) = crate::requirements::parse_requirement(spec.trim())
            && req.evaluate_markers(&env, &[])
        {
            out.push(normalize_name(req.name.as_ref()));
        }
    }
    Ok(out)
}

/// Groups from layer specs: each spec's distributions (plus their dependency closure within
/// the lock, claimed first-come), then `rest` for the unclaimed.
pub fn split_by_spec(
    specs: &[LayerSpec],
    slimmed: &[SlimmedWheel],
    target: &Target,
) -> Result<Vec<Group>, LayerError> {
    let in_lock: BTreeSet<String> = slimmed
        .iter()
        .map(|s| s.wheel.locked.name.clone())
        .collect();
    let mut deps: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for s in slimmed {
        deps.insert(s.wheel.locked.name.clone(), requires(s, target)?);
    }
    let mut claimed = BTreeSet::new();
    let mut groups = Vec::new();
    for spec in specs {
        let mut members = BTreeSet::new();
        let mut todo: Vec<String> = spec
            .distributions
            .iter()
            .map(|d| normalize_name(d))
            .filter(|d| in_lock.contains(d))
            .collect();
        while let Some(d) = todo.pop() {
            if claimed.contains(&d) || !members.insert(d.clone()) {
                continue;
            }
            if spec.dependencies {
                todo.extend(
                    deps.get(&d)
                        .into_iter()
                        .flatten()
                        .filter(|x| in_lock.contains(*x))
                        .cloned(),
                );
            }
        }
        claimed.extend(members.iter().cloned());
        if !members.is_empty() {
            groups.push(Group {
                name: spec.name.clone(),
                distributions: members,
            });
        }
    }
    let rest: BTreeSet<String> = in_lock.difference(&claimed).cloned().collect();
    if !rest.is_empty() {
        groups.push(Group {
            name: "rest".to_string(),
            distributions: rest,
        });
    }
    Ok(groups)
}

/// Bytes a slimmed wheel occupies: (unzipped, zipped).
pub fn wheel_size(s: &SlimmedWheel) -> (u64, u64) {
    s.meta
        .records
        .iter()
        .filter(|r| r.action != Action::Drop)
        .fold((0, 0), |(u, z), r| (u + r.size, z + r.compressed_size))
}

/// First-fit decreasing by zipped size into layers of at most `budget` zipped bytes.
pub fn split_auto(slimmed: &[SlimmedWheel], budget: u64) -> Result<Vec<Group>, LayerError> {
    let mut items: Vec<(String, u64)> = slimmed
        .iter()
        .map(|s| (s.wheel.locked.name.clone(), wheel_size(s).1))
        .collect();
    items.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut bins: Vec<(u64, BTreeSet<String>)> = Vec::new();
    for (name, size) in items {
        match bins.iter_mut().find(|(used, _)| used + size <= budget) {
            Some((used, members)) => {
                *used += size;
                members.insert(name);
            }
            // A distribution larger than the budget gets a layer of its own.
            None => bins.push((size, [name].into())),
        }
    }
    if bins.len() > MAX_LAYERS {
        let plan = bins
            .iter()
            .enumerate()
            .map(|(i, (used, m))| {
                format!(
                    "    layer {}: {} zipped: {}",
                    i + 1,
                    mb(*used),
                    m.iter().cloned().collect::<Vec<_>>().join(", ")
                )
            })
            .collect::<Vec<_>>()
            .join("\n");
        return Err(LayerError::TooMany {
            count: bins.len(),
            budget: mb(budget),
            plan,
        });
    }
    Ok(bins
        .into_iter()
        .enumerate()
        .map(|(i, (_, distributions))| Group {
            name: format!("{}", i + 1),
            distributions,
        })
        .collect())
}

/// Megabytes with one decimal, as the size report writes them (emit sits below report, so it
/// keeps its own copy of the one-liner).
fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}
