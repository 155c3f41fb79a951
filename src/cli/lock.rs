//! `lpack lock`: flags (and the config's shared settings) → [`crate::sources::write_lock`]
//! → the list of locked wheels. The input and lock steps are the build's own.

use super::progress::Bars;
use super::{LockArgs, Outcome};
use crate::sources::{LockRequest, write_lock};
use crate::target::{Arch, Runtime, Target};

pub const EXAMPLES: &str = "\
Examples:
  lpack lock -r requirements/datasci.txt --runtime python3.11 -o pylock.toml
  lpack build -r pylock.toml --runtime python3.11 --offline

Versions are chosen so that every package has a wheel for the runtime's Python and glibc
(python3.9-3.11: 2.26, python3.12+: 2.34) and architecture; the lock records that target.";

/// The config keys `lock` shares with `build` besides [`super::settings::SOURCE_KEYS`] (the config's `output` is the artifact's, not the
/// lock's, so it is not one of them).
const KEYS: &[&str] = &[
    "requirements",
    "extra",
    "group",
    "prerelease",
    "runtime",
    "arch",
];

pub fn run(_parsed: LockArgs, inv: &super::Invocation) -> anyhow::Result<Outcome> {
    // Parsed again with the config's and LPACK_* settings layered under the flags.
    let args: LockArgs = super::settings::layer_command(inv, "lock", KEYS)?;
    let started = std::time::Instant::now();
    let runtime: Runtime = args.runtime.parse()?;
    let arch: Arch = args.arch.parse()?;
    let target = Target::new(runtime, arch);
    let reporter = Bars::new(!args.quiet);
    let written = write_lock(
        &LockRequest {
            requirements: args.requirements.as_deref(),
            extra: &args.extra,
            group: &args.group,
            cache_dir: args.net.cache_dir.as_deref(),
            offline: args.net.offline,
            index: &super::remote::index_settings(&args.index)?,
            prerelease: args.prerelease,
            landed: None,
        },
        &target,
        &args.output,
        &reporter,
    )?;
    let entries = &written.entries;
    for w in &written.warnings {
        eprintln!("warning: {w}");
    }
    if !args.quiet {
        println!(
            "Locked {} package(s) for {target} into {} in {:.2} s",
            entries.len(),
            args.output.display(),
            started.elapsed().as_secs_f64()
        );
        for (w, _) in entries {
            println!("  {} {}  {}", w.name, w.version, w.filename);
        }
    }
    Ok(Outcome::Ok)
}
