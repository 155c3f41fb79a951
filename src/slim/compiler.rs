//! The bytecode compilers: long-lived target-Python processes, shared by every wheel of a run.
//!
//! A worker is one interpreter running [`COMPILER`]. It reads batches of sources on stdin
//! (`len path len source`, a batch closed by [`END_OF_BATCH`]) and answers each source with
//! `status len bytes`, then the batch with its own CPU seconds so far. A batch takes an idle
//! worker of its interpreter or starts one; a worker that answered its whole batch goes back
//! to the idle list, so a build starts as many interpreters as it compiles batches at once (one
//! per core), not one per wheel. One that failed is killed. Idle workers exit when lpack does:
//! their stdin closes and the loop ends.
//!
//! Bytes do not depend on which worker compiled a file or what it compiled before: each source
//! is compiled on its own (`dont_inherit`), and the code object of the previous one is gone
//! when the next is marshalled (tested below against a fresh interpreter per file).

use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::bytecode::{CompileRequest, Compiled};

/// The worker's program (run with `-I -S -B -W ignore`: no site, no user paths, no warnings on
/// stderr, nothing written beside the sources).
const COMPILER: &str = r#"
import sys, struct, time, importlib.util
from importlib import _bootstrap_external as be
inp, out = sys.stdin.buffer, sys.stdout.buffer
def read(n):
    b = inp.read(n)
    if len(b) != n:
        raise EOFError
    return b
while True:
    h = inp.read(4)
    if not h:
        break
    if len(h) < 4:
        h += read(4 - len(h))
    n = struct.unpack('<I', h)[0]
    if n == 0xFFFFFFFF:
        out.write(struct.pack('<d', time.process_time())); out.flush()
        continue
    path = read(n).decode()
    src = read(struct.unpack('<I', read(4))[0])
    try:
        code = compile(src, path, 'exec', dont_inherit=True, optimize=0)
        data = bytes(be._code_to_hash_pyc(code, importlib.util.source_hash(src), False))
        out.write(struct.pack('<II', 0, len(data))); out.write(data)
    except BaseException as e:
        msg = ('%s: %s' % (type(e).__name__, e)).encode('utf-8', 'replace')
        out.write(struct.pack('<II', 1, len(msg))); out.write(msg)
"#;

/// The path-length value that closes a batch.
const END_OF_BATCH: u32 = u32::MAX;

/// How much of a worker's stderr is kept for an error message.
const STDERR_TAIL: usize = 8 << 10;

/// A compile failure: what went wrong, in words (the caller names the interpreter).
pub type WorkerError = String;

/// One compiler process.
struct Worker {
    python: PathBuf,
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    /// The end of its stderr, read by a thread of its own (a full pipe would stall it).
    stderr: Arc<Mutex<Vec<u8>>>,
    /// Its CPU seconds at the end of its last batch.
    cpu: f64,
}

