//! `--format image`: OCI layout and docker-archive outputs on a base image the test creates,
//! read back by skopeo and umoci, imported with python3.11 from the unpacked /var/task.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::*;

fn tools() -> bool {
    let ok = have("skopeo") && have("umoci");
    if !ok {
        eprintln!(
            "skipped: skopeo and umoci are needed (apt-get install skopeo umoci; .ci/run does)"
        );
    }
    ok
}

fn build_image(dir: &Path, extra: &[&str]) -> std::process::Output {
    run(lpack()
        .current_dir(dir)
        .args([
            "build",
            "-r",
            "req.txt",
            "--runtime",
            "python3.11",
            "--format",
            "image",
        ])
        .args(["--index-url", index(IndexKind::Html), "--bytecode", "none"])
        .arg("--cache-dir")
        .arg(dir.join("cache"))
        .args(extra))
}

fn image_record(manifest: &Path) -> serde_json::Value {
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(manifest).expect("manifest")).expect("json");
    m["image"].clone()
}

fn setup(name: &str) -> PathBuf {
    let dir = scratch(name);
    base_image(&dir.join("base"), "base", "amd64");
    std::fs::write(
        dir.join("req.txt"),
        "fastmath==1.0\npurelib==2.0\nbigdata==1.0\nnsa==1.0\nnsb==1.0\n",
    )
    .expect("req");
    std::fs::create_dir_all(dir.join("app")).expect("mkdir");
    std::fs::write(
        dir.join("app/app.py"),
        "import fastmath, purelib\ndef handler(e, c):\n    return fastmath.add(2, 2)\n",
    )
    .expect("app");
    dir
}

