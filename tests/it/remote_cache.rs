//! `--remote-cache`: runners with separate, empty local caches sharing one remote — a
//! `file://` directory, and moto's S3 server on 127.0.0.1 (with a recognisable fake key that
//! must never appear in any output, log or manifest). Runner A builds from a local index and
//! fills the remote; runner B, whose index does not answer, builds the same hashed lock from
//! the remote alone, byte-identical. A corrupt object is detected and replaced; a remote that
//! goes away costs one warning, not the build.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::*;

/// Nothing listens on port 9 (discard): an index that never answers.
const DEAD_INDEX: &str = "http://127.0.0.1:9/simple";

/// A hashed lock of two fixture wheels (a pure one and a gcc-built extension).
fn hashed_lock(dir: &Path) -> PathBuf {
    let sha = |name: &str| {
        lpack::digest::sha256_hex(&std::fs::read(fixtures().flat.join(name)).expect("wheel"))
    };
    let arch = std::env::consts::ARCH;
    let p = dir.join("requirements.lock.txt");
    std::fs::write(
        &p,
        format!(
            "purelib==2.0 --hash=sha256:{}\nfastmath==1.0 \\\n    --hash=sha256:{}\n",
            sha("purelib-2.0-py3-none-any.whl"),
            sha(&format!(
                "fastmath-1.0-cp311-cp311-manylinux_2_17_{arch}.manylinux2014_{arch}.whl"
            ))
        ),
    )
    .expect("write lock");
    p
}

/// `lpack build` as runner `name` of `dir`: its own empty local cache, its own output
/// `name/fn.zip` (the same file name for every runner: the same unit); `remote` "" for none.
fn runner(dir: &Path, name: &str, lock: &Path, index: &str, remote: &str) -> Command {
    runner_as(dir, name, "fn.zip", lock, index, remote)
}

/// [`runner`] writing `name/file`: another file name is another unit (the content key has the
/// artifact's name, which its manifest records), so only wheels and records are shared.
fn runner_as(
    dir: &Path,
    name: &str,
    file: &str,
    lock: &Path,
    index: &str,
    remote: &str,
) -> Command {
    let mut c = lpack();
    c.current_dir(dir)
        .arg("build")
        .arg("-r")
        .arg(lock)
        .args([
            "--runtime",
            "python3.11",
            "--no-verify",
            "--index-url",
            index,
        ])
        .arg("--cache-dir")
        .arg(dir.join(format!("cache-{name}")))
        .arg("-o")
        .arg(dir.join(format!("{name}/{file}")));
    if !remote.is_empty() {
        c.args(["--remote-cache", remote]);
    }
    c
}

