//! `--push` and registry bases against a real registry (Debian's `docker-registry`, i.e.
//! distribution) started on 127.0.0.1 with the test's own config; skopeo reads back.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::*;

fn ready() -> bool {
    let ok = have("docker-registry") && have("skopeo") && std::env::consts::ARCH == "x86_64";
    if !ok {
        eprintln!(
            "skipped: docker-registry and skopeo are needed (apt-get install docker-registry skopeo; .ci/run does)"
        );
    }
    ok
}

/// A registry with its own config (the packaged one turns on htpasswd on :5000).
pub(crate) fn registry(dir: &Path, htpasswd: Option<&Path>) -> Service {
    std::fs::create_dir_all(dir).expect("mkdir");
    let auth = htpasswd
        .map(|p| {
            format!(
                "auth:\n  htpasswd:\n    realm: lpack-test\n    path: {}\n",
                p.display()
            )
        })
        .unwrap_or_default();
    let config = format!(
        "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\n{auth}http:\n  addr: 127.0.0.1:PORT_PLACEHOLDER\n",
        dir.join("data").display()
    );
    std::fs::write(dir.join("config.tmpl"), &config).expect("config");
    // The port is only known at start: let a shell fill it in.
    Service::start(
        "sh",
        &[
            "-c".to_string(),
            format!(
                "sed 's/PORT_PLACEHOLDER/{{port}}/' {tmpl} > {cfg} && exec docker-registry serve {cfg}",
                tmpl = dir.join("config.tmpl").display(),
                cfg = dir.join("config.yml").display()
            ),
        ],
        &dir.join("registry.log"),
    )
}

fn setup(name: &str) -> PathBuf {
    let dir = scratch(name);
    for (layout, arch) in [("base", "amd64"), ("armbase", "arm64")] {
        base_image(&dir.join(layout), "base", arch);
    }
    std::fs::write(
        dir.join("req.txt"),
        "fastmath==1.0\npurelib==2.0\nbigdata==1.0\n",
    )
    .expect("req");
    std::fs::create_dir_all(dir.join("app")).expect("mkdir");
    std::fs::write(
        dir.join("app/app.py"),
        "import fastmath\ndef handler(e, c):\n    return 1\n",
    )
    .expect("app");
    dir
}

/// The image build of these tests, to an OCI layout under `out/img`.
fn build_cmd(dir: &Path, extra: &[&str]) -> Command {
    let mut c = lpack();
    c.current_dir(dir)
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
            index(IndexKind::Html),
            "--bytecode",
            "none",
            "--src",
            "app",
            "--handler",
            "app.handler",
        ])
        .arg("--cache-dir")
        .arg(dir.join("cache"))
        .args(["--heavy-threshold", "1MB", "-o", "out/img"])
        .args(extra);
    c
}

fn build(dir: &Path, extra: &[&str]) -> std::process::Output {
    run(&mut build_cmd(dir, extra))
}

fn uploads(log: &Path) -> usize {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("PUT /v2/") && l.contains("/blobs/uploads/"))
        .count()
}

fn skopeo_digest(reference: &str) -> String {
    let o = Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", reference])
        .output()
        .expect("skopeo");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    v["Digest"].as_str().unwrap_or("").to_string()
}

