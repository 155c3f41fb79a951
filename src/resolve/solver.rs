//! Resolution of loose requirements for one Lambda target, with pubgrub.
//!
//! A version is a *candidate* only if one of its files is a wheel the target can run (tags,
//! glibc, `Requires-Python`) and it is not yanked (unless a root requirement pins it exactly).
//! Versions that exist but fail that test are remembered with the reason, so an unsatisfiable
//! result can say "numpy versions 2.3.0 … 2.4.6 have no wheel for python3.11 on x86_64
//! (glibc 2.26)" instead of "no versions". Pre-releases are candidates as uv has them by
//! default: for a package whose versions are all pre-releases, for a package a requirement you
//! wrote names with a pre-release (`a>=2.0b1`, in the input or a constraint), or for everything
//! with `--prerelease allow`.
//!
//! Dependencies come from each chosen wheel's core metadata: the PEP 658/714 `.metadata` file
//! when the index serves it (no wheel download), else the wheel itself. Metadata is cached.
//! Markers are evaluated for the target; extras are virtual packages `name[extra]` that depend
//! on `name` at the same version plus the extra's requirements.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::str::FromStr;

use pep440_rs::{Operator, Version, VersionSpecifier, VersionSpecifiers};
use pep508_rs::{ExtraName, MarkerEnvironment, Requirement, VerbatimUrl, VersionOrUrl};
use pubgrub::{
    DefaultStringReporter, Dependencies, DependencyProvider, PackageResolutionStatistics,
    PubGrubError, Ranges, Reporter,
};

use super::report::{Words, sentence};

use super::index::{DistFile, FileLocation, IndexClient};
use crate::cache::Cache;
use crate::digest::sha256_hex;
use crate::http::Http;
use crate::target::Target;
use crate::wheel::{WheelFilename, normalize_name};

pub use super::pkg::Pkg;

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

/// Conflicts a package may suffer before it is decided early (uv's threshold).
const CONFLICT_THRESHOLD: u32 = 5;

/// Restarts with a promoted package, at most (then resolution goes on without more).
const MAX_RESTARTS: u32 = 16;

/// When `requires` excludes the target by an upper bound (`<3.9`, `==3.8.*`): lpack's policy,
/// said in words (uv ignores such bounds when it resolves; an artifact runs on one Python).
pub fn upper_bound_note(requires: &str, target: &Target) -> String {
    let (Ok(specs), Ok(v)) = (
        VersionSpecifiers::from_str(requires),
        Version::from_str(target.runtime.full_version()),
    ) else {
        return String::new();
    };
    let upper = specs.iter().any(|s| {
        !s.contains(&v)
            && s.version() < &v
            && matches!(
                s.operator(),
                Operator::LessThan
                    | Operator::LessThanEqual
                    | Operator::Equal
                    | Operator::EqualStar
                    | Operator::TildeEqual
                    | Operator::ExactEqual
            )
    });
    if upper {
        format!(
            " (lpack honours this upper bound: the artifact runs on exactly {}, Python {})",
            target.runtime,
            target.runtime.full_version()
        )
    } else {
        String::new()
    }
}

/// Is `range` one version, or one public version with any local label (`==1.2.3`)?
fn single_version(range: &Vs) -> bool {
    if range.as_singleton().is_some() {
        return true;
    }
    let mut segments = range.iter();
    matches!(
        (segments.next(), segments.next()),
        (Some((std::ops::Bound::Included(lo), std::ops::Bound::Excluded(hi))), None)
            if lo.local().is_empty() && *hi == after_locals(lo)
    )
}

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
    fetcher: &'a dyn super::WheelFetch,
    target: &'a Target,
    env: MarkerEnvironment,
    prerelease: Prerelease,
    root: Vec<(Pkg, Vs)>,
    /// Versions a root requirement pins exactly (yanked versions stay candidates).
    exact: BTreeSet<(String, Version)>,
    /// Packages a root requirement or constraint names with a pre-release version.
    explicit_pre: BTreeSet<String>,
    candidates: RefCell<HashMap<String, BTreeMap<Version, Vec<DistFile>>>>,
    rejected: RefCell<HashMap<String, BTreeMap<Version, Rejection>>>,
    error: RefCell<Option<String>>,
    /// Direct wheels by package (`name @ URL`): their only candidate.
    direct: HashMap<String, DistFile>,
    /// Packages decided before all others (they kept conflicting in an earlier attempt).
    promoted: RefCell<BTreeSet<String>>,
    /// Set when a package conflicted too often: the current attempt stops (see [`solve`]).
    restart_for: RefCell<Option<String>>,
    /// How many more times resolution may start over.
    restarts_left: RefCell<u32>,
    /// `--no-deps`: packages bring no dependencies.
    no_deps: bool,
    /// Constraints by package: intersected into every range that requires it.
    constraints: HashMap<String, Vs>,
    /// The order in which packages were first seen (root requirements first, then breadth
    /// first): earlier packages are decided first, as uv does.
    discovered: RefCell<HashMap<String, usize>>,
}

