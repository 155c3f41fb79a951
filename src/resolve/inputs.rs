//! Other inputs than requirements files: `pyproject.toml`, `uv.lock`, and finding the project's
//! input when none is named.
//!
//! - `pyproject.toml`: `[project].dependencies`, plus `[project.optional-dependencies]` chosen
//!   with `--extra`, plus PEP 735 `[dependency-groups]` chosen with `--group` (with
//!   `{include-group = …}`); all loose, resolved for the target.
//! - `uv.lock`: its pins and hashes are honoured. The lock is universal, so the dependency graph
//!   is walked from the project's own package(s) with every marker evaluated for the target,
//!   and for each package reached the best of its listed wheels for the target is used.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use pep508_rs::{MarkerEnvironment, MarkerTree};
use serde::Deserialize;

use super::index::FileLocation;
use super::{Lock, LockedWheel};
use crate::requirements::{IndexOptions, PinnedSet, RequirementSet};
use crate::target::Target;
use crate::wheel::normalize_name;

#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{path}: {detail}")]
    Read { path: String, detail: String },
    #[error(
        "no input found in {dir}: expected pylock.toml, uv.lock, requirements.txt or pyproject.toml\n  hint: name one with -r FILE"
    )]
    NothingFound { dir: String },
}

/// What kind of input a path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    Pylock,
    UvLock,
    Pyproject,
    Requirements,
}

pub fn kind_of(path: &Path) -> InputKind {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if super::pylock::is_pylock(path) {
        InputKind::Pylock
    } else if name == "uv.lock" {
        InputKind::UvLock
    } else if name == "pyproject.toml" {
        InputKind::Pyproject
    } else {
        InputKind::Requirements
    }
}

