//! Import a list of modules, in order, in one interpreter: a crash or a hang costs that module
//! only (the interpreter is restarted after it). Deep verify and the reference install both
//! use it.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde::Deserialize;

use super::error::VerifyError;

/// How long one module may take to import before it counts as hung.
pub const MODULE_TIMEOUT: Duration = Duration::from_secs(60);

const CHECKER: &str = r#"
import sys, os, json, importlib, traceback, warnings
req = json.loads(sys.stdin.readline())
out = os.fdopen(os.dup(1), "w", buffering=1)
null = os.open(os.devnull, os.O_RDWR)
os.dup2(null, 0); os.dup2(null, 1); os.dup2(null, 2)
warnings.simplefilter("ignore")
sys.path[0:0] = req["paths"]
mods = req["modules"]
for i in range(req["start"], len(mods)):
    out.write(json.dumps({"i": i, "begin": True}) + "\n")
    try:
        importlib.import_module(mods[i])
        out.write(json.dumps({"i": i, "ok": True}) + "\n")
    except BaseException as e:
        tb = "".join(traceback.format_exception(type(e), e, e.__traceback__))[-6000:]
        out.write(json.dumps({"i": i, "ok": False, "error": ("%s: %s" % (type(e).__name__, e))[:2000], "tb": tb}) + "\n")
out.flush()
os._exit(0)
"#;

#[derive(Debug, Clone, Deserialize)]
struct Line {
    i: usize,
    #[serde(default)]
    begin: bool,
    #[serde(default)]
    ok: bool,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    tb: Option<String>,
}

/// The result of importing one module.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    pub ok: bool,
    pub error: String,
    pub tb: String,
}

fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Import `modules` in order with `python`, `paths` first on `sys.path`; a crash or a hang
/// costs that module only.
pub(crate) fn import_all(
    python: &Path,
    cwd: &Path,
    paths: &[String],
    modules: &[String],
    timeout: Duration,
    progress: &(dyn Fn() + Sync),
) -> Result<Vec<Outcome>, VerifyError> {
    let imp = Importer {
        python,
        cwd,
        paths,
        modules,
        timeout,
        progress,
    };
    let mut results: Vec<Option<Outcome>> = vec![None; modules.len()];
    let mut start = 0;
    while start < modules.len() {
        let (child, rx) = imp.start(start)?;
        start = imp.follow(child, &rx, start, &mut results)?;
    }
    Ok(results
        .into_iter()
        .map(|r| {
            r.unwrap_or(Outcome {
                ok: false,
                error: "not imported".into(),
                tb: String::new(),
            })
        })
        .collect())
}

/// One `import_all`: the interpreter, the modules and how long each may take.
struct Importer<'a> {
    python: &'a Path,
    cwd: &'a Path,
    paths: &'a [String],
    modules: &'a [String],
    timeout: Duration,
    progress: &'a (dyn Fn() + Sync),
}

impl Importer<'_> {
    /// Start a checker at module `start`; returns it and a channel of its output lines.
    fn start(&self, start: usize) -> Result<(Child, mpsc::Receiver<String>), VerifyError> {
        let mut child = Command::new(self.python)
            .args(["-I", "-S", "-B", "-c", CHECKER])
            .current_dir(self.cwd)
            .env("MPLBACKEND", "Agg")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| VerifyError::Io(format!("cannot run {}: {e}", self.python.display())))?;
        let req = serde_json::json!({"paths": self.paths, "modules": self.modules, "start": start});
        if let Some(mut stdin) = child.stdin.take() {
            // A checker that dies at once closes its stdin; the loop below notices.
            let _ = writeln!(stdin, "{req}");
        }
        let Some(stdout) = child.stdout.take() else {
            kill(&mut child);
            return Err(VerifyError::Io("the checker has no stdout".into()));
        };
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok((child, rx))
    }

    /// Record results until the checker ends, hangs or dies; the module the next one starts at.
    fn follow(
        &self,
        mut child: Child,
        rx: &mpsc::Receiver<String>,
        start: usize,
        results: &mut [Option<Outcome>],
    ) -> Result<usize, VerifyError> {
        let (modules, timeout, progress) = (self.modules, self.timeout, self.progress);
        let mut current: Option<usize> = None;
        let mut next = start;
        loop {
            match rx.recv_timeout(timeout) {
                Ok(line) => {
                    let Ok(l) = serde_json::from_str::<Line>(&line) else {
                        continue;
                    };
                    if l.i >= modules.len() {
                        continue;
                    }
                    if l.begin {
                        current = Some(l.i);
                        continue;
                    }
                    results[l.i] = Some(Outcome {
                        ok: l.ok,
                        error: l.error.unwrap_or_default(),
                        tb: l.tb.unwrap_or_default(),
                    });
                    progress();
                    current = None;
                    next = l.i + 1;
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    kill(&mut child);
                    let i = current.unwrap_or(next);
                    if i < modules.len() {
                        results[i] = Some(Outcome {
                            ok: false,
                            error: format!("timed out: importing took over {}s", timeout.as_secs()),
                            tb: String::new(),
                        });
                        progress();
                    }
                    return Ok(i + 1);
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = child.wait().ok();
                    if let Some(i) = current {
                        results[i] = Some(Outcome {
                            ok: false,
                            error: format!(
                                "the interpreter died while importing it ({})",
                                status.map(|s| s.to_string()).unwrap_or_default()
                            ),
                            tb: String::new(),
                        });
                        progress();
                        next = i + 1;
                    } else if next == start {
                        return Err(VerifyError::Io(format!(
                            "{} could not start the checker ({})",
                            self.python.display(),
                            status.map(|s| s.to_string()).unwrap_or_default()
                        )));
                    }
                    return Ok(next);
                }
            }
        }
    }
}
