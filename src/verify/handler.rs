//! The handler check: import `MODULE.FUNCTION` from a laid-out artifact as Lambda's Python
//! runtime does, and say what Lambda would say.
//!
//! awslambdaric's `_get_handler` splits the handler at its last dot, imports the module
//! (`/` read as `.`) from `sys.path` — the task root first, then `/opt/python/lib/python3.X/
//! site-packages`, `/opt/python`, the runtime's own site-packages — and takes the attribute.
//! Its failures carry fixed error types and messages, reproduced here word for word:
//!
//! | what went wrong | `errorType` | `errorMessage` |
//! |---|---|---|
//! | no `.` in the handler | `Runtime.MalformedHandlerName` | `Bad handler 'H': …` |
//! | a built-in module's name | `Runtime.BuiltInModuleConflict` | `Cannot use built-in module M as a handler module` |
//! | an `ImportError` | `Runtime.ImportModuleError` | `Unable to import module 'M': …` |
//! | a `SyntaxError` | `Runtime.UserCodeSyntaxError` | `Syntax error in module 'M': …` (+ file and line) |
//! | no such attribute | `Runtime.HandlerNotFound` | `Handler 'F' missing on module 'M'` |
//! | anything else the module raised | its class name | its message |
//!
//! The first five are errors: the function can never start. The runtime does not check that
//! the attribute is callable, so every invoke would fail with `TypeError`: that is an error too.
//! An exception the module's own code raised (a `KeyError` reading an environment variable, a
//! network call) is a warning: Lambda fails the same way unless the function's environment
//! differs from this one, which the build cannot know.
//!
//! Importing the handler runs the user's module-level code. It runs as verify imports modules:
//! a separate interpreter in isolated mode (`-I -S -B`), the code directories read-only, its
//! output discarded, killed after [`TIMEOUT`]; and with an environment of Lambda's variables
//! only (a placeholder region, no credentials: `HOME` points at an empty directory and the
//! instance metadata service is off), so module code cannot act with the host's AWS identity.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde::Deserialize;

use super::error::VerifyError;
use crate::artifact::HandlerRecord;

/// How long importing the handler may take here before it counts as hung (Lambda's init phase
/// allows 10 s, then retries init within the invoke's timeout).
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// Top-level modules of the packages the Lambda runtime provides
/// (`data/lambda-runtime-provided.txt`): a handler may import them without shipping them.
pub const RUNTIME_MODULES: &[&str] = &[
    "boto3",
    "botocore",
    "s3transfer",
    "jmespath",
    "dateutil",
    "six",
    "urllib3",
];

const CHECKER: &str = r#"
import sys, os, json, importlib, traceback
req = json.loads(sys.stdin.readline())
out = os.fdopen(os.dup(1), "w")
null = os.open(os.devnull, os.O_RDWR)
os.dup2(null, 0); os.dup2(null, 1); os.dup2(null, 2)
sys.path[0:0] = req["paths"]
import site
for d in req["site_dirs"]:
    site.addsitedir(d)
roots = req["roots"]

def lam(p):
    for local, there in roots:
        if p == local or p.startswith(local + "/"):
            return there + p[len(local):]
    return p

def scrub(s):
    for local, there in roots:
        s = s.replace(local + "/", there + "/")
    return s

def where(e):
    found = {}
    for fs in traceback.extract_tb(e.__traceback__):
        if any(fs.filename.startswith(local + "/") for local, _ in roots):
            found = {"file": lam(fs.filename), "line": fs.lineno, "text": (fs.line or "").strip()}
    tb = "".join(traceback.format_exception(type(e), e, e.__traceback__))[-6000:]
    found["tb"] = scrub(tb)
    return found

