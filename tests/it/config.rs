//! Config files (`lpack.toml`, `[tool.lpack]`), their precedence, `lpack config`, many functions
//! and layers in one run, and `lpack init`, all through the real binary.

use std::path::Path;

use crate::harness::*;

/// A project directory with a `.git` (so discovery stops there), requirements and handler code.
fn project(name: &str) -> std::path::PathBuf {
    let dir = scratch(name);
    std::fs::create_dir(dir.join(".git")).expect("mkdir .git");
    std::fs::write(dir.join("requirements.txt"), "purelib==1.0\n").expect("write");
    std::fs::create_dir_all(dir.join("app")).expect("mkdir");
    std::fs::write(
        dir.join("app/main.py"),
        "import purelib\n\ndef handler(event, context):\n    return purelib.VERSION\n",
    )
    .expect("write");
    std::fs::create_dir_all(dir.join("sub/deeper")).expect("mkdir");
    dir
}

/// Settings every test's config needs: the local wheels, no index, a private cache.
fn sources() -> String {
    format!(
        "find-links = [\"{}\"]\nno-index = true\ncache-dir = \"cache\"\nbytecode = \"none\"\nno-verify = true\n",
        fixtures().flat.display()
    )
}

fn manifest(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).expect("read manifest");
    serde_json::from_str(&text).expect("manifest JSON")
}

#[test]
fn a_build_configured_only_by_lpack_toml_from_a_subdirectory() {
    let dir = project("config-lpack-toml");
    std::fs::write(
        dir.join("lpack.toml"),
        format!(
            "# the project's settings\nruntime = \"python3.11\"\nsrc = \"app\"\noutput = \"out/fn.zip\"\n{}",
            sources()
        ),
    )
    .expect("write config");
    let out = run(lpack().arg("build").current_dir(dir.join("sub/deeper")));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let zip = dir.join("out/fn.zip");
    let names = zip_names(&zip);
    assert!(
        names.iter().any(|n| n == "purelib/__init__.py"),
        "{names:?}"
    );
    assert!(names.iter().any(|n| n == "main.py"), "{names:?}");
    let m = manifest(&dir.join("out/fn.zip.lpack.json"));
    assert_eq!(m["target"]["runtime"], "python3.11");
    // The paths were the config's, not the working directory's.
    assert!(!dir.join("sub/deeper/out").exists());
    assert!(dir.join("cache").is_dir());
}

#[test]
fn the_same_build_from_tool_lpack_in_pyproject() {
    let dir = project("config-pyproject");
    std::fs::write(
        dir.join("pyproject.toml"),
        format!(
            "[project]\nname = \"svc\"\nversion = \"1\"\ndependencies = [\"purelib==2.0\"]\n\n[tool.lpack]\nrequirements = \"requirements.txt\"\nruntime = \"python3.11\"\nsrc = \"app\"\noutput = \"out/fn.zip\"\n{}",
            sources()
        ),
    )
    .expect("write pyproject");
    let out = run(lpack().arg("build").current_dir(dir.join("sub")));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let m = manifest(&dir.join("out/fn.zip.lpack.json"));
    assert_eq!(m["target"]["runtime"], "python3.11");
    let pkgs = m["packages"].as_array().expect("packages");
    assert_eq!(
        pkgs[0]["version"], "1.0",
        "the requirements file, as configured"
    );
    // An lpack.toml beside it wins over [tool.lpack].
    std::fs::write(
        dir.join("lpack.toml"),
        format!(
            "runtime = \"python3.12\"\noutput = \"out/fn.zip\"\n{}",
            sources()
        ),
    )
    .expect("write config");
    let out = run(lpack().args(["config", "--json"]).current_dir(&dir));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let j: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert!(
        j["config"]
            .as_str()
            .expect("config path")
            .ends_with("lpack.toml"),
        "{j}"
    );
}

