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

/// What a command was asked to build or lock from.
pub struct Input {
    pub path: std::path::PathBuf,
    pub kind: crate::resolve::inputs::InputKind,
    /// Requirements read from a requirements file or pyproject.toml (None for locks).
    pub set: Option<RequirementSet>,
}

/// Find and read the input: `-r FILE`, or the project's own in the current directory.
pub fn read_input(
    given: Option<&Path>,
    target: &Target,
    extras: &[String],
    groups: &[String],
) -> anyhow::Result<Input> {
    use crate::resolve::inputs::{self, InputKind};
    let path = match given {
        Some(p) => p.to_path_buf(),
        None => inputs::find_input(Path::new("."))?,
    };
    let kind = inputs::kind_of(&path);
    let set = match kind {
        InputKind::Requirements => Some(crate::requirements::read_requirements(&path, target)?),
        InputKind::Pyproject => Some(inputs::read_pyproject(&path, target, extras, groups)?),
        InputKind::Pylock | InputKind::UvLock => None,
    };
    if !extras.is_empty() && kind == InputKind::Requirements {
        anyhow::bail!(
            "--extra applies to pyproject.toml and uv.lock inputs; write `name[extra]` in a requirements file"
        );
    }
    Ok(Input { path, kind, set })
}

/// Turn an input into the wheels to use: a pylock.toml or uv.lock is read as is; a pinned
/// requirements file needs only a wheel choice per pin; loose requirements (or constraints) are
/// resolved first.
#[allow(clippy::too_many_arguments)]
pub fn lock_input(
    input: &Input,
    target: &Target,
    extras: &[String],
    client: &IndexClient,
    cache: &Cache,
    http: Option<&Http>,
    prerelease: Prerelease,
    reporter: &dyn Reporter,
) -> anyhow::Result<(Lock, PinnedSet)> {
    use crate::resolve::inputs::InputKind;
    let empty = || PinnedSet {
        pins: Vec::new(),
        index: Default::default(),
        skipped: Vec::new(),
    };
    let Some(set) = &input.set else {
        let lock = match input.kind {
            InputKind::UvLock => crate::resolve::inputs::read_uv_lock(&input.path, target, extras)?,
            _ => pylock::read(&input.path, target)?,
        };
        return Ok((lock, empty()));
    };
    let pinned = if set.unpinned.is_empty() && set.constraints.is_empty() {
        set.pinned.clone()
    } else {
        let provider = Provider::new(
            client,
            cache,
            http,
            target,
            &set.requirements,
            &set.constraints,
            prerelease,
        )?;
        pylock::resolve_requirements(set, &provider)?
    };
    let lock = resolve_pinned(&pinned, target, client, reporter)?;
    Ok((lock, pinned))
}

/// Everything a command needs after reading its input and locking it.
pub struct Locked {
    pub input: Input,
    pub sources: super::Sources,
    pub lock: Lock,
    pub pinned: PinnedSet,
}

/// How to read and lock an input (shared by `build` and `lock`).
pub struct LockRequest<'a> {
    pub requirements: Option<&'a Path>,
    pub extra: &'a [String],
    pub group: &'a [String],
    pub cache_dir: Option<&'a Path>,
    pub offline: bool,
    pub index: &'a super::IndexArgs,
    pub prerelease: Prerelease,
}

/// Read the input, open the sources it names, and lock it for the target.
pub fn read_and_lock(
    req: &LockRequest<'_>,
    target: &Target,
    reporter: &dyn Reporter,
) -> anyhow::Result<Locked> {
    let input = read_input(req.requirements, target, req.extra, req.group)?;
    let file_index = input
        .set
        .as_ref()
        .map(|s| s.pinned.index.clone())
        .unwrap_or_default();
    let sources = super::sources(req.cache_dir, req.offline, req.index, &file_index)?;
    let (lock, pinned) = lock_input(
        &input,
        target,
        req.extra,
        &sources.client,
        &sources.cache,
        sources.http.as_ref(),
        req.prerelease,
        reporter,
    )?;
    Ok(Locked {
        input,
        sources,
        lock,
        pinned,
    })
}

pub fn run(args: LockArgs) -> anyhow::Result<Outcome> {
    let started = std::time::Instant::now();
    let runtime: Runtime = args.runtime.parse()?;
    let arch: Arch = args.arch.parse()?;
    let target = Target::new(runtime, arch);
    let reporter = Bars::new(!args.quiet);
    let Locked {
        input,
        sources:
            super::Sources {
                cache,
                http,
                client: _,
            },
        lock,
        pinned: _,
    } = read_and_lock(
        &LockRequest {
            requirements: args.requirements.as_deref(),
            extra: &args.extra,
            group: &args.group,
            cache_dir: args.net.cache_dir.as_deref(),
            offline: args.net.offline,
            index: &args.index,
            prerelease: args.prerelease,
        },
        &target,
        &reporter,
    )?;
    let requested: Vec<String> = input
        .set
        .as_ref()
        .map(|s| s.requirements.iter().map(|r| r.to_string()).collect())
        .unwrap_or_default();
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
