//! Bench: cold starts of the artifacts lpack built, measured locally through the real runtime
//! client. A composition root: it reads artifact manifests (never rebuilds), lays each
//! deployment out once ([`layout`]), runs environments ([`runner`]) against lpack's own Runtime
//! API server ([`server`]), and summarises ([`stats`]) into results the CLI renders and
//! [`output`] writes (CSV, JSON, Markdown, SVG charts, one self-contained HTML page).
//!
//! The plan is deployments × memory sizes × runs: each run is a fresh process (a cold start)
//! followed by `warm` invokes on it, `concurrency` environments at a time, deployments
//! interleaved so drift on the machine spreads evenly over them. One extra cold start per
//! deployment runs under `-X importtime` for the import profile and is not counted.

pub mod cgroup;
pub mod charts;
pub mod layout;
pub mod output;
pub mod plan;
pub mod proc;
pub mod runner;
pub mod server;
pub mod stats;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::progress::{Phase, Reporter};
use layout::{DeploymentSpec, Layout};
use proc::ReadOnly;
use runner::{EnvConfig, Measured};
use server::ErrorInfo;
use stats::Figure;

/// Bumped on any incompatible change to `summary.json`.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("bench: {0}")]
    Input(String),
    #[error("bench: laying the deployment out: {0}")]
    Layout(String),
    #[error("bench: {0}")]
    Run(String),
    #[error(
        "bench needs a Python {version} interpreter ({why})\n  hint: install it (e.g. `pyenv install {version}`) or pass --python PATH"
    )]
    NoPython { version: String, why: String },
    #[error("bench: the runtime directory: {0}")]
    Runtime(String),
    #[error("bench: interrupted; every runtime process was stopped")]
    Interrupted,
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Ask a running bench to stop (the CLI calls this from its Ctrl-C handler).
pub fn interrupt() {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

pub(crate) fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// A Lambda-style function name from a deployment name.
pub fn function_name(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if s.is_empty() {
        "lpack-bench".to_string()
    } else {
        s.chars().take(64).collect()
    }
}

/// Everything a bench run needs, resolved by the CLI.
#[derive(Debug, Clone)]
pub struct Settings {
    pub deployments: Vec<DeploymentSpec>,
    pub runs: u32,
    pub warm: u32,
    pub concurrency: u32,
    pub memory: Vec<u32>,
    pub timeout: Duration,
    pub handler: Option<String>,
    pub event: Vec<u8>,
    pub python: PathBuf,
    /// The runtime directory (awslambdaric and the runtime-provided packages).
    pub runtime_dir: PathBuf,
    pub region: String,
    pub cold_share: f64,
    pub import_profile: bool,
    /// Where layouts and environments live while running.
    pub work: PathBuf,
    /// A delegated cgroup v2 directory to shape CPU and memory in (`LPACK_CGROUP`).
    pub cgroup: Option<PathBuf>,
}

/// One invocation as recorded in the samples files.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sample {
    pub deployment: String,
    pub memory_mb: u32,
    /// Environment number within the deployment × memory (0-based).
    pub environment: u32,
    #[serde(flatten)]
    pub measured: Measured,
}

impl Sample {
    pub fn cold(&self) -> bool {
        self.measured.invocation == 0
    }
}

/// Figures of one deployment × memory size.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeploymentResult {
    pub name: String,
    pub kind: String,
    pub memory_mb: u32,
    pub handler: String,
    /// Successful invocations.
    pub n: usize,
    pub errors: usize,
    #[serde(default)]
    pub error_types: BTreeMap<String, usize>,
    /// The first error seen, in full.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_error: Option<ErrorInfo>,
    pub init_ms: Option<Figure>,
    pub duration_ms: Option<Figure>,
    pub max_memory_mb: Option<Figure>,
    /// Cold starts: process start → response.
    pub round_trip_ms: Option<Figure>,
    pub unpack_ms: f64,
    /// USD per million invocations at `cold_share` cold starts.
    pub cost_per_million_usd: Option<f64>,
}

