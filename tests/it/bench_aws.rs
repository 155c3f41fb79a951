//! `lpack bench --backend aws` against moto's server (`moto[server]`, installed by
//! scripts/test.sh) on 127.0.0.1, started here with `{"lambda": {"use_docker": false}}` and an
//! IAM role created in it: zip in the request, zip through S3, layers + function, an image
//! (pushed to a real local registry standing in for ECR's, which moto does not serve), forcing
//! and waiting, invokes, a memory sweep, SnapStart versions, clean-up (at the end, on Ctrl-C,
//! and `--cleanup RUN_ID` after a SIGKILL), the dry run. What moto holds is read back with
//! boto3 (tests/helpers/moto_state.py). moto's invoke only echoes, so no REPORT comes back:
//! every forced invoke counts as "not cold" here; REPORT parsing has unit tests on real lines.
//! Credentials are a recognisable fake key that must never appear in any output.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::*;

const KEY_ID: &str = "AKIALPACKTESTKEY7777";
const SECRET: &str = "lpack/TEST/secret/DO-NOT-PRINT/0123456789abcdef";
const BUCKET: &str = "lpack-bench-test";

struct Moto {
    _svc: Service,
    url: String,
    role: String,
}

fn helper() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/helpers/moto_state.py")
}

/// One moto server for the whole test run, configured and with the role and bucket made;
/// `None` (saying why) when moto is not installed.
fn moto() -> Option<&'static Moto> {
    static M: OnceLock<Option<Moto>> = OnceLock::new();
    M.get_or_init(|| {
        if !have_moto() {
            return None;
        }
        let dir = scratch("moto");
        let (svc, url) = start_moto(&dir, None);
        let set = moto_lambda_without_docker(&url);
        assert!(set.contains("\"use_docker\": false"), "{set}");
        let o = Command::new(helper_python())
            .arg(helper())
            .args([&url, "setup"])
            .output()
            .expect("python");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let role = String::from_utf8_lossy(&o.stdout).trim().to_string();
        assert!(role.starts_with("arn:aws:iam::"), "{role}");
        Some(Moto {
            _svc: svc,
            url,
            role,
        })
    })
    .as_ref()
}

/// What moto holds for `run` (everything when `None`).
fn state(m: &Moto, run: Option<&str>) -> Value {
    let mut c = Command::new(helper_python());
    c.arg(helper()).args([&m.url, "state"]);
    if let Some(r) = run {
        c.arg(r);
    }
    let o = c.output().expect("python");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).expect("state json")
}

fn assert_empty(s: &Value) {
    for k in ["functions", "layers", "repositories", "objects"] {
        assert_eq!(s[k].as_array().map(Vec::len), Some(0), "{k} left: {s}");
    }
}

/// lpack with fake credentials and nothing of the host's AWS setup.
fn aws_lpack(m: &Moto) -> Command {
    let mut c = lpack();
    for v in [
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ENDPOINT_URL",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "LPACK_BENCH_ROLE_ARN",
    ] {
        c.env_remove(v);
    }
    c.env("AWS_ACCESS_KEY_ID", KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", SECRET)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent/lpack-test/config")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/lpack-test/credentials",
        )
        .args(["bench", "--backend", "aws", "--region", "us-east-1"])
        .args(["--endpoint-url", &m.url]);
    c
}

/// Artifacts: a python3.12 zip, a layer and a function for it, a zip over 50 MB, an image.
struct Fx {
    dir: PathBuf,
}