def check(handler):
    try:
        modname, fname = handler.rsplit(".", 1)
    except ValueError as e:
        return {"type": "Runtime.MalformedHandlerName", "message": "Bad handler '{}': {}".format(handler, e)}
    try:
        if modname.split(".")[0] in sys.builtin_module_names:
            return {"type": "Runtime.BuiltInModuleConflict", "message": "Cannot use built-in module {} as a handler module".format(modname)}
        m = importlib.import_module(modname.replace("/", "."))
    except ImportError as e:
        r = {"type": "Runtime.ImportModuleError", "message": scrub("Unable to import module '{}': {}".format(modname, str(e))), "missing": e.name if isinstance(e, ModuleNotFoundError) else None}
        r.update(where(e))
        return r
    except SyntaxError as e:
        r = {"type": "Runtime.UserCodeSyntaxError", "message": scrub("Syntax error in module '{}': {}".format(modname, str(e)))}
        r.update(where(e))
        r.update({"file": lam(e.filename or ""), "line": e.lineno, "text": (e.text or "").strip()})
        return r
    except BaseException as e:
        r = {"type": type(e).__name__, "message": scrub(str(e))}
        r.update(where(e))
        return r
    try:
        h = getattr(m, fname)
    except AttributeError:
        return {"type": "Runtime.HandlerNotFound", "message": "Handler '{}' missing on module '{}'".format(fname, modname)}
    except BaseException as e:
        r = {"type": type(e).__name__, "message": scrub(str(e))}
        r.update(where(e))
        return r
    if not callable(h):
        return {"type": "TypeError", "message": "'{}' object is not callable".format(type(h).__name__), "not_callable": True, "file": lam(getattr(m, "__file__", None) or "")}
    return {"ok": True}

out.write(json.dumps(check(req["handler"])) + "\n")
out.flush()
os._exit(0)
"#;

/// Where an artifact's code sits here, and where Lambda puts it.
#[derive(Debug, Clone)]
pub struct Roots {
    /// The task root here (Lambda's `/var/task`, the working directory).
    pub task: PathBuf,
    /// The layers' `/opt` here, if any.
    pub opt: Option<PathBuf>,
    /// `sys.path`, in Lambda's order (task root, `/opt` entries, runtime packages).
    pub paths: Vec<String>,
    /// The runtime directory behind it, if any (`/var/lang/lib/python3.X/site-packages`).
    pub runtime: Option<PathBuf>,
    /// `python3.X`.
    pub python_dir: String,
}

#[derive(Debug, Default, Deserialize)]
struct Found {
    #[serde(default)]
    ok: bool,
    #[serde(default, rename = "type")]
    error_type: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    missing: Option<String>,
    #[serde(default)]
    file: Option<String>,
    #[serde(default)]
    line: Option<u64>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    tb: Option<String>,
    #[serde(default)]
    not_callable: bool,
}

/// What importing the handler found, before it is judged.
#[derive(Debug)]
pub struct Raw {
    found: Found,
    timed_out: bool,
}

impl Raw {
    /// The top-level module an `ImportError` says is missing, when the runtime provides it.
    pub fn missing_runtime_module(&self) -> Option<&str> {
        let top = self.found.missing.as_deref()?.split('.').next()?;
        (self.found.error_type.as_deref() == Some("Runtime.ImportModuleError")
            && RUNTIME_MODULES.contains(&top))
        .then_some(top)
    }

    /// The traceback's text (for attribution to dropped files).
    pub fn error_text(&self) -> String {
        format!(
            "{}\n{}",
            self.found.message.as_deref().unwrap_or(""),
            self.found.tb.as_deref().unwrap_or("")
        )
    }
}