fn zip_of(dir: &Path, name: &str) -> Vec<u8> {
    let d = dir.join(name);
    let zips: Vec<_> = std::fs::read_dir(&d)
        .expect("output dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "zip"))
        .collect();
    assert_eq!(zips.len(), 1, "{zips:?}");
    std::fs::read(&zips[0]).expect("zip")
}

/// Whether the run took whole artifacts from the remote (no wheel fetched at all).
fn from_remote_artifacts(err_and_out: &str) -> bool {
    err_and_out.contains("from the remote cache")
}

fn said(o: &std::process::Output) -> String {
    format!("{}{}", stdout(o), stderr(o))
}

fn remote_warnings(err: &str) -> Vec<&str> {
    err.lines()
        .filter(|l| l.starts_with("warning: remote cache"))
        .collect()
}

#[test]
fn file_remote_runner_b_needs_no_index() {
    let dir = scratch("remote-file");
    let lock = hashed_lock(&dir);
    let remote = format!("file://{}", dir.join("shared").display());
    let a = run(&mut runner(
        &dir,
        "a",
        &lock,
        index(IndexKind::Html),
        &remote,
    ));
    assert!(a.status.success());
    assert!(remote_warnings(&stderr(&a)).is_empty(), "{}", stderr(&a));
    assert!(
        stderr(&a).contains("upload(s)"),
        "A reports what it moved: {}",
        stderr(&a)
    );
    assert!(!from_remote_artifacts(&said(&a)));
    // The same unit, in another checkout of the same project (CI runners check out to different
    // directories): B downloads the artifact and its manifest and is done.
    let checkout = dir.join("checkout-b");
    std::fs::create_dir_all(&checkout).expect("mkdir");
    let lock_b = checkout.join("requirements.lock.txt");
    std::fs::copy(&lock, &lock_b).expect("copy lock");
    let b = run(runner(&dir, "b", &lock_b, DEAD_INDEX, &remote).current_dir(&checkout));
    assert!(b.status.success(), "B builds from the remote alone");
    assert!(remote_warnings(&stderr(&b)).is_empty(), "{}", stderr(&b));
    assert!(from_remote_artifacts(&said(&b)), "{}", said(&b));
    assert_eq!(zip_of(&dir, "a"), zip_of(&dir, "b"));
    assert!(
        !dir.join("cache-b/wheels-v1")
            .read_dir()
            .expect("ls")
            .any(|_| true),
        "no wheel was needed"
    );
    // The same manifest, but for the local no-change fingerprint (file times of this machine).
    let manifest = |runner: &str| {
        let text = std::fs::read(dir.join(runner).join("fn.zip.lpack.json")).expect("manifest");
        let mut v: serde_json::Value = serde_json::from_slice(&text).expect("json");
        v.as_object_mut().map(|o| o.remove("fingerprint"));
        v
    };
    assert_eq!(manifest("a"), manifest("b"));
    // Another unit of the same lock: wheels by sha256 from the remote, still no index.
    let b2 = run(&mut runner_as(
        &dir,
        "b2",
        "other.zip",
        &lock,
        DEAD_INDEX,
        &remote,
    ));
    assert!(
        b2.status.success(),
        "B2 builds from the remote's wheels alone"
    );
    assert!(remote_warnings(&stderr(&b2)).is_empty(), "{}", stderr(&b2));
    assert!(!from_remote_artifacts(&said(&b2)), "{}", said(&b2));
    assert_eq!(zip_of(&dir, "a"), zip_of(&dir, "b2"));
    // Its slim fragments came from the remote too: all B2 shared is its own artifact (the
    // file, its manifest and the record naming them), no fragment of its own.
    assert!(stderr(&b2).contains("; 3 upload(s)"), "{}", stderr(&b2));
    // Read-only runners take but never give.
    let mut c = runner(&dir, "c", &lock, DEAD_INDEX, &remote);
    c.args(["--remote-cache-mode", "read"]);
    let c = run(&mut c);
    assert!(c.status.success());
    assert!(stderr(&c).contains("0 upload(s)"), "{}", stderr(&c));
    // Write-only runners give but never take: with no index, nothing to build from.
    let mut w = runner(&dir, "w", &lock, DEAD_INDEX, &remote);
    w.args(["--remote-cache-mode", "write"]);
    let w = run(&mut w);
    assert_eq!(w.status.code(), Some(2), "{}", stderr(&w));
    assert!(stderr(&w).contains("0 hit(s)"), "{}", stderr(&w));
    assert!(leftovers(&dir.join("shared/.tmp")).is_empty());
}

#[test]
fn file_remote_concurrent_builds_share_one_directory() {
    let dir = scratch("remote-concurrent");
    let lock = hashed_lock(&dir);
    let remote = format!("file://{}", dir.join("shared").display());
    let url = index(IndexKind::Html);
    let children: Vec<_> = ["a", "b"]
        .iter()
        .map(|n| {
            runner(&dir, n, &lock, url, &remote)
                .arg("-q")
                .spawn()
                .expect("spawn")
        })
        .collect();
    for mut c in children {
        assert!(c.wait().expect("wait").success());
    }
    assert_eq!(zip_of(&dir, "a"), zip_of(&dir, "b"));
    assert!(leftovers(&dir.join("shared/.tmp")).is_empty());
    // What they left in the remote is whole: a third runner builds from it alone.
    let c = run(&mut runner(&dir, "c", &lock, DEAD_INDEX, &remote));
    assert!(c.status.success());
    assert!(remote_warnings(&stderr(&c)).is_empty(), "{}", stderr(&c));
    assert_eq!(zip_of(&dir, "a"), zip_of(&dir, "c"));
}

#[cfg(feature = "aws")]
mod s3 {
    use super::*;

    const KEY_ID: &str = "AKIALPACKREMOTEKEY42";
    const SECRET: &str = "lpack/REMOTE/secret/DO-NOT-PRINT/fedcba9876543210";
    const BUCKET: &str = "lpack-remote-test";

    /// boto3 against moto: `op` is `mkbucket`, `corrupt KEY` (truncate the object) or
    /// `sha KEY` (print the object's sha256).
    fn boto(url: &str, args: &[&str]) -> String {
        let script = r#"
import sys, hashlib, boto3
url, op = sys.argv[1], sys.argv[2]
s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                  aws_access_key_id="x", aws_secret_access_key="y")
b = "lpack-remote-test"
if op == "mkbucket":
    s3.create_bucket(Bucket=b)
elif op == "keys":
    for o in s3.list_objects_v2(Bucket=b).get("Contents", []):
        print(o["Key"])
elif op == "corrupt":
    body = s3.get_object(Bucket=b, Key=sys.argv[3])["Body"].read()
    s3.put_object(Bucket=b, Key=sys.argv[3], Body=body[: len(body) // 2])
elif op == "sha":
    print(hashlib.sha256(s3.get_object(Bucket=b, Key=sys.argv[3])["Body"].read()).hexdigest())
"#;
        let o = Command::new(helper_python())
            .arg("-c")
            .arg(script)
            .arg(url)
            .args(args)
            .output()
            .expect("python");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// A runner with the fake credentials and nothing of the host's AWS setup.
    fn s3_runner(
        dir: &Path,
        name: &str,
        file: &str,
        lock: &Path,
        index: &str,
        endpoint: &str,
    ) -> Command {
        let mut c = runner_as(dir, name, file, lock, index, &format!("s3://{BUCKET}/ci"));
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
            .args(["--remote-endpoint", endpoint]);
        c
    }

    fn no_secrets(dir: &Path, outputs: &[&std::process::Output]) {
        for o in outputs {
            for text in [stdout(o), stderr(o)] {
                assert!(!text.contains(SECRET) && !text.contains(KEY_ID), "{text}");
            }
        }
        for e in walkdir::WalkDir::new(dir).into_iter().flatten() {
            // moto's own log is the server's, not lpack's.
            if e.file_type().is_file()
                && e.file_name() != "moto.log"
                && let Ok(b) = std::fs::read(e.path())
            {
                let t = String::from_utf8_lossy(&b);
                assert!(
                    !t.contains(SECRET) && !t.contains(KEY_ID),
                    "credentials written to {}",
                    e.path().display()
                );
            }
        }
    }

    #[test]
    fn s3_runners_share_a_remote() {
        if !have_moto() {
            return;
        }
        let dir = scratch("remote-s3");
        let (svc, url) = start_moto(&dir, None);
        boto(&url, &["mkbucket"]);
        let lock = hashed_lock(&dir);
        let idx = index(IndexKind::Html);

        // A fills the remote; B has no index, only the remote.
        let a = run(&mut s3_runner(&dir, "a", "fn.zip", &lock, idx, &url));
        assert!(a.status.success());
        let keys = boto(&url, &["keys"]);
        assert!(keys.contains("ci/lpack-v1/wheels/"), "{keys}");
        let b = run(&mut s3_runner(&dir, "b", "fn.zip", &lock, DEAD_INDEX, &url));
        assert!(b.status.success(), "B builds from the remote alone");
        assert!(remote_warnings(&stderr(&b)).is_empty(), "{}", stderr(&b));
        assert!(from_remote_artifacts(&said(&b)), "{}", said(&b));
        assert_eq!(zip_of(&dir, "a"), zip_of(&dir, "b"));
        // Another unit of the same lock: the wheels by sha256, no index either.
        let b2 = run(&mut s3_runner(
            &dir,
            "b2",
            "other.zip",
            &lock,
            DEAD_INDEX,
            &url,
        ));
        assert!(
            b2.status.success(),
            "B2 builds from the remote's wheels alone"
        );
        assert!(!from_remote_artifacts(&said(&b2)), "{}", said(&b2));
        assert_eq!(zip_of(&dir, "a"), zip_of(&dir, "b2"));

        // A truncated wheel in the remote is detected, not used, and replaced.
        let wheel = keys
            .lines()
            .find(|k| k.contains("/wheels/") && k.contains("purelib"))
            .expect("purelib wheel in the remote")
            .to_string();
        let good = boto(&url, &["sha", &wheel]);
        boto(&url, &["corrupt", &wheel]);
        let c = run(&mut s3_runner(&dir, "c", "c.zip", &lock, idx, &url));
        assert!(c.status.success());
        let err = stderr(&c);
        let warned = remote_warnings(&err);
        assert!(
            warned.iter().any(|w| w.contains("corrupt")),
            "{}",
            stderr(&c)
        );
        assert_eq!(zip_of(&dir, "a"), zip_of(&dir, "c"));
        assert_eq!(
            boto(&url, &["sha", &wheel]),
            good,
            "the object was replaced"
        );

        // A truncated artifact likewise: a local build, the same bytes, a warning.
        let artifact = keys
            .lines()
            .find(|k| k.contains("/artifacts/") && k.ends_with("/fn.zip"))
            .expect("the artifact in the remote")
            .to_string();
        boto(&url, &["corrupt", &artifact]);
        let e = run(&mut s3_runner(&dir, "e", "fn.zip", &lock, idx, &url));
        assert!(e.status.success());
        assert!(!from_remote_artifacts(&said(&e)), "{}", said(&e));
        assert!(
            remote_warnings(&stderr(&e))
                .iter()
                .any(|w| w.contains("corrupt")),
            "{}",
            stderr(&e)
        );
        assert_eq!(zip_of(&dir, "a"), zip_of(&dir, "e"));

        // The remote goes away: one warning, a local build from the index.
        drop(svc);
        let d = run(&mut s3_runner(&dir, "d", "fn.zip", &lock, idx, &url));
        assert!(d.status.success(), "a dead remote never fails the build");
        let err = stderr(&d);
        let warned = remote_warnings(&err);
        assert_eq!(warned.len(), 1, "{}", stderr(&d));
        assert!(warned[0].contains("unavailable"), "{}", stderr(&d));
        assert_eq!(zip_of(&dir, "a"), zip_of(&dir, "d"));

        no_secrets(&dir, &[&a, &b, &b2, &c, &d, &e]);
    }
}

#[test]
fn cache_push_pull_and_prune_a_remote() {
    let dir = scratch("remote-push");
    let lock = hashed_lock(&dir);
    let remote = format!("file://{}", dir.join("shared").display());
    // A builds with no remote at all, then seeds one from its local cache.
    let a = run(&mut runner(&dir, "a", &lock, index(IndexKind::Html), ""));
    assert!(a.status.success());
    assert!(!dir.join("shared").exists(), "no remote was used");
    let cache = |name: &str| dir.join(format!("cache-{name}"));
    let push = run(lpack()
        .args(["cache", "push", "--remote-cache", &remote, "--cache-dir"])
        .arg(cache("a")));
    assert!(push.status.success());
    assert!(
        stdout(&push).contains("Pushed 2 wheel(s)"),
        "{}",
        stdout(&push)
    );
    let again = run(lpack()
        .args(["cache", "push", "--remote-cache", &remote, "--cache-dir"])
        .arg(cache("a")));
    assert!(
        stdout(&again).contains("Pushed 0 wheel(s) and 0 record(s)"),
        "{}",
        stdout(&again)
    );
    // B: the seeded remote alone.
    let b = run(&mut runner(&dir, "b", &lock, DEAD_INDEX, &remote));
    assert!(b.status.success());
    assert_eq!(zip_of(&dir, "a"), zip_of(&dir, "b"));
    // C pulls into an empty cache, then builds offline.
    let pull = run(lpack()
        .args(["cache", "pull", "--remote-cache", &remote, "--cache-dir"])
        .arg(cache("c")));
    assert!(pull.status.success());
    assert!(
        stdout(&pull).contains("Pulled 2 wheel(s)"),
        "{}",
        stdout(&pull)
    );
    let mut c = lpack();
    c.current_dir(&dir)
        .args(["build", "-r"])
        .arg(&lock)
        .args(["--runtime", "python3.11", "--no-verify", "--offline"])
        .arg("--cache-dir")
        .arg(cache("c"))
        .arg("-o")
        .arg(dir.join("c/fn.zip"));
    assert!(run(&mut c).status.success());
    assert_eq!(zip_of(&dir, "a"), zip_of(&dir, "c"));
    // Prune: nothing is a day old; everything is older than 0s.
    let keep = run(lpack().args([
        "cache",
        "prune",
        "--remote-cache",
        &remote,
        "--older-than",
        "1d",
    ]));
    assert!(
        stdout(&keep).starts_with("Removed 0 object(s)"),
        "{}",
        stdout(&keep)
    );
    let dry = run(lpack().args([
        "cache",
        "prune",
        "--remote-cache",
        &remote,
        "--older-than",
        "0s",
        "--dry-run",
    ]));
    assert!(stdout(&dry).starts_with("Would remove"), "{}", stdout(&dry));
    assert!(dir.join("shared/lpack-v1/wheels").is_dir());
    // A user's files in the shared folder are not lpack's: prune never touches them.
    std::fs::write(dir.join("shared/notes.txt"), "mine").expect("user file");
    std::fs::create_dir_all(dir.join("shared/lpack-vault")).expect("mkdir");
    std::fs::write(dir.join("shared/lpack-vault/keep.txt"), "mine").expect("user file");
    let all = run(lpack().args([
        "cache",
        "prune",
        "--remote-cache",
        &remote,
        "--older-than",
        "0s",
    ]));
    assert!(all.status.success());
    let left: Vec<_> = walkdir::WalkDir::new(dir.join("shared/lpack-v1"))
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .collect();
    assert!(left.is_empty(), "{left:?}");
    assert!(
        dir.join("shared/notes.txt").is_file(),
        "a user's file was removed"
    );
    assert!(
        dir.join("shared/lpack-vault/keep.txt").is_file(),
        "a user's file was removed"
    );
}
