//! A new user's first hour, as one story through the real binary: a project as people have
//! them (a handler at the root, a requirements file of top-level pins without hashes, an old
//! `dist/`, a `.venv`, bench results, a `.gitignore`), then `lpack init` → `build` → `bench` →
//! a broken handler → an image in a shared OCI layout → `lock` → `explain` → a layer and a
//! second function added to the config `init` wrote. Each step checks what the user would
//! check: what was packed, what was said, what was left alone.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::harness::*;

/// The project's wheels: `topdep` needs `tinydep` (a pin alone must bring it).
fn wheels(dir: &Path) -> PathBuf {
    let w = dir.join("wheels");
    std::fs::create_dir_all(&w).expect("mkdir");
    write_wheel(
        &w,
        "tinydep",
        "1.0",
        "py3-none-any",
        &[F("tinydep/__init__.py", b"VALUE = 42\n")],
    );
    write_wheel_requiring(
        &w,
        "topdep",
        "1.0",
        "py3-none-any",
        &[F(
            "topdep/__init__.py",
            b"import tinydep\nVALUE = tinydep.VALUE + 1\n",
        )],
        &["tinydep>=1.0"],
    );
    w
}

const HANDLER: &str =
    "import topdep\n\ndef handler(event, context):\n    return {'value': topdep.VALUE}\n";

/// A working tree with the leftovers real ones have.
fn project(dir: &Path) {
    std::fs::write(dir.join("app.py"), HANDLER).expect("app.py");
    std::fs::write(dir.join("requirements.txt"), "topdep==1.0\n").expect("requirements");
    std::fs::write(dir.join(".python-version"), "3.11\n").expect(".python-version");
    std::fs::write(dir.join(".gitignore"), "*.log\nscratch/\n").expect(".gitignore");
    std::fs::write(dir.join("debug.log"), "noise\n").expect("log");
    std::fs::create_dir_all(dir.join("scratch")).expect("mkdir");
    std::fs::write(dir.join("scratch/big.bin"), vec![7u8; 200_000]).expect("scratch");
    std::fs::create_dir_all(dir.join("dist")).expect("mkdir");
    std::fs::write(dir.join("dist/old-build.zip"), vec![1u8; 300_000]).expect("old zip");
    std::fs::create_dir_all(dir.join(".venv/lib/python3.11/site-packages")).expect("mkdir");
    std::fs::write(dir.join(".venv/pyvenv.cfg"), "home = /usr/bin\n").expect("pyvenv.cfg");
    std::fs::write(
        dir.join(".venv/lib/python3.11/site-packages/leftover.py"),
        "X = 1\n",
    )
    .expect("venv file");
    std::fs::create_dir_all(dir.join("bench-results")).expect("mkdir");
    std::fs::write(dir.join("bench-results/samples.csv"), "a,b\n").expect("csv");
}

/// lpack in the project, offline: the index settings come from the environment as a CI job's
/// would, so the config stays as `init` wrote it.
fn lp(dir: &Path) -> Command {
    let mut c = lpack();
    c.current_dir(dir)
        .env("LPACK_FIND_LINKS", dir.join("wheels"))
        .env("LPACK_NO_INDEX", "1")
        .env("LPACK_CACHE_DIR", dir.join(".cache-lpack"));
    c
}

fn sha(manifest: &Path) -> String {
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(manifest).expect("manifest")).expect("json");
    m["artifact"]["sha256"]
        .as_str()
        .or_else(|| m["sha256"].as_str())
        .unwrap_or_default()
        .to_string()
}

fn ok(o: &Output, what: &str) {
    assert_eq!(
        o.status.code(),
        Some(0),
        "{what}\nstdout:\n{}\nstderr:\n{}",
        stdout(o),
        stderr(o)
    );
}