#[test]
fn image_to_oci_layout_and_docker_archive() {
    if !tools() || std::env::consts::ARCH != "x86_64" {
        return;
    }
    let dir = setup("image-basic");
    let out = build_image(
        &dir,
        &[
            "--src",
            "app",
            "--handler",
            "app.handler",
            "--base",
            "oci-layout:base:base",
            "--heavy-threshold",
            "1MB",
            "--image-out",
            "oci-layout:img:v1",
            "--image-out",
            "docker-archive:img.tar:acme/fn:v1",
        ],
    );
    assert!(out.status.success());
    let rec = image_record(&dir.join("img.lpack.json"));
    let layers = rec["layers"].as_array().expect("layers");
    // bigdata is heavy (>= 1 MB): its own layer; then the rest; the handler last.
    let descs: Vec<&str> = layers
        .iter()
        .filter_map(|l| l["description"].as_str())
        .collect();
    assert_eq!(
        descs,
        vec!["bigdata 1.0", "4 other dependencies", "handler code"]
    );

    // skopeo reads both outputs; the OCI digest is the one lpack reports.
    let inspect = Command::new("skopeo")
        .args(["inspect", "oci:img:v1"])
        .current_dir(&dir)
        .output()
        .expect("skopeo");
    assert!(
        inspect.status.success(),
        "{}",
        String::from_utf8_lossy(&inspect.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&inspect.stdout).expect("json");
    assert_eq!(v["Digest"], rec["manifest_digest"]);
    assert_eq!(v["Architecture"], "amd64");
    assert_eq!(v["Layers"].as_array().map(Vec::len), Some(4));
    let cfg = Command::new("skopeo")
        .args(["inspect", "--config", "oci:img:v1"])
        .current_dir(&dir)
        .output()
        .expect("skopeo");
    let c: serde_json::Value = serde_json::from_slice(&cfg.stdout).expect("json");
    assert_eq!(c["config"]["Cmd"], serde_json::json!(["app.handler"]));
    assert_eq!(
        c["config"]["Entrypoint"],
        serde_json::json!(["/lambda-entrypoint.sh"])
    );
    assert_eq!(c["config"]["WorkingDir"], "/var/task");
    assert_eq!(
        c["history"].as_array().map(Vec::len),
        Some(4),
        "one history entry per layer"
    );
    let da = Command::new("skopeo")
        .args(["inspect", "docker-archive:img.tar"])
        .current_dir(&dir)
        .output()
        .expect("skopeo");
    assert!(
        da.status.success(),
        "{}",
        String::from_utf8_lossy(&da.stderr)
    );
    let copy = Command::new("skopeo")
        .args(["copy", "docker-archive:img.tar", "oci:copied:v1"])
        .current_dir(&dir)
        .output()
        .expect("skopeo copy");
    assert!(
        copy.status.success(),
        "{}",
        String::from_utf8_lossy(&copy.stderr)
    );

    // umoci unpacks a rootfs whose /var/task imports with python3.11.
    let bundle = dir.join("bundle");
    let un = Command::new("umoci")
        .args(["raw", "unpack", "--rootless", "--image", "img:v1"])
        .arg(&bundle)
        .current_dir(&dir)
        .output()
        .expect("umoci");
    assert!(
        un.status.success(),
        "{}",
        String::from_utf8_lossy(&un.stderr)
    );
    assert!(
        bundle.join("lambda-entrypoint.sh").is_file(),
        "base layer present"
    );
    let task = bundle.join("var/task");
    assert!(task.join("app.py").is_file() && task.join("fastmath/__init__.py").is_file());
    let py = python(11).expect("python3.11");
    let o = Command::new(py)
        .args(["-S", "-c"])
        .arg(format!(
            "import sys; sys.path.insert(0, {:?})\nimport app, nspkg.a, bigdata\nassert app.handler(None, None) == 4",
            task.to_string_lossy()
        ))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("python");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn rebuilds_are_identical_and_a_code_change_touches_only_the_last_layer() {
    if !tools() || std::env::consts::ARCH != "x86_64" {
        return;
    }
    let dir = setup("image-repro");
    let args = [
        "--src",
        "app",
        "--handler",
        "app.handler",
        "--base",
        "oci-layout:base:base",
        "--heavy-threshold",
        "1MB",
        "--image-out",
        "oci-layout:img:v1",
    ];
    assert!(build_image(&dir, &args).status.success());
    let first = image_record(&dir.join("img.lpack.json"));
    // Another cache and output directory: the same digests.
    let other = dir.join("other");
    std::fs::create_dir_all(&other).expect("mkdir");
    let o = run(lpack()
        .current_dir(&dir)
        .args([
            "build",
            "-r",
            "req.txt",
            "--runtime",
            "python3.11",
            "--format",
            "image",
        ])
        .args(["--index-url", index(IndexKind::Html), "--bytecode", "none"])
        .arg("--cache-dir")
        .arg(other.join("cache"))
        .args([
            "--src",
            "app",
            "--handler",
            "app.handler",
            "--base",
            "oci-layout:base:base",
            "--heavy-threshold",
            "1MB",
            "--image-out",
            "oci-layout:other/img:v1",
        ]));
    assert!(o.status.success());
    let again = image_record(&other.join("img.lpack.json"));
    assert_eq!(first["manifest_digest"], again["manifest_digest"]);

    std::fs::write(
        dir.join("app/app.py"),
        "import fastmath\ndef handler(e, c):\n    return 5\n",
    )
    .expect("edit");
    assert!(build_image(&dir, &args).status.success());
    let changed = image_record(&dir.join("img.lpack.json"));
    let digests = |r: &serde_json::Value| -> Vec<String> {
        r["layers"]
            .as_array()
            .expect("layers")
            .iter()
            .map(|l| l["digest"].as_str().unwrap_or("").to_string())
            .collect()
    };
    let (a, b) = (digests(&first), digests(&changed));
    assert_eq!(a.len(), b.len());
    assert_eq!(
        a[..a.len() - 1],
        b[..b.len() - 1],
        "dependency layers unchanged"
    );
    assert_ne!(a.last(), b.last(), "the handler layer changed");
    assert_ne!(first["manifest_digest"], changed["manifest_digest"]);
}

#[test]
fn image_bad_inputs() {
    let dir = setup("image-bad");
    base_image(&dir.join("armbase"), "base", "arm64");
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "--src",
                "app",
                "--base",
                "oci-layout:base:base",
                "--image-out",
                "oci-layout:x",
            ],
            "needs --handler",
        ),
        (
            &[
                "--src",
                "app",
                "--handler",
                "missing.handler",
                "--base",
                "oci-layout:base:base",
                "--image-out",
                "oci-layout:x",
            ],
            "handler module `missing` is not in the image",
        ),
        (
            &[
                "--src",
                "app",
                "--handler",
                "app.handler",
                "--base",
                "oci-layout:nowhere:base",
                "--image-out",
                "oci-layout:x",
            ],
            "no index.json",
        ),
        (
            &[
                "--src",
                "app",
                "--handler",
                "app.handler",
                "--base",
                "oci-layout:base:nosuchtag",
                "--image-out",
                "oci-layout:x",
            ],
            "no image tagged `nosuchtag`",
        ),
        (
            &[
                "--src",
                "app",
                "--handler",
                "app.handler",
                "--base",
                "oci-layout:armbase:base",
                "--image-out",
                "oci-layout:x",
            ],
            "is built for arm64",
        ),
        (
            &[
                "--src",
                "app",
                "--handler",
                "app.handler",
                "--base",
                "oci-layout:base:base",
            ],
            "needs --image-out",
        ),
        (
            &[
                "--src",
                "app",
                "--handler",
                "app.handler",
                "--base",
                "oci-layout:base:base",
                "--image-out",
                "registry:x",
            ],
            "expected oci-layout:DIR",
        ),
    ];
    for (args, needle) in cases {
        let out = build_image(&dir, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(stderr(&out).contains(needle), "{args:?}: {}", stderr(&out));
        assert!(!dir.join("x").exists(), "nothing written for {args:?}");
    }
}