/// One deployment's import profile.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImportProfile {
    pub deployment: String,
    /// (module, cumulative ms), largest first.
    pub top: Vec<(String, f64)>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ArtifactRef {
    pub deployment: String,
    pub file: String,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Provenance {
    pub lpack_version: String,
    pub date: String,
    pub backend: String,
    pub target: String,
    pub python: String,
    pub host_cpu: String,
    pub host_cpus: usize,
    pub cpu_shaping: String,
    pub memory_source: String,
    pub read_only: ReadOnly,
    pub runs: u32,
    pub warm: u32,
    pub concurrency: u32,
    pub timeout_s: f64,
    pub region: String,
    pub prices_date: String,
    pub cold_share: f64,
    pub artifacts: Vec<ArtifactRef>,
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Results {
    pub schema_version: u32,
    pub provenance: Provenance,
    pub deployments: Vec<DeploymentResult>,
    pub import_profiles: Vec<ImportProfile>,
    #[serde(skip)]
    pub samples: Vec<Sample>,
}

impl Results {
    pub fn errors(&self) -> usize {
        self.deployments.iter().map(|d| d.errors).sum()
    }
}

/// Host CPU model and count.
fn host_cpu() -> (String, usize) {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    let n = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    (model, n)
}

fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    crate::emit::image::rfc3339(crate::sink::Epoch(secs))
}

/// Check the interpreter: the target's version, runnable here.
pub fn check_python(python: &Path, target: &crate::target::Target) -> Result<String, BenchError> {
    let want = target.python_version();
    let ((major, minor), version) =
        crate::slim::bytecode::python_version(python).map_err(|e| BenchError::NoPython {
            version: want.clone(),
            why: e.to_string(),
        })?;
    if major != 3 || minor != target.runtime.minor() {
        return Err(BenchError::NoPython {
            version: want,
            why: format!("{} is Python {major}.{minor}", python.display()),
        });
    }
    Ok(format!(
        "{} ({})",
        python.display(),
        version.lines().next().unwrap_or("")
    ))
}

/// Run the bench. `on_sample` sees every invocation as it completes (for REPORT lines).
pub fn bench(
    s: &Settings,
    reporter: &dyn Reporter,
    on_sample: &(dyn Fn(&Sample) + Sync),
) -> Result<Results, BenchError> {
    if s.deployments.is_empty() {
        return Err(BenchError::Input("nothing to bench".into()));
    }
    if s.memory.is_empty() || s.memory.iter().any(|m| !(128..=10240).contains(m)) {
        return Err(BenchError::Input(
            "memory sizes must be between 128 and 10240 MB".into(),
        ));
    }
    if !s.runtime_dir.join("awslambdaric").is_dir() {
        return Err(BenchError::Runtime(format!(
            "{} holds no awslambdaric",
            s.runtime_dir.display()
        )));
    }
    std::fs::create_dir_all(&s.work)
        .map_err(|e| BenchError::Run(format!("creating {}: {e}", s.work.display())))?;
    let price = stats::price_for(&s.region).map_err(BenchError::Input)?;
    let (prices_date, _, _) = stats::price_table().map_err(BenchError::Input)?;

    // Lay every deployment out once.
    let mut layouts: Vec<Layout> = Vec::new();
    for (i, d) in s.deployments.iter().enumerate() {
        if interrupted() {
            return Err(BenchError::Interrupted);
        }
        let l = layout::lay_out(d, &s.work.join(format!("d{i}")))?;
        layouts.push(l);
    }
    let target = layouts[0].target.clone();
    for l in &layouts {
        if l.target.runtime != target.runtime || l.target.arch != target.arch {
            return Err(BenchError::Input(format!(
                "{} targets {} {}, {} targets {} {}: bench one runtime at a time",
                l.name,
                l.target.runtime,
                l.target.arch,
                layouts[0].name,
                target.runtime,
                target.arch
            )));
        }
    }
    let host = std::env::consts::ARCH;
    let host_arch = if host == "aarch64" { "arm64" } else { host };
    if target.arch.to_string() != host_arch {
        return Err(BenchError::Input(format!(
            "the artifacts target {}, this machine is {host_arch}: the local backend runs them natively",
            target.arch
        )));
    }
    let python_desc = check_python(&s.python, &target)?;
    let readonly = proc::probe_readonly(&s.python, &s.work);
    let subtree = match &s.cgroup {
        Some(d) => Some(
            cgroup::Subtree::open(d)
                .map_err(|e| BenchError::Input(format!("--cgroup / LPACK_CGROUP: {e}")))?,
        ),
        None => None,
    };
    let subtree = subtree.as_ref();
    let handlers: Vec<String> = s
        .deployments
        .iter()
        .zip(&layouts)
        .map(|(d, l)| {
            d.handler
                .clone()
                .or_else(|| s.handler.clone())
                .or_else(|| l.cmd.clone())
                .ok_or_else(|| {
                    BenchError::Input(format!(
                        "{}: no handler; pass --handler MODULE.FUNCTION (images default to their CMD)",
                        l.name
                    ))
                })
        })
        .collect::<Result<_, _>>()?;

    let env_counter = AtomicUsize::new(0);
    let env_dir = |s: &Settings| {
        s.work
            .join(format!("env{}", env_counter.fetch_add(1, Ordering::SeqCst)))
    };
    let config = |l, h, memory, importtime, work| {
        env_config(s, l, h, memory, importtime, work, readonly, subtree)
    };

    // Import profiles first (this also warms the page cache for every deployment equally).
    let mut import_profiles = Vec::new();
    if s.import_profile {
        for (l, h) in layouts.iter().zip(&handlers) {
            let r = runner::run_env(&config(l, h, s.memory[0], true, env_dir(s)))?;
            let top = runner::parse_importtime(&r.log)
                .into_iter()
                .filter(|(m, _)| m != h.rsplit_once('.').map_or(h.as_str(), |(m, _)| m))
                .take(200)
                .map(|(m, us)| (m, us as f64 / 1000.0))
                .collect();
            import_profiles.push(ImportProfile {
                deployment: l.name.clone(),
                top,
            });
        }
    }

    // Jobs: runs × deployments × memory, interleaved.
    let mut jobs: Vec<(usize, u32, u32)> = Vec::new();
    for run in 0..s.runs {
        for &m in &s.memory {
            for d in 0..layouts.len() {
                jobs.push((d, m, run));
            }
        }
    }
    let total = jobs.len() as u64 * u64::from(1 + s.warm);
    reporter.start(Phase::Bench, total);
    let next = AtomicUsize::new(0);
    let samples: Mutex<Vec<Sample>> = Mutex::new(Vec::new());
    let failure: Mutex<Option<BenchError>> = Mutex::new(None);
    let workers = s.concurrency.max(1).min(jobs.len().max(1) as u32);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(&(d, m, run)) = jobs.get(i) else {
                        break;
                    };
                    if failure.lock().map(|f| f.is_some()).unwrap_or(true) {
                        break;
                    }
                    let l = &layouts[d];
                    let work = env_dir(s);
                    match runner::run_env(&config(l, &handlers[d], m, false, work.clone())) {
                        Ok(r) => {
                            let n = r.samples.len() as u64;
                            let expected = u64::from(1 + s.warm);
                            for mm in r.samples {
                                let sample = Sample {
                                    deployment: l.name.clone(),
                                    memory_mb: m,
                                    environment: run,
                                    measured: mm,
                                };
                                on_sample(&sample);
                                if let Ok(mut v) = samples.lock() {
                                    v.push(sample);
                                }
                            }
                            reporter.advance(Phase::Bench, expected.max(n));
                        }
                        Err(e) => {
                            if let Ok(mut f) = failure.lock() {
                                f.get_or_insert(e);
                            }
                            break;
                        }
                    }
                    // The environment's /tmp goes with it.
                    let _ = std::fs::remove_dir_all(&work);
                }
            });
        }
    });
    reporter.finish(Phase::Bench);
    if let Some(e) = failure.into_inner().ok().flatten() {
        return Err(e);
    }
    let mut samples = samples.into_inner().unwrap_or_default();
    samples.sort_by(|a, b| {
        (
            a.deployment.as_str(),
            a.memory_mb,
            a.environment,
            a.measured.invocation,
        )
            .cmp(&(
                b.deployment.as_str(),
                b.memory_mb,
                b.environment,
                b.measured.invocation,
            ))
    });

    let price_ms = match target.arch {
        crate::target::Arch::X86_64 => price.x86_64,
        crate::target::Arch::Arm64 => price.arm64,
    };
    let mut deployments = Vec::new();
    for (l, h) in layouts.iter().zip(&handlers) {
        for &m in &s.memory {
            let mine: Vec<&Sample> = samples
                .iter()
                .filter(|x| x.deployment == l.name && x.memory_mb == m)
                .collect();
            deployments.push(summarise(
                l,
                h,
                m,
                &mine,
                s.cold_share,
                price_ms,
                price.requests_per_million,
            ));
        }
    }
    let (cpu, ncpu) = host_cpu();
    let mut notes: Vec<String> = layouts.iter().flat_map(|l| l.notes.clone()).collect();
    notes.dedup();
    notes.push(format!(
        "local backend: no code download from S3 or image chunk cache, no Firecracker microVM, a warm page cache{}",
        if subtree.is_some() { "" } else { "; CPU not shaped to the memory size" }
    ));
    if readonly == ReadOnly::RootPermissionsOnly {
        notes.push("running as root without mount namespaces: code directories are read-only by mode only, which root ignores".to_string());
    }
    let artifacts = layouts
        .iter()
        .flat_map(|l| {
            l.artifacts.iter().map(|(f, h)| ArtifactRef {
                deployment: l.name.clone(),
                file: f.clone(),
                sha256: h.clone(),
            })
        })
        .collect();
    Ok(Results {
        schema_version: SCHEMA_VERSION,
        provenance: Provenance {
            lpack_version: env!("CARGO_PKG_VERSION").to_string(),
            date: today(),
            backend: "local".to_string(),
            target: format!("{} {}", target.runtime, target.arch),
            python: python_desc,
            host_cpu: cpu,
            host_cpus: ncpu,
            cpu_shaping: match subtree {
                Some(t) => format!(
                    "cgroup v2 {}: 2 CPUs during init, memory/1769 CPUs during invokes, memory.max = memory size",
                    t.path().display()
                ),
                None => "none".to_string(),
            },
            memory_source: if subtree.is_some() {
                "memory.peak of the environment's cgroup".to_string()
            } else {
                "VmHWM of the runtime process, with the RSS of processes it started summed in (/proc, every 10 ms), ru_maxrss at exit".to_string()
            },
            read_only: readonly,
            runs: s.runs,
            warm: s.warm,
            concurrency: s.concurrency,
            timeout_s: s.timeout.as_secs_f64(),
            region: s.region.clone(),
            prices_date,
            cold_share: s.cold_share,
            artifacts,
            notes,
        },
        deployments,
        import_profiles,
        samples,
    })
}

