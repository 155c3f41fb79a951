//! Resolution of loose requirements for one Lambda target, with pubgrub.
//!
//! A version is a *candidate* only if one of its files is a wheel the target can run (tags,
//! glibc, `Requires-Python`) and it is not yanked (unless a root requirement pins it exactly).
//! Versions that exist but fail that test are remembered with the reason, so an unsatisfiable
//! result can say "numpy versions 2.3.0 … 2.4.6 have no wheel for python3.11 on x86_64
//! (glibc 2.26)" instead of "no versions". Pre-releases are candidates only when asked for
//! (`--prerelease allow`) or when a range matches nothing else.
//!
//! Dependencies come from each chosen wheel's core metadata: the PEP 658/714 `.metadata` file
//! when the index serves it (no wheel download), else the wheel itself. Metadata is cached.
//! Markers are evaluated for the target; extras are virtual packages `name[extra]` that depend
//! on `name` at the same version plus the extra's requirements.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::str::FromStr;

use pep440_rs::{Operator, Version, VersionSpecifiers};
use pep508_rs::{ExtraName, MarkerEnvironment, Requirement, VerbatimUrl, VersionOrUrl};
use pubgrub::{
    DefaultStringReporter, Dependencies, DependencyProvider, PackageResolutionStatistics,
    PubGrubError, Ranges, Reporter,
};

use super::index::{DistFile, FileLocation, IndexClient};
use crate::cache::{Cache, sha256_hex};
use crate::http::Http;
use crate::target::Target;
use crate::wheel::{WheelFilename, normalize_name};

/// A node of the resolution graph.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Pkg {
    Root,
    Dist(String),
    Extra(String, String),
}

impl fmt::Display for Pkg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pkg::Root => f.write_str("your requirements"),
            Pkg::Dist(n) => f.write_str(n),
            Pkg::Extra(n, e) => write!(f, "{n}[{e}]"),
        }
    }
}

/// Pre-release policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Prerelease {
    /// Only when a requirement matches nothing else
    #[default]
    IfNecessary,
    /// Always consider pre-releases
    Allow,
}

#[derive(Debug, thiserror::Error)]
pub enum SolveError {
    #[error("{0}")]
    Unsatisfiable(String),
    #[error("{0}")]
    Failed(String),
    /// Internal: start over with this package decided early (see [`solve`]).
    #[error("restart with {0} first")]
    Restart(String),
}

/// Conflicts one package may cause before resolution restarts with it decided early.
const RESTART_AFTER: u32 = 12;

/// Why an existing version is not a candidate.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Rejection {
    NoWheelForTarget,
    SdistOnly,
    RequiresPython(String),
    Yanked,
}

type Vs = Ranges<Version>;

pub struct Provider<'a> {
    client: &'a IndexClient,
    cache: &'a Cache,
    http: Option<&'a Http>,
    target: &'a Target,
    env: MarkerEnvironment,
    prerelease: Prerelease,
    root: Vec<(Pkg, Vs)>,
    /// Versions a root requirement pins exactly (yanked versions stay candidates).
    exact: BTreeSet<(String, Version)>,
    candidates: RefCell<HashMap<String, BTreeMap<Version, Vec<DistFile>>>>,
    rejected: RefCell<HashMap<String, BTreeMap<Version, Rejection>>>,
    error: RefCell<Option<String>>,
    /// Direct wheels by package (`name @ URL`): their only candidate.
    direct: HashMap<String, DistFile>,
    /// Packages decided before all others (they kept conflicting in an earlier attempt).
    promoted: RefCell<BTreeSet<String>>,
    /// Set when a package conflicted too often: the current attempt stops (see [`solve`]).
    restart_for: RefCell<Option<String>>,
    /// Constraints by package: intersected into every range that requires it.
    constraints: HashMap<String, Vs>,
    /// The order in which packages were first seen (root requirements first, then breadth
    /// first): earlier packages are decided first, as uv does.
    discovered: RefCell<HashMap<String, usize>>,
}

fn to_range(spec: Option<&VersionOrUrl<VerbatimUrl>>) -> Result<Vs, String> {
    match spec {
        None => Ok(Ranges::full()),
        Some(VersionOrUrl::VersionSpecifier(s)) => Ok(Ranges::from(s.clone())),
        // Direct wheels: the only candidate is the wheel itself (see `direct`).
        Some(VersionOrUrl::Url(_)) => Ok(Ranges::full()),
    }
}

