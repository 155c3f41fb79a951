//! Verify after `lpack build`, through the real binary: the handler imported from the artifact
//! as Lambda's runtime imports it (zips, images, the `handler` key of lpack.toml), failures in
//! Lambda's own words with the file and line; and top-level modules that fail from the
//! unmodified wheels too (an optional dependency missing) reported as pre-existing warnings
//! while a slimming that breaks an import still fails.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::harness::*;

/// Wheels of this test: `hdep` (a plain dependency) and `optmod`, whose second top-level module
/// needs a distribution only its extras install (like duckdb's `adbc_driver_duckdb`).
fn wheels(dir: &Path) -> PathBuf {
    let w = dir.join("wheels");
    std::fs::create_dir_all(&w).expect("mkdir");
    write_wheel(
        &w,
        "hdep",
        "1.0",
        "py3-none-any",
        &[F("hdep/__init__.py", b"VALUE = 7\n")],
    );
    write_wheel_requiring(
        &w,
        "optmod",
        "1.0",
        "py3-none-any",
        &[
            F(
                "optmod/__init__.py",
                b"from . import _impl\nVALUE = _impl.X\n",
            ),
            F("optmod/_impl.py", b"X = 1\n"),
            F(
                "optmod_adbc/__init__.py",
                b"import notinstalled_manager\nDRIVER = notinstalled_manager.DRIVER\n",
            ),
        ],
        &[
            "notinstalled-manager; extra == \"all\"",
            "notinstalled-manager; extra == \"adbc\"",
        ],
    );
    w
}

/// A project: `requirements.txt`, `app/app.py` holding `handler_code`.
fn project(name: &str, requirements: &str, handler_code: &str) -> PathBuf {
    let dir = scratch(name);
    std::fs::write(dir.join("requirements.txt"), requirements).expect("req");
    std::fs::create_dir_all(dir.join("app")).expect("mkdir");
    std::fs::write(dir.join("app/app.py"), handler_code).expect("app");
    wheels(&dir);
    dir
}

fn build(dir: &Path, extra: &[&str]) -> Output {
    run(lpack()
        .current_dir(dir)
        .args(["build", "-r", "requirements.txt", "--runtime", "python3.11"])
        .args(["--no-index", "--find-links", "wheels", "--bytecode", "none"])
        .arg("--cache-dir")
        .arg(dir.join("cache"))
        .args(["-o", "out/fn.zip"])
        .args(extra))
}

fn manifest(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("out/fn.zip.lpack.json")).expect("manifest"))
        .expect("json")
}

fn have_python311() -> bool {
    let ok = python(11).is_some();
    if !ok {
        eprintln!("skipped: python3.11 is needed to verify (see .ci/run)");
    }
    ok
}