/// The smallest version above every local version of `v` (`v` has no local part): `1.2.3` →
/// `1.2.3.post0.dev0`, `1.2.3.post1` → `1.2.3.post2.dev0`, `1.2.3.dev4` → `1.2.3.dev5`.
fn after_locals(v: &Version) -> Version {
    if let Some(dev) = v.dev() {
        v.clone().with_dev(Some(dev.saturating_add(1)))
    } else if let Some(post) = v.post() {
        v.clone()
            .with_post(Some(post.saturating_add(1)))
            .with_dev(Some(0))
    } else {
        v.clone().with_post(Some(0)).with_dev(Some(0))
    }
}

/// The versions one specifier allows. PEP 440: when the specifier's version has no local label,
/// a candidate's local label is ignored, so `==1.2.3` and `<=1.2.3` take `1.2.3+foo` (and
/// `!=1.2.3` refuses it); `>1.2.3` and `<1.2.3` already exclude it.
pub fn spec_range(spec: &VersionSpecifier) -> Vs {
    let v = spec.version();
    if !v.local().is_empty() {
        return Ranges::from(spec.clone());
    }
    let public = || Ranges::from_range_bounds(v.clone()..after_locals(v));
    match spec.operator() {
        Operator::Equal => public(),
        Operator::NotEqual => public().complement(),
        Operator::LessThanEqual => Ranges::strictly_lower_than(after_locals(v)),
        _ => Ranges::from(spec.clone()),
    }
}

/// The versions a list of specifiers allows (see [`spec_range`]).
pub fn specs_range(specs: &VersionSpecifiers) -> Vs {
    specs
        .iter()
        .fold(Ranges::full(), |r, s| r.intersection(&spec_range(s)))
}