/// A `name @ URL` requirement's wheel: `https://…/x.whl` or `file:///…/x.whl`.
fn direct_file(url: &VerbatimUrl) -> Result<DistFile, String> {
    let u: &url::Url = url;
    let (clean, sha256) = {
        let mut c = u.clone();
        let sha = u
            .fragment()
            .and_then(|f| f.strip_prefix("sha256="))
            .map(str::to_ascii_lowercase);
        c.set_fragment(None);
        (c, sha)
    };
    let filename = clean
        .path_segments()
        .and_then(|mut s| s.next_back())
        .map(str::to_string)
        .filter(|f| f.ends_with(".whl"))
        .ok_or_else(|| {
            format!("{u} is not a wheel (lpack needs .whl files; build one for the target)")
        })?;
    let location = match clean.scheme() {
        "file" => FileLocation::Path(
            clean
                .to_file_path()
                .map_err(|_| format!("bad file URL {u}"))?,
        ),
        "http" | "https" => FileLocation::Url(clean.to_string()),
        other => return Err(format!("{u}: unsupported URL scheme `{other}`")),
    };
    Ok(DistFile {
        filename,
        location,
        sha256,
        yanked: None,
        requires_python: None,
        core_metadata: false,
        source: crate::http::redact(u.as_str()),
    })
}

fn python_ok(requires: Option<&str>, target: &Target) -> Result<(), String> {
    let Some(req) = requires else { return Ok(()) };
    let Ok(specs) = VersionSpecifiers::from_str(req) else {
        return Ok(());
    };
    let v = Version::from_str(target.runtime.full_version()).map_err(|e| e.to_string())?;
    if specs.contains(&v) {
        Ok(())
    } else {
        Err(req.to_string())
    }
}

