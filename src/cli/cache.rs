//! `lpack cache`: where the cache is, what it holds per kind, pruning and clearing it.

use std::path::Path;

use clap::Args;

use super::{CacheArgs, CacheCommand, Outcome, human_size};
use crate::cache::Cache;
use crate::cache::prune::{PrunePolicy, parse_age, prune, usage};

pub const PRUNE_EXAMPLES: &str = "\
Examples:
  lpack cache prune                  # other versions' entries; what went unused for 30 days
  lpack cache prune --older-than 7d --dry-run
  # In CI: a plain prune after the cache is restored, --ci before it is saved
  lpack cache prune && lpack build … && lpack cache prune --ci

An entry a running lpack process uses is never removed, so prune is safe beside running builds.
--ci removes everything the lpack runs since the last plain prune did not use (in a CI job:
what this job's builds did not use), so a cache saved by actions/cache stays small.";

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// Machine-readable sizes per kind on stdout
    #[arg(long)]
    pub json: bool,
}

/// `cache push|pull`.
#[derive(Debug, Args)]
pub struct TransferArgs {
    #[command(flatten)]
    pub remote: super::remote::RemoteArgs,
    /// Machine-readable report on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Prune this remote cache (s3://BUCKET/PREFIX or file:///dir) instead of the local one:
    /// objects older than --older-than (by the store's modification time) and other layout
    /// versions' objects
    #[arg(long, value_name = "URL")]
    pub remote_cache: Option<String>,
    /// S3 endpoint of the remote cache [default: $AWS_ENDPOINT_URL, else AWS]
    #[arg(long, value_name = "URL", requires = "remote_cache")]
    pub remote_endpoint: Option<String>,
    /// Remove entries (wheels included) not used for this long: 30d, 12h, 90m, 0s
    #[arg(long, value_name = "AGE", default_value = "30d", value_parser = parse_age_arg)]
    pub older_than: std::time::Duration,
    /// Also remove everything the lpack runs since the last plain prune did not use
    #[arg(long)]
    pub ci: bool,
    /// Say what would go; remove nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Machine-readable report on stdout
    #[arg(long)]
    pub json: bool,
}

fn parse_age_arg(s: &str) -> Result<std::time::Duration, String> {
    parse_age(s)
}

/// A remote operation's error, with the remote's own warning (why it is unavailable) if any.
fn unavailable(cache: &Cache, e: crate::cache::remote::RemoteError) -> anyhow::Error {
    let why = cache
        .remote()
        .map(|t| t.warnings().join("\n"))
        .unwrap_or_default();
    if why.is_empty() {
        anyhow::anyhow!("{e}")
    } else {
        anyhow::anyhow!("{why}")
    }
}

/// `cache push` (`up`) or `cache pull`.
fn transfer(root: &std::path::Path, t: &TransferArgs, up: bool) -> anyhow::Result<()> {
    let cache = Cache::open(root)?.with_remote(super::remote::tier(&t.remote)?);
    let r = if up {
        crate::cache::transfer::push(&cache)
    } else {
        crate::cache::transfer::pull(&cache)
    }
    .map_err(|e| unavailable(&cache, e))?;
    let remote = cache.remote().map_or("", |t| t.describe()).to_string();
    if t.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        let (verb, dir) = if up {
            ("Pushed", "to")
        } else {
            ("Pulled", "from")
        };
        println!(
            "{verb} {} wheel(s) and {} record(s) ({}) {dir} {remote}; {} already there",
            r.wheels,
            r.records,
            human_size(r.bytes),
            r.present
        );
    }
    for c in &r.corrupt {
        eprintln!("warning: {c} failed its sha256 check; skipped");
    }
    Ok(())
}