fn fixtures() -> Option<&'static Fx> {
    static FX: OnceLock<Option<Fx>> = OnceLock::new();
    FX.get_or_init(|| {
        moto()?;
        let dir = scratch("bench-aws");
        let w = dir.join("wheels");
        std::fs::create_dir_all(&w).expect("mkdir");
        write_wheel(
            &w,
            "tinydep",
            "1.0",
            "py3-none-any",
            &[F("tinydep/__init__.py", b"VALUE = 42\n")],
        );
        // 51 MB that does not compress: the zip goes through S3.
        let mut noise = vec![0u8; 51 << 20];
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for b in noise.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
        write_wheel(
            &w,
            "bigblob",
            "1.0",
            "py3-none-any",
            &[
                F("bigblob/__init__.py", b""),
                F("bigblob/noise.bin", &noise),
            ],
        );
        let src = dir.join("app");
        std::fs::create_dir_all(&src).expect("mkdir");
        std::fs::write(
            src.join("h.py"),
            "def handler(event, context):\n    return {'ok': True}\n",
        )
        .expect("src");
        std::fs::write(dir.join("none.txt"), "").expect("req");
        std::fs::write(dir.join("tiny.txt"), "tinydep==1.0\n").expect("req");
        std::fs::write(dir.join("big.txt"), "bigblob==1.0\n").expect("req");
        let base = Command::new(helper_python())
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/helpers/make_base_image.py"))
            .arg(dir.join("base"))
            .args(["base", "amd64"])
            .output()
            .expect("python");
        assert!(
            base.status.success(),
            "{}",
            String::from_utf8_lossy(&base.stderr)
        );
        let build = |req: &str, extra: &[&str]| {
            let o = run(lpack()
                .current_dir(&dir)
                .args([
                    "build",
                    "-r",
                    req,
                    "--runtime",
                    "python3.12",
                    "--bytecode",
                    "none",
                ])
                .args(["--no-index", "--find-links", "wheels", "-q"])
                .arg("--cache-dir")
                .arg(dir.join("cache"))
                .args(extra));
            assert!(o.status.success(), "{}", stderr(&o));
        };
        build("none.txt", &["--src", "app", "-o", "fn.zip"]);
        build("tiny.txt", &["--format", "layer", "-o", "deps.zip"]);
        build(
            "big.txt",
            &["--src", "app", "--no-limit-check", "-o", "big.zip"],
        );
        build(
            "none.txt",
            &[
                "--src",
                "app",
                "--format",
                "image",
                "--handler",
                "h.handler",
                "--base",
                "oci-layout:base:base",
                "--image-out",
                "oci-layout:img:t",
            ],
        );
        Some(Fx { dir })
    })
    .as_ref()
}

/// Output with every byte we can see checked for the credentials.
fn no_secrets(o: &Output, out_dir: Option<&Path>) {
    let all = format!("{}{}", stdout(o), stderr(o));
    for s in [KEY_ID, SECRET] {
        assert!(!all.contains(s), "a credential in the output:\n{all}");
    }
    if let Some(d) = out_dir {
        for e in walkdir::WalkDir::new(d).into_iter().flatten() {
            if e.file_type().is_file() {
                let b = std::fs::read(e.path()).expect("read");
                let t = String::from_utf8_lossy(&b);
                for s in [KEY_ID, SECRET] {
                    assert!(!t.contains(s), "a credential in {}", e.path().display());
                }
            }
        }
    }
}

fn run_id(text: &str) -> String {
    let at = text.find("AWS run ").expect("the run id is printed") + "AWS run ".len();
    text[at..]
        .split_whitespace()
        .next()
        .expect("id")
        .to_string()
}

fn summary(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("summary.json")).expect("summary"))
        .expect("json")
}

fn samples(dir: &Path) -> Vec<Value> {
    serde_json::from_slice(&std::fs::read(dir.join("samples.json")).expect("samples"))
        .expect("json")
}

const ALL: &[&str] = &[
    "fn.zip.lpack.json",
    "fn.zip.lpack.json+deps.zip.lpack.json",
    "big.zip.lpack.json",
    "img.lpack.json",
];