impl<'a> Provider<'a> {
    pub fn new(
        client: &'a IndexClient,
        cache: &'a Cache,
        http: Option<&'a Http>,
        target: &'a Target,
        requirements: &[Requirement<VerbatimUrl>],
        constraints: &[Requirement<VerbatimUrl>],
        prerelease: Prerelease,
    ) -> Result<Provider<'a>, SolveError> {
        let env = crate::requirements::marker_environment(target);
        let mut constrained: HashMap<String, Vs> = HashMap::new();
        for c in constraints {
            let name = normalize_name(c.name.as_ref());
            let range = to_range(c.version_or_url.as_ref())
                .map_err(|e| SolveError::Failed(format!("constraint on {name}: {e}")))?;
            let merged = constrained
                .get(&name)
                .map_or(range.clone(), |prev| prev.intersection(&range));
            constrained.insert(name, merged);
        }
        let mut root = Vec::new();
        let mut exact = BTreeSet::new();
        let mut direct = HashMap::new();
        for r in requirements {
            if !r.evaluate_markers(&env, &[]) {
                continue;
            }
            let name = normalize_name(r.name.as_ref());
            let range = to_range(r.version_or_url.as_ref())
                .map_err(|e| SolveError::Failed(format!("{name}: {e}")))?;
            if let Some(VersionOrUrl::VersionSpecifier(s)) = &r.version_or_url {
                for spec in s.iter() {
                    if matches!(spec.operator(), Operator::Equal | Operator::ExactEqual) {
                        exact.insert((name.clone(), spec.version().clone()));
                    }
                }
            }
            if let Some(VersionOrUrl::Url(u)) = &r.version_or_url {
                let file =
                    direct_file(u).map_err(|e| SolveError::Failed(format!("{name}: {e}")))?;
                direct.insert(name.clone(), file);
            }
            root.push((Pkg::Dist(name.clone()), range.clone()));
            for e in &r.extras {
                root.push((Pkg::Extra(name.clone(), e.to_string()), range.clone()));
            }
        }
        Ok(Provider {
            client,
            cache,
            http,
            target,
            env,
            prerelease,
            root,
            exact,
            candidates: RefCell::new(HashMap::new()),
            rejected: RefCell::new(HashMap::new()),
            error: RefCell::new(None),
            constraints: constrained,
            direct,
            promoted: RefCell::new(BTreeSet::new()),
            restart_for: RefCell::new(None),
            discovered: RefCell::new(HashMap::new()),
        })
    }

    /// Read the index pages of `names` (in parallel) into the candidate tables.
    fn prefetch(&self, names: &[String]) {
        {
            let mut d = self.discovered.borrow_mut();
            for n in names {
                let next = d.len();
                d.entry(n.clone()).or_insert(next);
            }
        }
        for n in names {
            if let Some(f) = self.direct.get(n)
                && !self.candidates.borrow().contains_key(n)
            {
                let v = super::index::file_version(&f.filename)
                    .and_then(|v| Version::from_str(&v).ok());
                let runs = WheelFilename::parse(&f.filename)
                    .ok()
                    .and_then(|w| w.priority(self.target))
                    .is_some();
                let mut m = BTreeMap::new();
                if let Some(v) = v {
                    if runs {
                        m.insert(v, vec![f.clone()]);
                    } else {
                        self.rejected
                            .borrow_mut()
                            .entry(n.clone())
                            .or_default()
                            .insert(v, Rejection::NoWheelForTarget);
                    }
                }
                self.candidates.borrow_mut().insert(n.clone(), m);
            }
        }
        let todo: Vec<String> = names
            .iter()
            .filter(|n| !self.candidates.borrow().contains_key(*n))
            .cloned()
            .collect();
        if todo.is_empty() {
            return;
        }
        let pages = super::parallel_map(&todo, 8, |n| (n.clone(), self.client.project_files(n)));
        for (name, files) in pages {
            match files {
                Ok(files) => self.classify(&name, files),
                Err(e) => {
                    self.error.replace(Some(format!("{name}: {e}")));
                }
            }
        }
    }

    fn classify(&self, name: &str, files: Vec<DistFile>) {
        let mut by_version: BTreeMap<Version, Vec<DistFile>> = BTreeMap::new();
        for f in files {
            if let Some(v) =
                super::index::file_version(&f.filename).and_then(|v| Version::from_str(&v).ok())
            {
                by_version.entry(v).or_default().push(f);
            }
        }
        let mut good = BTreeMap::new();
        let mut bad = BTreeMap::new();
        for (v, files) in by_version {
            let pinned = self.exact.contains(&(name.to_string(), v.clone()));
            let wheels: Vec<&DistFile> = files
                .iter()
                .filter(|f| f.filename.ends_with(".whl"))
                .collect();
            let usable: Vec<DistFile> = wheels
                .iter()
                .filter(|f| {
                    WheelFilename::parse(&f.filename)
                        .ok()
                        .and_then(|w| w.priority(self.target))
                        .is_some()
                })
                .filter(|f| python_ok(f.requires_python.as_deref(), self.target).is_ok())
                .filter(|f| pinned || f.yanked.is_none())
                .map(|f| (*f).clone())
                .collect();
            if !usable.is_empty() {
                good.insert(v, usable);
                continue;
            }
            let why = if wheels.is_empty() {
                Rejection::SdistOnly
            } else if wheels.iter().all(|f| f.yanked.is_some()) && !pinned {
                Rejection::Yanked
            } else if let Some(rp) = wheels
                .iter()
                .find_map(|f| python_ok(f.requires_python.as_deref(), self.target).err())
                && wheels
                    .iter()
                    .all(|f| python_ok(f.requires_python.as_deref(), self.target).is_err())
            {
                Rejection::RequiresPython(rp)
            } else {
                Rejection::NoWheelForTarget
            };
            bad.insert(v, why);
        }
        self.candidates.borrow_mut().insert(name.to_string(), good);
        self.rejected.borrow_mut().insert(name.to_string(), bad);
    }

    /// The direct wheel given for `name`, if any: (file name, location).
    pub fn direct_wheel(&self, name: &str) -> Option<(String, FileLocation)> {
        self.direct
            .get(name)
            .map(|f| (f.filename.clone(), f.location.clone()))
    }

    /// The wheel of `name==version` whose metadata describes its dependencies.
    fn best_file(&self, name: &str, version: &Version) -> Option<DistFile> {
        self.prefetch(&[name.to_string()]);
        let candidates = self.candidates.borrow();
        let files = candidates.get(name)?.get(version)?;
        files
            .iter()
            .cloned()
            .filter_map(|f| {
                let p = WheelFilename::parse(&f.filename)
                    .ok()?
                    .priority(self.target)?;
                Some((p, f))
            })
            .min_by_key(|(p, _)| *p)
            .map(|(_, f)| f)
    }

    /// Core metadata text of a wheel: `.metadata` (PEP 658), else from the wheel; cached.
    fn metadata(&self, file: &DistFile) -> Result<String, String> {
        let key = sha256_hex(format!("{:?}", file.location).as_bytes());
        let path = self.cache.root().join("metadata-v1").join(&key);
        self.cache.note_path(&path);
        if let Ok(text) = std::fs::read_to_string(&path) {
            return Ok(text);
        }
        let text = match &file.location {
            FileLocation::Url(url) => {
                let from_sidecar = self.http.and_then(|h| {
                    let resp = h.get(&format!("{url}.metadata"), None).ok()?;
                    if resp.status().is_success() {
                        resp.text().ok()
                    } else {
                        None
                    }
                });
                match from_sidecar {
                    Some(t) => t,
                    None => self.metadata_from_wheel(file)?,
                }
            }
            FileLocation::Path(_) => self.metadata_from_wheel(file)?,
        };
        let _ = std::fs::create_dir_all(path.parent().unwrap_or(self.cache.root()));
        let _ = crate::cache::write_atomic(&self.cache.root().join("tmp"), &path, text.as_bytes());
        Ok(text)
    }

    fn metadata_from_wheel(&self, file: &DistFile) -> Result<String, String> {
        let name = super::index::file_project_name(&file.filename).unwrap_or_default();
        let version = super::index::file_version(&file.filename).unwrap_or_default();
        let lock = super::Lock {
            wheels: vec![super::LockedWheel {
                name: normalize_name(&name),
                version,
                filename: file.filename.clone(),
                location: file.location.clone(),
                index_sha256: file.sha256.clone(),
                allowed_sha256: vec![],
                source: file.source.clone(),
            }],
            warnings: vec![],
        };
        let (fetched, _) = crate::fetch::fetch(
            &lock,
            self.cache,
            self.http,
            self.client.offline(),
            &crate::progress::Silent,
        )
        .map_err(|e| e.to_string())?;
        let w = fetched.first().ok_or("nothing fetched")?;
        let wheel =
            crate::wheel::Wheel::open(&w.path, &w.locked.filename).map_err(|e| e.to_string())?;
        let di = wheel.dist_info_dir().ok_or("wheel without .dist-info")?;
        let entry = wheel
            .entries
            .iter()
            .find(|e| e.path.as_str() == format!("{di}/METADATA"))
            .ok_or("wheel without METADATA")?;
        let bytes = wheel.read_entry(entry.index).map_err(|e| e.to_string())?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// `Requires-Dist` and `Requires-Python` of a metadata text.
    pub fn parse_metadata(text: &str) -> (Vec<Requirement<VerbatimUrl>>, Option<String>) {
        let mut reqs = Vec::new();
        let mut requires_python = None;
        for line in text.lines() {
            if line.is_empty() {
                break;
            }
            if let Some(spec) = line.strip_prefix("Requires-Dist:") {
                if let Ok(r) = crate::requirements::parse_requirement(spec.trim()) {
                    reqs.push(r);
                }
            } else if let Some(rp) = line.strip_prefix("Requires-Python:") {
                requires_python = Some(rp.trim().to_string());
            }
        }
        (reqs, requires_python)
    }

    fn constrain(&self, p: &Pkg, range: Vs) -> Vs {
        match p {
            Pkg::Dist(n) | Pkg::Extra(n, _) => match self.constraints.get(n) {
                Some(c) => range.intersection(c),
                None => range,
            },
            Pkg::Root => range,
        }
    }

    /// Plain-words explanation of versions that exist but are not candidates.
    fn explain_rejections(&self, names: &BTreeSet<String>) -> String {
        let (gmaj, gmin) = self.target.glibc();
        let mut out = String::new();
        for name in names {
            let Some(bad) = self.rejected.borrow().get(name).cloned() else {
                continue;
            };
            let mut groups: BTreeMap<Rejection, Vec<Version>> = BTreeMap::new();
            for (v, why) in bad {
                groups.entry(why).or_default().push(v);
            }
            for (why, vs) in groups {
                let one = vs.len() == 1;
                let span = match (vs.first(), vs.last()) {
                    (Some(a), Some(b)) if a == b => format!("{a}"),
                    (Some(a), Some(b)) => format!("{a} … {b} ({} versions)", vs.len()),
                    _ => continue,
                };
                let (has, ships, requires, is) = if one {
                    ("has", "ships", "requires", "is")
                } else {
                    ("have", "ship", "require", "are")
                };
                let reason = match why {
                    Rejection::NoWheelForTarget => format!(
                        "{has} no wheel for {} on {} (glibc {gmaj}.{gmin})",
                        self.target.runtime,
                        self.target.arch.machine()
                    ),
                    Rejection::SdistOnly => format!(
                        "{ships} only source distributions (Lambda needs wheels; build one and pass --find-links)"
                    ),
                    Rejection::RequiresPython(rp) => format!(
                        "{requires} Python {rp}, not {}",
                        self.target.runtime.full_version()
                    ),
                    Rejection::Yanked => format!("{is} yanked (pin one exactly to use it anyway)"),
                };
                out.push_str(&format!("\n  {name} {span} {reason}"));
            }
        }
        out
    }
}

