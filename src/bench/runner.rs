//! One execution environment: a real Python of the target version running the real runtime
//! client (`python -m awslambdaric MOD.FUNC`) against its own Runtime API endpoint.
//!
//! The process gets Lambda's environment variables and the `sys.path` that the managed
//! runtime's `/var/runtime/bootstrap.py` builds — task root, `opt/python/lib/pythonX.Y/
//! site-packages`, `opt/python`, the runtime directory, then the standard library — with `.pth`
//! files in those directories honoured (`site.addsitedir`) and nothing from the host: the
//! interpreter runs isolated (`-I -S`), and a ten-line bootstrap passed with `-c` sets the path
//! before handing over to awslambdaric. A fresh writable `TMPDIR` stands in for `/tmp`.
//!
//! Measured, in Lambda's terms: Init Duration from just before the process is started to its
//! first `GET /next` (or `/init/error`); Duration from the event handed out to the response or
//! error posted; Max Memory Used as the process's peak resident set (`VmHWM` from
//! `/proc/PID/status`, polled every 10 ms with the summed RSS of any processes it started, and
//! `ru_maxrss` at exit); and the round trip of a cold start.
//! The process runs in its own process group, dies with lpack (`PR_SET_PDEATHSIG`), and is
//! killed and reaped on every path: success, timeout, memory over the limit, Ctrl-C.
//! Running as root, where file modes do not stop writes, the code directories are additionally
//! bind-mounted read-only in a private mount namespace.

use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{RecvTimeoutError, SyncSender};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::error::BenchError;
use super::layout::Layout;
use super::proc::{Proc, ReadOnly, child_setup, cstr};
use super::server::{Endpoint, ErrorInfo, Event, Invocation};

/// The bootstrap run with `-c`: bootstrap.py's sys.path, then awslambdaric as `__main__`.
const BOOTSTRAP: &str = r#"import os, sys
_p = os.environ.pop("_LPACK_SYS_PATH").split(os.pathsep)
_s = os.environ.pop("_LPACK_SITE_DIRS").split(os.pathsep)
sys.path[:] = _p + [d for d in sys.path if d and d not in _p]
import site
for _d in _s:
    site.addsitedir(_d)
del _p, _s, _d
import runpy
runpy.run_module("awslambdaric", run_name="__main__", alter_sys=True)
"#;

/// One environment to run.
pub struct EnvConfig<'a> {
    pub layout: &'a Layout,
    pub python: &'a Path,
    pub runtime_dir: &'a Path,
    pub handler: &'a str,
    pub memory_mb: u32,
    pub timeout: Duration,
    /// Further invokes after the cold one.
    pub warm: u32,
    pub event: &'a [u8],
    pub region: &'a str,
    /// Run under `-X importtime` (the import profile).
    pub importtime: bool,
    /// A fresh directory for this environment (its /tmp and its log).
    pub work: PathBuf,
    pub readonly: ReadOnly,
    /// Shape CPU and memory in a group of this delegated cgroup subtree.
    pub cgroup: Option<&'a super::cgroup::Subtree>,
}

/// One invocation, in Lambda's terms.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Measured {
    /// 0 for the cold start, then 1, 2, … for warm invokes.
    pub invocation: u32,
    pub request_id: String,
    pub init_ms: Option<f64>,
    pub duration_ms: Option<f64>,
    pub round_trip_ms: Option<f64>,
    pub max_memory_mb: Option<u64>,
    pub response_bytes: Option<usize>,
    pub error: Option<ErrorInfo>,
    /// Lambda's Billed Duration (AWS backend; it includes billed init and restore time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billed_ms: Option<u64>,
    /// SnapStart: Restore Duration (AWS backend).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_ms: Option<f64>,
    /// SnapStart: Billed Restore Duration (AWS backend).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billed_restore_ms: Option<u64>,
}

