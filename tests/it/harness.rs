//! Test harness: fixtures built at test time and real local services.
//!
//! - [`fixtures`] builds tiny wheels once per test run under cargo's target tmp dir: a real
//!   CPython extension compiled by gcc, pure-Python wheels, namespace-package twins, clashing
//!   twins, a wheel with a `../` path, a truncated wheel, a wheel needing glibc 2.28, an
//!   sdist-only project.
//! - [`Index`] starts a real package index on 127.0.0.1: pypiserver (PEP 503 HTML, the shape the
//!   PyPI reachable here answers with) or simple-repository-server (PEP 691 JSON). Servers run
//!   under a watchdog that kills them when the test process exits, even on a panic.
//! - [`python`] finds an interpreter of a given version (PATH, then pyenv) or says why not.

use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use zip::write::SimpleFileOptions;

/// The lpack binary under test.
pub fn lpack() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lpack"));
    c.env_remove("PIP_INDEX_URL")
        .env_remove("UV_INDEX_URL")
        .env_remove("SOURCE_DATE_EPOCH")
        // Tests run on GitHub Actions must not write to the job's own summary and outputs.
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_OUTPUT")
        .env_remove("GITHUB_STEP_SUMMARY")
        .env_remove("GITHUB_WORKSPACE")
        .env("LPACK_HTTP_RETRIES", "2");
    c
}