fn to_range(spec: Option<&VersionOrUrl<VerbatimUrl>>) -> Result<Vs, String> {
    match spec {
        None => Ok(Ranges::full()),
        Some(VersionOrUrl::VersionSpecifier(s)) => Ok(specs_range(s)),
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
        http: Option<&'a Http>,
        fetcher: &'a dyn super::WheelFetch,
        target: &'a Target,
        requirements: &[Requirement<VerbatimUrl>],
        constraints: &[Requirement<VerbatimUrl>],
        prerelease: Prerelease,
    ) -> Result<Provider<'a>, SolveError> {
        let env = crate::requirements::marker_environment(target);
        let mut constrained: HashMap<String, Vs> = HashMap::new();
        let env_ = crate::requirements::marker_environment(target);
        let explicit_pre: BTreeSet<String> = requirements
            .iter()
            .chain(constraints)
            .filter(|r| r.evaluate_markers(&env_, &[]))
            .filter(|r| match &r.version_or_url {
                Some(VersionOrUrl::VersionSpecifier(s)) => {
                    s.iter().any(|s| s.version().any_prerelease())
                }
                _ => false,
            })
            .map(|r| normalize_name(r.name.as_ref()))
            .collect();
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
            cache: client.cache(),
            http,
            fetcher,
            target,
            env,
            prerelease,
            root,
            exact,
            explicit_pre,
            candidates: RefCell::new(HashMap::new()),
            rejected: RefCell::new(HashMap::new()),
            error: RefCell::new(None),
            constraints: constrained,
            direct,
            promoted: RefCell::new(BTreeSet::new()),
            restart_for: RefCell::new(None),
            restarts_left: RefCell::new(MAX_RESTARTS),
            no_deps: false,
            discovered: RefCell::new(HashMap::new()),
        })
    }

    /// May pre-releases of `name` be chosen? (uv's default, `if-necessary-or-explicit`.)
    fn prereleases_allowed(&self, name: &str, versions: &BTreeMap<Version, Vec<DistFile>>) -> bool {
        self.prerelease == Prerelease::Allow
            || self.explicit_pre.contains(name)
            || versions.keys().all(Version::any_prerelease)
    }

    /// `--no-deps`: choose each requirement's version, and nothing else.
    pub fn without_dependencies(mut self) -> Self {
        self.no_deps = true;
        self
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

    /// Core metadata text of a wheel (see [`wheel_metadata`]).
    fn metadata(&self, file: &DistFile) -> Result<String, String> {
        wheel_metadata(self.cache, self.http, self.fetcher, file, &[])
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

    /// What exists and why it cannot be used, per package named in a failure: the versions
    /// on the index (newest first), and each reason a version is not a candidate.
    fn explain_rejections(&self, names: &BTreeSet<String>) -> String {
        let mut out = String::new();
        for name in names {
            out.push_str(&self.explain_package(name));
        }
        out
    }

    /// The versions of `name` on the index, its pre-releases, and why versions were rejected.
    fn explain_package(&self, name: &str) -> String {
        let mut out = String::new();
        let usable: Vec<Version> = self
            .candidates
            .borrow()
            .get(name)
            .map(|m| m.keys().rev().cloned().collect())
            .unwrap_or_default();
        let bad = self
            .rejected
            .borrow()
            .get(name)
            .cloned()
            .unwrap_or_default();
        if usable.is_empty() && bad.is_empty() {
            out.push_str(&format!(
                "\n  {name}: not found on {}",
                self.client.describe_sources()
            ));
            return out;
        }
        let mut all: Vec<&Version> = usable.iter().chain(bad.keys()).collect();
        all.sort();
        all.dedup();
        all.reverse();
        let mut shown: Vec<String> = all.iter().take(10).map(|v| v.to_string()).collect();
        if all.len() > 10 {
            shown.push(format!("… ({} in all)", all.len()));
        }
        out.push_str(&format!(
            "\n  {name}: {} on the index: {}",
            if all.len() == 1 {
                "one version"
            } else {
                "versions"
            },
            shown.join(", ")
        ));
        let pre: Vec<String> = self
            .candidates
            .borrow()
            .get(name)
            .filter(|m| !self.prereleases_allowed(name, m))
            .map(|m| {
                m.keys()
                    .rev()
                    .filter(|v| v.any_prerelease())
                    .map(ToString::to_string)
                    .collect()
            })
            .unwrap_or_default();
        if !pre.is_empty() {
            let (are, them) = if pre.len() == 1 {
                ("is a pre-release", "it")
            } else {
                ("are pre-releases", "them")
            };
            out.push_str(&format!(
                "\n    {name} {} {are}: to use {them}, require one explicitly (e.g. `{name}>={}`) or pass --prerelease allow",
                pre.join(", "),
                pre[0]
            ));
        }
        out.push_str(&self.rejection_lines(name, bad));
        out
    }

    /// One line per reason versions of `name` were rejected, naming the versions.
    fn rejection_lines(&self, name: &str, bad: BTreeMap<Version, Rejection>) -> String {
        let (gmaj, gmin) = self.target.glibc();
        let mut out = String::new();
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
            let reason = match &why {
                Rejection::NoWheelForTarget => format!(
                    "{has} no wheel for {} on {} (glibc {gmaj}.{gmin})",
                    self.target.runtime,
                    self.target.arch.machine()
                ),
                Rejection::SdistOnly => format!(
                    "{ships} only source distributions (Lambda needs wheels; build one and pass --find-links)"
                ),
                Rejection::RequiresPython(rp) => format!(
                    "{requires} Python {rp}, not {}{}",
                    self.target.runtime.full_version(),
                    upper_bound_note(rp, self.target)
                ),
                Rejection::Yanked => format!("{is} yanked (pin one exactly to use it anyway)"),
            };
            out.push_str(&format!("\n    {name} {span} {reason}"));
        }
        out
    }
}

/// Core metadata text of a wheel: `.metadata` (PEP 658) when online, else from the wheel
/// (downloaded into the cache, or read there when offline); cached by location.
pub fn wheel_metadata(
    cache: &Cache,
    http: Option<&Http>,
    fetcher: &dyn super::WheelFetch,
    file: &DistFile,
    allowed_sha256: &[String],
) -> Result<String, String> {
    let key = sha256_hex(format!("{:?}", file.location).as_bytes());
    let path = cache.root().join("metadata-v1").join(&key);
    cache.note_path(&path);
    // Through the cache's records, so that a remote cache tier serves it too.
    if let Some(text) = cache
        .read_record("metadata-v1", &key)
        .and_then(|b| String::from_utf8(b).ok())
    {
        return Ok(text);
    }
    let from_sidecar = match &file.location {
        FileLocation::Url(url) => http.and_then(|h| {
            let resp = h.get(&format!("{url}.metadata"), None).ok()?;
            if resp.status().is_success() {
                resp.text().ok()
            } else {
                None
            }
        }),
        FileLocation::Path(_) => None,
    };
    let text = match from_sidecar {
        Some(t) => t,
        None => metadata_from_wheel(fetcher, file, allowed_sha256)?,
    };
    let _ = std::fs::create_dir_all(path.parent().unwrap_or(cache.root()));
    let _ = cache.write_record("metadata-v1", &key, text.as_bytes());
    Ok(text)
}

