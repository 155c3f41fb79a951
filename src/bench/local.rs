//! The local backend: every run starts a fresh `python -m awslambdaric` of the target version
//! against lpack's own Runtime API ([`super::server`]), in an environment laid out from the
//! artifacts ([`super::layout`]) and run by [`super::runner`].
//!
//! The plan is deployments × memory sizes × runs: each run is a fresh process (a cold start)
//! followed by `warm` invokes on it, `concurrency` environments at a time, deployments
//! interleaved so drift on the machine spreads evenly over them. One extra cold start per
//! deployment runs under `-X importtime` for the import profile and is not counted.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::error::{BenchError, interrupted};
use super::layout::{self, Layout};
use super::proc::{self, ReadOnly};
use super::results::{
    ArtifactRef, ImportProfile, Pricing, Provenance, Results, Round, Row, SCHEMA_VERSION, Sample,
    summarise, today,
};
use super::runner::{self, EnvConfig};
use super::settings::Settings;
use super::{cgroup, stats};
use crate::progress::{Phase, Reporter};

/// What only the local backend needs.
#[derive(Debug, Clone)]
pub struct Options {
    pub python: PathBuf,
    /// The runtime directory (awslambdaric and the runtime-provided packages).
    pub runtime_dir: PathBuf,
    pub import_profile: bool,
    /// Where layouts and environments live while running.
    pub work: PathBuf,
    /// A delegated cgroup v2 directory to shape CPU and memory in (`LPACK_CGROUP`).
    pub cgroup: Option<PathBuf>,
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
    o: &Options,
    reporter: &dyn Reporter,
    on_sample: &(dyn Fn(&Sample) + Sync),
) -> Result<Results, BenchError> {
    if !o.runtime_dir.join("awslambdaric").is_dir() {
        return Err(BenchError::Runtime(format!(
            "{} holds no awslambdaric",
            o.runtime_dir.display()
        )));
    }
    std::fs::create_dir_all(&o.work)
        .map_err(|e| BenchError::Run(format!("creating {}: {e}", o.work.display())))?;
    let price = stats::price_for(&s.region).map_err(BenchError::Input)?;
    let (prices_date, _, _) = stats::price_table().map_err(BenchError::Input)?;
    let (layouts, target) = lay_out_all(s, o)?;
    let python_desc = check_python(&o.python, &target)?;
    let subtree = match &o.cgroup {
        Some(d) => Some(
            cgroup::Subtree::open(d)
                .map_err(|e| BenchError::Input(format!("--cgroup / LPACK_CGROUP: {e}")))?,
        ),
        None => None,
    };
    let envs = Envs {
        s,
        o,
        readonly: proc::probe_readonly(&o.python, &o.work),
        subtree: subtree.as_ref(),
        counter: AtomicUsize::new(0),
    };
    let handlers = handlers(s, &layouts)?;
    // Import profiles first (this also warms the page cache for every deployment equally).
    let import_profiles = if o.import_profile {
        envs.import_profiles(&layouts, &handlers)?
    } else {
        Vec::new()
    };
    let samples = envs.cold_starts(&layouts, &handlers, reporter, on_sample)?;
    let price_ms = match target.arch {
        crate::target::Arch::X86_64 => price.x86_64,
        crate::target::Arch::Arm64 => price.arm64,
    };
    let pricing = Pricing {
        cold_share: s.cold_share,
        price_ms,
        requests_per_million: price.requests_per_million,
        restore_per_gb: 0.0,
    };
    let mut deployments = Vec::new();
    for (l, h) in layouts.iter().zip(&handlers) {
        for &m in &s.memory {
            let mine: Vec<&Sample> = samples
                .iter()
                .filter(|x| x.deployment == l.name && x.memory_mb == m)
                .collect();
            let row = Row {
                name: &l.name,
                kind: &l.kind,
                handler: h,
                memory_mb: m,
                unpack_ms: l.unpack_ms,
            };
            deployments.push(summarise(&row, &mine, &pricing));
        }
    }
    let mut provenance = envs.provenance(&layouts, &target, python_desc);
    provenance.prices_date = prices_date;
    Ok(Results {
        schema_version: SCHEMA_VERSION,
        provenance,
        deployments,
        import_profiles,
        samples,
    })
}