impl Drop for Worker {
    fn drop(&mut self) {
        // Idle workers live in a static and are never dropped; this is a failed one.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Idle workers, any interpreter.
static IDLE: Mutex<Vec<Worker>> = Mutex::new(Vec::new());

impl Worker {
    fn start(python: &Path) -> Result<Worker, WorkerError> {
        let mut child = Command::new(python)
            .args(["-I", "-S", "-B", "-W", "ignore", "-c", COMPILER])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run it: {e}"))?;
        let (Some(stdin), Some(stdout), Some(mut err)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            let _ = child.kill();
            let _ = child.wait();
            return Err("no pipes to it".to_string());
        };
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let tail = Arc::clone(&stderr);
        std::thread::Builder::new()
            .name("lpack-compiler-stderr".into())
            .spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = err.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    if let Ok(mut t) = tail.lock() {
                        t.extend_from_slice(&buf[..n]);
                        let over = t.len().saturating_sub(STDERR_TAIL);
                        t.drain(..over);
                    }
                }
            })
            .map_err(|e| format!("cannot read its errors: {e}"))?;
        Ok(Worker {
            python: python.to_path_buf(),
            child,
            stdin,
            stdout: BufReader::with_capacity(1 << 16, stdout),
            stderr,
            cpu: 0.0,
        })
    }

    /// An idle worker of `python`, or a new one.
    fn take(python: &Path) -> Result<Worker, WorkerError> {
        let idle = IDLE.lock().ok().and_then(|mut idle| {
            let i = idle.iter().position(|w| w.python == python)?;
            Some(idle.swap_remove(i))
        });
        match idle {
            Some(w) => Ok(w),
            None => Worker::start(python),
        }
    }

    fn give_back(self) {
        if let Ok(mut idle) = IDLE.lock() {
            idle.push(self);
        }
    }

    /// Compile one batch; the results in request order and the CPU seconds it took.
    fn run(&mut self, requests: &[CompileRequest]) -> Result<(Vec<Compiled>, f64), WorkerError> {
        let stdin = &mut self.stdin;
        let stdout = &mut self.stdout;
        let (written, read) = std::thread::scope(|s| {
            let writer = s.spawn(move || -> std::io::Result<()> {
                for r in requests {
                    let p = r.path.as_str().as_bytes();
                    stdin.write_all(&(p.len() as u32).to_le_bytes())?;
                    stdin.write_all(p)?;
                    stdin.write_all(&(r.source.len() as u32).to_le_bytes())?;
                    stdin.write_all(&r.source)?;
                }
                stdin.write_all(&END_OF_BATCH.to_le_bytes())?;
                stdin.flush()
            });
            let read = read_batch(stdout, requests);
            let written = writer
                .join()
                .unwrap_or_else(|_| Err(std::io::Error::other("writer panicked")));
            (written, read)
        });
        match (read, written) {
            (Ok((out, cpu)), Ok(())) => {
                let spent = (cpu - self.cpu).max(0.0);
                self.cpu = cpu;
                Ok((out, spent))
            }
            (Ok(_), Err(e)) => Err(e.to_string()),
            (Err(done), _) => {
                // Let it exit (or kill it) so its last words reach stderr.
                let _ = self.child.kill();
                let _ = self.child.wait();
                std::thread::sleep(Duration::from_millis(20));
                let tail = self
                    .stderr
                    .lock()
                    .map(|t| String::from_utf8_lossy(&t).trim().to_string())
                    .unwrap_or_default();
                Err(format!(
                    "the compiler stopped after {done} of {} files: {tail}",
                    requests.len()
                ))
            }
        }
    }
}

/// Read one batch's answers; on failure, how many had come back.
fn read_batch(
    stdout: &mut impl Read,
    requests: &[CompileRequest],
) -> Result<(Vec<Compiled>, f64), usize> {
    let mut out = Vec::with_capacity(requests.len());
    for r in requests {
        let mut head = [0u8; 8];
        stdout.read_exact(&mut head).map_err(|_| out.len())?;
        let status = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        let len = u32::from_le_bytes([head[4], head[5], head[6], head[7]]) as usize;
        let mut body = vec![0u8; len];
        stdout.read_exact(&mut body).map_err(|_| out.len())?;
        out.push(Compiled {
            path: r.path.clone(),
            result: if status == 0 {
                Ok(body)
            } else {
                Err(String::from_utf8_lossy(&body).into_owned())
            },
        });
    }
    let mut cpu = [0u8; 8];
    stdout.read_exact(&mut cpu).map_err(|_| out.len())?;
    Ok((out, f64::from_le_bytes(cpu)))
}