/// METADATA read from the wheel itself (downloaded into the cache, checked against the lock's
/// hashes when it has any). A wheel whose METADATA cannot be read is described by the integrity
/// check the build runs on every wheel, so the message is the same either way.
fn metadata_from_wheel(
    fetcher: &dyn super::WheelFetch,
    file: &DistFile,
    allowed_sha256: &[String],
) -> Result<String, String> {
    let name = super::index::file_project_name(&file.filename).unwrap_or_default();
    let version = super::index::file_version(&file.filename).unwrap_or_default();
    let locked = super::LockedWheel {
        name: normalize_name(&name),
        version,
        filename: file.filename.clone(),
        location: file.location.clone(),
        index_sha256: file.sha256.clone(),
        allowed_sha256: allowed_sha256.to_vec(),
        source: file.source.clone(),
    };
    let path = fetcher.fetch_wheel(&locked)?;
    let read = || -> Result<String, String> {
        let wheel = crate::wheel::Wheel::open(&path, &file.filename).map_err(|e| e.to_string())?;
        let di = wheel.dist_info_dir().ok_or("wheel without .dist-info")?;
        let entry = wheel
            .entries
            .iter()
            .find(|e| e.path.as_str() == format!("{di}/METADATA"))
            .ok_or("wheel without METADATA")?;
        let bytes = wheel.read_entry(entry.index).map_err(|e| e.to_string())?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    };
    read().map_err(|e| {
        let limit = crate::wheel::integrity::SizeLimit {
            bytes: u64::MAX,
            what: "no limit".to_string(),
        };
        match crate::wheel::integrity::inspect(&path, &file.filename, &limit) {
            Err(found) => found.to_string(),
            Ok(_) => e,
        }
    })
}