#[test]
fn deploys_every_kind_sweeps_memory_and_cleans_up_by_tag() {
    let (Some(m), Some(fx)) = (moto(), fixtures()) else {
        return;
    };
    if !have("docker-registry") {
        eprintln!("skipped: docker-registry is needed for the image push (.ci/run installs it)");
        return;
    }
    let reg = crate::registry::registry(&fx.dir.join("registry"), None);
    let out_dir = fx.dir.join("out-keep");
    let o = run(aws_lpack(m)
        .current_dir(&fx.dir)
        .args(ALL)
        .args(["--handler", "h.handler", "--role-arn", &m.role])
        .args(["--s3-bucket", BUCKET, "--snapstart", "--keep"])
        .args([
            "--memory",
            "128,256",
            "--runs",
            "3",
            "--concurrency",
            "2",
            "--warm",
            "1",
        ])
        .arg("--image-registry")
        .arg(format!("127.0.0.1:{}", reg.port))
        .arg("--out")
        .arg(&out_dir));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    no_secrets(&o, Some(&out_dir));
    let id = run_id(&stderr(&o));
    let s = summary(&out_dir);
    let aws = &s["provenance"]["aws"];
    assert_eq!(aws["run_id"], id.as_str());
    assert_eq!(aws["kept"], true);
    assert_eq!(s["provenance"]["backend"], "aws");

    // What moto holds: four tagged functions, their last configuration the sweep's 256 MB
    // with a forced LPACK_COLD, the layer attached, the image function by digest.
    let st = state(m, Some(&id));
    let fns = st["functions"].as_array().expect("functions");
    let latest: Vec<&Value> = fns.iter().filter(|f| f["version"] == "$LATEST").collect();
    assert_eq!(latest.len(), 4, "{st}");
    assert_eq!(
        fns.len(),
        4,
        "SnapStart versions must be deleted once measured: {st}"
    );
    for f in &latest {
        assert_eq!(f["tags"]["lpack-bench"], id.as_str(), "{f}");
        assert_eq!(f["memory"], 256, "{f}");
        let cold = f["env"]["LPACK_COLD"].as_str().unwrap_or("");
        assert!(cold.starts_with(&id) && !cold.ends_with("-deploy"), "{f}");
    }
    let layered = latest
        .iter()
        .find(|f| {
            f["name"]
                .as_str()
                .is_some_and(|n| n.ends_with("fn-zip-deps-zip"))
        })
        .expect("the layered function");
    assert_eq!(
        layered["layers"].as_array().map(Vec::len),
        Some(1),
        "{layered}"
    );
    let image = latest
        .iter()
        .find(|f| f["package_type"] == "Image")
        .expect("the image function");
    let digest = serde_json::from_slice::<Value>(
        &std::fs::read(fx.dir.join("img.lpack.json")).expect("img manifest"),
    )
    .expect("json")["image"]["manifest_digest"]
        .as_str()
        .expect("digest")
        .to_string();
    assert!(
        image["image_uri"]
            .as_str()
            .is_some_and(|u| u.ends_with(&format!("@{digest}"))),
        "{image}"
    );
    // The push reached the registry, by that digest.
    let repo = st["repositories"][0]["name"]
        .as_str()
        .expect("repo")
        .to_string();
    let got = Command::new(helper_python())
        .args([
            "-c",
            "import sys, urllib.request as u; r = u.Request(sys.argv[1], method='HEAD', headers={'Accept': 'application/vnd.oci.image.manifest.v1+json'}); print(u.urlopen(r).status)",
        ])
        .arg(format!(
            "http://127.0.0.1:{}/v2/{repo}/manifests/{digest}",
            reg.port
        ))
        .output()
        .expect("python");
    assert_eq!(
        String::from_utf8_lossy(&got.stdout).trim(),
        "200",
        "{}",
        String::from_utf8_lossy(&got.stderr)
    );
    assert_eq!(st["layers"].as_array().map(Vec::len), Some(1), "{st}");
    assert_eq!(st["repositories"][0]["tags"]["lpack-bench"], id.as_str());
    // The big zip went through S3, and the object was deleted once Lambda had it.
    assert!(
        aws["created"].as_array().is_some_and(|c| c.iter().any(|x| x
            .as_str()
            .is_some_and(|x| x.starts_with("S3 object s3://lpack-bench-test/lpack-bench/")))),
        "{aws}"
    );
    assert_eq!(st["objects"].as_array().map(Vec::len), Some(0), "{st}");

    // Every invocation is in the samples: per deployment an after-deploy round of 2, then per
    // memory size 3 forced cold starts each followed by a warm invoke; SnapStart rows get 3
    // restores per memory size. moto returns no REPORT, so every forced one is "not cold".
    let xs = samples(&out_dir);
    let count = |dep: &str, mem: u64, round: &str| {
        xs.iter()
            .filter(|x| {
                x["deployment"] == dep
                    && x["memory_mb"] == mem
                    && x["round"].as_str().unwrap_or("steady") == round
            })
            .count()
    };
    for dep in ["fn.zip", "fn.zip+deps.zip", "big.zip", "img"] {
        assert_eq!(count(dep, 128, "after-deploy"), 2, "{dep}");
        for mem in [128, 256] {
            assert_eq!(count(dep, mem, "not-cold"), 3, "{dep} @ {mem}");
            assert_eq!(
                count(dep, mem, "steady"),
                3,
                "{dep} @ {mem}: the warm invokes"
            );
        }
    }
    for dep in [
        "fn.zip+snapstart",
        "fn.zip+deps.zip+snapstart",
        "big.zip+snapstart",
    ] {
        for mem in [128, 256] {
            assert_eq!(count(dep, mem, "not-cold"), 3, "{dep} @ {mem}");
        }
    }
    assert!(
        xs.iter()
            .all(|x| x["request_id"].as_str().is_some_and(|r| !r.is_empty()))
    );
    let rows = s["deployments"].as_array().expect("rows");
    assert_eq!(rows.len(), 2 * (4 + 3), "{s}");
    for r in rows {
        assert_eq!(r["not_cold"], 3, "{r}");
        assert_eq!(r["errors"], 0, "{r}");
    }
    for f in OUTPUTS {
        assert!(out_dir.join(f).is_file(), "{f}");
    }
    let md = std::fs::read_to_string(out_dir.join("summary.md")).expect("md");
    assert!(md.contains("not cold") && md.contains(&id), "{md}");

    // Found by tag and removed.
    let c = run(aws_lpack(m)
        .args(["--cleanup", &id, "--s3-bucket", BUCKET])
        .current_dir(&fx.dir));
    assert_eq!(c.status.code(), Some(0), "{}", stderr(&c));
    no_secrets(&c, None);
    assert!(stdout(&c).contains("deleted function"), "{}", stdout(&c));
    assert_empty(&state(m, Some(&id)));
}