impl DependencyProvider for Provider<'_> {
    type P = Pkg;
    type V = Version;
    type VS = Vs;
    type M = String;
    type Priority = (u32, std::cmp::Reverse<usize>);
    type Err = SolveError;

    fn prioritize(
        &self,
        package: &Pkg,
        _range: &Vs,
        stats: &PackageResolutionStatistics,
    ) -> Self::Priority {
        // Promoted packages first, then conflict-prone ones, then discovery order (direct
        // requirements before their dependencies, breadth first).
        let order = match package {
            Pkg::Root => 0,
            Pkg::Dist(name) | Pkg::Extra(name, _) => {
                if self.promoted.borrow().contains(name) {
                    return (u32::MAX, std::cmp::Reverse(0));
                }
                // A package that keeps conflicting with earlier decisions (every botocore
                // version needs python-dateutil<3 once dateutil 4 is chosen) is better decided
                // before them: stop and start over with it promoted.
                if stats.conflict_count() > RESTART_AFTER && self.restart_for.borrow().is_none() {
                    self.restart_for.replace(Some(name.clone()));
                }
                self.discovered
                    .borrow()
                    .get(name)
                    .copied()
                    .unwrap_or(usize::MAX)
            }
        };
        (stats.conflict_count(), std::cmp::Reverse(order))
    }

    fn should_cancel(&self) -> Result<(), SolveError> {
        match self.restart_for.borrow().clone() {
            Some(name) => Err(SolveError::Restart(name)),
            None => Ok(()),
        }
    }

    fn choose_version(&self, package: &Pkg, range: &Vs) -> Result<Option<Version>, SolveError> {
        let name = match package {
            Pkg::Root => return Ok(Some(Version::new([0]))),
            Pkg::Dist(n) | Pkg::Extra(n, _) => n,
        };
        self.prefetch(&[name.to_string()]);
        if let Some(e) = self.error.borrow().clone() {
            return Err(SolveError::Failed(e));
        }
        let candidates = self.candidates.borrow();
        let Some(versions) = candidates.get(name) else {
            return Ok(None);
        };
        let in_range = versions.keys().rev().filter(|v| range.contains(v));
        let stable = in_range.clone().find(|v| !v.any_prerelease());
        Ok(match (self.prerelease, stable) {
            (Prerelease::Allow, _) => in_range.clone().next().cloned(),
            (Prerelease::IfNecessary, Some(v)) => Some(v.clone()),
            (Prerelease::IfNecessary, None) => in_range.clone().next().cloned(),
        })
    }

    fn get_dependencies(
        &self,
        package: &Pkg,
        version: &Version,
    ) -> Result<Dependencies<Pkg, Vs, String>, SolveError> {
        let (name, extra) = match package {
            Pkg::Root => {
                let names: Vec<String> = self
                    .root
                    .iter()
                    .filter_map(|(p, _)| match p {
                        Pkg::Dist(n) | Pkg::Extra(n, _) => Some(n.clone()),
                        Pkg::Root => None,
                    })
                    .collect();
                self.prefetch(&names);
                let mut deps: BTreeMap<Pkg, Vs> = BTreeMap::new();
                for (p, r) in &self.root {
                    let merged = deps
                        .get(p)
                        .map_or(r.clone(), |prev: &Vs| prev.intersection(r));
                    deps.insert(p.clone(), merged);
                }
                return Ok(Dependencies::Available(deps.into_iter().collect()));
            }
            Pkg::Dist(n) => (n, None),
            Pkg::Extra(n, e) => (n, Some(e.clone())),
        };
        let Some(file) = self.best_file(name, version) else {
            return Ok(Dependencies::Unavailable(format!(
                "no wheel of {name} {version} for the target"
            )));
        };
        let text = self
            .metadata(&file)
            .map_err(|e| SolveError::Failed(format!("metadata of {}: {e}", file.filename)))?;
        let (reqs, requires_python) = Self::parse_metadata(&text);
        if let Err(rp) = python_ok(requires_python.as_deref(), self.target) {
            return Ok(Dependencies::Unavailable(format!(
                "{name} {version} requires Python {rp}"
            )));
        }
        let mut deps: BTreeMap<Pkg, Vs> = BTreeMap::new();
        let extras: Vec<ExtraName> = extra
            .iter()
            .filter_map(|e| ExtraName::from_str(e).ok())
            .collect();
        if extra.is_some() {
            // name[extra] == v needs name == v.
            deps.insert(Pkg::Dist(name.clone()), Ranges::singleton(version.clone()));
        }
        let mut names = Vec::new();
        for r in reqs {
            let with_extra = r.evaluate_markers(&self.env, &extras);
            let without = r.evaluate_markers(&self.env, &[]);
            // For name[extra], only what the extra adds; for name, what applies without extras.
            let applies = if extra.is_some() {
                with_extra && !without
            } else {
                without
            };
            if !applies {
                continue;
            }
            let dep = normalize_name(r.name.as_ref());
            let range = to_range(r.version_or_url.as_ref())
                .map_err(|e| SolveError::Failed(format!("{name} {version} requires {dep}: {e}")))?;
            names.push(dep.clone());
            let key = Pkg::Dist(dep.clone());
            let range = self.constrain(&key, range);
            let merged = deps
                .get(&key)
                .map_or(range.clone(), |prev: &Vs| prev.intersection(&range));
            deps.insert(key, merged);
            for e in &r.extras {
                deps.insert(Pkg::Extra(dep.clone(), e.to_string()), range.clone());
            }
        }
        self.prefetch(&names);
        Ok(Dependencies::Available(deps.into_iter().collect()))
    }
}

