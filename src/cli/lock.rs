//! `lpack lock`: resolve requirements for one Lambda target and write a pylock.toml; and the
//! shared step that turns any build input (pinned, loose, pylock) into the wheels to use.

use std::path::Path;

use super::progress::Bars;
use super::{LockArgs, Outcome};
use crate::cache::Cache;
use crate::http::Http;
use crate::progress::Reporter;
use crate::requirements::{PinnedSet, RequirementSet};
use crate::resolve::index::IndexClient;
use crate::resolve::solver::{Prerelease, Provider};
use crate::resolve::{Lock, pylock, resolve_pinned};
use crate::target::{Arch, Runtime, Target};

pub const EXAMPLES: &str = "\\
Examples:
  lpack lock -r requirements/datasci.txt --runtime python3.11 -o pylock.toml
  lpack build -r pylock.toml --runtime python3.11 --offline

Versions are chosen so that every package has a wheel for the runtime's Python and glibc
(python3.9-3.11: 2.26, python3.12+: 2.34) and architecture; the lock records that target.";

/// Turn a build input into the wheels to use: a pylock.toml is read as is; a pinned
/// requirements file needs only a wheel choice per pin; loose requirements are resolved first.
#[allow(clippy::too_many_arguments)]
pub fn lock_input(
    path: &Path,
    set: Option<RequirementSet>,
    target: &Target,
    client: &IndexClient,
    cache: &Cache,
    http: Option<&Http>,
    prerelease: Prerelease,
    reporter: &dyn Reporter,
) -> anyhow::Result<(Lock, PinnedSet)> {
    let Some(set) = set else {
        let lock = pylock::read(path, target)?;
        let pinned = PinnedSet {
            pins: Vec::new(),
            index: Default::default(),
            skipped: Vec::new(),
        };
        return Ok((lock, pinned));
    };
    let pinned = if set.unpinned.is_empty() {
        set.pinned.clone()
    } else {
        let provider = Provider::new(client, cache, http, target, &set.requirements, prerelease)?;
        pylock::resolve_requirements(&set, &provider)?
    };
    let lock = resolve_pinned(&pinned, target, client, reporter)?;
    Ok((lock, pinned))
}

pub fn run(args: LockArgs) -> anyhow::Result<Outcome> {
    let started = std::time::Instant::now();
    let runtime: Runtime = args.runtime.parse()?;
    let arch: Arch = args.arch.parse()?;
    let target = Target::new(runtime, arch);
    let reporter = Bars::new(!args.quiet);
    let set = crate::requirements::read_requirements(&args.requirements, &target)?;
    let super::Sources {
        cache,
        http,
        client,
    } = super::sources(
        args.net.cache_dir.as_deref(),
        args.net.offline,
        &args.index,
        &set.pinned.index,
    )?;
    let requested: Vec<String> = set.requirements.iter().map(|r| r.to_string()).collect();
    let (lock, _) = lock_input(
        &args.requirements,
        Some(set),
        &target,
        &client,
        &cache,
        http.as_ref(),
        args.prerelease,
        &reporter,
    )?;
    // Every wheel needs a sha256 in the lock: the index's, or the file's own (fetched).
    let (missing, known): (Vec<_>, Vec<_>) = lock
        .wheels
        .iter()
        .cloned()
        .partition(|w| w.index_sha256.is_none());
    let mut entries: Vec<(crate::resolve::LockedWheel, String)> = known
        .into_iter()
        .map(|w| {
            let sha = w.index_sha256.clone().unwrap_or_default();
            (w, sha)
        })
        .collect();
    if !missing.is_empty() {
        let sub = Lock {
            wheels: missing,
            warnings: Vec::new(),
        };
        let (fetched, _) =
            crate::fetch::fetch(&sub, &cache, http.as_ref(), args.net.offline, &reporter)?;
        entries.extend(fetched.into_iter().map(|f| (f.locked, f.sha256)));
    }
    entries.sort_by(|a, b| a.0.name.cmp(&b.0.name));
    let text = pylock::render(&target, &entries, &requested);
    crate::cache::write_output(&args.output, text.as_bytes())
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", args.output.display()))?;
    for w in &lock.warnings {
        eprintln!("warning: {w}");
    }
    if !args.quiet {
        println!(
            "Locked {} package(s) for {target} into {} in {:.2} s",
            entries.len(),
            args.output.display(),
            started.elapsed().as_secs_f64()
        );
        for (w, _) in &entries {
            println!("  {} {}  {}", w.name, w.version, w.filename);
        }
    }
    Ok(Outcome::Ok)
}