pub(crate) const OUTPUTS: &[&str] = &[
    "samples.csv",
    "samples.json",
    "summary.json",
    "summary.md",
    "init-ecdf.svg",
    "init-percentiles.svg",
    "imports.svg",
    "report.html",
];

#[test]
fn a_run_deletes_what_it_created() {
    let (Some(m), Some(fx)) = (moto(), fixtures()) else {
        return;
    };
    let out_dir = fx.dir.join("out-clean");
    let o = run(aws_lpack(m)
        .current_dir(&fx.dir)
        .args(&ALL[..3])
        .args(["--handler", "h.handler", "--role-arn", &m.role])
        .args(["--s3-bucket", BUCKET, "--runs", "2", "--memory", "128,512"])
        .arg("--out")
        .arg(&out_dir));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    no_secrets(&o, Some(&out_dir));
    let id = run_id(&stderr(&o));
    let s = summary(&out_dir);
    let created = s["provenance"]["aws"]["created"]
        .as_array()
        .expect("created");
    assert!(created.len() >= 5, "{created:?}");
    assert_eq!(s["provenance"]["aws"]["kept"], false);
    assert_empty(&state(m, Some(&id)));
    // The same outputs as the local backend, and they compare with each other.
    let again = fx.dir.join("out-clean-b");
    let mut b = summary(&out_dir);
    b["deployments"][0]["duration_ms"] = serde_json::json!({"n": 2, "mean": 2.0, "min": 2.0, "p50": 2.0, "p90": 2.0, "p95": 2.0, "p99": 2.0, "max": 2.0});
    let mut a = summary(&out_dir);
    a["deployments"][0]["duration_ms"] = serde_json::json!({"n": 2, "mean": 1.0, "min": 1.0, "p50": 1.0, "p90": 1.0, "p95": 1.0, "p99": 1.0, "max": 1.0});
    std::fs::create_dir_all(&again).expect("mkdir");
    std::fs::write(again.join("summary.json"), b.to_string()).expect("b");
    std::fs::write(out_dir.join("summary.json"), a.to_string()).expect("a");
    let c = run(lpack()
        .arg("bench")
        .arg("--compare")
        .arg(&out_dir)
        .arg(&again));
    assert_eq!(c.status.code(), Some(0), "{}", stderr(&c));
    let t = stdout(&c);
    assert!(t.contains("×2.00"), "{t}");
    assert!(t.contains("fn.zip") && t.contains("big.zip"), "{t}");
}

