//! Slimming end to end: stripping, recipes, bytecode, the ABI audit, explain and verify.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::*;

pub(crate) fn req(dir: &Path, body: &str) -> PathBuf {
    let p = dir.join("requirements.txt");
    std::fs::write(&p, body).expect("write requirements");
    p
}

/// `lpack build` for python3.11 from the local HTML index into `dir/out/fn.zip`.
pub(crate) fn build(dir: &Path, requirements: &Path, extra: &[&str]) -> Command {
    let mut c = lpack();
    c.current_dir(dir)
        .arg("build")
        .arg("-r")
        .arg(requirements)
        .args([
            "--runtime",
            "python3.11",
            "--index-url",
            index(IndexKind::Html),
        ])
        .arg("--cache-dir")
        .arg(dir.join("cache"))
        .arg("-o")
        .arg(dir.join("out/fn.zip"))
        .args(extra);
    c
}

pub(crate) fn manifest(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("out/fn.zip.lpack.json")).expect("manifest"))
        .expect("manifest json")
}

pub(crate) fn record<'a>(m: &'a serde_json::Value, path: &str) -> &'a serde_json::Value {
    m["files"]
        .as_array()
        .expect("files")
        .iter()
        .find(|f| f["path"] == path)
        .unwrap_or_else(|| panic!("no record for {path}"))
}

pub(crate) fn python311() -> PathBuf {
    python(11).expect("python3.11 is required (see .ci/run)")
}

/// Run python3.11 -S with `root` first on sys.path, read-only, never writing bytecode.
fn py(root: &Path, code: &str, verbose: bool) -> std::process::Output {
    let mut c = Command::new(python311());
    if verbose {
        c.arg("-v");
    }
    c.args(["-S", "-c"])
        .arg(format!(
            "import sys; sys.path.insert(0, {:?})\n{code}",
            root.to_string_lossy()
        ))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("python3.11")
}

fn readonly(root: &Path) {
    let s = Command::new("chmod")
        .args(["-R", "a-w"])
        .arg(root)
        .status()
        .expect("chmod");
    assert!(s.success());
}

