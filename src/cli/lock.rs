//! `lpack lock`: resolve requirements for one Lambda target and write a pylock.toml (the
//! input and lock steps are the build's own: [`crate::build::sources`]).

use super::progress::Bars;
use super::{LockArgs, Outcome};
use crate::build::sources::{LockRequest, Locked, read_and_lock};
use crate::resolve::{Lock, pylock};
use crate::target::{Arch, Runtime, Target};

pub const EXAMPLES: &str = "\\
Examples:
  lpack lock -r requirements/datasci.txt --runtime python3.11 -o pylock.toml
  lpack build -r pylock.toml --runtime python3.11 --offline

Versions are chosen so that every package has a wheel for the runtime's Python and glibc
(python3.9-3.11: 2.26, python3.12+: 2.34) and architecture; the lock records that target.";

/// The config keys `lock` shares with `build` (the config's `output` is the artifact's, not the
/// lock's, so it is not one of them).
const KEYS: &[&str] = &[
    "requirements",
    "extra",
    "group",
    "prerelease",
    "runtime",
    "arch",
    "index-url",
    "extra-index-url",
    "find-links",
    "no-index",
    "cache-dir",
    "offline",
];

pub fn run(_parsed: LockArgs, inv: &super::Invocation) -> anyhow::Result<Outcome> {
    // Parsed again with the config's and LPACK_* settings layered under the flags.
    let args: LockArgs = super::settings::layer_command(inv, "lock", KEYS)?;
    let started = std::time::Instant::now();
    let runtime: Runtime = args.runtime.parse()?;
    let arch: Arch = args.arch.parse()?;
    let target = Target::new(runtime, arch);
    let reporter = Bars::new(!args.quiet);
    let Locked {
        input,
        sources:
            crate::build::sources::Sources {
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
            index: &(&args.index).into(),
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
