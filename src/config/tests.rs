//! Unit tests of config reading: locations, types, deprecations, units, discovery.

use super::*;

fn p(src: &str) -> Result<ConfigFile, ConfigError> {
    parse(Path::new("lpack.toml"), Path::new("/repo"), src, false)
}

fn err(src: &str) -> String {
    match p(src) {
        Ok(_) => panic!("expected an error for {src:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn reads_settings_with_locations_and_relative_paths() {
    let c = p("runtime = \"python3.11\"\nsrc = \"app\"\noffline = true\nmax-unzipped = 262144000\nkeep = \"a/**\"\nfind-links = [\"wheels\", \"https://x/links\"]\nimage-out = \"oci-layout:out:v1\"\npython = \"python3.11\"\n").unwrap();
    assert_eq!(c.root["runtime"].value, Value::Str("python3.11".into()));
    assert_eq!(c.root["runtime"].origin.line, 1);
    assert_eq!(c.root["src"].value, Value::Str("/repo/app".into()));
    assert_eq!(c.root["src"].origin.to_string(), "lpack.toml:2:1");
    assert_eq!(c.root["offline"].value, Value::Bool(true));
    assert_eq!(c.root["max-unzipped"].value, Value::Str("262144000".into()));
    assert_eq!(c.root["keep"].value, Value::List(vec!["a/**".into()]));
    assert_eq!(
        c.root["find-links"].value,
        Value::List(vec!["/repo/wheels".into(), "https://x/links".into()])
    );
    assert_eq!(
        c.root["image-out"].value,
        Value::List(vec!["oci-layout:/repo/out:v1".into()])
    );
    assert_eq!(c.root["python"].value, Value::Str("python3.11".into()));
    assert!(!c.has_units());
    assert_eq!(
        c.root["keep"].value.to_args("keep"),
        vec!["--keep=a/**".to_string()]
    );
}

#[test]
fn unknown_keys_and_wrong_types_are_located() {
    let e = err("runtime = \"python3.12\"\nruntme = \"x\"\n");
    assert!(
        e.starts_with("lpack.toml:2:1: error[C004]: unknown key `runtme`"),
        "{e}"
    );
    assert!(e.contains("did you mean `runtime`?"), "{e}");
    let e = err("\n\noffline = \"yes\"\n");
    assert!(e.starts_with("lpack.toml:3:11: error[C005]"), "{e}");
    assert!(e.contains("true or false, not a string"), "{e}");
    let e = err("keep = [\"a\", 3]\n");
    assert!(e.starts_with("lpack.toml:1:14: error[C005]"), "{e}");
    let e = err("runtime = [\"python3.12\"]\n");
    assert!(e.contains("must be a string, not an array"), "{e}");
    let e = err("runtime = \"python3.12\n");
    assert!(e.starts_with("lpack.toml:1:"), "{e}");
    assert!(e.contains("error[C001]"), "{e}");
}

#[test]
fn credentials_in_index_urls_are_refused() {
    let e = err("index-url = \"https://me:secret@pypi.corp/simple\"\n");
    assert!(e.contains("error[C011]"), "{e}");
    assert!(!e.contains("secret"), "{e}");
    p("index-url = \"https://pypi.corp/simple\"\n").unwrap();
}

#[test]
fn deprecated_spellings_warn_with_the_replacement() {
    let c = p("max_unzipped = \"250MiB\"\nrecipes = [\"r.toml\"]\n").unwrap();
    assert!(c.root.contains_key("max-unzipped"));
    assert_eq!(
        c.root["recipe"].value,
        Value::List(vec!["/repo/r.toml".into()])
    );
    let w: Vec<String> = c.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(
        w[0].starts_with("lpack.toml:1:1: `max_unzipped` is deprecated"),
        "{w:?}"
    );
    assert!(w[0].ends_with("write `max-unzipped`"), "{w:?}");
    assert!(w[1].contains("write `recipe`"), "{w:?}");
    let e = err("recipe = \"a\"\nrecipes = \"b\"\n");
    assert!(e.contains("error[C010]"), "{e}");
}

#[test]
fn functions_and_layers() {
    let c = p("runtime = \"python3.12\"\n\n[layers.deps]\nrequirements = \"deps.txt\"\n\n[functions.report]\nsrc = \"report\"\nlayers = [\"deps\"]\n\n[functions.ingest]\nsrc = \"ingest\"\nformat = \"image\"\n").unwrap();
    assert!(c.has_units());
    let names: Vec<&str> = c.functions.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["ingest", "report"]);
    assert_eq!(c.functions[1].layers[0].0, "deps");
    assert_eq!(c.functions[1].layers[0].1.line, 8);
    assert_eq!(
        c.layers[0].settings["requirements"].value,
        Value::Str("/repo/deps.txt".into())
    );
    let e = err("[functions.a]\nlayers = [\"nope\"]\n");
    assert!(e.starts_with("lpack.toml:2:11: error[C007]"), "{e}");
    let e = err("output = \"x.zip\"\n[functions.a]\nsrc = \"a\"\n");
    assert!(e.starts_with("lpack.toml:1:1: error[C006]"), "{e}");
    let e = err("[layers.a]\nformat = \"zip\"\n");
    assert!(e.contains("error[C006]"), "{e}");
    // Every function key is refused in a layer's table, as a key of that table.
    let e = err("[layers.deps]\nrequirements = \"r.txt\"\nsrc = \"app\"\n");
    assert!(e.starts_with("lpack.toml:3:1: error[C006]"), "{e}");
    assert!(
        e.contains("key `src` does not apply to [layers.deps]"),
        "{e}"
    );
    assert!(!e.contains("--src"), "{e}");
    // At the top they are the functions' defaults, never the layers'.
    let c = p("src = \".\"\nhandler = \"app.handler\"\nformat = \"zip\"\nprofile = \"safe\"\n[layers.deps]\n[functions.api]\nlayers = [\"deps\"]\n").unwrap();
    let for_layers = c.root_for_layers();
    assert!(for_layers.contains_key("profile"));
    for k in ["src", "handler", "format"] {
        assert!(!for_layers.contains_key(k), "{k}");
        assert!(c.root.contains_key(k), "{k}");
    }
    let e = err("layers = [\"a\"]\n");
    assert!(e.contains("error[C003]"), "{e}");
    assert!(e.contains("[functions.NAME] layers"), "{e}");
    let e = err("[functions.a]\n[layers.a]\n");
    assert!(e.contains("error[C008]"), "{e}");
    let e = err("[functions.\"a b\"]\n");
    assert!(e.contains("error[C009]"), "{e}");
}

#[test]
fn pyproject_table() {
    let src = "[project]\nname = \"x\"\n\n[tool.lpack]\nruntime = \"python3.11\"\n";
    let c = parse(Path::new("pyproject.toml"), Path::new("/r"), src, true).unwrap();
    assert_eq!(c.kind, FileKind::Pyproject);
    assert_eq!(c.root["runtime"].origin.line, 5);
    assert!(pyproject_has_table(src));
    assert!(!pyproject_has_table(
        "[project]\nname = \"x\"\n[tool.ruff]\n"
    ));
    let e = parse(
        Path::new("pyproject.toml"),
        Path::new("/r"),
        "[tool.lpack]\nbogus = 1\n",
        true,
    )
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("pyproject.toml:2:1: error[C004]"), "{e}");
}