/// Lambda's environment variables for the import, and nothing of the host's but
/// `LD_LIBRARY_PATH` (an interpreter may need it) and the region.
fn environment(handler: &str, roots: &Roots, home: &Path) -> Vec<(String, String)> {
    let region = std::env::var("AWS_REGION")
        .or_else(|_| std::env::var("AWS_DEFAULT_REGION"))
        .unwrap_or_else(|_| "us-east-1".to_string());
    let mut ld: Vec<String> = std::env::var("LD_LIBRARY_PATH")
        .ok()
        .filter(|v| !v.is_empty())
        .into_iter()
        .collect();
    ld.push(roots.task.display().to_string());
    ld.push(roots.task.join("lib").display().to_string());
    if let Some(opt) = &roots.opt {
        ld.push(opt.join("lib").display().to_string());
    }
    let runtime = roots.python_dir.replace("python", "AWS_Lambda_python");
    vec![
        ("PATH".into(), "/usr/local/bin:/usr/bin:/bin".into()),
        ("LANG".into(), "en_US.UTF-8".into()),
        ("TZ".into(), ":/etc/localtime".into()),
        ("HOME".into(), home.display().to_string()),
        ("LD_LIBRARY_PATH".into(), ld.join(":")),
        ("LAMBDA_TASK_ROOT".into(), roots.task.display().to_string()),
        ("_HANDLER".into(), handler.to_string()),
        ("AWS_EXECUTION_ENV".into(), runtime),
        ("AWS_REGION".into(), region.clone()),
        ("AWS_DEFAULT_REGION".into(), region),
        ("AWS_LAMBDA_FUNCTION_NAME".into(), "lpack-verify".into()),
        ("AWS_LAMBDA_FUNCTION_VERSION".into(), "$LATEST".into()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE".into(), "1024".into()),
        ("AWS_LAMBDA_INITIALIZATION_TYPE".into(), "on-demand".into()),
        ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
        ("MPLBACKEND".into(), "Agg".into()),
    ]
}

/// Import `handler` with `python` from the laid-out artifact; `scratch` is a writable
/// directory for the empty `HOME`.
pub fn import_handler(
    python: &Path,
    handler: &str,
    roots: &Roots,
    scratch: &Path,
    timeout: Duration,
) -> Result<Raw, VerifyError> {
    let home = scratch.join("home");
    std::fs::create_dir_all(&home).map_err(|e| VerifyError::Io(e.to_string()))?;
    let mut map: Vec<(String, String)> =
        vec![(roots.task.display().to_string(), "/var/task".into())];
    let mut site_dirs = vec![roots.task.display().to_string()];
    if let Some(opt) = &roots.opt {
        let site = opt
            .join("python/lib")
            .join(&roots.python_dir)
            .join("site-packages");
        site_dirs.push(site.display().to_string());
        site_dirs.push(opt.join("python").display().to_string());
        map.push((opt.display().to_string(), "/opt".into()));
    }
    if let Some(rt) = &roots.runtime {
        map.push((
            rt.display().to_string(),
            format!("/var/lang/lib/{}/site-packages", roots.python_dir),
        ));
    }
    let request = serde_json::json!({
        "handler": handler,
        "paths": roots.paths,
        "site_dirs": site_dirs,
        "roots": map,
    });
    let mut child = Command::new(python)
        .args(["-I", "-S", "-B", "-c", CHECKER])
        .current_dir(&roots.task)
        .env_clear()
        .envs(environment(handler, roots, &home))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| VerifyError::Io(format!("cannot run {}: {e}", python.display())))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A checker that dies at once closes its stdin; its missing answer says so below.
        let _ = writeln!(stdin, "{request}");
    }
    let Some(mut stdout) = child.stdout.take() else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(VerifyError::Io("the handler check has no stdout".into()));
    };
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        let _ = tx.send(text);
    });
    let answer = rx.recv_timeout(timeout);
    if answer.is_err() {
        let _ = child.kill();
    }
    let status = child.wait().ok();
    match answer {
        Err(_) => Ok(Raw {
            found: Found::default(),
            timed_out: true,
        }),
        Ok(text) => match serde_json::from_str::<Found>(text.trim()) {
            Ok(found) => Ok(Raw {
                found,
                timed_out: false,
            }),
            // The interpreter died while importing (a crash in an extension, `os._exit`).
            Err(_) => Ok(Raw {
                found: Found {
                    error_type: Some("Runtime.ExitError".into()),
                    message: Some(format!(
                        "Runtime exited with error: {}",
                        status.map(|s| s.to_string()).unwrap_or_default()
                    )),
                    ..Found::default()
                },
                timed_out: false,
            }),
        },
    }
}