/// Every deployment laid out once, all for one runtime and this machine's architecture.
fn lay_out_all(
    s: &Settings,
    o: &Options,
) -> Result<(Vec<Layout>, crate::target::Target), BenchError> {
    let mut layouts: Vec<Layout> = Vec::new();
    for (i, d) in s.deployments.iter().enumerate() {
        if interrupted() {
            return Err(BenchError::Interrupted);
        }
        layouts.push(layout::lay_out(d, &o.work.join(format!("d{i}")))?);
    }
    let Some(first) = layouts.first() else {
        return Err(BenchError::Input("nothing to bench".into()));
    };
    let target = first.target.clone();
    for l in &layouts {
        if l.target.runtime != target.runtime || l.target.arch != target.arch {
            return Err(BenchError::Input(format!(
                "{} targets {} {}, {} targets {} {}: bench one runtime at a time",
                l.name, l.target.runtime, l.target.arch, first.name, target.runtime, target.arch
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
    Ok((layouts, target))
}

/// Each deployment's handler: its own, else the run's, else the image's CMD.
fn handlers(s: &Settings, layouts: &[Layout]) -> Result<Vec<String>, BenchError> {
    s.deployments
        .iter()
        .zip(layouts)
        .map(|(d, l)| {
            d.handler
                .clone()
                .or_else(|| s.handler.clone())
                .or_else(|| l.cmd.clone())
                .ok_or_else(|| {
                    BenchError::Input(format!(
                        "{}: no handler; pass --handler MODULE.FUNCTION, or set `handler` in lpack.toml or the plan (images default to their CMD)",
                        l.name
                    ))
                })
        })
        .collect()
}

/// What every environment of this run shares.
struct Envs<'a> {
    s: &'a Settings,
    o: &'a Options,
    readonly: ReadOnly,
    subtree: Option<&'a cgroup::Subtree>,
    counter: AtomicUsize,
}

impl<'a> Envs<'a> {
    /// A fresh directory for the next environment.
    fn dir(&self) -> PathBuf {
        self.o.work.join(format!(
            "env{}",
            self.counter.fetch_add(1, Ordering::SeqCst)
        ))
    }

    fn config(
        &self,
        l: &'a Layout,
        h: &'a str,
        memory: u32,
        importtime: bool,
        work: PathBuf,
    ) -> EnvConfig<'a> {
        let (s, o) = (self.s, self.o);
        EnvConfig {
            layout: l,
            python: &o.python,
            runtime_dir: &o.runtime_dir,
            handler: h,
            memory_mb: memory,
            timeout: s.timeout,
            warm: if importtime { 0 } else { s.warm },
            event: &s.event,
            region: &s.region,
            importtime,
            work,
            readonly: self.readonly,
            cgroup: self.subtree,
        }
    }

    /// One `-X importtime` cold start per deployment: its slowest imports.
    fn import_profiles(
        &self,
        layouts: &'a [Layout],
        handlers: &'a [String],
    ) -> Result<Vec<ImportProfile>, BenchError> {
        let mut out = Vec::new();
        for (l, h) in layouts.iter().zip(handlers) {
            let r = runner::run_env(&self.config(l, h, self.s.memory[0], true, self.dir()))?;
            let top = runner::parse_importtime(&r.log)
                .into_iter()
                .filter(|(m, _)| m != h.rsplit_once('.').map_or(h.as_str(), |(m, _)| m))
                .take(200)
                .map(|(m, us)| (m, us as f64 / 1000.0))
                .collect();
            out.push(ImportProfile {
                deployment: l.name.clone(),
                top,
            });
        }
        Ok(out)
    }

    /// Runs × memory sizes × deployments, interleaved, `concurrency` at a time. Returns every
    /// sample, sorted.
    fn cold_starts(
        &self,
        layouts: &'a [Layout],
        handlers: &'a [String],
        reporter: &dyn Reporter,
        on_sample: &(dyn Fn(&Sample) + Sync),
    ) -> Result<Vec<Sample>, BenchError> {
        let s = self.s;
        let mut jobs: Vec<(usize, u32, u32)> = Vec::new();
        for run in 0..s.runs {
            for &m in &s.memory {
                for d in 0..layouts.len() {
                    jobs.push((d, m, run));
                }
            }
        }
        reporter.start(Phase::Bench, jobs.len() as u64 * u64::from(1 + s.warm));
        let next = AtomicUsize::new(0);
        let samples: Mutex<Vec<Sample>> = Mutex::new(Vec::new());
        let failure: Mutex<Option<BenchError>> = Mutex::new(None);
        let workers = s.concurrency.max(1).min(jobs.len().max(1) as u32);
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| {
                    while let Some(&(d, m, run)) = jobs.get(next.fetch_add(1, Ordering::SeqCst)) {
                        if failure.lock().map(|f| f.is_some()).unwrap_or(true) {
                            break;
                        }
                        let l = &layouts[d];
                        let work = self.dir();
                        let result =
                            runner::run_env(&self.config(l, &handlers[d], m, false, work.clone()));
                        // The environment's /tmp goes with it.
                        let _ = std::fs::remove_dir_all(&work);
                        let r = match result {
                            Ok(r) => r,
                            Err(e) => {
                                if let Ok(mut f) = failure.lock() {
                                    f.get_or_insert(e);
                                }
                                break;
                            }
                        };
                        let n = r.samples.len() as u64;
                        for measured in r.samples {
                            let sample = Sample {
                                deployment: l.name.clone(),
                                memory_mb: m,
                                environment: run,
                                round: Round::Steady,
                                measured,
                            };
                            on_sample(&sample);
                            if let Ok(mut v) = samples.lock() {
                                v.push(sample);
                            }
                        }
                        reporter.advance(Phase::Bench, u64::from(1 + s.warm).max(n));
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
            let key = |x: &Sample| {
                (
                    x.deployment.clone(),
                    x.memory_mb,
                    x.environment,
                    x.measured.invocation,
                )
            };
            key(a).cmp(&key(b))
        });
        Ok(samples)
    }

    /// How this run was made: machine, interpreter, shaping, artifacts and caveats
    /// (`prices_date` is the caller's).
    fn provenance(
        &self,
        layouts: &[Layout],
        target: &crate::target::Target,
        python: String,
    ) -> Provenance {
        let s = self.s;
        let (cpu, ncpu) = host_cpu();
        let mut notes: Vec<String> = layouts.iter().flat_map(|l| l.notes.clone()).collect();
        notes.dedup();
        notes.push(format!(
            "local backend: no code download from S3 or image chunk cache, no Firecracker microVM, a warm page cache{}",
            if self.subtree.is_some() { "" } else { "; CPU not shaped to the memory size" }
        ));
        if self.readonly == ReadOnly::RootPermissionsOnly {
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
        Provenance {
            lpack_version: env!("CARGO_PKG_VERSION").to_string(),
            date: today(),
            backend: "local".to_string(),
            target: format!("{} {}", target.runtime, target.arch),
            python,
            host_cpu: cpu,
            host_cpus: ncpu,
            cpu_shaping: match self.subtree {
                Some(t) => format!(
                    "cgroup v2 {}: 2 CPUs during init, memory/1769 CPUs during invokes, memory.max = memory size",
                    t.path().display()
                ),
                None => "none".to_string(),
            },
            memory_source: if self.subtree.is_some() {
                "memory.peak of the environment's cgroup".to_string()
            } else {
                "VmHWM of the runtime process, with the RSS of processes it started summed in (/proc, every 10 ms), ru_maxrss at exit".to_string()
            },
            read_only: self.readonly,
            runs: s.runs,
            warm: s.warm,
            concurrency: s.concurrency,
            timeout_s: s.timeout.as_secs_f64(),
            region: s.region.clone(),
            prices_date: String::new(),
            cold_share: s.cold_share,
            artifacts,
            notes,
            aws: None,
        }
    }
}

/// Make a finished bench's work directory writable again so it can be removed.
pub fn cleanup(work: &Path) {
    layout::set_readonly(work, false);
    let _ = std::fs::remove_dir_all(work);
}

/// Where the local backend's interpreter and runtime come from.
#[derive(Debug, Clone, Default)]
pub struct Prepare {
    /// Interpreter of the target version; `None`: found on PATH or in pyenv.
    pub python: Option<PathBuf>,
    /// A prepared runtime directory; `None`: made (and cached) from the indexes.
    pub runtime_dir: Option<PathBuf>,
    pub cache_dir: Option<PathBuf>,
    pub offline: bool,
    pub index: crate::sources::IndexSettings,
    pub import_profile: bool,
    pub cgroup: Option<PathBuf>,
}

/// The local backend's options for the target of `first_manifest` (the first deployment's):
/// the interpreter, checked, and the runtime directory (awslambdaric and the runtime-provided
/// packages), both absolute.
pub fn prepare(
    first_manifest: &Path,
    p: &Prepare,
    work: PathBuf,
    reporter: &dyn Reporter,
) -> Result<Options, BenchError> {
    let m = crate::artifact::ArtifactManifest::read(first_manifest)
        .map_err(|e| BenchError::Input(e.to_string()))?;
    let target = crate::target::Target::new(
        m.target
            .runtime
            .parse()
            .map_err(|e: crate::target::TargetError| BenchError::Input(e.to_string()))?,
        m.target
            .arch
            .parse()
            .map_err(|e: crate::target::TargetError| BenchError::Input(e.to_string()))?,
    );
    let python = match p
        .python
        .clone()
        .or_else(|| crate::slim::bytecode::find_python(target.runtime.minor()))
    {
        Some(py) => py,
        None => {
            return Err(BenchError::NoPython {
                version: target.python_version(),
                why: "none found on PATH or in pyenv".into(),
            });
        }
    };
    check_python(&python, &target)?;
    let runtime_dir = match &p.runtime_dir {
        Some(d) => d.clone(),
        None => {
            let s = crate::sources::open_sources(
                p.cache_dir.as_deref(),
                p.offline,
                &p.index,
                &Default::default(),
            )
            .map_err(|e| BenchError::Runtime(e.to_string()))?;
            let tools = crate::verify::Tools {
                target: &target,
                python: &python,
                cache: &s.cache,
                client: &s.client,
                http: s.http.as_ref(),
                reporter,
            };
            crate::verify::runtime_dir(&tools, true)
                .map_err(|e| BenchError::Runtime(e.to_string()))?
        }
    };
    // Absolute: the runtime runs in the task root.
    let runtime_dir = std::fs::canonicalize(&runtime_dir)
        .map_err(|e| BenchError::Runtime(format!("{}: {e}", runtime_dir.display())))?;
    let python = if python.components().count() > 1 {
        std::fs::canonicalize(&python).unwrap_or(python)
    } else {
        python
    };
    Ok(Options {
        python,
        runtime_dir,
        import_profile: p.import_profile,
        work,
        cgroup: p.cgroup.clone(),
    })
}