/// Resolve `requirements` for the target: name → version, sorted.
///
/// When one package keeps conflicting with an earlier decision, the attempt is abandoned and
/// resolution starts over with that package decided first (at most a few times); metadata read
/// so far is cached, so a restart costs little.
pub fn solve(provider: &Provider<'_>) -> Result<BTreeMap<String, Version>, SolveError> {
    let mut attempts = 0;
    loop {
        attempts += 1;
        provider.restart_for.replace(None);
        match solve_once(provider) {
            Err(SolveError::Restart(name)) if attempts < 6 => {
                provider.promoted.borrow_mut().insert(name);
            }
            Err(SolveError::Restart(name)) => {
                return Err(SolveError::Failed(format!(
                    "resolution keeps backtracking over {name}; pin it (or its dependents) more tightly"
                )));
            }
            other => return other,
        }
    }
}

fn solve_once(provider: &Provider<'_>) -> Result<BTreeMap<String, Version>, SolveError> {
    match pubgrub::resolve(provider, Pkg::Root, Version::new([0])) {
        Ok(selected) => Ok(selected
            .into_iter()
            .filter_map(|(p, v)| match p {
                Pkg::Dist(n) => Some((n, v)),
                _ => None,
            })
            .collect()),
        Err(PubGrubError::NoSolution(mut tree)) => {
            tree.collapse_no_versions();
            // pubgrub names the root by its placeholder version; say it in words.
            let report = DefaultStringReporter::report(&tree)
                .replace("your requirements 0 ", "your requirements ")
                .replace("your requirements 0,", "your requirements,");
            let mut names = BTreeSet::new();
            for p in tree.packages() {
                if let Pkg::Dist(n) | Pkg::Extra(n, _) = p {
                    names.insert(n.clone());
                }
            }
            let why = provider.explain_rejections(&names);
            let why = if why.is_empty() {
                String::new()
            } else {
                format!("\nVersions that exist but cannot be used:{why}")
            };
            Err(SolveError::Unsatisfiable(format!(
                "no set of versions satisfies the requirements on {}:\n{report}{why}\n  hint: relax a pin, choose another runtime, or supply wheels with --find-links",
                provider.target
            )))
        }
        Err(PubGrubError::ErrorChoosingVersion { source, .. })
        | Err(PubGrubError::ErrorRetrievingDependencies { source, .. })
        | Err(PubGrubError::ErrorInShouldCancel(source)) => Err(source),
    }
}
