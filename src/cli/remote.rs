//! `--remote-cache`: the flags, one [`RemoteTier`] per distinct setting for the whole run (a
//! config's units share it), and the closing line of a run that used one.

use std::sync::{Arc, Mutex};

use clap::Args;

use crate::cache::remote::{RemoteMode, RemoteSettings, RemoteTier};

/// The remote cache flags (shared by every command that fetches through the index settings).
#[derive(Debug, Args, Clone, Default)]
pub struct RemoteArgs {
    /// A cache shared by many machines, behind the local one: s3://BUCKET/PREFIX (AWS's
    /// credential chain) or file:///shared/path. Wheels, records and whole artifacts found there
    /// are verified by sha256 and used; what this build makes is uploaded. A remote that fails
    /// or is slow costs one warning, never the build
    #[arg(long, value_name = "URL", env = "LPACK_REMOTE_CACHE")]
    pub remote_cache: Option<String>,

    /// Read from the remote cache, write to it, or both
    #[arg(long, value_enum, value_name = "MODE", default_value_t = ModeArg::ReadWrite)]
    pub remote_cache_mode: ModeArg,

    /// S3 endpoint of the remote cache (an S3-compatible store) [default: $AWS_ENDPOINT_URL, else AWS]
    #[arg(long, value_name = "URL", env = "LPACK_REMOTE_ENDPOINT")]
    pub remote_endpoint: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ModeArg {
    Read,
    Write,
    #[default]
    ReadWrite,
}

impl From<ModeArg> for RemoteMode {
    fn from(m: ModeArg) -> RemoteMode {
        match m {
            ModeArg::Read => RemoteMode::Read,
            ModeArg::Write => RemoteMode::Write,
            ModeArg::ReadWrite => RemoteMode::ReadWrite,
        }
    }
}

type Tiers = Vec<(RemoteSettings, Arc<RemoteTier>)>;

/// Every tier this process opened (one per distinct setting).
static TIERS: Mutex<Tiers> = Mutex::new(Vec::new());

impl RemoteArgs {
    pub fn settings(&self) -> Option<RemoteSettings> {
        let url = self.remote_cache.clone().filter(|u| !u.trim().is_empty())?;
        Some(RemoteSettings {
            url,
            mode: self.remote_cache_mode.into(),
            endpoint: self.remote_endpoint.clone().filter(|e| !e.is_empty()),
        })
    }
}

/// Index settings from the flags, with the run's remote tier.
pub fn index_settings(a: &super::IndexArgs) -> anyhow::Result<crate::pipeline::IndexSettings> {
    Ok(crate::pipeline::IndexSettings {
        remote: tier(&a.remote)?,
        ..a.into()
    })
}

/// The run's tier for these flags (opened on first use).
pub fn tier(args: &RemoteArgs) -> anyhow::Result<Option<Arc<RemoteTier>>> {
    let Some(settings) = args.settings() else {
        return Ok(None);
    };
    let mut tiers = TIERS
        .lock()
        .map_err(|_| anyhow::anyhow!("internal: remote cache registry poisoned"))?;
    if let Some((_, t)) = tiers.iter().find(|(s, _)| s == &settings) {
        return Ok(Some(Arc::clone(t)));
    }
    let t = Arc::new(RemoteTier::open(&settings)?);
    tiers.push((settings, Arc::clone(&t)));
    Ok(Some(t))
}

/// Wait for every tier's uploads; print its warnings (once each) and, unless `quiet`, what it
/// moved.
pub fn finish(quiet: bool) {
    let tiers: Tiers = match TIERS.lock() {
        Ok(mut t) => t.drain(..).collect(),
        Err(_) => return,
    };
    for (_, t) in tiers {
        let (stats, warnings) = t.finish();
        for w in warnings {
            eprintln!("warning: {w}");
        }
        if !quiet {
            eprintln!(
                "remote cache {}: {} hit(s), {} miss(es), {} down; {} upload(s), {} up",
                t.describe(),
                stats.hits,
                stats.misses,
                super::human_size(stats.bytes_down),
                stats.uploads,
                super::human_size(stats.bytes_up),
            );
        }
    }
}