/// Run and return output, printing it on failure to help debugging.
pub fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("run lpack");
    eprintln!(
        "--- {:?}\nstatus: {:?}\nstdout:\n{}\nstderr:\n{}",
        cmd,
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Remove from `c` the variables cargo sets for a running test (the package's metadata and
/// paths, where its binaries are): a cargo that a test starts (the action's build, the wheel's
/// rebuild) would see them as a changed environment — ring's build script reruns when
/// `CARGO_PKG_NAME` changes — and rebuild half the dependencies. What configures the build
/// (`CARGO_HOME`, `CARGO_BUILD_*`, `CARGO_TARGET_<TRIPLE>_*`, zig's variables, `RUSTFLAGS`) stays.
pub fn without_test_env(c: &mut Command) -> &mut Command {
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().into_owned();
        let set_by_cargo_for_tests = k == "CARGO"
            || k.starts_with("CARGO_PKG_")
            || k.starts_with("CARGO_MANIFEST_")
            || k.starts_with("CARGO_BIN_")
            || matches!(
                k.as_str(),
                "CARGO_CRATE_NAME"
                    | "CARGO_PRIMARY_PACKAGE"
                    | "CARGO_TARGET_TMPDIR"
                    | "CARGO_RUSTC_CURRENT_DIR"
            )
            || k.starts_with("RUST_");
        if set_by_cargo_for_tests {
            c.env_remove(k);
        }
    }
    c
}

/// A fresh scratch directory for one test.
pub fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("it")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// Find `python3.<minor>` the way lpack does (PATH, then pyenv).
pub fn python(minor: u32) -> Option<PathBuf> {
    lpack::slim::bytecode::find_python(minor)
}

/// Whether a command is on PATH.
pub fn have(tool: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The interpreter that runs test helpers (pypiserver etc. are installed for it).
pub fn helper_python() -> PathBuf {
    std::env::var("LPACK_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from("python3"))
}

// ---------------------------------------------------------------------------------------------
// Wheels

/// One file in a test wheel.
pub struct F<'a>(pub &'a str, pub &'a [u8]);

/// Write a wheel with the given files plus a minimal dist-info.
pub fn write_wheel(dir: &Path, name: &str, version: &str, tag: &str, files: &[F]) -> PathBuf {
    write_wheel_requiring(dir, name, version, tag, files, &[])
}

/// The METADATA text of a test wheel.
pub fn metadata_text(name: &str, version: &str, requires: &[&str]) -> String {
    let mut m = format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n");
    for r in requires {
        m.push_str(&format!("Requires-Dist: {r}\n"));
    }
    m
}

/// [`write_wheel`] with `Requires-Dist` lines.
pub fn write_wheel_requiring(
    dir: &Path,
    name: &str,
    version: &str,
    tag: &str,
    files: &[F],
    requires: &[&str],
) -> PathBuf {
    let dist = name.replace('-', "_");
    let filename = format!("{dist}-{version}-{tag}.whl");
    let path = dir.join(&filename);
    let file = std::fs::File::create(&path).expect("create wheel");
    let mut z = zip::ZipWriter::new(file);
    let opts = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .unix_permissions(0o644);
    let di = format!("{dist}-{version}.dist-info");
    let mut record = String::new();
    let mut all: Vec<(String, Vec<u8>)> = files
        .iter()
        .map(|f| (f.0.to_string(), f.1.to_vec()))
        .collect();
    all.push((
        format!("{di}/METADATA"),
        metadata_text(name, version, requires).into_bytes(),
    ));
    all.push((
        format!("{di}/WHEEL"),
        format!(
            "Wheel-Version: 1.0\nGenerator: lpack-tests\nRoot-Is-Purelib: {}\nTag: {tag}\n",
            tag.ends_with("any")
        )
        .into_bytes(),
    ));
    for (p, data) in &all {
        let hash = lpack::wheel::integrity::record_hash(data);
        let p = if p.contains(',') {
            format!("\"{p}\"")
        } else {
            p.clone()
        };
        record.push_str(&format!("{p},{hash},{}\n", data.len()));
    }
    record.push_str(&format!("{di}/RECORD,,\n"));
    all.push((format!("{di}/RECORD"), record.into_bytes()));
    for (p, data) in all {
        let o = if p.ends_with(".sh") {
            opts.unix_permissions(0o755)
        } else {
            opts
        };
        z.start_file(p, o).expect("start file");
        z.write_all(&data).expect("write file");
    }
    z.finish().expect("finish wheel");
    path
}

/// Compile a CPython 3.11 extension module with gcc; `None` (with a reason) if impossible.
fn build_extension(work: &Path) -> Result<Vec<u8>, String> {
    let py = python(11).ok_or("python3.11 not found")?;
    let include = Command::new(&py)
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['include'])",
        ])
        .output()
        .map_err(|e| e.to_string())?;
    let include = String::from_utf8_lossy(&include.stdout).trim().to_string();
    let src = work.join("core.c");
    std::fs::write(
        &src,
        r#"
#define PY_SSIZE_T_CLEAN
#include <Python.h>
static PyObject *add(PyObject *self, PyObject *args) {
    long a, b;
    if (!PyArg_ParseTuple(args, "ll", &a, &b)) return NULL;
    return PyLong_FromLong(a + b);
}
static PyMethodDef methods[] = {{"add", add, METH_VARARGS, "Add two integers."}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_core", NULL, -1, methods};
PyMODINIT_FUNC PyInit__core(void) { return PyModule_Create(&module); }
"#,
    )
    .map_err(|e| e.to_string())?;
    let so = work.join("_core.so");
    let out = Command::new("gcc")
        .args(["-shared", "-fPIC", "-O2", "-g", "-I"])
        .arg(&include)
        .arg(&src)
        .arg("-o")
        .arg(&so)
        .output()
        .map_err(|e| format!("gcc: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "gcc failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    std::fs::read(&so).map_err(|e| e.to_string())
}

pub struct Fixtures {
    /// Flat directory of every distribution (find-links and pypiserver).
    pub flat: PathBuf,
    /// `<project>/<files>` layout for simple-repository-server.
    pub tree: PathBuf,
}

/// Build all fixture distributions once per test run.
pub fn fixtures() -> &'static Fixtures {
    static FIXTURES: OnceLock<Fixtures> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        let root = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("fixtures")
            .join(std::process::id().to_string());
        let _ = std::fs::remove_dir_all(&root);
        let flat = root.join("flat");
        let work = root.join("work");
        std::fs::create_dir_all(&flat).expect("mkdir");
        std::fs::create_dir_all(&work).expect("mkdir");
        let so = build_extension(&work)
            .unwrap_or_else(|e| panic!("cannot build the test extension: {e}"));
        let arch = std::env::consts::ARCH;
        write_wheel(
            &flat,
            "fastmath",
            "1.0",
            &format!("cp311-cp311-manylinux_2_17_{arch}.manylinux2014_{arch}"),
            &[
                F("fastmath/__init__.py", b"from ._core import add\n"),
                F(
                    &format!("fastmath/_core.cpython-311-{arch}-linux-gnu.so"),
                    &so,
                ),
                F("fastmath/tools/run.sh", b"#!/bin/sh\necho hi\n"),
            ],
        );
        for (v, extra) in [("1.0", "OLD"), ("2.0", "NEW")] {
            let init = format!("VERSION = '{v}'\nMARK = '{extra}'\n");
            let data = format!("{v}\n");
            write_wheel(
                &flat,
                "purelib",
                v,
                "py3-none-any",
                &[
                    F("purelib/__init__.py", init.as_bytes()),
                    F("purelib/data.txt", data.as_bytes()),
                    F("purelib/__pycache__/__init__.cpython-39.pyc", b"stale"),
                    F(
                        &format!("purelib-{v}.data/purelib/purelib_extra.py"),
                        b"EXTRA = True\n",
                    ),
                    F(
                        &format!("purelib-{v}.data/scripts/purelib-cli"),
                        b"#!python\n",
                    ),
                ],
            );
        }
        let ns = b"__path__ = __import__('pkgutil').extend_path(__path__, __name__)\n";
        write_wheel(
            &flat,
            "nsa",
            "1.0",
            "py3-none-any",
            &[F("nspkg/__init__.py", ns), F("nspkg/a.py", b"A = 1\n")],
        );
        write_wheel(
            &flat,
            "nsb",
            "1.0",
            "py3-none-any",
            &[F("nspkg/__init__.py", ns), F("nspkg/b.py", b"B = 2\n")],
        );
        write_wheel(
            &flat,
            "clash-a",
            "1.0",
            "py3-none-any",
            &[F("clash/__init__.py", b"WHO = 'a'\n")],
        );
        write_wheel(
            &flat,
            "clash-b",
            "1.0",
            "py3-none-any",
            &[F("clash/__init__.py", b"WHO = 'b'\n")],
        );
        write_wheel(
            &flat,
            "evil",
            "1.0",
            "py3-none-any",
            &[F("evil/__init__.py", b""), F("../escape.py", b"pwned\n")],
        );
        let good = write_wheel(
            &work,
            "corrupt",
            "1.0",
            "py3-none-any",
            &[F("corrupt/__init__.py", &[b'x'; 4096])],
        );
        let bytes = std::fs::read(&good).expect("read");
        std::fs::write(
            flat.join(good.file_name().expect("name")),
            &bytes[..bytes.len() / 2],
        )
        .expect("write truncated");
        for py in ["cp311", "cp312"] {
            write_wheel(
                &flat,
                "newglibc",
                "1.0",
                &format!("{py}-{py}-manylinux_2_28_{arch}"),
                &[F("newglibc/__init__.py", b"")],
            );
        }
        std::fs::write(flat.join("onlysdist-1.0.tar.gz"), b"not really a tarball").expect("sdist");
        abi_fixtures(&flat, &work);
        guard_fixtures(&flat, &work);
        // Deterministic bulk for size reports: 1.5 MB incompressible + 0.6 MB of test code.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let blob: Vec<u8> = (0..1_500_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect();
        let tests = "def test_x():\n    assert 1 + 1 == 2\n".repeat(16_000);
        for (v, n) in [("1.0", 1_500_000), ("2.0", 1_200_000)] {
            write_wheel(
                &flat,
                "bigdata",
                v,
                "py3-none-any",
                &[
                    F("bigdata/__init__.py", b"SIZE = 1\n"),
                    F("bigdata/blob.bin", &blob[..n]),
                    F("bigdata/tests/test_big.py", tests.as_bytes()),
                ],
            );
        }

        // Per-project tree for simple-repository-server.
        let tree = root.join("tree");
        for entry in std::fs::read_dir(&flat).expect("ls").flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let project = lpack::resolve::index::file_project_name(&name).expect("project");
            let dir = tree.join(lpack::wheel::normalize_name(&project));
            std::fs::create_dir_all(&dir).expect("mkdir");
            std::fs::copy(entry.path(), dir.join(&name)).expect("copy");
        }
        Fixtures { flat, tree }
    })
}

