//! `--with-layer`: building a function zip against layers lpack did not build.
//!
//! Each layer is opened and indexed ([`crate::extlayer`]) and checked against the target. A
//! distribution of the lock that a layer provides at the locked version is left out of the
//! function, as `--exclude-layer` does for lpack's own layers; at another version the build
//! stops naming both, unless [`Prefer`] says which copy the function imports (`--prefer-layer`:
//! the function leaves it out and imports the layer's; `--prefer-function`: the function ships
//! its own, which comes first on `sys.path`). The layers count with the function against
//! Lambda's unzipped limit and are recorded in its manifest ([`LayerRef::external`]).

use std::collections::BTreeSet;

use super::error::BuildError;
use super::request::{BuildRequest, Prefer};
use super::units;
use crate::artifact::{ArtifactManifest, ExternalLayerRecord, LayerRef};
use crate::extlayer::ExternalLayer;
use crate::fetch::FetchedWheel;
use crate::wheel::normalize_name;

/// The external layers of one build and what they take off the function.
#[derive(Debug, Clone, Default)]
pub struct ExternalPlan {
    pub layers: Vec<ExternalLayer>,
    /// Distributions of the lock the function leaves to the layers.
    pub excluded: BTreeSet<String>,
    /// The manifest's record of each layer, in order.
    pub refs: Vec<LayerRef>,
}

fn same_version(a: &str, b: &str) -> bool {
    match (
        a.parse::<pep440_rs::Version>(),
        b.parse::<pep440_rs::Version>(),
    ) {
        (Ok(x), Ok(y)) => x == y,
        _ => a.trim() == b.trim(),
    }
}

/// Open the layers `req.with_layers` names and decide, per locked distribution, whether the
/// function leaves it to them.
pub fn plan(
    req: &BuildRequest,
    wheels: &[FetchedWheel],
    cache: &crate::cache::Cache,
    warnings: &mut Vec<String>,
) -> Result<ExternalPlan, BuildError> {
    if req.with_layers.is_empty() {
        return Ok(ExternalPlan::default());
    }
    let layers = open_layers(req, cache, warnings)?;
    let split = split_lock(req, wheels, &layers, warnings)?;
    let refs = layers
        .iter()
        .enumerate()
        .map(|(i, l)| layer_ref(l, &split.provided[i], &split.mismatched[i]))
        .collect();
    Ok(ExternalPlan {
        layers,
        excluded: split.excluded,
        refs,
    })
}

/// Open each `--with-layer` and check it against the target (its warnings go to `warnings`),
/// after checking that the function stays within Lambda's count of layers.
fn open_layers(
    req: &BuildRequest,
    cache: &crate::cache::Cache,
    warnings: &mut Vec<String>,
) -> Result<Vec<ExternalLayer>, BuildError> {
    let total = req.with_layers.len() + req.exclude_layers.len();
    if total > crate::emit::layer::MAX_LAYERS {
        return Err(BuildError::Layers(format!(
            "{total} layers given (--with-layer and --exclude-layer); Lambda allows a function at most 5\n  hint: merge layers, or let the function ship what a layer would provide"
        )));
    }
    let mut layers = Vec::new();
    for spec in &req.with_layers {
        let layer = crate::extlayer::open(spec, &req.target, cache)?;
        warnings.extend(layer.check(&req.target)?);
        layers.push(layer);
    }
    Ok(layers)
}

/// What the function leaves to the layers, and the version mismatches of each layer.
struct Split {
    /// Distributions of the lock the function leaves out.
    excluded: BTreeSet<String>,
    /// Per layer: the distributions the function leaves to it.
    provided: Vec<Vec<String>>,
    /// Per layer: the manifest's note of each version that differs from the lock's.
    mismatched: Vec<Vec<String>>,
}

impl Split {
    /// Leave the distribution `name` to layer `i`.
    fn leave(&mut self, i: usize, name: &str) {
        self.excluded.insert(name.to_string());
        self.provided[i].push(name.to_string());
    }
}

/// Decide, per locked distribution, whether the function leaves it to the last layer that has
/// it: at the locked version it does; at another, `req.prefer` says which copy the function
/// imports (with a warning), and without it the build stops naming every mismatch.
fn split_lock(
    req: &BuildRequest,
    wheels: &[FetchedWheel],
    layers: &[ExternalLayer],
    warnings: &mut Vec<String>,
) -> Result<Split, BuildError> {
    let mut split = Split {
        excluded: BTreeSet::new(),
        provided: vec![Vec::new(); layers.len()],
        mismatched: vec![Vec::new(); layers.len()],
    };
    let mut errors = Vec::new();
    for w in wheels {
        let name = normalize_name(&w.locked.name);
        // Lambda extracts layers in order, a later one over an earlier: the last one wins.
        let Some((i, d)) = layers
            .iter()
            .enumerate()
            .rev()
            .find_map(|(i, l)| l.dist(&name).map(|d| (i, d)))
        else {
            continue;
        };
        let label = &layers[i].label;
        if same_version(&d.version, &w.locked.version) {
            split.leave(i, &w.locked.name);
            continue;
        }
        let fact = format!(
            "the layer {label} has {} {}; your lock pins {}",
            w.locked.name, d.version, w.locked.version
        );
        match req.prefer {
            Prefer::Neither => errors.push(fact),
            Prefer::Layer => {
                split.leave(i, &w.locked.name);
                split.mismatched[i].push(format!(
                    "{fact}; --prefer-layer: the function imports the layer's {}",
                    d.version
                ));
                warnings.push(format!(
                    "{fact}; --prefer-layer: the function leaves it out and imports {} {} from /opt (what the lock chose for it was not tested against that version)",
                    w.locked.name, d.version
                ));
            }
            Prefer::Function => {
                split.mismatched[i].push(format!(
                    "{fact}; --prefer-function: the function ships {}",
                    w.locked.version
                ));
                warnings.push(format!(
                    "{fact}; --prefer-function: the function ships {} {}, found before /opt on sys.path (the layer's copy still counts toward the 250 MB)",
                    w.locked.name, w.locked.version
                ));
            }
        }
    }
    if !errors.is_empty() {
        return Err(BuildError::Layers(format!(
            "{}\n  hint: pin the layer's versions in your lock (the function is then built against the layer as it is), or say which copy the function imports: --prefer-layer (leave it to the layer) or --prefer-function (ship the locked version in the function)",
            errors.join("\n")
        )));
    }
    Ok(split)
}