#[test]
fn strips_shared_objects_and_they_still_load() {
    let dir = scratch("slim-strip");
    let r = req(&dir, "fastmath==1.0\n");
    assert!(run(&mut build(&dir, &r, &["-q"])).status.success());
    let m = manifest(&dir);
    let arch = std::env::consts::ARCH;
    let so = format!("fastmath/_core.cpython-311-{arch}-linux-gnu.so");
    let rec = record(&m, &so);
    assert_eq!(rec["action"], "strip");
    assert_eq!(rec["rule"], "strip.elf");
    assert!(
        rec["size"].as_u64() < rec["original_size"].as_u64(),
        "{rec}"
    );
    let root = dir.join("x");
    unzip(&dir.join("out/fn.zip"), &root);
    readonly(&root);
    let out = py(
        &root,
        "import fastmath, ctypes\nassert fastmath.add(20, 22) == 42\nctypes.CDLL(fastmath._core.__file__)\n",
        false,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // `readelf` (an independent reader) sees no symbol table and intact dynamic section.
    let re = Command::new("readelf")
        .args(["-S", "-d"])
        .arg(root.join(&so))
        .output();
    if let Ok(re) = re {
        let text = String::from_utf8_lossy(&re.stdout);
        assert!(
            !text.contains(".symtab") && !text.contains(".debug_info"),
            "{text}"
        );
        assert!(
            text.contains("(NEEDED)") || text.contains("Dynamic section"),
            "{text}"
        );
    }

    // --profile none keeps the original bytes.
    let dir = scratch("slim-none");
    let r = req(&dir, "fastmath==1.0\n");
    assert!(
        run(&mut build(
            &dir,
            &r,
            &["-q", "--profile", "none", "--bytecode", "none"]
        ))
        .status
        .success()
    );
    let m = manifest(&dir);
    let rec = record(&m, &so);
    assert_eq!(rec["action"], "keep");
    assert_eq!(rec["size"], rec["original_size"]);
}

#[test]
fn odd_elf_is_left_untouched_with_a_warning() {
    let dir = scratch("slim-odd");
    let r = req(&dir, "oddflags==1.0\n");
    let out = run(&mut build(&dir, &r, &[]));
    assert!(out.status.success());
    let err = stderr(&out);
    assert!(err.contains("oddflags/libg.so kept unstripped"), "{err}");
    assert!(err.contains("unknown flags"), "{err}");
    let m = manifest(&dir);
    let rec = record(&m, "oddflags/libg.so");
    assert_eq!(rec["action"], "keep");
    assert_eq!(rec["size"], rec["original_size"]);
}

/// aarch64: strip a cross-compiled library, link a program against the stripped copy and run
/// it under qemu. Skipped (saying so) where the cross toolchain or qemu is missing.
#[test]
fn strips_aarch64_libraries_that_still_load() {
    if !(have("aarch64-linux-gnu-gcc")
        && have("qemu-aarch64")
        && Path::new("/usr/aarch64-linux-gnu").is_dir())
    {
        eprintln!(
            "skipped: aarch64-linux-gnu-gcc, qemu-aarch64 or /usr/aarch64-linux-gnu missing (apt-get install gcc-aarch64-linux-gnu qemu-user)"
        );
        return;
    }
    let dir = scratch("slim-arm");
    std::fs::write(dir.join("a.c"), "int add(int a, int b) { return a + b; }\n").expect("c");
    std::fs::write(
        dir.join("m.c"),
        "#include <stdio.h>\nint add(int, int);\nint main(void) { printf(\"%d\\n\", add(40, 2)); return 0; }\n",
    )
    .expect("c");
    let cc = |args: &[&str]| {
        let o = Command::new("aarch64-linux-gnu-gcc")
            .current_dir(&dir)
            .args(args)
            .output()
            .expect("cross gcc");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    cc(&["-shared", "-fPIC", "-g", "-O2", "-o", "libadd.so", "a.c"]);
    let so = std::fs::read(dir.join("libadd.so")).expect("so");
    let wheels = dir.join("wheels");
    std::fs::create_dir_all(&wheels).expect("mkdir");
    write_wheel(
        &wheels,
        "armlib",
        "1.0",
        "py3-none-manylinux_2_17_aarch64",
        &[F("armlib/libadd.so", &so)],
    );
    let r = req(&dir, "armlib==1.0\n");
    let out = run(lpack()
        .current_dir(&dir)
        .args(["build", "-r"])
        .arg(&r)
        .args([
            "--runtime",
            "python3.12",
            "--arch",
            "arm64",
            "--no-index",
            "--find-links",
        ])
        .arg(&wheels)
        .arg("--cache-dir")
        .arg(dir.join("cache"))
        .args(["-o", "out/fn.zip", "--bytecode", "none", "-q"]));
    assert!(out.status.success());
    let root = dir.join("x");
    unzip(&dir.join("out/fn.zip"), &root);
    let stripped = std::fs::read(root.join("armlib/libadd.so")).expect("stripped");
    assert!(
        stripped.len() < so.len(),
        "{} !< {}",
        stripped.len(),
        so.len()
    );
    std::fs::copy(root.join("armlib/libadd.so"), dir.join("libadd.so")).expect("copy");
    cc(&["-o", "m", "m.c", "-L.", "-ladd"]);
    let run = Command::new("qemu-aarch64")
        .args(["-L", "/usr/aarch64-linux-gnu", "./m"])
        .current_dir(&dir)
        .env("LD_LIBRARY_PATH", &dir)
        .output()
        .expect("qemu");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&run.stdout).trim(), "42");
}