#[test]
fn flags_beat_environment_beats_file_and_lpack_config_says_so() {
    let dir = project("config-precedence");
    std::fs::write(
        dir.join("lpack.toml"),
        format!(
            "runtime = \"python3.11\"\nprofile = \"aggressive\"\nsrc = \"app\"\noutput = \"out/fn.zip\"\n{}",
            sources()
        ),
    )
    .expect("write config");
    // The file alone.
    let out = run(lpack().arg("config").current_dir(&dir));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let line = |key: &str| -> String {
        text.lines()
            .find(|l| l.split_whitespace().next() == Some(key))
            .unwrap_or_else(|| panic!("no {key} row in:\n{text}"))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert!(text.starts_with("config: lpack.toml\n"), "{text}");
    assert_eq!(line("runtime"), "runtime python3.11 lpack.toml:1:1");
    assert_eq!(line("src"), "src app lpack.toml:3:1");
    assert_eq!(line("format"), "format zip default");
    assert_eq!(line("arch"), "arch x86_64 default");
    // Environment over file, flag over both.
    let out = run(lpack()
        .args(["config", "--", "--profile", "safe"])
        .env("LPACK_RUNTIME", "python3.12")
        .env("LPACK_ARCH", "arm64")
        .current_dir(&dir));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let find = |key: &str| -> Vec<String> {
        text.lines()
            .find(|l| l.split_whitespace().next() == Some(key))
            .unwrap_or_else(|| panic!("no {key} row in:\n{text}"))
            .split_whitespace()
            .map(str::to_string)
            .collect()
    };
    assert_eq!(
        find("runtime"),
        ["runtime", "python3.12", "env", "LPACK_RUNTIME"]
    );
    assert_eq!(find("profile"), ["profile", "safe", "command", "line"]);
    // And the build does what `lpack config` said.
    let out = run(lpack()
        .args(["build", "--runtime", "python3.12"])
        .env("LPACK_RUNTIME", "python3.10")
        .current_dir(&dir));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let m = manifest(&dir.join("out/fn.zip.lpack.json"));
    assert_eq!(m["target"]["runtime"], "python3.12");
    assert_eq!(m["profile"], "aggressive");
    let out = run(lpack()
        .arg("build")
        .env("LPACK_RUNTIME", "python3.10")
        .current_dir(&dir));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        manifest(&dir.join("out/fn.zip.lpack.json"))["target"]["runtime"],
        "python3.10"
    );
    // --no-config ignores the file.
    let out = run(lpack()
        .args(["config", "--no-config", "--json"])
        .current_dir(&dir));
    let j: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert!(j["config"].is_null(), "{j}");
}