#[test]
fn first_hour() {
    let Some(py311) = python(11) else {
        eprintln!("skipped: python3.11 not found");
        return;
    };
    let dir = scratch("first-hour");
    wheels(&dir);
    project(&dir);
    // The cache lives in the project here; a user's is elsewhere. Ignore it like git would.
    std::fs::write(
        dir.join(".gitignore"),
        "*.log\nscratch/\n.cache-lpack/\nwheels/\n",
    )
    .expect(".gitignore");

    // 1. init
    let o = run(lp(&dir).arg("init"));
    ok(&o, "lpack init");
    assert!(stdout(&o).contains("app.handler"), "{}", stdout(&o));
    let cfg = std::fs::read_to_string(dir.join("lpack.toml")).expect("lpack.toml");
    assert!(cfg.contains("src = \".\""), "{cfg}");

    // 2. build: the pin brings its dependency; only code is packed from the tree; the
    //    handler is imported as Lambda would.
    let o = run(lp(&dir).arg("build"));
    ok(&o, "first build");
    let zips: Vec<PathBuf> = std::fs::read_dir(dir.join("dist"))
        .expect("dist")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "zip") && !p.ends_with("old-build.zip"))
        .collect();
    assert_eq!(zips.len(), 1, "{zips:?}");
    let zip = zips[0].clone();
    let name = zip
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    assert_ne!(
        name, "requirements.zip",
        "named after the project, not the input"
    );
    let manifest = PathBuf::from(format!("{}.lpack.json", zip.display()));
    let names = zip_names(&zip);
    for want in ["app.py", "topdep/__init__.py", "tinydep/__init__.py"] {
        assert!(names.iter().any(|n| n == want), "{want} missing: {names:?}");
    }
    for never in [
        "dist/",
        ".venv/",
        ".python-version",
        "requirements.txt",
        "bench-results/",
        "scratch/",
        "debug.log",
        "lpack.toml",
        ".git",
        ".cache-lpack/",
        "wheels/",
    ] {
        assert!(
            !names.iter().any(|n| n.starts_with(never)),
            "{never} was packed: {names:?}"
        );
    }
    assert!(
        dir.join("dist/old-build.zip").is_file(),
        "the old zip is left alone"
    );
    let first = sha(&manifest);

    // 3. bench reads the handler from lpack.toml; its results do not change the next build.
    if let Some(rt) = crate::bench::runtime_dir() {
        // No manifest named: bench measures what `lpack build` built from the config.
        let o = run(lp(&dir)
            .arg("bench")
            .arg("--python")
            .arg(&py311)
            .arg("--runtime-dir")
            .arg(rt)
            .args(["--runs", "2", "--timeout", "10", "--no-import-profile"]));
        ok(&o, "lpack bench with the handler from lpack.toml");
        assert!(stdout(&o).contains(&name), "{}", stdout(&o));
        let o = run(lp(&dir).arg("build"));
        ok(&o, "rebuild after bench");
        assert_eq!(sha(&manifest), first, "bench results changed the build");
    }

    // 4. A broken handler fails the build in Lambda's words, naming the file and line.
    std::fs::write(
        dir.join("app.py"),
        "def handler(event, context)\n    return 1\n",
    )
    .expect("w");
    let o = run(lp(&dir).arg("build"));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let all = format!("{}{}", stdout(&o), stderr(&o));
    assert!(all.contains("Runtime.UserCodeSyntaxError"), "{all}");
    assert!(all.contains("app.py") && all.contains('1'), "{all}");
    std::fs::write(dir.join("app.py"), "import topdep\n").expect("w");
    let o = run(lp(&dir).arg("build"));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let all = format!("{}{}", stdout(&o), stderr(&o));
    assert!(all.contains("Runtime.HandlerNotFound"), "{all}");
    std::fs::write(dir.join("app.py"), HANDLER).expect("w");
    ok(&run(lp(&dir).arg("build")), "build with the handler fixed");
    assert_eq!(sha(&manifest), first, "same tree, same bytes");

    // An output path that names a file lpack did not write is refused, and the file is kept.
    let o = run(lp(&dir).args(["build", "-o", "app.py"]));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("lpack did not write it"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("app.py")).expect("app.py"),
        HANDLER
    );

    // 5. lock writes what build and explain read back.
    let o = run(lp(&dir).args(["lock", "-o", "pylock.toml"]));
    ok(&o, "lpack lock");
    let o = run(lp(&dir).args(["explain", "tinydep/__init__.py", "-r", "pylock.toml"]));
    ok(&o, "explain on the lock just written");
    let o = run(lp(&dir).args(["lock", "-o", "requirements.lock.txt"]));
    ok(&o, "lock to a .txt");
    let text = std::fs::read_to_string(dir.join("requirements.lock.txt")).expect("lock txt");
    assert!(text.contains("--hash=sha256:"), "{text}");
    let o = run(lp(&dir).args([
        "build",
        "-r",
        "requirements.lock.txt",
        "-o",
        "dist/locked.zip",
    ]));
    ok(&o, "build from the hashed lock");
    // The lock files lpack wrote, and the old input, are not handler code.
    let names = zip_names(&dir.join("dist/locked.zip"));
    assert!(
        !names.iter().any(|n| n.starts_with("pylock")
            || n.ends_with(".lock.txt")
            || n == "requirements.txt"),
        "{names:?}"
    );

    // 6. The config init wrote grows into a layer and two functions by adding tables.
    std::fs::create_dir_all(dir.join("functions/report")).expect("mkdir");
    std::fs::write(
        dir.join("functions/report/main.py"),
        "import tinydep\ndef handler(e, c):\n    return tinydep.VALUE\n",
    )
    .expect("w");
    let mut cfg = std::fs::read_to_string(dir.join("lpack.toml")).expect("read");
    cfg.push_str(
        "\n[layers.deps]\nrequirements = \"requirements.txt\"\n\n[functions.api]\nsrc = \".\"\nhandler = \"app.handler\"\nlayers = [\"deps\"]\n\n[functions.report]\nsrc = \"functions/report\"\nhandler = \"main.handler\"\nlayers = [\"deps\"]\n",
    );
    std::fs::write(dir.join("lpack.toml"), cfg).expect("w");
    let o = run(lp(&dir).arg("build"));
    ok(&o, "a layer and two functions from the grown config");
    for f in ["dist/deps.zip", "dist/api.zip", "dist/report.zip"] {
        assert!(dir.join(f).is_file(), "{f} missing:\n{}", stdout(&o));
    }
    // Two functions now: a bare `lpack bench` says which manifests to name.
    let o = run(lp(&dir).arg("bench"));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("2 functions") && stderr(&o).contains("dist/api.zip.lpack.json"),
        "{}",
        stderr(&o)
    );
    let api = zip_names(&dir.join("dist/api.zip"));
    assert!(api.iter().any(|n| n == "app.py"), "{api:?}");
    assert!(!api.iter().any(|n| n.starts_with("functions/")), "{api:?}");
    assert!(
        !api.iter().any(|n| n.starts_with("topdep/")),
        "in the layer: {api:?}"
    );
}