/// Compile C with gcc into a shared library; panics with gcc's message on failure.
pub fn gcc_shared(work: &Path, name: &str, code: &str, extra: &[&str]) -> Vec<u8> {
    let src = work.join(format!("{name}.c"));
    std::fs::write(&src, code).expect("write c");
    let out = work.join(format!("{name}.so"));
    let o = Command::new("gcc")
        .args(["-shared", "-fPIC", "-g", "-o"])
        .arg(&out)
        .arg(&src)
        .args(extra)
        .output()
        .expect("gcc");
    assert!(
        o.status.success(),
        "gcc: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    std::fs::read(&out).expect("read .so")
}

/// Wheels whose shared libraries the ABI audit and the stripper must judge.
fn abi_fixtures(flat: &Path, work: &Path) {
    let arch = std::env::consts::ARCH;
    let tag = format!("cp311-cp311-manylinux_2_17_{arch}");
    // Needs GLIBC_2.28 (statx) while claiming manylinux_2_17.
    let so = gcc_shared(
        work,
        "glibcnew",
        "#define _GNU_SOURCE\n#include <fcntl.h>\n#include <sys/stat.h>\nint probe(const char *p) { struct statx sx; return statx(AT_FDCWD, p, 0, STATX_SIZE, &sx); }\n",
        &[],
    );
    write_wheel(
        flat,
        "glibcnew",
        "1.0",
        &tag,
        &[
            F("glibcnew/__init__.py", b""),
            F("glibcnew/libprobe.so", &so),
        ],
    );
    // Linked against a library the wheel does not ship.
    gcc_shared(work, "libmissingdep", "int dep(void) { return 1; }\n", &[]);
    let so = gcc_shared(
        work,
        "needsdep",
        "int dep(void);\nint use(void) { return dep(); }\n",
        &["-L", work.to_str().expect("utf-8 path"), "-lmissingdep"],
    );
    write_wheel(
        flat,
        "needsdep",
        "1.0",
        &tag,
        &[F("needsdep/__init__.py", b""), F("needsdep/libuse.so", &so)],
    );
    // A library for another CPU: e_machine rewritten to aarch64 (or x86_64 on an arm host).
    let mut so = gcc_shared(work, "otherarch", "int f(void) { return 2; }\n", &[]);
    let other: u16 = if arch == "x86_64" { 183 } else { 62 };
    so[0x12..0x14].copy_from_slice(&other.to_le_bytes());
    write_wheel(
        flat,
        "wrongarch",
        "1.0",
        &tag,
        &[F("wrongarch/__init__.py", b""), F("wrongarch/libf.so", &so)],
    );
    // A section with a flag bit no ELF spec defines: the stripper must leave the file alone.
    let mut so = gcc_shared(work, "oddflags", "int g(void) { return 3; }\n", &[]);
    let comment = {
        let elf = lpack::slim::elf::Elf::parse(&so).expect("parse");
        let i = (0..elf.shdrs.len())
            .find(|&i| elf.section_name(i) == ".comment")
            .expect(".comment section");
        elf.shoff as usize + i * 64 + 8
    };
    so[comment] |= 0x08;
    write_wheel(
        flat,
        "oddflags",
        "1.0",
        &tag,
        &[F("oddflags/__init__.py", b""), F("oddflags/libg.so", &so)],
    );
}

/// Wheels for the import guard: non-test code importing from `tests/` packages (module level,
/// relative, lazily in `__getattr__`, through `importlib.import_module`), a module imported only
/// under `try/except ImportError`, tests importing only tests, and extension modules needing a
/// library the runtime lacks, imported with (`guardpkg`) and without (`hardpkg`) a guard.
fn guard_fixtures(flat: &Path, work: &Path) {
    let arch = std::env::consts::ARCH;
    gcc_shared(work, "libnotonlambda", "int omp(void) { return 1; }\n", &[]);
    let ext = gcc_shared(
        work,
        "ompext",
        "int omp(void);\nint PyInit__omp(void) { return omp(); }\n",
        &["-L", work.to_str().expect("utf-8 path"), "-lnotonlambda"],
    );
    let ext_name = format!("_omp.cpython-311-{arch}-linux-gnu.so");
    // About 1 MB of code in a module nothing imports at top level (bytecode budget tests).
    let mut big = String::new();
    for n in 0..12_000 {
        big.push_str(&format!(
            "def f_{n}(x):\n    return [x * i for i in range(10)] + [str(x)] * 3\n"
        ));
    }
    write_wheel(
        flat,
        "guardpkg",
        "1.0",
        &format!("cp311-cp311-manylinux_2_17_{arch}"),
        &[
            F(
                "guardpkg/__init__.py",
                b"from guardpkg import core\nfrom guardpkg import opt\n\ndef __getattr__(name):\n    if name == 'testing':\n        import guardpkg.testing as testing\n        return testing\n    raise AttributeError(name)\n",
            ),
            F(
                "guardpkg/core.py",
                b"from .tests import helpers as _helpers\nVALUE = _helpers.VALUE + 1\n",
            ),
            F("guardpkg/tests/__init__.py", b""),
            F("guardpkg/tests/helpers.py", b"VALUE = 41\n"),
            F(
                "guardpkg/tests/test_core.py",
                b"import pytest\nfrom guardpkg.tests import only_for_tests\n",
            ),
            F("guardpkg/tests/only_for_tests.py", b"X = 1\n"),
            F("guardpkg/tests/optional_thing.py", b"Y = 2\n"),
            F(
                "guardpkg/opt.py",
                b"try:\n    from guardpkg.tests import optional_thing\nexcept ImportError:\n    optional_thing = None\ntry:\n    from guardpkg import _omp\nexcept ImportError:\n    _omp = None\n",
            ),
            F(
                "guardpkg/testing/__init__.py",
                b"import importlib\n_natype = importlib.import_module('guardpkg._core.tests._natype')\npd_NA = _natype.pd_NA\n",
            ),
            F("guardpkg/_core/__init__.py", b""),
            F("guardpkg/_core/tests/__init__.py", b""),
            F("guardpkg/_core/tests/_natype.py", b"pd_NA = 'NA'\n"),
            F("guardpkg/_core/tests/test_natype.py", b"def test():\n    pass\n"),
            F(&format!("guardpkg/{ext_name}"), &ext),
            F("guardpkg/big.py", big.as_bytes()),
        ],
    );
    write_wheel(
        flat,
        "hardpkg",
        "1.0",
        &format!("cp311-cp311-manylinux_2_17_{arch}"),
        &[
            F("hardpkg/__init__.py", b"from hardpkg import _omp\n"),
            F(&format!("hardpkg/{ext_name}"), &ext),
        ],
    );
}

// ---------------------------------------------------------------------------------------------
// Index servers

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexKind {
    /// pypiserver: PEP 503 HTML with sha256 fragments.
    Html,
    /// simple-repository-server: PEP 691 JSON by content negotiation.
    Json,
}

pub struct Index {
    child: Child,
    pub url: String,
}

impl Drop for Index {
    fn drop(&mut self) {
        stop_group(&mut self.child);
    }
}

/// Spawn `cmd` as the leader of a process group of its own, so that [`stop_group`] reaches
/// everything it starts (the watchdog's server and the server's own children).
fn spawn_group(cmd: &mut Command) -> std::io::Result<Child> {
    use std::os::unix::process::CommandExt;
    // The marker lets scripts/test.sh check that no service outlived the test run.
    cmd.env("LPACK_TEST_SERVICE", "1").process_group(0).spawn()
}

/// Stop a service started by [`spawn_group`]: SIGTERM to its whole process group, a grace
/// period, then SIGKILL to whatever is left of the group. Killing only the watchdog (as a
/// plain `Child::kill` does) would orphan the server it started.
pub fn stop_group(child: &mut Child) {
    // Closing its stdin asks the watchdog to terminate its server and exit.
    drop(child.stdin.take());
    let Ok(pgid) = i32::try_from(child.id()) else {
        return;
    };
    // SAFETY: kill(2) with a negative pid signals the process group we created; no memory is
    // involved.
    unsafe { libc::kill(-pgid, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: as above; the group may already be empty (ESRCH), which is fine.
    unsafe { libc::kill(-pgid, libc::SIGKILL) };
    let _ = child.wait();
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A watchdog wrapper: the server dies when our stdin closes, i.e. when the test process exits
/// however it exits (statics such as the shared index are never dropped; a SIGKILLed test
/// binary runs no destructor), and on SIGTERM (what [`stop_group`] sends the group).
const WATCHDOG: &str = "import signal, subprocess, sys\np = subprocess.Popen(sys.argv[1:], stdout=sys.stderr, stderr=sys.stderr)\nsignal.signal(signal.SIGTERM, lambda *a: sys.exit(0))\ntry:\n    sys.stdin.read()\nfinally:\n    p.terminate()\n    try:\n        p.wait(5)\n    except Exception:\n        p.kill()\n";

impl Index {
    pub fn start(kind: IndexKind) -> Index {
        let fx = fixtures();
        let port = free_port();
        let py = helper_python();
        let mut cmd = Command::new(&py);
        cmd.arg("-c").arg(WATCHDOG).arg(&py);
        match kind {
            IndexKind::Html => {
                cmd.args(["-m", "pypiserver", "run", "-i", "127.0.0.1", "-p"])
                    .arg(port.to_string())
                    .args(["--disable-fallback", "--hash-algo", "sha256"])
                    .arg(&fx.flat);
            }
            IndexKind::Json => {
                cmd.args([
                    "-m",
                    "simple_repository_server",
                    "--host",
                    "127.0.0.1",
                    "--port",
                ])
                .arg(port.to_string())
                .arg(&fx.tree);
            }
        }
        let child = spawn_group(
            cmd.stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        )
        .unwrap_or_else(|e| panic!("cannot start the {kind:?} index server with {py:?}: {e}"));
        let idx = Index {
            child,
            url: format!("http://127.0.0.1:{port}/simple"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{kind:?} index server did not start on port {port} (is it installed? see .ci/run)"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        idx
    }
}

/// A local service (e.g. an OCI registry) under the watchdog, killed when dropped or when the
/// test process exits. Its stderr goes to `log`.
pub struct Service {
    child: Child,
    pub port: u16,
    pub log: PathBuf,
}

impl Drop for Service {
    fn drop(&mut self) {
        stop_group(&mut self.child);
    }
}

impl Service {
    /// Start `program args…` (`{port}` in an argument is replaced) and wait for the port.
    pub fn start(program: &str, args: &[String], log: &Path) -> Service {
        let port = free_port();
        let args: Vec<String> = args
            .iter()
            .map(|a| a.replace("{port}", &port.to_string()))
            .collect();
        let py = helper_python();
        let logfile = std::fs::File::create(log).expect("log file");
        let child = spawn_group(
            Command::new(&py)
                .arg("-c")
                .arg(WATCHDOG)
                .arg(program)
                .args(&args)
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(logfile),
        )
        .unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
        let svc = Service {
            child,
            port,
            log: log.to_path_buf(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "{program} did not start on port {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        svc
    }
}

/// A shared server per kind for the whole run.
pub fn index(kind: IndexKind) -> &'static str {
    static HTML: OnceLock<Index> = OnceLock::new();
    static JSON: OnceLock<Index> = OnceLock::new();
    let cell = match kind {
        IndexKind::Html => &HTML,
        IndexKind::Json => &JSON,
    };
    &cell.get_or_init(|| Index::start(kind)).url
}

/// List a zip's entry names.
pub fn zip_names(path: &Path) -> Vec<String> {
    let f = std::fs::File::open(path).expect("open zip");
    let z = zip::ZipArchive::new(f).expect("read zip");
    z.file_names()
        .map(|n| n.expect("utf-8 name").to_string())
        .collect()
}

/// Unzip into `dest` with Python's zipfile (an independent reader).
pub fn unzip(zip: &Path, dest: &Path) {
    let status = Command::new(helper_python())
        .args([
            "-c",
            "import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])",
        ])
        .arg(zip)
        .arg(dest)
        .status()
        .expect("python unzip");
    assert!(status.success(), "python could not extract {zip:?}");
}

/// Files (not temp files) left in a directory.
pub fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// A small base image as an OCI layout at `dir`, tagged `tag` (tests/helpers/make_base_image.py).
pub fn base_image(dir: &Path, tag: &str, arch: &str) {
    let helper = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/helpers/make_base_image.py");
    let o = Command::new(helper_python())
        .arg(helper)
        .arg(dir)
        .arg(tag)
        .arg(arch)
        .output()
        .expect("python");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// Whether moto's server and boto3 are installed for the test Python (saying so when not:
/// the moto tests then skip).
pub fn have_moto() -> bool {
    let ok = Command::new(helper_python())
        .args(["-c", "import moto.server, boto3"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!(
            "skipped: moto[server] is not installed for {} (scripts/test.sh installs tests/requirements.txt)",
            helper_python().display()
        );
    }
    ok
}

/// A moto server on 127.0.0.1, logging to `dir/moto.log`: `python -m moto.server`, or the
/// given script with `serve {port}`. Returns the service and its URL.
pub fn start_moto(dir: &Path, script: Option<&Path>) -> (Service, String) {
    let py = helper_python().display().to_string();
    let args: Vec<String> = match script {
        Some(s) => vec![s.display().to_string(), "serve".into(), "{port}".into()],
        None => ["-m", "moto.server", "-H", "127.0.0.1", "-p", "{port}"]
            .map(String::from)
            .to_vec(),
    };
    let svc = Service::start(&py, &args, &dir.join("moto.log"));
    let url = format!("http://127.0.0.1:{}", svc.port);
    (svc, url)
}

/// Lambda without Docker (functions are created and invoked, invokes echo the event). moto
/// resets its state when configured: call this first. Returns moto's answer.
pub fn moto_lambda_without_docker(url: &str) -> String {
    let set = Command::new(helper_python())
        .args([
            "-c",
            "import sys, urllib.request as u; r = u.Request(sys.argv[1] + '/moto-api/config', data=b'{\"lambda\": {\"use_docker\": false}}', method='POST'); print(u.urlopen(r).read().decode())",
        ])
        .arg(url)
        .output()
        .expect("python");
    assert!(
        set.status.success(),
        "{}",
        String::from_utf8_lossy(&set.stderr)
    );
    String::from_utf8_lossy(&set.stdout).into_owned()
}