/// Compile `requests` in order with one worker of `python`; the results and the CPU time.
pub fn compile_batch(
    python: &Path,
    requests: &[CompileRequest],
) -> Result<(Vec<Compiled>, Duration), WorkerError> {
    let mut worker = Worker::take(python)?;
    let (out, cpu) = worker.run(requests)?;
    worker.give_back();
    Ok((out, Duration::from_secs_f64(cpu)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slim::bytecode::find_python;
    use crate::wheel::ArchivePath;

    fn request(path: &str, source: &str) -> CompileRequest {
        CompileRequest {
            path: ArchivePath::new(path).expect("path"),
            source: source.as_bytes().to_vec(),
        }
    }

    /// Sources that share names, constants and strings, as a package's modules do.
    fn modules(tag: &str, n: usize) -> Vec<CompileRequest> {
        (0..n)
            .map(|i| {
                request(
                    &format!("pkg/{tag}{i}.py"),
                    &format!(
                        "import os\nNAME = 'shared'\nX = ('a', 'b', {i})\nclass C:\n    def f(self, shared=NAME):\n        return os.path.join(shared, '{tag}', str(X))\n"
                    ),
                )
            })
            .collect()
    }

    /// A worker that compiled other modules before gives the bytes a fresh one gives, on every
    /// interpreter found (3.9-3.11 have mortal interned strings, 3.12+ immortal ones).
    #[test]
    fn a_reused_worker_gives_a_fresh_ones_bytes() {
        let pythons: Vec<PathBuf> = (9..=14).filter_map(find_python).collect();
        if pythons.is_empty() {
            eprintln!("skipped: no python3.9-3.14 found on PATH or in pyenv");
            return;
        }
        for python in pythons {
            let b = modules("b", 5);
            let mut fresh = Worker::start(&python).expect("start");
            let (alone, _) = fresh.run(&b).expect("compile");
            let mut reused = Worker::start(&python).expect("start");
            reused.run(&modules("a", 20)).expect("compile");
            let (after, cpu) = reused.run(&b).expect("compile");
            assert_eq!(alone.len(), 5);
            for (x, y) in alone.iter().zip(&after) {
                assert!(x.result.is_ok(), "{}", python.display());
                assert_eq!(x.result, y.result, "{} {}", python.display(), x.path);
            }
            assert!(cpu >= 0.0);
        }
    }

    /// A source that does not compile is answered with its error and the batch goes on; the
    /// worker is used again by the next batch instead of a new one being started.
    #[test]
    fn errors_are_answers_and_workers_are_reused() {
        let Some(python) = (9..=14).rev().find_map(find_python) else {
            eprintln!("skipped: no python3.9-3.14 found on PATH or in pyenv");
            return;
        };
        let batch = vec![
            request("pkg/ok.py", "A = 1\n"),
            request("pkg/bad.py", "print 'python 2'\n"),
            request("pkg/warn.py", "P = '\\d'\n"),
        ];
        let (first, _) = compile_batch(&python, &batch).expect("compile");
        assert!(first[0].result.is_ok());
        let err = first[1].result.as_ref().expect_err("python 2 source");
        assert!(err.starts_with("SyntaxError"), "{err}");
        assert!(first[2].result.is_ok());
        // Batches one after the other reuse one worker. Other tests compile with the same
        // interpreter at the same time, so this one goes through a path of its own.
        let dir = tempfile::tempdir().expect("tempdir");
        let own = dir.path().join("python3");
        std::os::unix::fs::symlink(&python, &own).expect("symlink");
        for _ in 0..3 {
            let (again, _) = compile_batch(&own, &batch).expect("compile");
            assert_eq!(again[0].result, first[0].result);
        }
        let idle = IDLE.lock().expect("idle");
        assert_eq!(idle.iter().filter(|w| w.python == own).count(), 1);
        drop(idle);
        assert!(compile_batch(&python, &[]).expect("empty").0.is_empty());
    }

    /// A worker that dies mid-batch is an error that says how far it got, not a hang.
    #[test]
    fn a_dead_worker_is_an_error() {
        let Some(python) = (9..=14).rev().find_map(find_python) else {
            eprintln!("skipped: no python3.9-3.14 found on PATH or in pyenv");
            return;
        };
        let mut w = Worker::start(&python).expect("start");
        let _ = w.child.kill();
        let _ = w.child.wait();
        let Err(err) = w.run(&modules("c", 3)) else {
            panic!("a dead worker compiled");
        };
        assert!(err.contains("stopped after 0 of 3"), "{err}");
    }
}