#[test]
fn config_errors_name_the_file_line_and_column() {
    let dir = project("config-errors");
    let cfg = dir.join("lpack.toml");
    std::fs::write(
        &cfg,
        "runtime = \"python3.11\"\n\nrecipes = []\nkeep = [\"a\", 7]\n",
    )
    .expect("write");
    let out = run(lpack().arg("build").current_dir(&dir));
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("error: lpack.toml:4:14: error[C005]"), "{err}");
    assert!(err.contains("hint: quote it"), "{err}");
    // A deprecated spelling is a warning with its replacement, at its place.
    std::fs::write(&cfg, "runtime = \"python3.11\"\n\nrecipes = []\n").expect("write");
    let out = run(lpack().arg("config").current_dir(&dir));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("warning: lpack.toml:3:1: `recipes` is deprecated"),
        "{err}"
    );
    assert!(err.contains("write `recipe`"), "{err}");
    std::fs::write(&cfg, "runtime = \"python3.11\"\nformat = \"wheel\"\n").expect("write");
    let out = run(lpack().arg("build").current_dir(&dir));
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("error: lpack.toml:2:1: error[C012]: invalid value for `format`"),
        "{err}"
    );
    std::fs::write(&cfg, "runtim = \"python3.11\"\n").expect("write");
    let out = run(lpack().arg("config").current_dir(&dir));
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("1:1: error[C004]: unknown key `runtim`"),
        "{err}"
    );
    assert!(err.contains("did you mean `runtime`?"), "{err}");
    let out = run(lpack()
        .args(["build", "--config", "missing.toml"])
        .current_dir(&dir));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("config file missing.toml not found"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn two_functions_and_a_layer_in_one_run_then_all_up_to_date() {
    let dir = project("config-units");
    std::fs::write(dir.join("deps.txt"), "purelib==1.0\n").expect("write");
    std::fs::create_dir_all(dir.join("report")).expect("mkdir");
    std::fs::write(
        dir.join("report/report.py"),
        "def handler(e, c):\n    return 2\n",
    )
    .expect("write");
    std::fs::write(
        dir.join("lpack.toml"),
        format!(
            "runtime = \"python3.11\"\n{}\n[layers.deps]\nrequirements = \"deps.txt\"\n\n[functions.ingest]\nsrc = \"app\"\nlayers = [\"deps\"]\n\n[functions.report]\nsrc = \"report\"\nrequirements = \"deps.txt\"\nruntime = \"python3.12\"\n",
            sources()
        ),
    )
    .expect("write config");
    let out = run(lpack().args(["build", "--json"]).current_dir(&dir));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let j: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(j["status"], "ok");
    let units = j["units"].as_array().expect("units");
    let names: Vec<&str> = units
        .iter()
        .map(|u| u["name"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(names, ["deps", "ingest", "report"]);
    for u in units {
        assert_eq!(u["status"], "built", "{u}");
    }
    // The layer's packages are not in the function that uses it; the function names the layer.
    let ingest = zip_names(&dir.join("dist/ingest.zip"));
    assert!(ingest.iter().any(|n| n == "main.py"), "{ingest:?}");
    assert!(
        !ingest.iter().any(|n| n.starts_with("purelib/")),
        "{ingest:?}"
    );
    let m = manifest(&dir.join("dist/ingest.zip.lpack.json"));
    assert_eq!(m["layers"][0]["file"], "deps.zip", "{}", m["layers"]);
    let deps = zip_names(&dir.join("dist/deps.zip"));
    assert!(
        deps.iter().any(|n| n.starts_with("python/purelib/")),
        "{deps:?}"
    );
    let report = manifest(&dir.join("dist/report.zip.lpack.json"));
    assert_eq!(report["target"]["runtime"], "python3.12");
    assert!(
        zip_names(&dir.join("dist/report.zip"))
            .iter()
            .any(|n| n == "purelib/__init__.py")
    );
    // One shared cache: the second run rebuilds nothing.
    let out = run(lpack().arg("build").current_dir(&dir));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let table: Vec<String> = stdout(&out)
        .lines()
        .skip_while(|l| !l.starts_with("NAME"))
        .map(str::to_string)
        .collect();
    assert_eq!(table.len(), 4, "{table:?}");
    for row in &table[1..] {
        assert!(row.ends_with("up to date"), "{table:?}");
    }
    // Naming one function builds it and the layer it uses, nothing else.
    let out = run(lpack()
        .args(["build", "ingest", "--json"])
        .current_dir(&dir));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let j: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    let names: Vec<&str> = j["units"]
        .as_array()
        .expect("units")
        .iter()
        .map(|u| u["name"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(names, ["deps", "ingest"]);
    // -o cannot name three artifacts; an unknown name is an error listing the known ones.
    let out = run(lpack().args(["build", "-o", "x.zip"]).current_dir(&dir));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--output names one artifact"),
        "{}",
        stderr(&out)
    );
    let out = run(lpack().args(["build", "nope"]).current_dir(&dir));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("it declares: ingest, report, deps"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn init_then_build_with_no_flags() {
    let dir = project("config-init");
    std::fs::write(
        dir.join("pyproject.toml"),
        "[project]\nname = \"svc\"\nversion = \"1\"\nrequires-python = \">=3.10,<3.12\"\n",
    )
    .expect("write");
    let out = run(lpack().arg("init").current_dir(&dir));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("handler   main.handler"), "{text}");
    assert!(text.contains("python3.11"), "{text}");
    let cfg = std::fs::read_to_string(dir.join("lpack.toml")).expect("lpack.toml");
    assert!(cfg.contains("requirements = \"requirements.txt\""), "{cfg}");
    assert!(cfg.contains("src = \"app\""), "{cfg}");
    // Never overwritten without --force.
    let out = run(lpack().arg("init").current_dir(&dir));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(dir.join("lpack.toml")).expect("read"),
        cfg
    );
    // A CI job's environment carries the index settings; the command has no flags.
    let out = run(lpack()
        .arg("build")
        .env("LPACK_FIND_LINKS", &fixtures().flat)
        .env("LPACK_NO_INDEX", "1")
        .env("LPACK_CACHE_DIR", dir.join("cache"))
        .env("LPACK_NO_VERIFY", "true")
        .current_dir(&dir));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // Named after the project (the pyproject's [project].name), not the requirements file.
    let m = manifest(&dir.join("dist/svc.zip.lpack.json"));
    assert_eq!(m["target"]["runtime"], "python3.11");
    let names = zip_names(&dir.join("dist/svc.zip"));
    assert!(names.iter().any(|n| n == "main.py"), "{names:?}");
}