impl DependencyProvider for Provider<'_> {
    type P = Pkg;
    type V = Version;
    type VS = Vs;
    type M = String;
    type Priority = (u8, std::cmp::Reverse<usize>);
    type Err = SolveError;

    fn prioritize(
        &self,
        package: &Pkg,
        range: &Vs,
        stats: &PackageResolutionStatistics,
    ) -> Self::Priority {
        // uv's order (its `PubGrubPriority`): a direct URL first, then a package narrowed to one
        // version, then one that conflicted often, then the rest in discovery order (direct
        // requirements before their dependencies, breadth first).
        let name = match package {
            Pkg::Root => return (u8::MAX, std::cmp::Reverse(0)),
            Pkg::Dist(name) | Pkg::Extra(name, _) => name,
        };
        let order = self
            .discovered
            .borrow()
            .get(name)
            .copied()
            .unwrap_or(usize::MAX);
        let class = if self.direct.contains_key(name) {
            4
        } else if single_version(range) {
            3
        } else if self.promoted.borrow().contains(name) {
            2
        } else {
            // A package rejected again and again because of an earlier decision (every b 2.x
            // needs a==1 once a 2 is chosen) is better decided before it, as uv does once a
            // package has been the victim of 5 conflicts. pubgrub cannot undo one decision from
            // here, so the attempt stops and starts over with this package promoted.
            if stats.conflict_count() >= CONFLICT_THRESHOLD
                && *self.restarts_left.borrow() > 0
                && self.restart_for.borrow().is_none()
            {
                self.restart_for.replace(Some(name.clone()));
            }
            0
        };
        (class, std::cmp::Reverse(order))
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
        let pre_ok = self.prereleases_allowed(name, versions);
        Ok(versions
            .keys()
            .rev()
            .filter(|v| range.contains(v))
            .find(|v| pre_ok || !v.any_prerelease())
            .cloned())
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
        if self.no_deps {
            let own = extra
                .is_some()
                .then(|| (Pkg::Dist(name.clone()), Ranges::singleton(version.clone())));
            return Ok(Dependencies::Available(own.into_iter().collect()));
        }
        let Some(file) = self.best_file(name, version) else {
            return Ok(Dependencies::Unavailable(format!(
                "{name} {version} has no wheel for {}",
                self.target
            )));
        };
        let text = self
            .metadata(&file)
            .map_err(|e| SolveError::Failed(format!("metadata of {}: {e}", file.filename)))?;
        let (reqs, requires_python) = Self::parse_metadata(&text);
        if let Err(rp) = python_ok(requires_python.as_deref(), self.target) {
            return Ok(Dependencies::Unavailable(format!(
                "{name} {version} requires Python {rp}, not {}{}",
                self.target.runtime.full_version(),
                upper_bound_note(&rp, self.target)
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
    loop {
        provider.restart_for.replace(None);
        match solve_once(provider) {
            Err(SolveError::Restart(name)) => {
                provider.promoted.borrow_mut().insert(name);
                let mut left = provider.restarts_left.borrow_mut();
                *left = left.saturating_sub(1);
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
        Err(PubGrubError::NoSolution(tree)) => {
            // Not collapsed: "no version of a matches >=3" is half of what the user needs.
            let report: String = DefaultStringReporter::report_with_formatter(&tree, &Words)
                .lines()
                .map(|l| format!("  {}\n", sentence(l)))
                .collect();
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
                format!("what the index has:{why}\n")
            };
            Err(SolveError::Unsatisfiable(format!(
                "no set of versions satisfies the requirements on {}:\n{report}{why}  hint: relax a requirement, choose another runtime, or supply wheels with --find-links",
                provider.target
            )))
        }
        Err(PubGrubError::ErrorChoosingVersion { source, .. })
        | Err(PubGrubError::ErrorRetrievingDependencies { source, .. })
        | Err(PubGrubError::ErrorInShouldCancel(source)) => Err(source),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::from_str(s).expect("version")
    }

    fn allows(spec: &str, version: &str) -> bool {
        specs_range(&VersionSpecifiers::from_str(spec).expect("specifiers")).contains(&v(version))
    }

    #[test]
    fn local_versions_follow_pep440() {
        // A public specifier ignores the candidate's local label.
        assert!(allows("==1.2.3", "1.2.3+foo"));
        assert!(allows("==1.2.3", "1.2.3"));
        assert!(allows("<=1.2.3", "1.2.3+foo"));
        assert!(allows(">=1.2.3", "1.2.3+foo"));
        assert!(!allows("!=1.2.3", "1.2.3+foo"));
        assert!(!allows(">1.2.3", "1.2.3+foo"));
        assert!(!allows("<1.2.3", "1.2.3+foo"));
        // …but not its post releases.
        assert!(!allows("==1.2.3", "1.2.3.post1"));
        assert!(!allows("<=1.2.3", "1.2.3.post0"));
        assert!(allows("==1.2.3.post1", "1.2.3.post1+x"));
        assert!(!allows("==1.2.3.post1", "1.2.3.post2"));
        assert!(allows("==1.0.dev3", "1.0.dev3+x"));
        assert!(!allows("==1.0.dev3", "1.0.dev4"));
        // A local specifier is exact.
        assert!(allows("==1.2.3+foo", "1.2.3+foo"));
        assert!(!allows("==1.2.3+foo", "1.2.3+bar"));
        assert!(!allows("==1.2.3+foo", "1.2.3"));
        // The bound sits above every local version and below every post release.
        assert!(v("1.2.3+zzz.999") < after_locals(&v("1.2.3")));
        assert!(after_locals(&v("1.2.3")) < v("1.2.3.post0"));
    }

    #[test]
    fn single_versions_include_local_ranges() {
        let r = |s: &str| specs_range(&VersionSpecifiers::from_str(s).expect("s"));
        assert!(single_version(&r("==1.2.3")));
        assert!(single_version(&r("==1.2.3+cpu")));
        assert!(!single_version(&r(">=1.2.3")));
        assert!(!single_version(&r("<=1.2.3")));
    }

    #[test]
    fn upper_bounds_are_named() {
        let t = Target::new(
            crate::target::Runtime::Python312,
            crate::target::Arch::X86_64,
        );
        assert!(upper_bound_note("<3.12", &t).contains("upper bound"));
        assert!(upper_bound_note(">=3.8,<=3.11", &t).contains("upper bound"));
        assert!(upper_bound_note("==3.11.*", &t).contains("upper bound"));
        assert!(upper_bound_note(">=3.13", &t).is_empty());
    }
}