#[test]
fn an_image_joins_a_shared_oci_layout() {
    if !(have("skopeo") && have("umoci")) || std::env::consts::ARCH != "x86_64" {
        eprintln!("skipped: skopeo and umoci are needed (.ci/run installs them)");
        return;
    }
    let dir = scratch("first-hour-image");
    wheels(&dir);
    project(&dir);
    base_image(&dir.join("base"), "base", "amd64");
    ok(&run(lp(&dir).arg("init")), "init");
    let image = |tag: &str| {
        run(lp(&dir).args([
            "build",
            "--format",
            "image",
            "--base",
            "oci-layout:base:base",
            "--image-out",
            &format!("oci-layout:images:{tag}"),
        ]))
    };
    ok(&image("v1"), "image v1");
    ok(&image("v2"), "image v2 into the same layout");
    for tag in ["v1", "v2"] {
        let o = Command::new("skopeo")
            .args([
                "inspect",
                &format!("oci:{}:{tag}", dir.join("images").display()),
            ])
            .output()
            .expect("skopeo");
        assert!(
            o.status.success(),
            "{tag}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    // A folder that is not a layout is refused and left as it was.
    std::fs::create_dir_all(dir.join("notes")).expect("mkdir");
    std::fs::write(dir.join("notes/notes.txt"), "mine\n").expect("w");
    let o = run(lp(&dir).args([
        "build",
        "--format",
        "image",
        "--base",
        "oci-layout:base:base",
        "--image-out",
        "oci-layout:notes:v1",
    ]));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("notes"), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(dir.join("notes/notes.txt")).expect("notes survive"),
        "mine\n"
    );
    // Nor is a file that is no image archive replaced by a docker-archive; lpack's own is.
    let archive = |dest: &str| {
        run(lp(&dir).args([
            "build",
            "--format",
            "image",
            "--base",
            "oci-layout:base:base",
            "--image-out",
            "oci-layout:images:v3",
            "--image-out",
            dest,
        ]))
    };
    std::fs::write(dir.join("backup.tar"), "mine\n").expect("w");
    let o = archive("docker-archive:backup.tar:acme/fn:v1");
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("lpack did not write it"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("backup.tar")).expect("backup survives"),
        "mine\n"
    );
    ok(
        &archive("docker-archive:img.tar:acme/fn:v1"),
        "first archive",
    );
    ok(
        &archive("docker-archive:img.tar:acme/fn:v1"),
        "the same archive again",
    );
}
