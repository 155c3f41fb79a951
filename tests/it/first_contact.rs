//! A new user's first contact with lpack, through the real binary, on projects laid out as a
//! user's: a config written by `lpack init` and then edited by hand. Each test walks one path a
//! user takes (bench after build, a layer added to the init file, lock then explain, the hints).

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::harness::*;

/// A project as a user has it: `.git`, a pyproject naming the project, requirements, a handler
/// at the root; then `lpack init` writes lpack.toml, and the user adds the package sources (the
/// test's local wheels), a private cache and no bytecode (no interpreter needed).
fn user_project(name: &str, requirements: &str) -> PathBuf {
    let dir = scratch(name);
    std::fs::create_dir(dir.join(".git")).expect("mkdir .git");
    std::fs::write(
        dir.join("pyproject.toml"),
        "[project]\nname = \"churn\"\nversion = \"0.1\"\nrequires-python = \">=3.11,<3.12\"\n",
    )
    .expect("pyproject");
    std::fs::write(dir.join("requirements.txt"), requirements).expect("requirements");
    std::fs::write(
        dir.join("app.py"),
        "import purelib\n\n\ndef handler(event, context):\n    return {\"version\": purelib.VERSION}\n",
    )
    .expect("handler");
    let out = run(lpack().current_dir(&dir).arg("init"));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = std::fs::read_to_string(dir.join("lpack.toml")).expect("lpack.toml");
    assert!(text.contains("handler = \"app.handler\""), "{text}");
    assert!(text.contains("runtime = \"python3.11\""), "{text}");
    edit(
        &dir,
        &format!(
            "\n# added by the user\nfind-links = [\"{}\"]\nno-index = true\ncache-dir = \"cache\"\nbytecode = \"none\"\nno-verify = true\n",
            fixtures().flat.display()
        ),
    );
    dir
}

/// Append to the project's lpack.toml, as a user editing it would.
fn edit(dir: &Path, more: &str) {
    let path = dir.join("lpack.toml");
    let mut text = std::fs::read_to_string(&path).expect("read lpack.toml");
    text.push_str(more);
    std::fs::write(&path, text).expect("write lpack.toml");
}

fn lp(dir: &Path, args: &[&str]) -> Output {
    run(lpack().current_dir(dir).args(args))
}

fn ok(o: &Output) {
    assert_eq!(
        o.status.code(),
        Some(0),
        "stdout:\n{}\nstderr:\n{}",
        stdout(o),
        stderr(o)
    );
}

/// Item 5: `lpack bench MANIFEST` invokes the handler lpack.toml names (no --handler), and its
/// table says what its columns count: cold starts apart from warm invokes, and a legend.
#[test]
fn bench_uses_the_handler_the_config_names() {
    let (Some(py), Some(rt)) = (crate::bench::py311(), crate::bench::runtime_dir()) else {
        return;
    };
    let dir = user_project("fc-bench", "purelib==1.0\n");
    ok(&lp(&dir, &["build"]));
    // The default artifact is named after the project (pyproject's [project].name).
    let manifest = dir.join("dist/churn.zip.lpack.json");
    assert!(manifest.is_file(), "{:?}", leftovers(&dir.join("dist")));
    let m = manifest.to_str().expect("utf-8");
    let common = [
        "--python",
        py.to_str().expect("utf-8"),
        "--runtime-dir",
        rt.to_str().expect("utf-8"),
        "--no-import-profile",
        "--timeout",
        "10",
    ];
    let out = run(lpack()
        .current_dir(&dir)
        .args(["bench", m, "--runs", "1", "--out", "r1", "--json"])
        .args(common));
    ok(&out);
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("r1/summary.json")).expect("summary"))
            .expect("json");
    assert_eq!(summary["deployments"][0]["handler"], "app.handler");
    assert_eq!(summary["deployments"][0]["errors"], 0);
    // Two cold starts, one warm invoke after each: the table counts them apart.
    let out = run(lpack()
        .current_dir(&dir)
        .args(["bench", m, "--runs", "2", "--warm", "1", "--out", "r2"])
        .args(common));
    ok(&out);
    let text = stdout(&out);
    let head = text.lines().next().expect("table header");
    assert!(head.contains("memory MB"), "{text}");
    assert!(head.contains("cold starts"), "{text}");
    assert!(head.contains("warm invokes"), "{text}");
    assert!(!head.split("  ").any(|c| c.trim() == "n"), "{text}");
    let row: Vec<&str> = text
        .lines()
        .nth(1)
        .expect("row")
        .split_whitespace()
        .collect();
    // deployment kind memory cold warm errors …
    assert_eq!(&row[2..6], ["1024", "2", "2", "0"], "{text}");
    assert!(text.contains("layout ms: "), "{text}");
    assert!(text.contains("cold starts: fresh environments"), "{text}");
}