/// The project's input in `dir` when `-r` is not given, most specific first.
pub fn find_input(dir: &Path) -> Result<PathBuf, InputError> {
    for name in [
        "pylock.toml",
        "uv.lock",
        "requirements.txt",
        "pyproject.toml",
    ] {
        let p = dir.join(name);
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(InputError::NothingFound {
        dir: dir.display().to_string(),
    })
}

#[derive(Deserialize)]
struct Pyproject {
    #[serde(default)]
    project: Option<Project>,
    #[serde(default, rename = "dependency-groups")]
    dependency_groups: BTreeMap<String, Vec<GroupItem>>,
}

#[derive(Deserialize)]
struct Project {
    #[serde(default)]
    dependencies: Vec<String>,
    #[serde(default, rename = "optional-dependencies")]
    optional_dependencies: BTreeMap<String, Vec<String>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum GroupItem {
    Requirement(String),
    Include {
        #[serde(rename = "include-group")]
        include_group: String,
    },
}

/// Read a `pyproject.toml` into loose requirements for the target.
pub fn read_pyproject(
    path: &Path,
    target: &Target,
    extras: &[String],
    groups: &[String],
) -> Result<RequirementSet, InputError> {
    let shown = path.display().to_string();
    let err = |detail: String| InputError::Read {
        path: shown.clone(),
        detail,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    let doc: Pyproject = toml::from_str(&text).map_err(|e| err(e.message().to_string()))?;
    let project = doc.project.unwrap_or(Project {
        dependencies: Vec::new(),
        optional_dependencies: BTreeMap::new(),
    });
    let mut specs: Vec<String> = project.dependencies.clone();
    for e in extras {
        let deps = project.optional_dependencies.get(e).ok_or_else(|| {
            err(format!(
                "no optional-dependencies `{e}` (there are: {})",
                project
                    .optional_dependencies
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
        specs.extend(deps.iter().cloned());
    }
    let mut seen = BTreeSet::new();
    let mut todo: Vec<String> = groups.to_vec();
    while let Some(g) = todo.pop() {
        if !seen.insert(g.clone()) {
            continue;
        }
        let items = doc.dependency_groups.get(&g).ok_or_else(|| {
            err(format!(
                "no dependency group `{g}` (there are: {})",
                doc.dependency_groups
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
        for item in items {
            match item {
                GroupItem::Requirement(r) => specs.push(r.clone()),
                GroupItem::Include { include_group } => todo.push(include_group.clone()),
            }
        }
    }
    let env = crate::requirements::marker_environment(target);
    let mut requirements = Vec::new();
    let mut skipped = Vec::new();
    for spec in specs {
        let r = crate::requirements::parse_requirement(&spec)
            .map_err(|e| err(format!("cannot parse `{spec}`: {e}")))?;
        if r.evaluate_markers(&env, &[]) {
            requirements.push(r);
        } else {
            skipped.push(crate::requirements::Skipped {
                requirement: spec,
                location: shown.clone(),
            });
        }
    }
    let unpinned = requirements
        .iter()
        .map(|r| format!("{shown}: {r}"))
        .collect();
    Ok(RequirementSet {
        pinned: PinnedSet {
            pins: Vec::new(),
            index: IndexOptions::default(),
            skipped,
        },
        requirements,
        unpinned,
        constraints: Vec::new(),
        hashed: false,
    })
}

#[derive(Deserialize)]
struct UvLock {
    #[serde(default)]
    package: Vec<UvPackage>,
}

#[derive(Deserialize)]
struct UvPackage {
    name: String,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    source: BTreeMap<String, toml::Value>,
    #[serde(default)]
    dependencies: Vec<UvDep>,
    #[serde(default, rename = "optional-dependencies")]
    optional_dependencies: BTreeMap<String, Vec<UvDep>>,
    #[serde(default, rename = "resolution-markers")]
    resolution_markers: Vec<String>,
    #[serde(default)]
    wheels: Vec<UvWheel>,
}

#[derive(Deserialize)]
struct UvDep {
    name: String,
    #[serde(default)]
    marker: Option<String>,
    #[serde(default)]
    extra: Vec<String>,
}

#[derive(Deserialize)]
struct UvWheel {
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    hash: Option<String>,
}

fn marker_holds(
    marker: Option<&str>,
    env: &MarkerEnvironment,
    extras: &[pep508_rs::ExtraName],
) -> bool {
    match marker {
        None => true,
        Some(m) => MarkerTree::from_str(m).map_or(true, |t| t.evaluate(env, extras)),
    }
}

/// Read a `uv.lock` into the wheels to build for the target (`extras` of the project).
pub fn read_uv_lock(path: &Path, target: &Target, extras: &[String]) -> Result<Lock, InputError> {
    let shown = path.display().to_string();
    let err = |detail: String| InputError::Read {
        path: shown.clone(),
        detail,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    let lock: UvLock = toml::from_str(&text).map_err(|e| err(e.message().to_string()))?;
    let env = crate::requirements::marker_environment(target);
    let packages = UvPackages::new(&lock, &env);
    let roots: Vec<&UvPackage> = lock
        .package
        .iter()
        .filter(|p| p.source.contains_key("virtual") || p.source.contains_key("editable"))
        .collect();
    if roots.is_empty() {
        return Err(err(
            "no project package (source = virtual or editable) to start from".to_string(),
        ));
    }
    let mut root_names = BTreeSet::new();
    for r in &roots {
        root_names.insert(normalize_name(&r.name));
    }
    let reached = packages
        .reach(&roots, extras)
        .map_err(|name| err(format!("`{name}` is referenced but not in the lock")))?;
    let mut wheels = Vec::new();
    for name in &reached {
        if root_names.contains(name) {
            continue;
        }
        let Some(p) = packages.pick(name) else {
            continue;
        };
        if let Some(w) = uv_wheel(path, &shown, name, p, target)? {
            wheels.push(w);
        }
    }
    Ok(Lock {
        wheels,
        warnings: Vec::new(),
    })
}

/// The packages of a `uv.lock` by name, and the target's marker environment.
struct UvPackages<'a> {
    /// Forks (one name, several entries) are told apart by resolution-markers.
    by_name: BTreeMap<String, Vec<&'a UvPackage>>,
    env: &'a MarkerEnvironment,
}

impl<'a> UvPackages<'a> {
    /// Index the lock's packages by normalized name.
    fn new(lock: &'a UvLock, env: &'a MarkerEnvironment) -> Self {
        let mut by_name: BTreeMap<String, Vec<&UvPackage>> = BTreeMap::new();
        for p in &lock.package {
            by_name.entry(normalize_name(&p.name)).or_default().push(p);
        }
        UvPackages { by_name, env }
    }

    /// The entry of `name` whose resolution-markers hold on the target (else its first).
    fn pick(&self, name: &str) -> Option<&'a UvPackage> {
        let list = self.by_name.get(name)?;
        list.iter()
            .find(|p| {
                p.resolution_markers.is_empty()
                    || p.resolution_markers
                        .iter()
                        .any(|m| marker_holds(Some(m), self.env, &[]))
            })
            .or_else(|| list.first())
            .copied()
    }

    /// Every package reached from `roots` through dependencies whose markers hold.
    fn reach(&self, roots: &[&UvPackage], extras: &[String]) -> Result<BTreeSet<String>, String> {
        let mut queue: VecDeque<(String, Vec<String>)> = VecDeque::new();
        for r in roots {
            queue.push_back((normalize_name(&r.name), extras.to_vec()));
        }
        // Breadth first: a package's own dependencies once, each requested extra's once.
        let mut reached: BTreeSet<String> = BTreeSet::new();
        let mut extras_done: BTreeSet<(String, String)> = BTreeSet::new();
        while let Some((name, want_extras)) = queue.pop_front() {
            let Some(p) = self.pick(&name) else {
                return Err(name);
            };
            let mut deps: Vec<&UvDep> = Vec::new();
            if reached.insert(name.clone()) {
                deps.extend(p.dependencies.iter());
            }
            for e in want_extras {
                if extras_done.insert((name.clone(), e.clone()))
                    && let Some(list) = p.optional_dependencies.get(&e)
                {
                    deps.extend(list.iter());
                }
            }
            for d in deps {
                if marker_holds(d.marker.as_deref(), self.env, &[]) {
                    queue.push_back((normalize_name(&d.name), d.extra.clone()));
                }
            }
        }
        Ok(reached)
    }
}

/// The wheel of `p` the target prefers (`None`: no URL nor path); an error when none runs.
fn uv_wheel(
    path: &Path,
    shown: &str,
    name: &str,
    p: &UvPackage,
    target: &Target,
) -> Result<Option<LockedWheel>, InputError> {
    let version = p.version.clone().unwrap_or_default();
    let best = super::best_listed(
        p.wheels.iter().filter_map(|w| {
            let loc = w.url.as_deref().or(w.path.as_deref())?;
            Some((loc.rsplit('/').next()?.to_string(), w))
        }),
        target,
    );
    let Some((filename, w)) = best else {
        return Err(InputError::Read {
            path: shown.to_string(),
            detail: format!(
                "no wheel of {name} {version} in the lock runs on {target}\n  hint: re-lock with wheels for this platform, or resolve with `lpack lock`"
            ),
        });
    };
    let sha = w
        .hash
        .as_deref()
        .and_then(|h| h.strip_prefix("sha256:"))
        .map(str::to_ascii_lowercase);
    let location = match (&w.url, &w.path) {
        (Some(u), _) => FileLocation::Url(u.clone()),
        (None, Some(p)) => FileLocation::Path(path.parent().unwrap_or(Path::new(".")).join(p)),
        (None, None) => return Ok(None),
    };
    let registry = p
        .source
        .get("registry")
        .and_then(|v| v.as_str())
        .unwrap_or(shown)
        .to_string();
    Ok(Some(LockedWheel {
        name: name.to_string(),
        version,
        filename,
        location,
        index_sha256: sha.clone(),
        allowed_sha256: sha.into_iter().collect(),
        source: registry,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::{Arch, Runtime};

    #[test]
    fn pyproject_extras_and_groups() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("pyproject.toml");
        std::fs::write(
            &p,
            "[project]\nname = \"app\"\nversion = \"1\"\ndependencies = [\"numpy>=2\", \"tomli ; python_version < '3.11'\"]\n\
             [project.optional-dependencies]\nparquet = [\"pyarrow\"]\n\
             [dependency-groups]\nlambda = [\"aws-lambda-powertools\", {include-group = \"trace\"}]\ntrace = [\"aws-xray-sdk\"]\n",
        )
        .expect("write");
        let t = Target::new(Runtime::Python312, Arch::X86_64);
        let set = read_pyproject(&p, &t, &["parquet".into()], &["lambda".into()]).expect("read");
        let names: Vec<String> = set
            .requirements
            .iter()
            .map(|r| r.name.to_string())
            .collect();
        assert_eq!(
            names,
            vec!["numpy", "pyarrow", "aws-lambda-powertools", "aws-xray-sdk"]
        );
        assert_eq!(set.pinned.skipped.len(), 1);
        assert!(read_pyproject(&p, &t, &["nope".into()], &[]).is_err());
    }

    #[test]
    fn uv_lock_walks_the_graph_for_the_target() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("uv.lock");
        let h = "a".repeat(64);
        std::fs::write(
            &p,
            format!(
                "version = 1\n\
                 [[package]]\nname = \"app\"\nversion = \"1.0\"\nsource = {{ virtual = \".\" }}\n\
                 dependencies = [{{ name = \"six\" }}, {{ name = \"winonly\", marker = \"sys_platform == 'win32'\" }}]\n\
                 [[package]]\nname = \"six\"\nversion = \"1.17.0\"\nsource = {{ registry = \"https://pypi.org/simple\" }}\n\
                 wheels = [{{ url = \"https://files/six-1.17.0-py2.py3-none-any.whl\", hash = \"sha256:{h}\" }}]\n\
                 [[package]]\nname = \"winonly\"\nversion = \"1.0\"\nsource = {{ registry = \"https://pypi.org/simple\" }}\n\
                 wheels = [{{ url = \"https://files/winonly-1.0-py3-none-win_amd64.whl\", hash = \"sha256:{h}\" }}]\n"
            ),
        )
        .expect("write");
        let t = Target::new(Runtime::Python312, Arch::X86_64);
        let lock = read_uv_lock(&p, &t, &[]).expect("read");
        assert_eq!(lock.wheels.len(), 1);
        assert_eq!(lock.wheels[0].name, "six");
        assert_eq!(lock.wheels[0].index_sha256.as_deref(), Some(h.as_str()));
    }
}