#[test]
fn discovery_walks_up_to_the_repository_root() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    let deep = repo.join("a/b");
    std::fs::create_dir_all(&deep).unwrap();
    std::fs::create_dir(repo.join(".git")).unwrap();
    // Above the repository root: never found.
    std::fs::write(tmp.path().join("lpack.toml"), "").unwrap();
    assert_eq!(discover(&deep).unwrap(), None);
    // A pyproject without [tool.lpack] is not a config.
    std::fs::write(repo.join("a/pyproject.toml"), "[project]\nname='x'\n").unwrap();
    assert_eq!(discover(&deep).unwrap(), None);
    std::fs::write(repo.join("pyproject.toml"), "[tool.lpack]\n").unwrap();
    assert_eq!(discover(&deep).unwrap(), Some(repo.join("pyproject.toml")));
    // lpack.toml beats pyproject.toml in the same directory; the nearest directory wins.
    std::fs::write(repo.join("lpack.toml"), "").unwrap();
    assert_eq!(discover(&deep).unwrap(), Some(repo.join("lpack.toml")));
    std::fs::write(repo.join("a/pyproject.toml"), "[tool.lpack]\n").unwrap();
    assert_eq!(
        discover(&deep).unwrap(),
        Some(repo.join("a/pyproject.toml"))
    );
}

#[test]
fn line_col_counts_characters() {
    assert_eq!(line_col("ab\ncé=x", 6), (2, 3));
    assert_eq!(line_col("", 10), (1, 1));
}