/// Item 6: the file `lpack init` wrote grows into a multi-function one by adding tables: the
/// top-level `src`, `handler` and `format` apply to functions, never to the layer.
#[test]
fn the_init_file_takes_a_layer_and_a_function() {
    let dir = user_project("fc-grow", "purelib==1.0\n");
    edit(
        &dir,
        "\n[layers.deps]\n\n[functions.api]\nlayers = [\"deps\"]\n",
    );
    let out = lp(&dir, &["build"]);
    ok(&out);
    let deps = zip_names(&dir.join("dist/deps.zip"));
    assert!(
        deps.iter().any(|n| n.ends_with("purelib/__init__.py")),
        "{deps:?}"
    );
    assert!(
        !deps.iter().any(|n| n == "app.py"),
        "handler code in the layer: {deps:?}"
    );
    let api = zip_names(&dir.join("dist/api.zip"));
    assert!(api.iter().any(|n| n == "app.py"), "{api:?}");
    assert!(
        !api.iter().any(|n| n.starts_with("purelib/")),
        "the layer's packages in the function: {api:?}"
    );

    // A function's key inside the layer's table: an error about the key and the table.
    let text = std::fs::read_to_string(dir.join("lpack.toml")).expect("read");
    let text = text.replace("\n[layers.deps]\n\n", "\n[layers.deps]\nsrc = \"lib\"\n\n");
    std::fs::write(dir.join("lpack.toml"), &text).expect("write");
    let line = text
        .lines()
        .position(|l| l == "src = \"lib\"")
        .expect("line")
        + 1;
    let out = lp(&dir, &["build"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let e = stderr(&out);
    assert!(
        e.contains(&format!("lpack.toml:{line}:1")),
        "names the place: {e}"
    );
    assert!(
        e.contains("key `src` does not apply to [layers.deps]"),
        "{e}"
    );
    assert!(!e.contains("--src"), "speaks of flags: {e}");

    // A flag meant for functions, given for a run that builds a layer: said as a flag.
    let text = text.replace("\n[layers.deps]\nsrc = \"lib\"\n", "\n[layers.deps]\n");
    std::fs::write(dir.join("lpack.toml"), &text).expect("write");
    let out = lp(&dir, &["build", "--handler", "app.other"]);
    assert_eq!(out.status.code(), Some(2));
    let e = stderr(&out);
    assert!(e.contains("--handler applies to every build"), "{e}");
    assert!(e.contains("`deps` is a layer"), "{e}");
}

/// Item 7: `explain` reads what `lock` wrote and resolves loose requirements as `build` does;
/// `lock -o NAME.txt` writes a hashed requirements file `build -r` reads; other names are refused.
#[test]
fn explain_and_build_read_every_lock_lock_writes() {
    let dir = user_project("fc-lock", "purelib\n");
    // Loose input: explain resolves it (as build does) instead of refusing it.
    let out = lp(&dir, &["explain", "purelib/data.txt"]);
    ok(&out);
    assert!(
        stdout(&out).contains("purelib-2.0-py3-none-any.whl"),
        "{}",
        stdout(&out)
    );
    ok(&lp(&dir, &["lock"]));
    let lock = std::fs::read_to_string(dir.join("pylock.toml")).expect("pylock");
    assert!(lock.contains("lock-version = \"1.0\""), "{lock}");
    let out = lp(&dir, &["explain", "purelib/data.txt", "-r", "pylock.toml"]);
    ok(&out);
    assert!(
        stdout(&out).contains("purelib/data.txt"),
        "{}",
        stdout(&out)
    );

    // A requirements file with hashes, for the extension `.txt`.
    ok(&lp(&dir, &["lock", "-o", "locked.txt"]));
    let txt = std::fs::read_to_string(dir.join("locked.txt")).expect("locked.txt");
    assert!(!txt.contains("lock-version"), "TOML in a .txt: {txt}");
    assert!(txt.contains("purelib==2.0"), "{txt}");
    assert!(txt.contains("--hash=sha256:"), "{txt}");
    let out = lp(
        &dir,
        &["build", "-r", "locked.txt", "-o", "dist/from-txt.zip"],
    );
    ok(&out);
    assert!(
        zip_names(&dir.join("dist/from-txt.zip"))
            .iter()
            .any(|n| n == "purelib/__init__.py")
    );
    let out = lp(&dir, &["explain", "purelib/data.txt", "-r", "locked.txt"]);
    ok(&out);

    // A name that says no format: refused before any work, with the names that work.
    let out = lp(&dir, &["lock", "-o", "deps.lock"]);
    assert_eq!(out.status.code(), Some(2));
    let e = stderr(&out);
    assert!(e.contains("pylock.toml") && e.contains(".txt"), "{e}");
    assert!(!dir.join("deps.lock").exists());
}

/// Item 8: a loose build says which versions it chose and how to keep them; the artifact is named
/// after the project; a deprecated runtime is called deprecated, with AWS's date.
#[test]
fn loose_builds_show_versions_and_runtimes_say_when_they_were_deprecated() {
    let dir = user_project("fc-loose", "purelib\n");
    let out = lp(&dir, &["build"]);
    ok(&out);
    let text = stdout(&out);
    assert!(text.contains("purelib==2.0"), "{text}");
    assert!(text.contains("lpack lock"), "{text}");
    assert!(dir.join("dist/churn.zip").is_file());
    assert!(!dir.join("dist/requirements.zip").exists());
    // Pins without hashes are resolved too (their dependencies are chosen by the build).
    std::fs::write(dir.join("requirements.txt"), "purelib==1.0\n").expect("write");
    let out = lp(&dir, &["build"]);
    ok(&out);
    assert!(stdout(&out).contains("lpack lock"), "{}", stdout(&out));
    // A complete lock is taken as it is: nothing to say.
    ok(&lp(&dir, &["lock", "-o", "requirements.lock.txt"]));
    let out = lp(&dir, &["build", "-r", "requirements.lock.txt"]);
    ok(&out);
    assert!(!stdout(&out).contains("lpack lock"), "{}", stdout(&out));

    let out = lp(&dir, &["build", "--runtime", "python3.8"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("deprecated by AWS on 2024-10-14"),
        "{}",
        stderr(&out)
    );
    // The same from the config, at its place.
    let text = std::fs::read_to_string(dir.join("lpack.toml")).expect("read");
    std::fs::write(
        dir.join("lpack.toml"),
        text.replace("runtime = \"python3.11\"", "runtime = \"python3.7\""),
    )
    .expect("write");
    let out = lp(&dir, &["build"]);
    assert_eq!(out.status.code(), Some(2));
    let e = stderr(&out);
    assert!(e.contains("lpack.toml:"), "{e}");
    assert!(e.contains("deprecated by AWS on 2023-12-04"), "{e}");
}

/// Item 8: a user's `--drop` that removes a library another file needs is named as the cause,
/// with `--keep`, instead of "fix the pins".
#[test]
fn the_audit_blames_the_users_drop_rule() {
    let dir = user_project("fc-drop", "linked==1.0\npurelib==1.0\n");
    // Built outside the project: its `src = "."` would ship (and the audit count) them.
    let side = scratch("fc-drop-wheels");
    let work = side.join("work");
    std::fs::create_dir_all(&work).expect("mkdir");
    let wheels = side.join("wheels");
    std::fs::create_dir_all(&wheels).expect("mkdir");
    let lib = gcc_shared(&work, "libhelper", "int helper(void) { return 1; }\n", &[]);
    let user = gcc_shared(
        &work,
        "uses",
        "int helper(void);\nint use(void) { return helper(); }\n",
        &["-L", work.to_str().expect("utf-8"), "-lhelper"],
    );
    let arch = std::env::consts::ARCH;
    write_wheel(
        &wheels,
        "linked",
        "1.0",
        &format!("cp311-cp311-manylinux_2_17_{arch}"),
        &[
            F("linked/__init__.py", b""),
            F("linked/libhelper.so", &lib),
            F("linked/libuses.so", &user),
        ],
    );
    // The user's edit: a second wheel directory.
    let text = std::fs::read_to_string(dir.join("lpack.toml")).expect("read");
    let text = text.replace(
        &format!("find-links = [\"{}\"]", fixtures().flat.display()),
        &format!(
            "find-links = [\"{}\", \"{}\"]",
            fixtures().flat.display(),
            wheels.display()
        ),
    );
    std::fs::write(dir.join("lpack.toml"), text).expect("write");
    // Without the rule it builds.
    ok(&lp(&dir, &["build"]));
    let out = lp(&dir, &["build", "--drop", "linked/libhelper.so"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let e = stderr(&out);
    assert!(e.contains("A003"), "{e}");
    assert!(
        e.contains("your drop rule 'linked/libhelper.so' removed"),
        "{e}"
    );
    assert!(e.contains("--keep"), "{e}");
    assert!(e.contains("--force-drop"), "{e}");
    assert!(!e.contains("fix the pins"), "{e}");
}

/// Item 8: over Lambda's limit with the aggressive profile already on, the hint suggests what is
/// left (dropping parts of the biggest packages, an image), not `--profile aggressive` again.
#[test]
fn the_over_limit_hint_does_not_repeat_what_was_tried() {
    let dir = user_project("fc-limit", "bulkya==1.0\nbulkyb==1.0\npurelib==1.0\n");
    let wheels = scratch("fc-limit-wheels");
    std::fs::create_dir_all(&wheels).expect("mkdir");
    // 2 × 140 MB of zeros: small zipped, over the 262,144,000-byte limit unzipped together.
    let zeros = vec![0u8; 140_000_000];
    for name in ["bulkya", "bulkyb"] {
        write_wheel(
            &wheels,
            name,
            "1.0",
            "py3-none-any",
            &[
                F(&format!("{name}/__init__.py"), b""),
                F(&format!("{name}/data.bin"), &zeros),
            ],
        );
    }
    drop(zeros);
    let text = std::fs::read_to_string(dir.join("lpack.toml")).expect("read");
    let text = text.replace(
        &format!("find-links = [\"{}\"]", fixtures().flat.display()),
        &format!(
            "find-links = [\"{}\", \"{}\"]",
            fixtures().flat.display(),
            wheels.display()
        ),
    );
    std::fs::write(dir.join("lpack.toml"), text).expect("write");
    let out = lp(&dir, &["build", "--profile", "aggressive"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let e = stderr(&out);
    let hint = e
        .lines()
        .find(|l| l.trim_start().starts_with("hint:"))
        .unwrap_or_else(|| panic!("no hint: {e}"));
    assert!(!hint.contains("--profile aggressive"), "{hint}");
    assert!(hint.contains("already on"), "{hint}");
    assert!(hint.contains("bulkya") || hint.contains("bulkyb"), "{hint}");
    assert!(hint.contains("image"), "{hint}");
    let out = lp(&dir, &["build"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("--profile aggressive"));
}

/// Item 8: the size-report SVG of an artifact that fits draws the shipped total inside the limit
/// line; what slimming removed is a bar of its own.
#[test]
fn the_svg_total_of_a_fitting_artifact_is_inside_the_limit() {
    let dir = user_project("fc-svg", "bigdata==1.0\npurelib==1.0\n");
    ok(&lp(&dir, &["build"]));
    let svg = dir.join("report.svg");
    let out = lp(
        &dir,
        &[
            "size-report",
            "dist/churn.zip.lpack.json",
            "--svg",
            svg.to_str().expect("utf-8"),
        ],
    );
    ok(&out);
    let text = std::fs::read_to_string(&svg).expect("svg");
    assert!(text.contains("total shipped"), "{text}");
    assert!(text.contains("total removed"), "{text}");
}

/// Item 8: on an empty cache, every wheel this build fetched from the index counts as
/// downloaded, also those the resolver fetched first to read their metadata.
#[test]
fn an_empty_cache_downloads_everything() {
    let dir = user_project("fc-counts", "purelib\nnsa\n");
    let text = std::fs::read_to_string(dir.join("lpack.toml")).expect("read");
    let text = text.replace(
        &format!(
            "find-links = [\"{}\"]\nno-index = true\n",
            fixtures().flat.display()
        ),
        &format!("index-url = \"{}\"\n", index(IndexKind::Html)),
    );
    std::fs::write(dir.join("lpack.toml"), text).expect("write");
    let out = lp(&dir, &["build"]);
    ok(&out);
    let text = stdout(&out);
    assert!(
        text.contains("2 wheel(s) downloaded") && text.contains("0 from cache"),
        "{text}"
    );
    let out = lp(&dir, &["build", "-o", "dist/again.zip"]);
    ok(&out);
    let text = stdout(&out);
    assert!(
        text.contains("0 wheel(s) downloaded") && text.contains("2 from cache"),
        "{text}"
    );
}