#[test]
fn push_pull_and_incremental_push() {
    if !ready() {
        return;
    }
    let dir = setup("registry-push");
    let reg = registry(&dir.join("reg"), None);
    let host = format!("127.0.0.1:{}", reg.port);

    let out = build(
        &dir,
        &[
            "--base",
            "oci-layout:base:base",
            "--push",
            &format!("{host}/fn:v1"),
        ],
    );
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(
        text.contains("blob(s) uploaded") && text.contains("0 already there"),
        "{text}"
    );
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("out/img.lpack.json")).expect("manifest"))
            .expect("json");
    let digest = m["image"]["manifest_digest"]
        .as_str()
        .expect("digest")
        .to_string();
    assert_eq!(
        skopeo_digest(&format!("docker://{host}/fn:v1")),
        digest,
        "the pushed tag is lpack's manifest"
    );
    // A single image manifest, never an index.
    let raw = Command::new("skopeo")
        .args([
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{host}/fn:v1"),
        ])
        .output()
        .expect("skopeo");
    let rawv: serde_json::Value = serde_json::from_slice(&raw.stdout).expect("json");
    assert_eq!(
        rawv["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    let copy = Command::new("skopeo")
        .args([
            "copy",
            "--src-tls-verify=false",
            &format!("docker://{host}/fn:v1"),
            "oci:copied:v1",
        ])
        .current_dir(&dir)
        .output()
        .expect("skopeo copy");
    assert!(
        copy.status.success(),
        "{}",
        String::from_utf8_lossy(&copy.stderr)
    );

    // Only the handler changes: only its layer and the config are uploaded.
    let before = uploads(&reg.log);
    std::fs::write(
        dir.join("app/app.py"),
        "import fastmath\ndef handler(e, c):\n    return 2\n",
    )
    .expect("edit");
    let out = build(
        &dir,
        &[
            "--base",
            "oci-layout:base:base",
            "--push",
            &format!("{host}/fn:v2"),
        ],
    );
    assert!(out.status.success());
    assert!(
        stdout(&out).contains("2 blob(s) uploaded"),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        uploads(&reg.log) - before,
        2,
        "registry saw exactly two blob uploads"
    );

    // A base pulled from the registry (the image we just pushed serves as one).
    let out = build(
        &dir,
        &[
            "--base",
            &format!("{host}/fn:v1"),
            "--image-out",
            "oci-layout:onbase:v1",
        ],
    );
    assert!(out.status.success());
    let o = Command::new("skopeo")
        .args(["inspect", "oci:onbase:v1"])
        .current_dir(&dir)
        .output()
        .expect("skopeo");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(
        v["Layers"].as_array().map(Vec::len),
        Some(4 + 3),
        "base layers then ours"
    );

    // A base for another architecture is refused.
    let cp = Command::new("skopeo")
        .args([
            "copy",
            "--dest-tls-verify=false",
            "oci:armbase:base",
            &format!("docker://{host}/armbase:1"),
        ])
        .current_dir(&dir)
        .output()
        .expect("skopeo");
    assert!(
        cp.status.success(),
        "{}",
        String::from_utf8_lossy(&cp.stderr)
    );
    let out = build(
        &dir,
        &[
            "--base",
            &format!("{host}/armbase:1"),
            "--image-out",
            "oci-layout:x:v1",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("is built for arm64"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn push_errors_are_clear_and_never_reported_as_success() {
    if !ready() {
        return;
    }
    let dir = setup("registry-errors");
    // Nothing listens on this port.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let out = build(
        &dir,
        &[
            "--base",
            "oci-layout:base:base",
            "--push",
            &format!("127.0.0.1:{closed}/fn:v1"),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(!stdout(&out).contains("pushed"), "no success line");
    assert!(
        stderr(&out).contains(&format!("127.0.0.1:{closed}/fn:v1")),
        "{}",
        stderr(&out)
    );

    // A registry with htpasswd: no credentials → a clear auth error; with them → success.
    let hash = Command::new(helper_python())
        .args([
            "-c",
            "import bcrypt; print(bcrypt.hashpw(b's3cret', bcrypt.gensalt(rounds=4)).decode())",
        ])
        .output()
        .expect("bcrypt");
    assert!(
        hash.status.success(),
        "pip install bcrypt: {}",
        String::from_utf8_lossy(&hash.stderr)
    );
    let htpasswd = dir.join("htpasswd");
    std::fs::write(
        &htpasswd,
        format!("ci:{}", String::from_utf8_lossy(&hash.stdout).trim()),
    )
    .expect("htpasswd");
    let reg = registry(&dir.join("authreg"), Some(&htpasswd));
    let target = format!("127.0.0.1:{}/fn:v1", reg.port);
    let out = build(&dir, &["--base", "oci-layout:base:base", "--push", &target]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("LPACK_REGISTRY_USERNAME") || err.contains("docker login"),
        "{err}"
    );
    assert!(!stdout(&out).contains("pushed"));
    let out = run(lpack()
        .current_dir(&dir)
        .env("LPACK_REGISTRY_USERNAME", "ci")
        .env("LPACK_REGISTRY_PASSWORD", "s3cret")
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
            index(IndexKind::Html),
            "--bytecode",
            "none",
            "--src",
            "app",
            "--handler",
            "app.handler",
        ])
        .arg("--cache-dir")
        .arg(dir.join("cache"))
        .args([
            "-o",
            "out/img",
            "--base",
            "oci-layout:base:base",
            "--push",
            &target,
        ]));
    assert!(out.status.success());
    assert!(stdout(&out).contains("pushed"));

    // An unknown base reference.
    let out = build(
        &dir,
        &[
            "--base",
            "not a reference!",
            "--image-out",
            "oci-layout:x:v1",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("is not an image reference"),
        "{}",
        stderr(&out)
    );
}

/// Every file under `dir` whose name marks an in-flight write (`.lpack-…`), recursively.
fn temps(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in walkdir::WalkDir::new(dir).into_iter().flatten() {
        let name = e.file_name().to_string_lossy();
        if name.starts_with(".lpack-") {
            out.push(e.path().display().to_string());
        }
    }
    out
}

#[test]
fn a_push_killed_midway_leaves_nothing_partial_and_the_next_push_completes() {
    if !ready() {
        return;
    }
    let dir = setup("registry-kill");
    let reg = registry(&dir.join("reg"), None);
    let reference = format!("127.0.0.1:{}/fn:v1", reg.port);
    let args = [
        "--base",
        "oci-layout:base:base",
        "--push",
        reference.as_str(),
    ];
    // Kill each push as soon as the registry has seen its first blob upload (so the kill lands
    // during the push), three times, each time with less left to upload.
    for round in 0..3 {
        let seen = uploads(&reg.log);
        let mut child = build_cmd(&dir, &args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn");
        let started = std::time::Instant::now();
        while uploads(&reg.log) == seen
            && started.elapsed() < std::time::Duration::from_secs(60)
            && child.try_wait().ok().flatten().is_none()
        {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        let mid_push = uploads(&reg.log) > seen && child.try_wait().ok().flatten().is_none();
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        if round == 0 {
            assert!(mid_push, "the first kill must land during the push");
        }
        // Whatever is in the cache is whole: every blob hashes to its name.
        for e in walkdir::WalkDir::new(dir.join("cache/blobs-v1/sha256"))
            .into_iter()
            .flatten()
            .filter(|e| e.file_type().is_file())
        {
            let sha = lpack::digest::sha256_file(e.path()).expect("hash");
            assert_eq!(
                e.file_name().to_string_lossy(),
                sha,
                "round {round}: cached blob {} is partial",
                e.path().display()
            );
        }
    }
    // Temps of killed builds are swept once nobody holds them (after a short grace time).
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let out = build(&dir, &args);
    assert!(out.status.success(), "{}", stderr(&out));
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("out/img.lpack.json")).expect("manifest"))
            .expect("json");
    assert_eq!(
        skopeo_digest(&format!("docker://{reference}")),
        m["image"]["manifest_digest"].as_str().unwrap_or(""),
        "the pushed tag is lpack's manifest after the killed pushes"
    );
    let left = temps(&dir.join("out"));
    assert!(
        left.is_empty(),
        "temp files left beside the image: {left:?}"
    );
}