/// The manifest's record of an external layer: what it is, what it holds, and what the
/// function leaves to it (`provided`) or ships despite it (`mismatched`).
fn layer_ref(l: &ExternalLayer, provided: &[String], mismatched: &[String]) -> LayerRef {
    LayerRef {
        file: l.label.clone(),
        sha256: l.sha256.clone(),
        unzipped_size: l.unzipped_size,
        distributions: provided.to_vec(),
        external: Some(ExternalLayerRecord {
            source: l.source.clone(),
            code_sha256: l.code_sha256.clone(),
            compatible_runtimes: l.compatible_runtimes.clone(),
            compatible_architectures: l.compatible_architectures.clone(),
            packages: l
                .dists
                .iter()
                .map(|d| format!("{}=={}", d.name, d.version))
                .collect(),
            modules: l
                .dists
                .iter()
                .flat_map(|d| d.modules.iter().cloned())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect(),
            libraries: l.libraries.clone(),
            mismatches: mismatched.to_vec(),
        }),
    }
}

impl ExternalPlan {
    /// Base names of the layers' ELF files (DT_NEEDED entries they satisfy).
    pub fn library_names(&self) -> BTreeSet<String> {
        self.layers
            .iter()
            .flat_map(ExternalLayer::library_names)
            .collect()
    }

    /// Leave the layers' distributions out of the function and record the layers.
    pub fn apply(&self, unit: &mut units::Unit) {
        unit.slimmed
            .retain(|s| !self.excluded.contains(&s.wheel.locked.name));
        unit.layers.extend(self.refs.iter().cloned());
    }

    /// The layers as manifests (for Lambda's limit and the size report).
    pub fn manifests(&self, target: &crate::target::Target) -> Vec<ArtifactManifest> {
        self.layers.iter().map(|l| l.manifest(target)).collect()
    }
}

/// The layer as the safe profile would leave it: every file decided by the built-in recipes
/// (as a build decides a wheel's files), dropped files with the rule and its category. Nothing
/// is rewritten; `lpack size-report --layer` shows what a rebuild with lpack would remove.
pub fn safe_profile_view(
    layer: &ExternalLayer,
    target: &crate::target::Target,
) -> Result<ArtifactManifest, BuildError> {
    use crate::artifact::Action;
    use crate::slim::recipe::{Action as Verdict, Profile, RecipeSet};
    let mut recipes = RecipeSet::load(Profile::Safe, &[], &[], &[])?;
    recipes.set_target(target);
    let mut m = layer.manifest(target);
    for f in &mut m.files {
        // Rules match installed paths (relative to a site directory).
        let installed = layer
            .dist(&f.package)
            .and_then(|d| f.path.strip_prefix(d.site.as_str()))
            .and_then(|r| r.strip_prefix('/'))
            .or_else(|| f.path.strip_prefix("python/"))
            .unwrap_or(&f.path)
            .to_string();
        let d = recipes.decide(&f.package, &installed);
        if d.action == Verdict::Drop {
            f.action = Action::Drop;
            f.size = 0;
            f.compressed_size = 0;
            f.rule = d.rule;
        }
    }
    m.profile = "safe (what it would remove)".to_string();
    m.artifact.unzipped_size = m.files.iter().map(|f| f.size).sum();
    m.rules = recipes
        .rules()
        .iter()
        .filter(|r| r.hits() > 0)
        .map(|r| crate::artifact::RuleRecord {
            id: r.id.clone(),
            action: format!("{:?}", r.action).to_lowercase(),
            category: r.category.clone(),
            reason: r.reason.clone(),
            origin: r.origin.clone(),
            hits: r.hits(),
        })
        .collect();
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_as_pep_440() {
        assert!(same_version("2.0", "2.0.0"));
        assert!(same_version("1.26.4", "1.26.4"));
        assert!(!same_version("1.26.4", "2.2.6"));
        assert!(same_version("2.9.0.post0", "2.9.0-post0"));
        assert!(!same_version("not a version", "1.0"));
    }
}
