//! The GitHub Action's script (`scripts/action.sh`, what `action.yml` runs) with the
//! environment GitHub sets: it builds lpack from the action's checkout (this repository) with
//! cargo, runs the command in the working directory with GitHub's outputs on, and prunes the
//! cache it would save. No network to GitHub: the packages come from the tests' local index.

use std::path::Path;
use std::process::Command;

use crate::ci::Gh;
use crate::harness::*;

fn action(gh: &Gh, command: &str, args: &str) -> Command {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let runner = gh.dir.join("runner");
    std::fs::create_dir_all(&runner).expect("mkdir");
    std::fs::create_dir_all(gh.dir.join("gh")).expect("mkdir");
    let mut c = Command::new("bash");
    // The environment a runner has: none of the variables cargo sets for a running test.
    without_test_env(&mut c);
    c.arg(repo.join("scripts/action.sh"))
        .current_dir(&gh.dir)
        .env("GITHUB_ACTION_PATH", repo)
        .env("GITHUB_WORKSPACE", &gh.dir)
        .env("GITHUB_OUTPUT", &gh.output)
        .env("GITHUB_STEP_SUMMARY", &gh.summary)
        .env("GITHUB_PATH", gh.dir.join("gh/path"))
        .env("RUNNER_TEMP", &runner)
        .env("GITHUB_ACTIONS", "true")
        .env("INPUT_VERSION", "")
        .env("INPUT_CARGO_PROFILE", "dev")
        // The features this test binary was built with: the action's build is then cargo's
        // no-op, and target/debug/lpack (which the other tests run) stays the same binary.
        .env(
            "INPUT_CARGO_FEATURES",
            if cfg!(feature = "aws") { "aws" } else { "" },
        )
        .env("INPUT_COMMAND", command)
        .env("INPUT_ARGS", args)
        .env("INPUT_CONFIG", "")
        .env("INPUT_WORKING_DIRECTORY", "app")
        .env("INPUT_CACHE", "true")
        .env("LPACK_CACHE_DIR", runner.join("lpack-cache"))
        .env_remove("PIP_INDEX_URL")
        .env_remove("UV_INDEX_URL")
        .env_remove("SOURCE_DATE_EPOCH");
    c
}

#[test]
fn the_action_script_builds_lpack_from_its_checkout_and_reports_to_github() {
    let gh = Gh::new("action");
    let app = gh.dir.join("app");
    std::fs::create_dir_all(&app).expect("mkdir");
    std::fs::write(app.join("requirements.txt"), "purelib==2.0\n").expect("write");
    let args = format!(
        "-r requirements.txt --runtime python3.11 --index-url {}\n-o 'dist/my fn.zip' --no-verify --bytecode none --max-zipped 50MB",
        index(IndexKind::Html)
    );
    let out = run(&mut action(&gh, "build", &args));
    assert!(out.status.success(), "{}", stderr(&out));
    // Where cargo put the binary this test runs (target/debug, or target/TRIPLE/debug when the
    // build names a target, as scripts/test.sh does with CARGO_BUILD_TARGET).
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_lpack"))
        .parent()
        .expect("bin dir")
        .to_path_buf();
    // Quoted words stay one argument: the artifact has a space in its name.
    let artifact = app.join("dist/my fn.zip");
    let sha = lpack::digest::sha256_file(&artifact).expect("artifact");
    let outputs = gh.outputs();
    let lines: Vec<&str> = outputs.lines().take(5).collect();
    assert_eq!(
        lines,
        [
            format!("lpack={}/lpack", bin_dir.display()),
            "status=passed".to_string(),
            "artifact=dist/my fn.zip".to_string(),
            "manifest=dist/my fn.zip.lpack.json".to_string(),
            format!("sha256={sha}"),
        ]
    );
    assert_eq!(
        std::fs::read_to_string(gh.dir.join("gh/path")).expect("GITHUB_PATH"),
        format!("{}\n", bin_dir.display()),
        "lpack is on PATH for later steps"
    );
    assert!(
        gh.summary().starts_with("### lpack build: passed\n"),
        "{}",
        gh.summary()
    );
    // The cache the job would save: pruned (--ci keeps this job's use log), the wheel kept.
    let cache = gh.dir.join("runner/lpack-cache");
    assert!(gh.dir.join("runner/lpack-cache-pruned").exists());
    assert!(
        stderr(&out).contains("Removed 0 entries"),
        "{}",
        stderr(&out)
    );
    let logs: Vec<_> = std::fs::read_dir(cache.join("uses-v1"))
        .expect("uses")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("done-"))
        .collect();
    assert_eq!(logs.len(), 1, "the build's use log stays for the next --ci");
    assert_eq!(
        std::fs::read_dir(cache.join("wheels-v1"))
            .expect("wheels")
            .count(),
        1
    );

    // A second step of the same job: a size gate that fails, annotated, exit code passed on.
    let out = run(&mut action(
        &gh,
        "size-report",
        "'dist/my fn.zip' --max-unzipped 100",
    ));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(
            "::error file=app/requirements.txt,line=1,title=lpack gates%3A max-unzipped::unzipped size"
        ),
        "{}",
        stderr(&out)
    );
    assert!(
        gh.outputs().contains("\nstatus=failed\n"),
        "{}",
        gh.outputs()
    );

    // The config input: `lpack --config FILE build`, the settings from the file.
    std::fs::write(
        app.join("ci.toml"),
        format!(
            "requirements = \"requirements.txt\"\nruntime = \"python3.11\"\nindex-url = \"{}\"\nno-verify = true\nbytecode = \"none\"\n",
            index(IndexKind::Html)
        ),
    )
    .expect("config");
    let mut c = action(&gh, "build", "-o dist/cfg.zip");
    c.env("INPUT_CONFIG", "ci.toml");
    let out = run(&mut c);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(app.join("dist/cfg.zip").exists());
    assert!(
        gh.outputs().contains("\nartifact=dist/cfg.zip\n"),
        "{}",
        gh.outputs()
    );

    // Arguments that do not split are refused, not half-passed (and never run by a shell).
    let out = run(&mut action(&gh, "build", "-o 'dist/x.zip $(touch pwned)"));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stdout(&out).contains("::error title=lpack action::the args input does not split"),
        "{}",
        stdout(&out)
    );
    assert!(!app.join("pwned").exists() && !gh.dir.join("pwned").exists());
}
