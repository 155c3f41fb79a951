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
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::BenchError;
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
    let h = crate::cache::sha256_hex(format!("{t}-{n}-{}", std::process::id()).as_bytes());
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
    let l = cfg.layout;
    let io = |what: &str| {
        let what = what.to_string();
        move |e: std::io::Error| BenchError::Run(format!("{what}: {e}"))
    };
    let tmp = cfg.work.join("tmp");
    std::fs::create_dir_all(&tmp).map_err(io("creating the environment's /tmp"))?;
    let log_path = cfg.work.join("runtime.log");
    let log = std::fs::File::create(&log_path).map_err(io("creating the runtime log"))?;
    let log2 = log.try_clone().map_err(io("opening the runtime log"))?;
    let endpoint = Endpoint::start().map_err(io("starting the Runtime API"))?;
    let minor = l.target.runtime.minor();

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
    let join = |v: &[PathBuf]| std::env::join_paths(v).map_err(|e| BenchError::Run(e.to_string()));

    let name = super::function_name(&l.name);
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
    let bin = cfg
        .python
        .parent()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let opt_s = l.opt.as_ref().map(|o| o.display().to_string());
    let task_s = l.task_root.display().to_string();
    let mut ld = vec![task_s.clone(), format!("{task_s}/lib")];
    let mut path_var = format!("{bin}:/usr/local/bin:/usr/bin/:/bin");
    if let Some(o) = &opt_s {
        ld.push(format!("{o}/lib"));
        path_var.push_str(&format!(":{o}/bin"));
    }
    let vars: Vec<(&str, String)> = vec![
        ("AWS_LAMBDA_RUNTIME_API", endpoint.addr.to_string()),
        ("_HANDLER", cfg.handler.to_string()),
        ("LAMBDA_TASK_ROOT", task_s.clone()),
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
        (
            "_LPACK_SYS_PATH",
            join(&path)?.to_string_lossy().into_owned(),
        ),
        (
            "_LPACK_SITE_DIRS",
            join(&sites)?.to_string_lossy().into_owned(),
        ),
    ];
    // Lambda's defaults, then the image's ENV (which may change them), then the reserved
    // variables, which nothing overrides.
    let defaults = [
        ("LANG", "en_US.UTF-8".to_string()),
        ("TZ", ":/etc/localtime".to_string()),
        ("PATH", path_var),
        ("LD_LIBRARY_PATH", ld.join(":")),
    ];
    for (k, v) in defaults {
        cmd.env(k, v);
    }
    for (k, v) in &l.env {
        cmd.env(k, v);
    }
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(log2));
    let ro: Vec<CString> = if cfg.readonly == ReadOnly::MountNamespace {
        let mut v = Vec::new();
        for d in l
            .code_dirs
            .iter()
            .chain(std::iter::once(&cfg.runtime_dir.to_path_buf()))
        {
            v.push(cstr(d)?);
        }
        v
    } else {
        Vec::new()
    };
    let group = match cfg.cgroup {
        Some(sub) => {
            let name = format!(
                "lpack-{}-{}",
                std::process::id(),
                cfg.work
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            );
            Some(sub.group(&name, cfg.memory_mb).map_err(BenchError::Run)?)
        }
        None => None,
    };
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
    let mut proc = Proc {
        pid: child.id() as i32,
        exit: None,
        peak_kb: 0,
    };
    drop(child);
    let limit_kb = u64::from(cfg.memory_mb) * 1024;
    let arn = format!("arn:aws:lambda:{}:000000000000:function:{name}", cfg.region);

    let wait = |proc: &mut Proc, deadline: Instant| -> Result<Waited, BenchError> {
        loop {
            if super::interrupted() {
                return Err(BenchError::Interrupted);
            }
            proc.poll_memory();
            // Without a cgroup, lpack enforces the memory size itself.
            if group.is_none() && proc.peak_kb > limit_kb {
                return Ok(Waited::OutOfMemory);
            }
            let now = Instant::now();
            let step = deadline
                .saturating_duration_since(now)
                .min(Duration::from_millis(10));
            match endpoint.events.recv_timeout(step) {
                Ok(e) => return Ok(Waited::Event(e)),
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(BenchError::Run("the Runtime API server stopped".into()));
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
            if let Some(exit) = proc.try_exit(false) {
                // Whatever it posted before exiting comes first.
                if let Ok(e) = endpoint.events.recv_timeout(Duration::from_millis(50)) {
                    return Ok(Waited::Event(e));
                }
                if group.as_ref().is_some_and(|g| g.oom_killed()) {
                    return Ok(Waited::OutOfMemory);
                }
                return Ok(Waited::Exited(exit));
            }
            if Instant::now() >= deadline {
                return Ok(Waited::TimedOut);
            }
        }
    };

    let mut samples: Vec<Measured> = Vec::new();
    let init_deadline = t0 + Duration::from_secs(10) + cfg.timeout;
    let mut next_reply = None;
    let mut init_ms = None;
    // Init: until the first GET /next.
    match wait(&mut proc, init_deadline)? {
        Waited::Event(Event::Next { at, reply }) => {
            init_ms = Some(ms(at - t0));
            next_reply = Some(reply);
            if let Some(g) = &group {
                g.invoke_phase(cfg.memory_mb).map_err(BenchError::Run)?;
            }
        }
        Waited::Event(Event::InitError { at, error }) => {
            samples.push(failed(0, Some(ms(at - t0)), None, &proc, error));
        }
        Waited::Event(other) => {
            samples.push(failed(
                0,
                None,
                None,
                &proc,
                ErrorInfo::new(
                    "Runtime.InvalidRequest",
                    format!("the runtime sent {other:?} before asking for an event"),
                ),
            ));
        }
        Waited::Exited(exit) => {
            samples.push(failed(
                0,
                Some(ms(t0.elapsed())),
                None,
                &proc,
                exit_error(&exit, &log_path),
            ));
        }
        Waited::TimedOut => {
            proc.kill();
            samples.push(failed(
                0,
                Some(ms(t0.elapsed())),
                None,
                &proc,
                ErrorInfo::new(
                    "Sandbox.Timedout",
                    format!(
                        "Init timed out after {:.2} seconds",
                        init_deadline.duration_since(t0).as_secs_f64()
                    ),
                ),
            ));
        }
        Waited::OutOfMemory => {
            proc.kill();
            samples.push(failed(0, Some(ms(t0.elapsed())), None, &proc, oom()));
        }
    }

    if cfg.importtime {
        // The import profile needs init only; the handler is not invoked.
        next_reply = None;
    }
    let mut invocation = 0u32;
    while let Some(reply) = next_reply.take() {
        let id = request_id();
        let deadline_ms = epoch_ms() + cfg.timeout.as_millis() as u64;
        let started = Instant::now();
        let inv = Invocation {
            request_id: id.clone(),
            deadline_ms,
            function_arn: arn.clone(),
            trace_id: format!(
                "Root=1-{:08x}-{};Parent={};Sampled=0",
                deadline_ms / 1000,
                &id.replace('-', "")[..24],
                &id.replace('-', "")[..16]
            ),
            body: cfg.event.to_vec(),
        };
        if reply.send(inv).is_err() {
            return Err(BenchError::Run("the runtime's connection closed".into()));
        }
        let cold = invocation == 0;
        let mut m = Measured {
            invocation,
            request_id: id.clone(),
            init_ms: if cold { init_ms } else { None },
            duration_ms: None,
            round_trip_ms: None,
            max_memory_mb: None,
            response_bytes: None,
            error: None,
            ..Default::default()
        };
        let deadline = started + cfg.timeout;
        let mut alive = true;
        loop {
            match wait(&mut proc, deadline)? {
                Waited::Event(Event::Response { id: rid, at, bytes }) if rid == id => {
                    m.duration_ms = Some(ms(at - started));
                    m.response_bytes = Some(bytes);
                    if cold {
                        m.round_trip_ms = Some(ms(at - t0));
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
                    m.error = Some(exit_error(&exit, &log_path));
                    alive = false;
                }
                Waited::TimedOut => {
                    proc.kill();
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
                    proc.kill();
                    m.duration_ms = Some(ms(started.elapsed()));
                    m.error = Some(oom());
                    alive = false;
                }
            }
            break;
        }
        proc.poll_memory();
        m.max_memory_mb = Some(
            group
                .as_ref()
                .and_then(|g| g.peak_mb())
                .unwrap_or_else(|| proc.peak_mb()),
        );
        samples.push(m);
        invocation += 1;
        if !alive || invocation > cfg.warm {
            break;
        }
        // The runtime asks for the next event right after posting.
        match wait(&mut proc, Instant::now() + cfg.timeout)? {
            Waited::Event(Event::Next { reply, .. }) => next_reply = Some(reply),
            Waited::Exited(exit) => {
                samples.push(failed(
                    invocation,
                    None,
                    None,
                    &proc,
                    exit_error(&exit, &log_path),
                ));
            }
            _ => {
                samples.push(failed(
                    invocation,
                    None,
                    None,
                    &proc,
                    ErrorInfo::new(
                        "Runtime.Unresponsive",
                        "the runtime did not ask for the next event",
                    ),
                ));
            }
        }
    }
    proc.kill();
    drop(proc);
    drop(endpoint);
    let log = std::fs::read(&log_path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    Ok(EnvResult { samples, log })
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