/// `skopeo inspect oci:DIR:TAG` → the manifest digest.
fn skopeo_digest(dir: &Path, layout_tag: &str) -> String {
    let o = Command::new("skopeo")
        .args(["inspect", &format!("oci:{layout_tag}")])
        .current_dir(dir)
        .output()
        .expect("skopeo");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    v["Digest"].as_str().expect("digest").to_string()
}

fn blob_names(layout: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(layout.join("blobs/sha256"))
        .expect("blobs")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// One OCI layout holds many tags: a build adds or replaces its own tag and leaves the rest
/// (and anything it did not write) alone; `--gc` removes only blobs no tag references.
#[test]
fn oci_layout_holds_many_tags_and_refuses_foreign_folders() {
    if !tools() || std::env::consts::ARCH != "x86_64" {
        return;
    }
    let dir = setup("image-tags");
    let image = |out: &str, extra: &[&str]| {
        let mut args = vec![
            "--src",
            "app",
            "--handler",
            "app.handler",
            "--base",
            "oci-layout:base:base",
            "--image-out",
            out,
        ];
        args.extend_from_slice(extra);
        build_image(&dir, &args)
    };
    assert!(image("oci-layout:img:v1", &[]).status.success());
    let v1 = image_record(&dir.join("img.lpack.json"))["manifest_digest"]
        .as_str()
        .expect("digest")
        .to_string();
    // A file of the user's inside the layout is never touched.
    std::fs::write(dir.join("img/blobs/sha256/README"), "mine").expect("write");
    std::fs::write(
        dir.join("app/app.py"),
        "import fastmath\ndef handler(e, c):\n    return 2\n",
    )
    .expect("edit");
    assert!(image("oci-layout:img:v2", &[]).status.success());
    let v2 = image_record(&dir.join("img.lpack.json"))["manifest_digest"]
        .as_str()
        .expect("digest")
        .to_string();
    assert_ne!(v1, v2);
    // Both tags readable, by skopeo and umoci.
    assert_eq!(skopeo_digest(&dir, "img:v1"), v1);
    assert_eq!(skopeo_digest(&dir, "img:v2"), v2);
    for tag in ["v1", "v2"] {
        let o = Command::new("umoci")
            .args([
                "raw",
                "unpack",
                "--rootless",
                "--image",
                &format!("img:{tag}"),
            ])
            .arg(dir.join(format!("bundle-{tag}")))
            .current_dir(&dir)
            .output()
            .expect("umoci");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let served = |tag: &str| {
        std::fs::read_to_string(dir.join(format!("bundle-{tag}/var/task/app.py"))).expect("app")
    };
    assert!(served("v1").contains("return fastmath.add(2, 2)"));
    assert!(served("v2").contains("return 2"));

    // Every file 0644 (layer blobs were 0600).
    use std::os::unix::fs::PermissionsExt;
    for e in walkdir(&dir.join("img")) {
        if e.is_file() && !e.ends_with("README") {
            let mode = std::fs::metadata(&e).expect("stat").permissions().mode() & 0o777;
            assert_eq!(mode, 0o644, "{}", e.display());
        }
    }

    // Rebuilding v1 from changed code replaces the tag; the old v1 blobs stay without --gc.
    let before = blob_names(&dir.join("img"));
    std::fs::write(
        dir.join("app/app.py"),
        "import fastmath\ndef handler(e, c):\n    return 3\n",
    )
    .expect("edit");
    let out = image("oci-layout:img:v1", &[]);
    assert!(out.status.success());
    assert!(
        stdout(&out).contains(&format!("tag moved from {v1}")),
        "{}",
        stdout(&out)
    );
    let v1b = skopeo_digest(&dir, "img:v1");
    assert_ne!(v1b, v1);
    assert_eq!(skopeo_digest(&dir, "img:v2"), v2);
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("img/index.json")).expect("index"))
            .expect("json");
    assert_eq!(index["manifests"].as_array().map(Vec::len), Some(2));
    let after = blob_names(&dir.join("img"));
    assert!(
        before.iter().all(|b| after.contains(b)),
        "nothing removed without --gc"
    );
    let old_manifest = v1.trim_start_matches("sha256:").to_string();
    assert!(after.contains(&old_manifest));

    // --gc: the old v1 manifest, config and handler layer go; everything v1 and v2 use stays.
    let out = image("oci-layout:img:v1", &["--gc"]);
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(
        text.contains("--gc removed 3 unreferenced blob(s)"),
        "{text}"
    );
    assert!(text.contains(&v1), "names what it removed: {text}");
    let gced = blob_names(&dir.join("img"));
    assert!(!gced.contains(&old_manifest));
    assert!(gced.contains(&"README".to_string()), "not lpack's: kept");
    assert_eq!(skopeo_digest(&dir, "img:v1"), v1b);
    assert_eq!(skopeo_digest(&dir, "img:v2"), v2);
    for tag in ["v1", "v2"] {
        let o = Command::new("umoci")
            .args([
                "raw",
                "unpack",
                "--rootless",
                "--image",
                &format!("img:{tag}"),
            ])
            .arg(dir.join(format!("gc-bundle-{tag}")))
            .current_dir(&dir)
            .output()
            .expect("umoci");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }

    // Under a strict umask too: files 0644, the folders lpack created 0755.
    let o = Command::new("sh")
        .arg("-c")
        .arg("umask 077 && exec \"$@\"")
        .arg("sh")
        .arg(env!("CARGO_BIN_EXE_lpack"))
        .args([
            "build",
            "-r",
            "req.txt",
            "--runtime",
            "python3.11",
            "--format",
            "image",
        ])
        .args([
            "--index-url",
            crate::harness::index(IndexKind::Html),
            "--bytecode",
            "none",
        ])
        .arg("--cache-dir")
        .arg(dir.join("cache"))
        .args([
            "--src",
            "app",
            "--handler",
            "app.handler",
            "--base",
            "oci-layout:base:base",
        ])
        .args(["--image-out", "oci-layout:strict:v1"])
        .current_dir(&dir)
        .output()
        .expect("lpack");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for e in walkdir(&dir.join("strict")) {
        let mode = std::fs::metadata(&e).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode, 0o644, "{}", e.display());
    }
    for d in ["strict", "strict/blobs", "strict/blobs/sha256"] {
        let mode = std::fs::metadata(dir.join(d))
            .expect("stat")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o755, "{d}");
    }

    // A folder that is not a layout is refused, and its files survive.
    std::fs::create_dir_all(dir.join("notes")).expect("mkdir");
    std::fs::write(dir.join("notes/notes.txt"), "keep me").expect("write");
    let out = image("oci-layout:notes:v1", &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("notes: is not empty and is not an OCI image layout"),
        "{err}"
    );
    assert!(err.contains("hint:"), "{err}");
    assert_eq!(
        std::fs::read_to_string(dir.join("notes/notes.txt")).expect("notes"),
        "keep me"
    );
    assert_eq!(std::fs::read_dir(dir.join("notes")).expect("ls").count(), 1);
}

/// Every file under `dir`.
fn walkdir(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("ls").flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}