#[allow(clippy::too_many_arguments)]
fn env_config<'a>(
    s: &'a Settings,
    l: &'a Layout,
    h: &'a str,
    memory: u32,
    importtime: bool,
    work: PathBuf,
    readonly: ReadOnly,
    cgroup: Option<&'a cgroup::Subtree>,
) -> EnvConfig<'a> {
    EnvConfig {
        layout: l,
        python: &s.python,
        runtime_dir: &s.runtime_dir,
        handler: h,
        memory_mb: memory,
        timeout: s.timeout,
        warm: if importtime { 0 } else { s.warm },
        event: &s.event,
        region: &s.region,
        importtime,
        work,
        readonly,
        cgroup,
    }
}

fn summarise(
    l: &Layout,
    handler: &str,
    memory_mb: u32,
    samples: &[&Sample],
    cold_share: f64,
    price_ms: f64,
    requests: f64,
) -> DeploymentResult {
    let ok: Vec<&&Sample> = samples
        .iter()
        .filter(|x| x.measured.error.is_none())
        .collect();
    let mut error_types = BTreeMap::new();
    let mut first_error = None;
    for x in samples {
        if let Some(e) = &x.measured.error {
            *error_types.entry(e.error_type.clone()).or_insert(0) += 1;
            first_error.get_or_insert_with(|| e.clone());
        }
    }
    let vals = |f: &dyn Fn(&Sample) -> Option<f64>| -> Vec<f64> {
        ok.iter().filter_map(|x| f(x)).collect()
    };
    let init = vals(&|x| x.measured.init_ms);
    let dur = vals(&|x| x.measured.duration_ms);
    let cold_dur = vals(&|x| {
        if x.cold() {
            x.measured.duration_ms
        } else {
            None
        }
    });
    let warm_dur = vals(&|x| {
        if x.cold() {
            None
        } else {
            x.measured.duration_ms
        }
    });
    let mem = vals(&|x| x.measured.max_memory_mb.map(|m| m as f64));
    let rt = vals(&|x| x.measured.round_trip_ms);
    let mean = |v: &[f64]| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
    let cost = match (mean(&init), mean(&cold_dur)) {
        (Some(i), Some(d)) => {
            let warm = mean(&warm_dur).unwrap_or(d);
            Some(stats::cost_per_million(
                i + d,
                warm,
                memory_mb,
                cold_share,
                price_ms,
                requests,
            ))
        }
        _ => None,
    };
    DeploymentResult {
        name: l.name.clone(),
        kind: l.kind.clone(),
        memory_mb,
        handler: handler.to_string(),
        n: ok.len(),
        errors: samples.len() - ok.len(),
        error_types,
        first_error,
        init_ms: stats::figure(&init),
        duration_ms: stats::figure(&dur),
        max_memory_mb: stats::figure(&mem),
        round_trip_ms: stats::figure(&rt),
        unpack_ms: l.unpack_ms,
        cost_per_million_usd: cost,
    }
}

/// Make a finished bench's work directory writable again so it can be removed.
pub fn cleanup(work: &Path) {
    layout::set_readonly(work, false);
    let _ = std::fs::remove_dir_all(work);
}