/// What an environment produced.
pub struct EnvResult {
    pub samples: Vec<Measured>,
    /// The runtime's stdout and stderr (the import profile reads it).
    pub log: String,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn request_id() -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let h = crate::digest::sha256_hex(format!("{t}-{n}-{}", std::process::id()).as_bytes());
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn epoch_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

enum Waited {
    Event(Event),
    Exited(String),
    TimedOut,
    OutOfMemory,
}

/// Run one environment: a cold start and `warm` further invokes.
pub fn run_env(cfg: &EnvConfig) -> Result<EnvResult, BenchError> {
    let tmp = cfg.work.join("tmp");
    std::fs::create_dir_all(&tmp).map_err(io("creating the environment's /tmp"))?;
    let log_path = cfg.work.join("runtime.log");
    let endpoint = Endpoint::start().map_err(io("starting the Runtime API"))?;
    let mut cmd = runtime_command(cfg, &endpoint, &tmp, &log_path)?;
    let group = shaping_group(cfg)?;
    let ro = readonly_dirs(cfg)?;
    let procs = group.as_ref().and_then(|g| g.procs());
    {
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
        // SAFETY: child_setup only makes async-signal-safe calls.
        unsafe {
            cmd.pre_exec(move || child_setup(&ro, procs.as_ref()));
        }
    }
    let t0 = Instant::now();
    let child = cmd
        .spawn()
        .map_err(io(&format!("starting {}", cfg.python.display())))?;
    let proc = Proc {
        pid: child.id() as i32,
        exit: None,
        peak_kb: 0,
    };
    drop(child);
    let mut rt = Runtime {
        cfg,
        proc,
        endpoint,
        group,
        t0,
        log_path,
    };
    let mut samples: Vec<Measured> = Vec::new();
    let (mut next_reply, init_ms) = rt.init(&mut samples)?;
    if cfg.importtime {
        // The import profile needs init only; the handler is not invoked.
        next_reply = None;
    }
    let mut invocation = 0u32;
    while let Some(reply) = next_reply.take() {
        let (m, alive) = rt.invoke(reply, invocation, init_ms)?;
        samples.push(m);
        invocation += 1;
        if !alive || invocation > cfg.warm {
            break;
        }
        next_reply = rt.next(invocation, &mut samples)?;
    }
    let log_path = rt.log_path.clone();
    drop(rt);
    let log = std::fs::read(&log_path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    Ok(EnvResult { samples, log })
}

fn io(what: &str) -> impl Fn(std::io::Error) -> BenchError {
    let what = what.to_string();
    move |e: std::io::Error| BenchError::Run(format!("{what}: {e}"))
}

/// `sys.path` as bootstrap.py builds it, and the directories whose `.pth` files count.
fn runtime_paths(cfg: &EnvConfig) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let l = cfg.layout;
    let mut path = vec![l.task_root.clone()];
    let mut sites = vec![l.task_root.clone()];
    if let Some(opt) = &l.opt {
        let sp = opt.join(l.target.layer_site_packages());
        path.push(sp.clone());
        path.push(opt.join("python"));
        sites.push(sp);
        sites.push(opt.join("python"));
    }
    path.push(cfg.runtime_dir.to_path_buf());
    sites.push(cfg.runtime_dir.to_path_buf());
    (path, sites)
}

/// The runtime client's process: isolated Python, the bootstrap, Lambda's environment, output
/// to the log.
fn runtime_command(
    cfg: &EnvConfig,
    endpoint: &Endpoint,
    tmp: &Path,
    log_path: &Path,
) -> Result<Command, BenchError> {
    let l = cfg.layout;
    let log = std::fs::File::create(log_path).map_err(io("creating the runtime log"))?;
    let log2 = log.try_clone().map_err(io("opening the runtime log"))?;
    let mut cmd = Command::new(cfg.python);
    cmd.arg("-I").arg("-S");
    if cfg.importtime {
        cmd.args(["-X", "importtime"]);
    }
    cmd.arg("-c")
        .arg(BOOTSTRAP)
        .arg(cfg.handler)
        .current_dir(&l.task_root)
        .env_clear();
    // Lambda's defaults, then the image's ENV (which may change them), then the reserved
    // variables, which nothing overrides.
    for (k, v) in default_vars(cfg) {
        cmd.env(k, v);
    }
    for (k, v) in &l.env {
        cmd.env(k, v);
    }
    for (k, v) in reserved_vars(cfg, endpoint, tmp)? {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(log2));
    Ok(cmd)
}

/// `LANG`, `TZ`, `PATH` and `LD_LIBRARY_PATH` as Lambda sets them (an image's ENV may change them).
fn default_vars(cfg: &EnvConfig) -> [(&'static str, String); 4] {
    let l = cfg.layout;
    let bin = cfg
        .python
        .parent()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let task_s = l.task_root.display().to_string();
    let mut ld = vec![task_s.clone(), format!("{task_s}/lib")];
    let mut path_var = format!("{bin}:/usr/local/bin:/usr/bin/:/bin");
    if let Some(o) = l.opt.as_ref().map(|o| o.display().to_string()) {
        ld.push(format!("{o}/lib"));
        path_var.push_str(&format!(":{o}/bin"));
    }
    [
        ("LANG", "en_US.UTF-8".to_string()),
        ("TZ", ":/etc/localtime".to_string()),
        ("PATH", path_var),
        ("LD_LIBRARY_PATH", ld.join(":")),
    ]
}

/// Lambda's reserved variables (nothing overrides them) and the bootstrap's path.
fn reserved_vars(
    cfg: &EnvConfig,
    endpoint: &Endpoint,
    tmp: &Path,
) -> Result<Vec<(&'static str, String)>, BenchError> {
    let l = cfg.layout;
    let (path, sites) = runtime_paths(cfg);
    let join = |v: &[PathBuf]| {
        std::env::join_paths(v)
            .map(|p| p.to_string_lossy().into_owned())
            .map_err(|e| BenchError::Run(e.to_string()))
    };
    let name = super::settings::function_name(&l.name);
    let minor = l.target.runtime.minor();
    Ok(vec![
        ("AWS_LAMBDA_RUNTIME_API", endpoint.addr.to_string()),
        ("_HANDLER", cfg.handler.to_string()),
        ("LAMBDA_TASK_ROOT", l.task_root.display().to_string()),
        ("LAMBDA_RUNTIME_DIR", cfg.runtime_dir.display().to_string()),
        ("AWS_EXECUTION_ENV", format!("AWS_Lambda_python3.{minor}")),
        ("AWS_LAMBDA_FUNCTION_NAME", name.clone()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_string()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", cfg.memory_mb.to_string()),
        ("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}")),
        (
            "AWS_LAMBDA_LOG_STREAM_NAME",
            "2026/01/01/[$LATEST]lpackbench".to_string(),
        ),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".to_string()),
        ("AWS_REGION", cfg.region.to_string()),
        ("AWS_DEFAULT_REGION", cfg.region.to_string()),
        ("TMPDIR", tmp.display().to_string()),
        ("_LPACK_SYS_PATH", join(&path)?),
        ("_LPACK_SITE_DIRS", join(&sites)?),
    ])
}

/// The code directories to bind-mount read-only (running as root), as C strings for the child.
fn readonly_dirs(cfg: &EnvConfig) -> Result<Vec<CString>, BenchError> {
    if cfg.readonly != ReadOnly::MountNamespace {
        return Ok(Vec::new());
    }
    let runtime_dir = cfg.runtime_dir.to_path_buf();
    cfg.layout
        .code_dirs
        .iter()
        .chain(std::iter::once(&runtime_dir))
        .map(|d| cstr(d))
        .collect()
}

/// This environment's group in the delegated cgroup subtree, when CPU and memory are shaped.
fn shaping_group(cfg: &EnvConfig) -> Result<Option<super::cgroup::Group>, BenchError> {
    let Some(sub) = cfg.cgroup else {
        return Ok(None);
    };
    let name = format!(
        "lpack-{}-{}",
        std::process::id(),
        cfg.work
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    );
    sub.group(&name, cfg.memory_mb)
        .map(Some)
        .map_err(BenchError::Run)
}

/// A started runtime process and the Runtime API it talks to. Dropping it kills the process
/// (`Proc`'s drop), then stops the API, then removes the cgroup.
struct Runtime<'a> {
    cfg: &'a EnvConfig<'a>,
    proc: Proc,
    endpoint: Endpoint,
    group: Option<super::cgroup::Group>,
    /// Just before the process was started: Init Duration counts from here.
    t0: Instant,
    log_path: PathBuf,
}

impl Runtime<'_> {
    /// The next thing that happens before `deadline`: an API event, the process exiting, the
    /// deadline, or memory over the function's size.
    fn wait(&mut self, deadline: Instant) -> Result<Waited, BenchError> {
        let limit_kb = u64::from(self.cfg.memory_mb) * 1024;
        loop {
            if super::error::interrupted() {
                return Err(BenchError::Interrupted);
            }
            self.proc.poll_memory();
            // Without a cgroup, lpack enforces the memory size itself.
            if self.group.is_none() && self.proc.peak_kb > limit_kb {
                return Ok(Waited::OutOfMemory);
            }
            let step = deadline
                .saturating_duration_since(Instant::now())
                .min(Duration::from_millis(10));
            match self.endpoint.events.recv_timeout(step) {
                Ok(e) => return Ok(Waited::Event(e)),
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(BenchError::Run("the Runtime API server stopped".into()));
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
            if let Some(exit) = self.proc.try_exit(false) {
                // Whatever it posted before exiting comes first.
                if let Ok(e) = self.endpoint.events.recv_timeout(Duration::from_millis(50)) {
                    return Ok(Waited::Event(e));
                }
                if self.group.as_ref().is_some_and(|g| g.oom_killed()) {
                    return Ok(Waited::OutOfMemory);
                }
                return Ok(Waited::Exited(exit));
            }
            if Instant::now() >= deadline {
                return Ok(Waited::TimedOut);
            }
        }
    }

    /// Init: until the first `GET /next`. Returns its reply channel and Init Duration; a failed
    /// init is pushed as a sample instead.
    fn init(
        &mut self,
        samples: &mut Vec<Measured>,
    ) -> Result<(Option<SyncSender<Invocation>>, Option<f64>), BenchError> {
        let t0 = self.t0;
        let init_deadline = t0 + Duration::from_secs(10) + self.cfg.timeout;
        let error = match self.wait(init_deadline)? {
            Waited::Event(Event::Next { at, reply }) => {
                if let Some(g) = &self.group {
                    g.invoke_phase(self.cfg.memory_mb)
                        .map_err(BenchError::Run)?;
                }
                return Ok((Some(reply), Some(ms(at - t0))));
            }
            Waited::Event(Event::InitError { at, error }) => (Some(ms(at - t0)), error),
            Waited::Event(other) => (
                None,
                ErrorInfo::new(
                    "Runtime.InvalidRequest",
                    format!("the runtime sent {other:?} before asking for an event"),
                ),
            ),
            Waited::Exited(exit) => (Some(ms(t0.elapsed())), exit_error(&exit, &self.log_path)),
            Waited::TimedOut => {
                self.proc.kill();
                let secs = init_deadline.duration_since(t0).as_secs_f64();
                (
                    Some(ms(t0.elapsed())),
                    ErrorInfo::new(
                        "Sandbox.Timedout",
                        format!("Init timed out after {secs:.2} seconds"),
                    ),
                )
            }
            Waited::OutOfMemory => {
                self.proc.kill();
                (Some(ms(t0.elapsed())), oom())
            }
        };
        samples.push(failed(0, error.0, None, &self.proc, error.1));
        Ok((None, None))
    }

    /// One invocation: hand out the event, wait for its response or error. Returns the sample
    /// and whether the runtime is still alive.
    fn invoke(
        &mut self,
        reply: SyncSender<Invocation>,
        invocation: u32,
        init_ms: Option<f64>,
    ) -> Result<(Measured, bool), BenchError> {
        let cfg = self.cfg;
        let id = request_id();
        let started = Instant::now();
        if reply.send(self.event(&id)).is_err() {
            return Err(BenchError::Run("the runtime's connection closed".into()));
        }
        let cold = invocation == 0;
        let mut m = Measured {
            invocation,
            request_id: id.clone(),
            init_ms: if cold { init_ms } else { None },
            ..Default::default()
        };
        let deadline = started + cfg.timeout;
        let mut alive = true;
        loop {
            match self.wait(deadline)? {
                Waited::Event(Event::Response { id: rid, at, bytes }) if rid == id => {
                    m.duration_ms = Some(ms(at - started));
                    m.response_bytes = Some(bytes);
                    if cold {
                        m.round_trip_ms = Some(ms(at - self.t0));
                    }
                }
                Waited::Event(Event::Error { id: rid, at, error }) if rid == id => {
                    m.duration_ms = Some(ms(at - started));
                    m.error = Some(error);
                }
                Waited::Event(Event::TooLarge { id: rid, at, bytes }) if rid == id => {
                    m.duration_ms = Some(ms(at - started));
                    m.response_bytes = Some(bytes);
                    m.error = Some(ErrorInfo::new(
                        "Function.ResponseSizeTooLarge",
                        format!(
                            "Response payload size ({bytes} bytes) exceeded maximum allowed payload size ({} bytes).",
                            super::server::MAX_RESPONSE
                        ),
                    ));
                }
                Waited::Event(_) => continue,
                Waited::Exited(exit) => {
                    m.duration_ms = Some(ms(started.elapsed()));
                    m.error = Some(exit_error(&exit, &self.log_path));
                    alive = false;
                }
                Waited::TimedOut => {
                    self.proc.kill();
                    m.duration_ms = Some(ms(started.elapsed()));
                    m.error = Some(ErrorInfo::new(
                        "Sandbox.Timedout",
                        format!(
                            "RequestId: {id} Error: Task timed out after {:.2} seconds",
                            cfg.timeout.as_secs_f64()
                        ),
                    ));
                    alive = false;
                }
                Waited::OutOfMemory => {
                    self.proc.kill();
                    m.duration_ms = Some(ms(started.elapsed()));
                    m.error = Some(oom());
                    alive = false;
                }
            }
            break;
        }
        self.proc.poll_memory();
        m.max_memory_mb = Some(
            self.group
                .as_ref()
                .and_then(|g| g.peak_mb())
                .unwrap_or_else(|| self.proc.peak_mb()),
        );
        Ok((m, alive))
    }

    /// The event for request `id`, with Lambda's deadline, ARN and trace header.
    fn event(&self, id: &str) -> Invocation {
        let cfg = self.cfg;
        let deadline_ms = epoch_ms() + cfg.timeout.as_millis() as u64;
        let name = super::settings::function_name(&cfg.layout.name);
        let bare = id.replace('-', "");
        Invocation {
            request_id: id.to_string(),
            deadline_ms,
            function_arn: format!("arn:aws:lambda:{}:000000000000:function:{name}", cfg.region),
            trace_id: format!(
                "Root=1-{:08x}-{};Parent={};Sampled=0",
                deadline_ms / 1000,
                &bare[..24],
                &bare[..16]
            ),
            body: cfg.event.to_vec(),
        }
    }

    /// After a response the runtime asks for the next event at once; anything else is pushed
    /// as a failed sample.
    fn next(
        &mut self,
        invocation: u32,
        samples: &mut Vec<Measured>,
    ) -> Result<Option<SyncSender<Invocation>>, BenchError> {
        let error = match self.wait(Instant::now() + self.cfg.timeout)? {
            Waited::Event(Event::Next { reply, .. }) => return Ok(Some(reply)),
            Waited::Exited(exit) => exit_error(&exit, &self.log_path),
            _ => ErrorInfo::new(
                "Runtime.Unresponsive",
                "the runtime did not ask for the next event",
            ),
        };
        samples.push(failed(invocation, None, None, &self.proc, error));
        Ok(None)
    }
}

fn failed(
    invocation: u32,
    init_ms: Option<f64>,
    duration_ms: Option<f64>,
    proc: &Proc,
    error: ErrorInfo,
) -> Measured {
    Measured {
        invocation,
        request_id: String::new(),
        init_ms,
        duration_ms,
        round_trip_ms: None,
        max_memory_mb: Some(proc.peak_mb()),
        response_bytes: None,
        error: Some(error),
        ..Default::default()
    }
}

fn oom() -> ErrorInfo {
    ErrorInfo::new(
        "Runtime.OutOfMemory",
        "Runtime exited with error: signal: killed (Max Memory Used reached Memory Size)",
    )
}

fn exit_error(exit: &str, log: &Path) -> ErrorInfo {
    let tail = std::fs::read(log)
        .map(|b| {
            let s = String::from_utf8_lossy(&b).into_owned();
            let lines: Vec<&str> = s.lines().collect();
            lines[lines.len().saturating_sub(20)..]
                .iter()
                .map(|l| l.to_string())
                .collect()
        })
        .unwrap_or_default();
    ErrorInfo {
        error_type: "Runtime.ExitError".to_string(),
        error_message: format!("Runtime exited with error: {exit}"),
        stack_trace: tail,
    }
}

/// The import profile from a `-X importtime` log: (module, cumulative µs), largest first.
pub fn parse_importtime(log: &str) -> Vec<(String, u64)> {
    let mut out: Vec<(String, u64)> = Vec::new();
    for line in log.lines() {
        let Some(rest) = line.strip_prefix("import time:") else {
            continue;
        };
        let cols: Vec<&str> = rest.split('|').collect();
        if cols.len() != 3 {
            continue;
        }
        let Ok(cum) = cols[1].trim().parse::<u64>() else {
            continue;
        };
        let module = cols[2].trim().to_string();
        if module.is_empty() || module == "imported package" {
            continue;
        }
        out.push((module, cum));
    }
    out.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn importtime_lines_parse() {
        let log = "import time: self [us] | cumulative | imported package\n\
                   import time:       120 |        120 |   _io\n\
                   import time:      5000 |     310000 | pyarrow.parquet\n\
                   noise\n\
                   import time:        80 |      90000 |     numpy.core\n";
        let p = parse_importtime(log);
        assert_eq!(p[0], ("pyarrow.parquet".to_string(), 310000));
        assert_eq!(p[1], ("numpy.core".to_string(), 90000));
        assert_eq!(p.len(), 3);
    }

    #[test]
    fn request_ids_look_like_uuids_and_differ() {
        let a = request_id();
        let b = request_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(a.matches('-').count(), 4);
    }
}