pub fn run(args: CacheArgs) -> anyhow::Result<Outcome> {
    let root = args.cache_dir.unwrap_or_else(Cache::default_root);
    match args.command {
        CacheCommand::Dir => println!("{}", root.display()),
        CacheCommand::Info(info) => info_command(&root, &info)?,
        CacheCommand::Push(t) | CacheCommand::Pull(t) if t.remote.settings().is_none() => {
            anyhow::bail!(
                "no remote cache given\n  hint: pass --remote-cache s3://BUCKET/PREFIX (or file:///shared/path), or set LPACK_REMOTE_CACHE"
            );
        }
        CacheCommand::Push(t) => transfer(&root, &t, true)?,
        CacheCommand::Pull(t) => transfer(&root, &t, false)?,
        CacheCommand::Prune(p) if p.remote_cache.is_some() => prune_remote_command(&root, &p)?,
        CacheCommand::Prune(p) => prune_command(&root, &p)?,
        CacheCommand::Clean => {
            let cache = Cache::open(&root)?;
            let freed = cache.clean()?;
            println!("Removed {} from {}", human_size(freed), root.display());
        }
    }
    Ok(Outcome::Ok)
}

/// `lpack cache info`: the cache's size by kind.
fn info_command(root: &Path, info: &InfoArgs) -> anyhow::Result<()> {
    let cache = Cache::open(root)?;
    let kinds = usage(cache.root());
    let total: u64 = kinds.iter().map(|k| k.bytes).sum();
    if info.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "root": root.display().to_string(),
                "bytes": total,
                "kinds": kinds,
            }))?
        );
    } else {
        let wheels = kinds.first().map(|k| k.entries).unwrap_or(0);
        println!(
            "{}: {wheels} wheel(s), {}",
            root.display(),
            human_size(total)
        );
        for k in kinds.iter().filter(|k| k.bytes > 0) {
            println!(
                "  {:<24} {:>6} entries  {:>10}",
                k.name,
                k.entries,
                human_size(k.bytes)
            );
        }
    }
    Ok(())
}

/// `lpack cache prune --remote-cache URL`: prune the remote cache.
fn prune_remote_command(root: &Path, p: &PruneArgs) -> anyhow::Result<()> {
    let remote = super::remote::RemoteArgs {
        remote_cache: p.remote_cache.clone(),
        remote_endpoint: p.remote_endpoint.clone(),
        ..Default::default()
    };
    let cache = Cache::open(root)?.with_remote(super::remote::tier(&remote)?);
    let r = crate::cache::transfer::prune_remote(&cache, p.older_than, p.dry_run)
        .map_err(|e| unavailable(&cache, e))?;
    if p.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        let verb = if p.dry_run { "Would remove" } else { "Removed" };
        println!(
            "{verb} {} object(s) ({}) from {}; kept {} ({})",
            r.removed,
            human_size(r.removed_bytes),
            cache.remote().map_or("", |t| t.describe()),
            r.kept,
            human_size(r.kept_bytes)
        );
    }
    Ok(())
}

/// `lpack cache prune`: prune the local cache and say what went, by kind and reason.
fn prune_command(root: &Path, p: &PruneArgs) -> anyhow::Result<()> {
    // The cache is not opened as a Cache here: prune must not note (and so keep) anything.
    if !root.is_dir() {
        anyhow::bail!(
            "no cache at {}\n  hint: pass the cache a build uses with --cache-dir or LPACK_CACHE_DIR",
            root.display()
        );
    }
    let policy = PrunePolicy {
        older_than: p.older_than,
        ci: p.ci,
        dry_run: p.dry_run,
    };
    let r = prune(root, &policy)?;
    if p.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        let verb = if p.dry_run { "Would remove" } else { "Removed" };
        println!(
            "{verb} {} entries ({}) from {}; kept {} ({}), {} in use by running lpack processes",
            r.removed.len(),
            human_size(r.removed_bytes),
            root.display(),
            r.kept_entries,
            human_size(r.kept_bytes),
            r.in_use
        );
        let mut by: std::collections::BTreeMap<(&str, &str), (usize, u64)> = Default::default();
        for x in &r.removed {
            let slot = by.entry((&x.kind, &x.reason)).or_default();
            slot.0 += 1;
            slot.1 += x.bytes;
        }
        for ((kind, reason), (n, bytes)) in by {
            println!("  {kind:<12} {n:>6}  {:>10}  {reason}", human_size(bytes));
        }
        for n in &r.notes {
            println!("note: {n}");
        }
    }
    Ok(())
}