#[test]
fn user_recipes_scope_and_stale_rules() {
    let dir = scratch("slim-recipes");
    std::fs::write(
        dir.join("mine.toml"),
        "[[rule]]\nid = \"mine.drop-data\"\ndist = \"purelib\"\naction = \"drop\"\nglob = \"purelib/*.txt\"\nreason = \"not needed\"\n\n\
         [[rule]]\nid = \"mine.scoped-elsewhere\"\ndist = \"nsa\"\naction = \"drop\"\nglob = \"purelib/**\"\nreason = \"must not touch purelib\"\n\n\
         [[rule]]\nid = \"mine.never\"\naction = \"drop\"\nglob = \"nothing-here/**\"\nreason = \"outdated\"\n",
    )
    .expect("recipe");
    let r = req(&dir, "purelib==2.0\nnsa==1.0\n");
    let out = run(&mut build(&dir, &r, &["--recipe", "mine.toml"]));
    assert!(out.status.success());
    assert!(
        stdout(&out).contains("stale rules (matched nothing): mine.scoped-elsewhere, mine.never"),
        "{}",
        stdout(&out)
    );
    let m = manifest(&dir);
    assert_eq!(record(&m, "purelib/data.txt")["rule"], "mine.drop-data");
    assert_eq!(record(&m, "purelib/__init__.py")["action"], "keep");
    let stale: Vec<&str> = m["stale_rules"]
        .as_array()
        .expect("stale")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert_eq!(stale, vec!["mine.scoped-elsewhere", "mine.never"]);
    assert!(!stale.contains(&"mine.drop-data"), "{stale:?}");

    // explain names the deciding rule and its reason.
    let out = run(lpack()
        .current_dir(&dir)
        .args(["explain", "purelib/data.txt", "-r"])
        .arg(&r)
        .args([
            "--runtime",
            "python3.11",
            "--index-url",
            index(IndexKind::Html),
            "--recipe",
            "mine.toml",
        ])
        .arg("--cache-dir")
        .arg(dir.join("cache")));
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(text.contains("dropped: rule mine.drop-data"), "{text}");
    assert!(text.contains("not needed"), "{text}");
    let out = run(lpack()
        .current_dir(&dir)
        .args(["explain", "purelib-2.0.dist-info/METADATA", "-r"])
        .arg(&r)
        .args([
            "--runtime",
            "python3.11",
            "--index-url",
            index(IndexKind::Html),
            "--drop",
            "**/METADATA",
        ])
        .arg("--cache-dir")
        .arg(dir.join("cache")));
    assert!(
        stdout(&out).contains("kept: rule protect.dist-info"),
        "{}",
        stdout(&out)
    );

    // A broken recipe file is an error that points at the line.
    std::fs::write(
        dir.join("bad.toml"),
        "[[rule]]\nid = \"x\"\naction = \"delete\"\nglob = \"a/**\"\nreason = \"r\"\n",
    )
    .expect("bad");
    let out = run(&mut build(&dir, &r, &["--recipe", "bad.toml"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("bad.toml:3:10: error[R003]"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn bytecode_is_compiled_for_the_target_and_used() {
    let dir = scratch("slim-pyc");
    let r = req(&dir, "purelib==2.0\nnsa==1.0\n");
    assert!(
        run(&mut build(&dir, &r, &["-q", "--bytecode", "compile"]))
            .status
            .success()
    );
    let names = zip_names(&dir.join("out/fn.zip"));
    assert!(
        names
            .iter()
            .any(|n| n == "purelib/__pycache__/__init__.cpython-311.pyc"),
        "{names:?}"
    );
    let root = dir.join("x");
    unzip(&dir.join("out/fn.zip"), &root);
    readonly(&root);
    let out = py(
        &root,
        "import purelib\nassert purelib.VERSION == '2.0'\n",
        true,
    );
    assert!(out.status.success());
    let trace = stderr(&out);
    assert!(
        trace.contains("__pycache__/__init__.cpython-311.pyc")
            && trace.contains("code object from"),
        "python3.11 should load the shipped pyc:\n{trace}"
    );

    // --bytecode only: sourceless .pyc in place of .py.
    let dir = scratch("slim-pyc-only");
    let r = req(&dir, "purelib==2.0\n");
    assert!(
        run(&mut build(&dir, &r, &["-q", "--bytecode", "only"]))
            .status
            .success()
    );
    let names = zip_names(&dir.join("out/fn.zip"));
    assert!(names.iter().any(|n| n == "purelib/__init__.pyc"));
    assert!(!names.iter().any(|n| n == "purelib/__init__.py"));
    let root = dir.join("x");
    unzip(&dir.join("out/fn.zip"), &root);
    let out = py(
        &root,
        "import purelib\nassert purelib.MARK == 'NEW'\n",
        false,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Only what importing the handler loads gets bytecode.
    let dir = scratch("slim-pyc-imports");
    std::fs::create_dir_all(dir.join("app")).expect("mkdir");
    std::fs::write(
        dir.join("app/app.py"),
        "import purelib\ndef handler(e, c):\n    return purelib.VERSION\n",
    )
    .expect("app");
    let r = req(&dir, "purelib==2.0\nnsa==1.0\n");
    assert!(
        run(&mut build(
            &dir,
            &r,
            &[
                "-q",
                "--src",
                "app",
                "--bytecode-for-imports",
                "app.handler"
            ]
        ))
        .status
        .success()
    );
    let names = zip_names(&dir.join("out/fn.zip"));
    assert!(
        names
            .iter()
            .any(|n| n == "purelib/__pycache__/__init__.cpython-311.pyc"),
        "{names:?}"
    );
    assert!(
        !names.iter().any(|n| n.starts_with("nspkg/__pycache__/")),
        "nspkg is not imported: {names:?}"
    );
}

#[test]
fn audit_catches_glibc_missing_library_and_wrong_arch() {
    for (name, needle) in [
        (
            "glibcnew",
            "A002 glibcnew/libprobe.so: needs GLIBC_2.28, but python3.11 has glibc 2.26",
        ),
        (
            "needsdep",
            "A003 needsdep/libuse.so: needs libmissingdep.so",
        ),
        ("wrongarch", "A001 wrongarch/libf.so: built for"),
    ] {
        let dir = scratch(&format!("audit-{name}"));
        let r = req(&dir, &format!("{name}==1.0\n"));
        let out = run(&mut build(&dir, &r, &[]));
        assert_eq!(out.status.code(), Some(2), "{name}");
        assert!(stderr(&out).contains(needle), "{name}: {}", stderr(&out));
        assert!(
            leftovers(&dir.join("out")).is_empty(),
            "nothing written on audit failure"
        );

        // --no-audit builds it anyway; `lpack audit` on the artifact finds the same and exits 1.
        let out = run(&mut build(&dir, &r, &["--no-audit", "-q"]));
        assert!(out.status.success());
        let out = run(lpack().arg("audit").arg(dir.join("out/fn.zip")));
        assert_eq!(out.status.code(), Some(1));
        let text = stdout(&out);
        let code = &needle[..4];
        assert!(text.contains(code), "{text}");
    }
    // The same glibc-2.28 library is fine for python3.12 (AL2023, glibc 2.34).
    let dir = scratch("audit-ok312");
    let r = req(&dir, "glibcnew==1.0\n");
    assert!(
        run(&mut build(&dir, &r, &["--no-audit", "-q"]))
            .status
            .success()
    );
    let out = run(lpack().arg("audit").arg(dir.join("out/fn.zip")).args([
        "--runtime",
        "python3.12",
        "--json",
    ]));
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["errors"], 0);
}

#[test]
fn verify_catches_an_over_eager_rule() {
    let dir = scratch("verify-bad");
    let r = req(&dir, "purelib==2.0\nfastmath==1.0\n");
    let out = run(&mut build(
        &dir,
        &r,
        // A plain --drop of an imported module is kept by the import guard (tests/it/guard.rs);
        // forced, the drop reaches verify.
        &["--force-drop", "fastmath/_core*", "--verify"],
    ));
    assert_eq!(
        out.status.code(),
        Some(1),
        "a failed verify is a failed gate"
    );
    let err = stderr(&out);
    assert!(err.contains("`import fastmath` (fastmath) failed"), "{err}");
    assert!(err.contains("cli.force-drop-1"), "{err}");

    let dir = scratch("verify-good");
    let r = req(&dir, "purelib==2.0\nfastmath==1.0\nnsa==1.0\nnsb==1.0\n");
    let out = run(&mut build(&dir, &r, &["--verify"]));
    assert!(out.status.success());
    assert!(
        stdout(&out).contains("top-level modules import"),
        "{}",
        stdout(&out)
    );
    let out = run(lpack()
        .arg("verify")
        .arg(dir.join("out/fn.zip"))
        .arg("--json"));
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let mods: Vec<&str> = v["imports"]
        .as_array()
        .expect("imports")
        .iter()
        .filter_map(|i| i["module"].as_str())
        .collect();
    for m in ["fastmath", "purelib", "purelib_extra", "nspkg"] {
        assert!(mods.contains(&m), "{m} not verified: {mods:?}");
    }
}

/// Extension modules for other Pythons (qiskit-nature ships `.cpython-37m…311` copies side by
/// side): python3.12 never imports them, so `safe` drops them (rule
/// `common.extensions-other-python`) and the audit never judges them, even with `--profile none`.
#[test]
fn extension_modules_for_other_pythons_are_dropped_and_not_audited() {
    if std::env::consts::ARCH != "x86_64" {
        return;
    }
    let dir = scratch("other-python-ext");
    let work = dir.join("work");
    let wheels = dir.join("wheels");
    std::fs::create_dir_all(&work).expect("mkdir");
    std::fs::create_dir_all(&wheels).expect("mkdir");
    let ok = gcc_shared(&work, "ok", "int f(void) { return 1; }\n", &[]);
    gcc_shared(&work, "libgone", "int gone(void) { return 1; }\n", &[]);
    let needs = gcc_shared(
        &work,
        "needs",
        "int gone(void);\nint f(void) { return gone(); }\n",
        &["-L", work.to_str().expect("utf-8"), "-lgone"],
    );
    let tag = "cp312-cp312-manylinux_2_17_x86_64";
    let ext312 = "qcm/qcmatrixio.cpython-312-x86_64-linux-gnu.so";
    let ext311 = "qcm/qcmatrixio.cpython-311-x86_64-linux-gnu.so";
    // The copy for python3.11 needs a library nobody ships; kept code imports the module.
    write_wheel(
        &wheels,
        "qcm",
        "1.0",
        tag,
        &[
            F("qcm/__init__.py", b"from . import qcmatrixio\n"),
            F(ext312, &ok),
            F(ext311, &needs),
        ],
    );
    // The same, but the copy python3.12 loads is the broken one: still an error.
    write_wheel(
        &wheels,
        "qcmbad",
        "1.0",
        tag,
        &[
            F("qcmbad/__init__.py", b"from . import qcmatrixio\n"),
            F("qcmbad/qcmatrixio.cpython-312-x86_64-linux-gnu.so", &needs),
            F("qcmbad/qcmatrixio.cpython-311-x86_64-linux-gnu.so", &ok),
        ],
    );
    let build = |req: &str, extra: &[&str]| {
        let r = dir.join("requirements.txt");
        std::fs::write(&r, req).expect("req");
        run(lpack()
            .current_dir(&dir)
            .args(["build", "-r", "requirements.txt", "--runtime", "python3.12"])
            .args(["--no-index", "--find-links"])
            .arg(&wheels)
            .arg("--cache-dir")
            .arg(dir.join("cache"))
            .args(["-o", "out/fn.zip", "--bytecode", "none", "--no-verify"])
            .args(extra))
    };
    let out = build("qcm==1.0\n", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let m = manifest(&dir);
    let r = record(&m, ext311);
    assert_eq!(r["action"], "drop", "{r}");
    assert_eq!(r["rule"], "common.extensions-other-python", "{r}");
    assert_ne!(record(&m, ext312)["action"], "drop");
    let names = zip_names(&dir.join("out/fn.zip"));
    assert!(names.iter().any(|n| n == ext312) && !names.iter().any(|n| n == ext311));
    assert!(!stderr(&out).contains("A003"), "{}", stderr(&out));

    // Without slimming the file stays, and the audit still does not judge it.
    let out = build("qcm==1.0\n", &["--profile", "none"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        zip_names(&dir.join("out/fn.zip"))
            .iter()
            .any(|n| n == ext311)
    );
    let out = run(lpack()
        .arg("audit")
        .arg(dir.join("out/fn.zip"))
        .args(["--runtime", "python3.12"]));
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));

    // The file python3.12 does load is judged as before.
    let out = build("qcmbad==1.0\n", &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out)
            .contains("A003 qcmbad/qcmatrixio.cpython-312-x86_64-linux-gnu.so: needs libgone.so"),
        "{}",
        stderr(&out)
    );
}