/// Judge what importing the handler found: Lambda's words, the file and line, a hint.
/// `caused_by`: dropped files the failure points at; `runtime_note`: why the runtime's own
/// packages could not be put behind the artifact, when a handler needed them.
pub fn judge(
    handler: &str,
    raw: &Raw,
    caused_by: Vec<String>,
    runtime_note: Option<&str>,
) -> HandlerRecord {
    let f = &raw.found;
    let mut r = HandlerRecord {
        handler: handler.to_string(),
        status: "ok".into(),
        ..HandlerRecord::default()
    };
    if raw.timed_out {
        r.status = "warning".into();
        r.message = Some(format!(
            "importing the handler took over {} s here and was stopped",
            TIMEOUT.as_secs()
        ));
        r.hint = Some(
            "Lambda's init phase allows 10 s (then retries init within the invoke's timeout); look for module-level work or network calls in the handler module".into(),
        );
        return r;
    }
    if f.ok {
        return r;
    }
    let (module, func) = handler.rsplit_once('.').unwrap_or((handler, ""));
    r.error_type = f.error_type.clone();
    r.message = f.message.clone();
    r.file = f.file.clone().filter(|s| !s.is_empty());
    r.line = f.line;
    r.text = f.text.clone().filter(|s| !s.is_empty());
    r.caused_by = caused_by;
    r.status = "error".into();
    let module_file = module.replace(['.', '/'], "/");
    r.hint = Some(match f.error_type.as_deref().unwrap_or("") {
        "Runtime.MalformedHandlerName" => format!(
            "a handler is MODULE.FUNCTION, e.g. app.handler for `def handler(event, context)` in app.py; fix --handler / the `handler` key (`{handler}`)"
        ),
        "Runtime.BuiltInModuleConflict" => format!(
            "`{module}` is a module built into Python: rename your handler module"
        ),
        "Runtime.UserCodeSyntaxError" => "fix the syntax error at that line".to_string(),
        "Runtime.ExitError" => "the interpreter died while importing the handler: a crash in an extension module it imports, or module code that ends the process".to_string(),
        "Runtime.HandlerNotFound" => format!(
            "define `def {func}(event, context)` in {module_file}.py, or point --handler / the `handler` key at the function that exists"
        ),
        "Runtime.ImportModuleError" => {
            let missing = f.missing.as_deref().unwrap_or("");
            let top = missing.split('.').next().unwrap_or("");
            let handler_top = module.replace('/', ".");
            let handler_top = handler_top.split('.').next().unwrap_or("");
            if let Some(note) = runtime_note.filter(|_| RUNTIME_MODULES.contains(&top)) {
                // The runtime provides it, but it could not be put behind the artifact here.
                r.status = "warning".into();
                format!(
                    "`{top}` is provided by the Lambda runtime; the check could not put the runtime's packages behind the artifact ({note})"
                )
            } else if !missing.is_empty() && top == handler_top {
                format!(
                    "the artifact has no {module_file}.py or {module_file}/__init__.py at its root: pass --src DIR (the `src` key) with your handler code, or fix --handler / the `handler` key"
                )
            } else if !r.caused_by.is_empty() {
                "a rule dropped what it imports (see caused by): keep it with --keep".to_string()
            } else if !missing.is_empty() {
                format!(
                    "`{missing}` is not in the artifact: add the distribution that provides it to your requirements"
                )
            } else {
                "a module the handler imports is there but does not load: see the error".to_string()
            }
        }
        _ if f.not_callable => format!(
            "`{func}` in {module} is not a function: every invoke would fail with this TypeError; point --handler / the `handler` key at `def {func}(event, context)`"
        ),
        _ => {
            // The module's own code raised: it depends on what the function's environment holds.
            r.status = "warning".into();
            "importing the handler ran its module code, which raised here; Lambda's init fails the same way unless the function's environment (variables, network, permissions) differs from this check's".to_string()
        }
    });
    r
}