#[test]
fn sigkill_then_cleanup_leaves_nothing() {
    let (Some(m), Some(fx)) = (moto(), fixtures()) else {
        return;
    };
    let mut child = aws_lpack(m)
        .current_dir(&fx.dir)
        .args(&ALL[..2])
        .args(["--handler", "h.handler", "--role-arn", &m.role])
        .args(["--runs", "100000", "--poll-ms", "10", "--quiet"])
        .arg("--out")
        .arg(fx.dir.join("out-killed"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let first = lines.next().expect("a line").expect("utf-8");
    let id = run_id(&first);
    // Wait until the functions exist and invokes are under way, then kill it hard.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let st = state(m, Some(&id));
        if st["functions"].as_array().map(Vec::len) == Some(2) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the functions never appeared: {st}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_millis(500));
    child.kill().expect("SIGKILL");
    let status = child.wait().expect("wait");
    assert!(!status.success());
    let left = state(m, Some(&id));
    assert_eq!(
        left["functions"].as_array().map(Vec::len),
        Some(2),
        "{left}"
    );
    assert_eq!(left["layers"].as_array().map(Vec::len), Some(1), "{left}");
    let c = run(aws_lpack(m).args(["--cleanup", &id]));
    assert_eq!(c.status.code(), Some(0), "{}", stderr(&c));
    no_secrets(&c, None);
    assert_empty(&state(m, Some(&id)));
    // Nothing is left to find the second time.
    let again = run(aws_lpack(m).args(["--cleanup", &id]));
    assert_eq!(again.status.code(), Some(0));
    assert!(
        stdout(&again).contains("nothing tagged"),
        "{}",
        stdout(&again)
    );
}

#[test]
fn ctrl_c_cleans_up() {
    let (Some(m), Some(fx)) = (moto(), fixtures()) else {
        return;
    };
    let mut child = aws_lpack(m)
        .current_dir(&fx.dir)
        .args(&ALL[..2])
        .args(["--handler", "h.handler", "--role-arn", &m.role])
        .args(["--runs", "100000", "--poll-ms", "10", "--quiet"])
        .arg("--out")
        .arg(fx.dir.join("out-interrupted"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let id = run_id(&lines.next().expect("a line").expect("utf-8"));
    let deadline = Instant::now() + Duration::from_secs(60);
    while state(m, Some(&id))["functions"].as_array().map(Vec::len) != Some(2) {
        assert!(Instant::now() < deadline, "the functions never appeared");
        std::thread::sleep(Duration::from_millis(200));
    }
    // SAFETY: signalling our own child.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGINT);
    }
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().expect("wait");
    let err = rest.join("\n");
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(
        err.contains("interrupted; everything it created was deleted"),
        "{err}"
    );
    assert!(!err.contains(KEY_ID) && !err.contains(SECRET));
    assert_empty(&state(m, Some(&id)));
}

#[test]
fn dry_run_creates_nothing_and_needs_no_credentials() {
    let Some(fx) = fixtures() else {
        return;
    };
    // The endpoint is a socket that only listens: any AWS call would connect to it.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let o = run(lpack()
        .current_dir(&fx.dir)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .args([
            "bench",
            "--backend",
            "aws",
            "--dry-run",
            "--region",
            "eu-west-1",
        ])
        .args(["--endpoint-url", &url])
        .args(ALL)
        .args([
            "--handler",
            "h.handler",
            "--role-arn",
            "arn:aws:iam::123456789012:role/x",
        ])
        .args([
            "--s3-bucket",
            BUCKET,
            "--memory",
            "128,1024",
            "--runs",
            "5",
            "--warm",
            "2",
        ])
        .args(["--concurrency", "2", "--snapstart"]));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let t = stdout(&o);
    for want in [
        "Dry run: nothing is created",
        "ECR repository",
        "layer version",
        "through s3://lpack-bench-test/lpack-bench/",
        "8 after deploy + 40 cold + 80 warm + 30 SnapStart restores = 158",
        "SnapStart cache",
        "eu-west-1 prices",
        "img: no SnapStart",
    ] {
        assert!(t.contains(want), "{want} not in:\n{t}");
    }
    assert!(
        listener.accept().is_err(),
        "the dry run connected to the endpoint"
    );
    // A zip over 50 MB without a bucket is a problem the dry run names (exit 2).
    let p = run(lpack()
        .current_dir(&fx.dir)
        .args([
            "bench",
            "--backend",
            "aws",
            "--dry-run",
            "big.zip.lpack.json",
        ])
        .args([
            "--handler",
            "h.handler",
            "--role-arn",
            "arn:aws:iam::1:role/x",
        ]));
    assert_eq!(p.status.code(), Some(2));
    assert!(stdout(&p).contains("pass --s3-bucket"), "{}", stdout(&p));
}

#[test]
fn errors_name_the_call_and_never_the_credentials() {
    let (Some(m), Some(fx)) = (moto(), fixtures()) else {
        return;
    };
    // A role moto does not know: CreateFunction fails; the error says which call.
    let o = run(aws_lpack(m)
        .current_dir(&fx.dir)
        .args(["fn.zip.lpack.json", "--handler", "h.handler"])
        .args(["--role-arn", "arn:aws:iam::123456789012:role/no-such-role"]));
    assert_eq!(o.status.code(), Some(2));
    no_secrets(&o, None);
    let e = stderr(&o);
    assert!(e.contains("CreateFunction"), "{e}");
    assert!(e.contains("everything it created was deleted"), "{e}");
    // Nothing answers: a connection error, no credentials in it either.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = dead.local_addr().expect("addr").port();
    drop(dead);
    let o = run(lpack()
        .current_dir(&fx.dir)
        .env("AWS_ACCESS_KEY_ID", KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", SECRET)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_MAX_ATTEMPTS", "1")
        .args([
            "bench",
            "--backend",
            "aws",
            "--region",
            "us-east-1",
            "fn.zip.lpack.json",
        ])
        .args(["--handler", "h.handler", "--role-arn", &m.role])
        .arg("--endpoint-url")
        .arg(format!("http://127.0.0.1:{port}")));
    assert_eq!(o.status.code(), Some(2));
    no_secrets(&o, None);
}
