//! Many builds in one run: the named functions and layers of a config file.
//!
//! Layers are built first, then the functions; each function is built against the manifests of
//! the layers it names (their distributions are left out of its zip, as `exclude_layers` does).
//! Up to `jobs` builds run at once, sharing the cache (downloads, slim fragments, traces are
//! content-addressed, so a wheel two builds use is fetched and slimmed once). A failed build does
//! not stop the others, but a function whose layer failed is not built.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::build;
use super::error::BuildError;
use super::outcome::BuildOutcome;
use super::request::BuildRequest;
use crate::progress::Reporter;

/// Is a unit a function or a layer?
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UnitKind {
    Function,
    Layer,
}

/// One named build.
#[derive(Debug, Clone)]
pub struct UnitRequest {
    pub name: String,
    pub kind: UnitKind,
    pub request: BuildRequest,
    /// Functions: the layers (names of other units) built against.
    pub layers: Vec<String>,
}

/// What happened to one unit.
#[derive(Debug)]
pub enum UnitResult {
    Built(Box<BuildOutcome>),
    Failed(BuildError),
    /// Not built: a layer it needs failed.
    Skipped(String),
}

/// A unit and its result, in the order the units were given.
#[derive(Debug)]
pub struct UnitOutcome {
    pub name: String,
    pub kind: UnitKind,
    pub result: UnitResult,
}

/// Build every unit: layers, then functions, `jobs` at a time. `reporter` gives each unit its
/// progress reporter.
pub fn build_many(
    units: &[UnitRequest],
    jobs: usize,
    reporter: &(dyn Fn(&str) -> Box<dyn Reporter> + Sync),
) -> Vec<UnitOutcome> {
    // Each cache the units use stays open for the whole run, so that every build shares one
    // use log (see `Cache::open`). A cache that cannot be opened is reported by its builds.
    let mut roots: Vec<std::path::PathBuf> = units
        .iter()
        .map(|u| {
            u.request
                .cache_dir
                .clone()
                .unwrap_or_else(crate::cache::Cache::default_root)
        })
        .collect();
    roots.sort();
    roots.dedup();
    let _open: Vec<crate::cache::Cache> = roots
        .iter()
        .filter_map(|r| crate::cache::Cache::open(r).ok())
        .collect();
    let mut results: Vec<Option<UnitResult>> = (0..units.len()).map(|_| None).collect();
    for kind in [UnitKind::Layer, UnitKind::Function] {
        let wave: Vec<usize> = (0..units.len())
            .filter(|&i| units[i].kind == kind)
            .collect();
        let mut ready: Vec<(usize, BuildRequest)> = Vec::new();
        for &i in &wave {
            let unit = &units[i];
            let mut req = unit.request.clone();
            let mut blocked = None;
            for l in &unit.layers {
                let found = units
                    .iter()
                    .position(|u| &u.name == l && u.kind == UnitKind::Layer);
                match found.and_then(|j| results[j].as_ref()) {
                    Some(UnitResult::Built(o)) => {
                        req.exclude_layers
                            .extend(o.artifacts.iter().map(|a| a.manifest_file.clone()));
                    }
                    Some(_) => {
                        blocked = Some(format!("its layer `{l}` was not built"));
                        break;
                    }
                    None => {
                        blocked = Some(format!("its layer `{l}` is not part of this run"));
                        break;
                    }
                }
            }
            match blocked {
                Some(why) => results[i] = Some(UnitResult::Skipped(why)),
                None => ready.push((i, req)),
            }
        }
        for (i, r) in run_parallel(units, &ready, jobs, reporter) {
            // A layer's manifest is in memory: its functions' keys need its digest.
            if let UnitResult::Built(o) = &r
                && kind == UnitKind::Layer
            {
                for a in &o.artifacts {
                    super::key::remember_layer_manifest(&a.manifest_file, &a.manifest);
                }
            }
            results[i] = Some(r);
        }
    }
    units
        .iter()
        .zip(results)
        .map(|(u, r)| UnitOutcome {
            name: u.name.clone(),
            kind: u.kind,
            result: r.unwrap_or_else(|| UnitResult::Skipped("not scheduled".into())),
        })
        .collect()
}

fn run_parallel(
    units: &[UnitRequest],
    ready: &[(usize, BuildRequest)],
    jobs: usize,
    reporter: &(dyn Fn(&str) -> Box<dyn Reporter> + Sync),
) -> Vec<(usize, UnitResult)> {
    let next = AtomicUsize::new(0);
    let done: Mutex<Vec<(usize, UnitResult)>> = Mutex::new(Vec::new());
    let workers = jobs.clamp(1, ready.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    let Some((i, req)) = ready.get(k) else { break };
                    let rep = reporter(&units[*i].name);
                    let result = match build(req, rep.as_ref()) {
                        Ok(o) => UnitResult::Built(Box::new(o)),
                        Err(e) => UnitResult::Failed(e),
                    };
                    if let Ok(mut d) = done.lock() {
                        d.push((*i, result));
                    }
                }
            });
        }
    });
    done.into_inner().unwrap_or_else(|p| p.into_inner())
}