/// Where a handler failure points: `src/app.py:3 (/var/task/app.py in Lambda)`.
pub fn location(r: &HandlerRecord) -> Option<String> {
    let file = r.file.as_deref()?;
    let line = r.line.map(|l| format!(":{l}")).unwrap_or_default();
    Some(match &r.source {
        Some(src) => format!("{src}{line} ({file} in Lambda)"),
        None => format!("{file}{line}"),
    })
}

/// One line for a handler that did not load cleanly: Lambda's words, where, and the hint.
pub fn describe(r: &HandlerRecord) -> String {
    let mut s = format!(
        "handler {}: [ERROR] {}: {}",
        r.handler,
        r.error_type.as_deref().unwrap_or("Runtime.Unknown"),
        r.message.as_deref().unwrap_or("")
    );
    if let Some(at) = location(r) {
        s.push_str(&format!(" at {at}"));
    }
    if let Some(h) = &r.hint {
        s.push_str(&format!(" — {h}"));
    }
    s
}

/// The handler's file in the project: `/var/task/REL` → `SRC/REL` when REL is handler code.
pub fn source_of(file: &str, src: &Path, src_files: &BTreeSet<String>) -> Option<String> {
    let rel = file.strip_prefix("/var/task/")?;
    src_files
        .contains(rel)
        .then(|| src.join(rel).display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(json: &str) -> Raw {
        Raw {
            found: serde_json::from_str(json).expect("json"),
            timed_out: false,
        }
    }

    #[test]
    fn lambda_errors_are_errors_and_module_code_raising_is_a_warning() {
        let r = judge(
            "app.handler",
            &raw(
                r#"{"type": "Runtime.ImportModuleError", "message": "Unable to import module 'app': No module named 'app'", "missing": "app"}"#,
            ),
            Vec::new(),
            None,
        );
        assert!(r.failed());
        assert!(r.hint.as_deref().unwrap_or("").contains("--src"), "{r:?}");

        let r = judge(
            "app.handler",
            &raw(
                r#"{"type": "KeyError", "message": "'TABLE'", "file": "/var/task/app.py", "line": 3}"#,
            ),
            Vec::new(),
            None,
        );
        assert_eq!(r.status, "warning");
        assert_eq!(r.line, Some(3));

        let r = judge(
            "app.handler",
            &raw(
                r#"{"type": "TypeError", "message": "'int' object is not callable", "not_callable": true}"#,
            ),
            Vec::new(),
            None,
        );
        assert!(r.failed());

        let boto = raw(
            r#"{"type": "Runtime.ImportModuleError", "message": "Unable to import module 'app': No module named 'boto3'", "missing": "boto3"}"#,
        );
        assert_eq!(boto.missing_runtime_module(), Some("boto3"));
        let r = judge("app.handler", &boto, Vec::new(), Some("offline"));
        assert_eq!(r.status, "warning", "{r:?}");

        assert!(judge("app.handler", &raw(r#"{"ok": true}"#), Vec::new(), None).status == "ok");
    }

    #[test]
    fn sources_map_back_to_the_project() {
        let files: BTreeSet<String> = ["app.py".to_string()].into();
        assert_eq!(
            source_of("/var/task/app.py", Path::new("src"), &files),
            Some("src/app.py".to_string())
        );
        assert_eq!(
            source_of("/var/task/numpy/x.py", Path::new("src"), &files),
            None
        );
    }
}