#[test]
fn a_good_handler_passes_and_the_manifest_says_so() {
    if !have_python311() {
        return;
    }
    let dir = project(
        "vh-good",
        "hdep==1.0\n",
        "import hdep\n\ndef handler(event, context):\n    return hdep.VALUE\n",
    );
    let o = build(&dir, &["--src", "app", "--handler", "app.handler"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("; handler app.handler loads"),
        "{}",
        stdout(&o)
    );
    let m = manifest(&dir);
    assert_eq!(m["handler"], "app.handler");
    assert_eq!(m["verify"]["handler"]["status"], "ok", "{}", m["verify"]);

    // --json carries the handler check.
    let o = build(
        &dir,
        &["--src", "app", "--handler", "app.handler", "--json"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
    assert_eq!(j["handler"]["status"], "ok", "{j}");
    assert_eq!(j["handler"]["handler"], "app.handler", "{j}");

    // `lpack verify` reads the handler from the manifest.
    let o = run(lpack()
        .current_dir(&dir)
        .args([
            "verify",
            "out/fn.zip",
            "--no-index",
            "--find-links",
            "wheels",
        ])
        .arg("--cache-dir")
        .arg(dir.join("cache")));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("Handler app.handler loads"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn a_syntax_error_in_the_handler_fails_the_build_with_file_and_line() {
    if !have_python311() {
        return;
    }
    let dir = project(
        "vh-syntax",
        "hdep==1.0\n",
        "import hdep\n\ndef handler(event, context)\n    return 1\n",
    );
    let o = build(&dir, &["--src", "app", "--handler", "app.handler"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("[ERROR] Runtime.UserCodeSyntaxError: Syntax error in module 'app':"),
        "{err}"
    );
    assert!(
        err.contains("app/app.py:3 (/var/task/app.py in Lambda): def handler(event, context)"),
        "{err}"
    );
    assert!(stdout(&o).contains("verify failed: the handler app.handler would fail Lambda's init (Runtime.UserCodeSyntaxError)"), "{}", stdout(&o));
    // The artifact is kept; the manifest records why it fails.
    assert!(dir.join("out/fn.zip").is_file());
    let h = &manifest(&dir)["verify"]["handler"];
    assert_eq!(h["status"], "error");
    assert_eq!(h["error_type"], "Runtime.UserCodeSyntaxError");
    assert_eq!(h["file"], "/var/task/app.py");
    assert_eq!(h["line"], 3);

    // Failures are never cached: the fixed handler passes at once.
    std::fs::write(
        dir.join("app/app.py"),
        "import hdep\n\ndef handler(event, context):\n    return 1\n",
    )
    .expect("fix");
    let o = build(&dir, &["--src", "app", "--handler", "app.handler"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn a_missing_import_inside_the_handler_fails_the_build() {
    if !have_python311() {
        return;
    }
    let dir = project(
        "vh-import",
        "hdep==1.0\n",
        "import hdep\nimport requests_not_there\n\ndef handler(event, context):\n    return 1\n",
    );
    let o = build(
        &dir,
        &["--src", "app", "--handler", "app.handler", "--json"],
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("[ERROR] Runtime.ImportModuleError: Unable to import module 'app': No module named 'requests_not_there'"),
        "{err}"
    );
    assert!(err.contains("app/app.py:2"), "{err}");
    assert!(
        err.contains("`requests_not_there` is not in the artifact"),
        "{err}"
    );
    let j: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
    assert_eq!(
        j["handler"]["error_type"], "Runtime.ImportModuleError",
        "{j}"
    );
    assert_eq!(j["handler"]["line"], 2, "{j}");
    assert!(
        j["verify"]
            .as_str()
            .unwrap_or("")
            .starts_with("verify failed")
    );
}

#[test]
fn a_missing_function_a_missing_module_and_a_non_callable_fail_the_build() {
    if !have_python311() {
        return;
    }
    let dir = project(
        "vh-missing",
        "hdep==1.0\n",
        "def lambda_handler(event, context):\n    return 1\n\nNOT_A_FUNCTION = 3\n",
    );
    let o = build(&dir, &["--src", "app", "--handler", "app.handler"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("[ERROR] Runtime.HandlerNotFound: Handler 'handler' missing on module 'app'"),
        "{err}"
    );

    let o = build(&dir, &["--src", "app", "--handler", "main.handler"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains(
            "Runtime.ImportModuleError: Unable to import module 'main': No module named 'main'"
        ),
        "{err}"
    );
    assert!(err.contains("--src"), "{err}");

    let o = build(&dir, &["--src", "app", "--handler", "app.NOT_A_FUNCTION"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("TypeError: 'int' object is not callable"),
        "{err}"
    );

    let o = build(&dir, &["--src", "app", "--handler", "app.lambda_handler"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn the_handler_key_of_lpack_toml_applies_to_zip_builds() {
    if !have_python311() {
        return;
    }
    let dir = project(
        "vh-config",
        "hdep==1.0\n",
        "import hdep\n\ndef handler(event, context):\n    return hdep.VALUE\n",
    );
    std::fs::write(
        dir.join("lpack.toml"),
        "requirements = \"requirements.txt\"\nsrc = \"app\"\nhandler = \"app.hander\"\n",
    )
    .expect("config");
    let o = build(&dir, &[]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("Runtime.HandlerNotFound: Handler 'hander' missing on module 'app'"),
        "{err}"
    );
    std::fs::write(
        dir.join("lpack.toml"),
        "requirements = \"requirements.txt\"\nsrc = \"app\"\nhandler = \"app.handler\"\n",
    )
    .expect("config");
    let o = build(&dir, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(manifest(&dir)["handler"], "app.handler");
}

#[test]
fn module_code_runs_sandboxed_and_environment_failures_are_warnings() {
    if !have_python311() {
        return;
    }
    // The host's credentials are not visible to module code; Lambda's variables are; what the
    // module prints does not reach lpack's output.
    let dir = project(
        "vh-sandbox",
        "hdep==1.0\n",
        r#"import os, sys
print("noise from the handler module")
sys.stderr.write("more noise\n")
assert "AWS_SECRET_ACCESS_KEY" not in os.environ, "credentials leaked"
assert os.environ["AWS_REGION"], "no region"
assert os.path.samefile(os.getcwd(), os.environ["LAMBDA_TASK_ROOT"]), "not run from the task root"

def handler(event, context):
    return 1
"#,
    );
    let o = run(lpack()
        .env("AWS_SECRET_ACCESS_KEY", "host-secret")
        .current_dir(&dir)
        .args(["build", "-r", "requirements.txt", "--runtime", "python3.11"])
        .args(["--no-index", "--find-links", "wheels", "--bytecode", "none"])
        .arg("--cache-dir")
        .arg(dir.join("cache"))
        .args([
            "-o",
            "out/fn.zip",
            "--src",
            "app",
            "--handler",
            "app.handler",
        ])
        .arg("--json"));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("only JSON on stdout");
    assert_eq!(j["handler"]["status"], "ok", "{j}");
    assert!(!stdout(&o).contains("noise"));

    // Module code that needs what only the function's environment holds: a warning, exit 0.
    std::fs::write(
        dir.join("app/app.py"),
        "import os\nTABLE = os.environ['ORDERS_TABLE']\n\ndef handler(event, context):\n    return TABLE\n",
    )
    .expect("app");
    let o = build(&dir, &["--src", "app", "--handler", "app.handler"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(
        err.contains(
            "warning: handler app.handler: [ERROR] KeyError: 'ORDERS_TABLE' at app/app.py:2"
        ),
        "{err}"
    );
    assert_eq!(manifest(&dir)["verify"]["handler"]["status"], "warning");

    // A handler importing boto3 (the runtime provides it) is not an error even when the
    // runtime's packages cannot be fetched here (no index): a warning that says why.
    std::fs::write(
        dir.join("app/app.py"),
        "import boto3\n\ndef handler(event, context):\n    return 1\n",
    )
    .expect("app");
    let o = build(&dir, &["--src", "app", "--handler", "app.handler"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(
        err.contains("`boto3` is provided by the Lambda runtime"),
        "{err}"
    );
}

#[test]
fn an_image_with_a_bad_handler_fails_and_a_good_one_passes() {
    if !have_python311() || std::env::consts::ARCH != "x86_64" {
        return;
    }
    let dir = project(
        "vh-image",
        "hdep==1.0\n",
        "import hdep\n\ndef handler(event, context):\n    return hdep.VALUE\n",
    );
    base_image(&dir.join("base"), "base", "amd64");
    let image = |handler: &str| {
        build(
            &dir,
            &[
                "--format",
                "image",
                "--src",
                "app",
                "--handler",
                handler,
                "--base",
                "oci-layout:base:base",
                "--image-out",
                "oci-layout:img:v1",
            ],
        )
    };
    let o = image("app.handler");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("verified: the handler app.handler loads from the image's app layers"),
        "{}",
        stdout(&o)
    );
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("img.lpack.json")).expect("manifest"))
            .expect("json");
    assert_eq!(m["verify"]["handler"]["status"], "ok");

    let o = image("app.handle");
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("[ERROR] Runtime.HandlerNotFound: Handler 'handle' missing on module 'app'"),
        "{err}"
    );

    std::fs::write(
        dir.join("app/app.py"),
        "import hdep\nfrom hdep import MISSING\n\ndef handler(event, context):\n    return 1\n",
    )
    .expect("app");
    let o = image("app.handler");
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("Runtime.ImportModuleError: Unable to import module 'app': cannot import name 'MISSING' from 'hdep'"),
        "{err}"
    );
}

#[test]
fn a_module_failing_from_the_wheels_too_is_a_warning_and_a_real_regression_still_fails() {
    if !have_python311() {
        return;
    }
    let dir = project(
        "vh-pre-existing",
        "optmod==1.0\n",
        "import optmod\n\ndef handler(event, context):\n    return optmod.VALUE\n",
    );
    let want = "optmod_adbc (from optmod 1.0) cannot import even from the unmodified wheels: No module named 'notinstalled_manager' — `notinstalled_manager` is an optional dependency (optmod[adbc] installs notinstalled-manager); not lpack's doing";
    for profile in ["none", "safe", "aggressive"] {
        let o = build(
            &dir,
            &[
                "--src",
                "app",
                "--handler",
                "app.handler",
                "--profile",
                profile,
            ],
        );
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(0), "{profile}: {err}");
        assert!(
            err.contains(&format!("warning: {want}")),
            "{profile}: {err}"
        );
        assert!(
            stdout(&o).contains("verified: 1 of 2 top-level modules import"),
            "{profile}: {}",
            stdout(&o)
        );
        let m = manifest(&dir);
        assert_eq!(m["verify"]["pre_existing"][0]["module"], "optmod_adbc");
        assert!(
            m["warnings"]
                .as_array()
                .expect("warnings")
                .iter()
                .any(|w| w == want),
            "{profile}: {}",
            m["warnings"]
        );
    }
    // Built again, unchanged: verified from the cache, the warning still shown.
    let o = build(&dir, &["--src", "app", "--handler", "app.handler"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains(want), "{}", stderr(&o));

    // `lpack verify` says the same, exit 0.
    let o = run(lpack()
        .current_dir(&dir)
        .args([
            "verify",
            "out/fn.zip",
            "--no-index",
            "--find-links",
            "wheels",
        ])
        .arg("--cache-dir")
        .arg(dir.join("cache")));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains(want), "{}", stderr(&o));

    // A slimming that breaks an import (a forced drop) still fails, next to the warning.
    let o = build(
        &dir,
        &[
            "--src",
            "app",
            "--handler",
            "app.handler",
            "--force-drop",
            "optmod/_impl.py",
        ],
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("verify: `import optmod` (optmod) failed"),
        "{err}"
    );
    assert!(
        err.contains("caused by: optmod/_impl.py (optmod) dropped by cli.force-drop-1"),
        "{err}"
    );
    assert!(err.contains(want), "{err}");
    // The handler imports optmod too: Lambda's init would fail, and it says which rule.
    assert!(err.contains("Runtime.ImportModuleError"), "{err}");
    assert!(
        stdout(&o).contains("verify failed: 1 import(s) fail from the artifact"),
        "{}",
        stdout(&o)
    );
}
