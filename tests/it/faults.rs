//! Faults: builds killed with SIGKILL at many moments, and a full disk (ENOSPC).
//!
//! A killed build must leave no partial artifact and no partial cache entry, and must not block
//! the next build (temp files are swept once no live process holds their lock). A full disk is a
//! real one: a 1 MiB tmpfs mounted in a private mount namespace (`unshare -rm`), so the real
//! write paths hit the kernel's ENOSPC; the error names the path and nothing half-written stays.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::harness::*;

fn build_cmd(dir: &Path, cache: &Path, out: &Path) -> Command {
    let r = dir.join("requirements.txt");
    std::fs::write(&r, "bigdata==1.0\npurelib==1.0\nfastmath==1.0\n").expect("write");
    let mut c = lpack();
    c.current_dir(dir)
        .args(["build", "-r"])
        .arg(&r)
        .args([
            "--runtime",
            "python3.11",
            "--index-url",
            index(IndexKind::Html),
        ])
        .arg("--cache-dir")
        .arg(cache)
        .arg("-o")
        .arg(out)
        .arg("-q");
    c
}

/// Every file under `dir`, relative.
fn files(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, p: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(p).into_iter().flatten().flatten() {
            let path = e.path();
            if path.is_dir() {
                walk(base, &path, out);
            } else if let Ok(rel) = path.strip_prefix(base) {
                out.push(rel.to_string_lossy().into_owned());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Nothing partial in a cache: every wheel hashes to its directory name, every fragment reads.
fn cache_is_whole(cache: &Path) {
    for f in files(&cache.join("wheels-v1")) {
        let parts: Vec<&str> = f.split('/').collect();
        let sha = lpack::digest::sha256_file(&cache.join("wheels-v1").join(&f)).expect("hash");
        assert_eq!(parts[1], sha, "cached wheel {f} is partial or corrupt");
    }
    for f in files(&cache.join("slim-v1")) {
        if f.ends_with(".zip") {
            let p = cache.join("slim-v1").join(&f);
            let file = std::fs::File::open(&p).expect("open fragment");
            assert!(
                zip::ZipArchive::new(file).is_ok(),
                "fragment {f} is not a whole zip"
            );
        }
    }
}

#[test]
fn killed_builds_leave_nothing_partial_and_do_not_block_the_next() {
    let dir = scratch("faults-kill");
    let reference = dir.join("ref/fn.zip");
    let out = run(&mut build_cmd(&dir, &dir.join("ref-cache"), &reference));
    assert!(out.status.success());
    let want = std::fs::read(&reference).expect("reference artifact");

    let cache = dir.join("cache");
    let artifact = dir.join("out/fn.zip");
    for delay_ms in [20, 60, 120, 250, 400, 700, 1000, 1500] {
        let mut child = build_cmd(&dir, &cache, &artifact)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn");
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        if artifact.exists() {
            assert_eq!(
                std::fs::read(&artifact).expect("read"),
                want,
                "an artifact present after a kill at {delay_ms} ms must be whole"
            );
        }
        cache_is_whole(&cache);
    }
    // Temp files of killed builds are swept once nobody holds them (after a short grace time).
    std::thread::sleep(Duration::from_millis(2100));
    let out = run(&mut build_cmd(&dir, &cache, &artifact));
    assert_eq!(out.status.code(), Some(0), "the next build is not blocked");
    assert_eq!(std::fs::read(&artifact).expect("read"), want);
    assert_eq!(
        files(&dir.join("out")),
        vec!["fn.zip".to_string(), "fn.zip.lpack.json".to_string()],
        "no temp files left beside the artifact"
    );
    assert!(
        files(&cache.join("tmp")).is_empty(),
        "no temp files left in the cache: {:?}",
        files(&cache.join("tmp"))
    );
    cache_is_whole(&cache);
}

/// Whether `unshare -rm` can mount a tmpfs here.
fn can_mount_tmpfs() -> bool {
    Command::new("unshare")
        .args(["-rm", "sh", "-c", "mount -t tmpfs -o size=64k none /mnt"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Run `cmd` with a 1 MiB tmpfs mounted at `mount` (private mount namespace); afterwards the
/// files left on the tmpfs are listed into `listing`.
fn with_full_disk(mount: &Path, listing: &Path, cmd: &Command) -> std::process::Output {
    std::fs::create_dir_all(mount).expect("mkdir");
    let mut c = Command::new("unshare");
    c.args(["-rm", "sh", "-c"])
        .arg(
            "mount -t tmpfs -o size=1m lpack-full \"$1\" || exit 99; shift; listing=\"$1\"; shift; \
             \"$@\"; rc=$?; find \"$MOUNT\" -type f > \"$listing\"; exit $rc",
        )
        .arg("sh")
        .arg(mount)
        .arg(listing)
        .arg(cmd.get_program())
        .args(cmd.get_args())
        .env("MOUNT", mount);
    if let Some(d) = cmd.get_current_dir() {
        c.current_dir(d);
    }
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    run(&mut c)
}

#[test]
fn full_disk_is_an_error_naming_the_path_and_leaves_nothing_half_written() {
    if !can_mount_tmpfs() {
        eprintln!("skipped: cannot mount a tmpfs in a user namespace here (unshare -rm)");
        return;
    }
    let dir = scratch("faults-enospc");
    // 1. The cache is on the full disk: the slimmed fragment of bigdata (1.5 MB) does not fit.
    let small = dir.join("small-cache");
    let listing = dir.join("listing-cache.txt");
    let out = with_full_disk(
        &small,
        &listing,
        &build_cmd(&dir, &small.join("cache"), &dir.join("out1/fn.zip")),
    );
    assert_eq!(
        out.status.code(),
        Some(2),
        "ENOSPC is an error, not a panic"
    );
    let err = stderr(&out);
    assert!(err.contains("No space left on device"), "{err}");
    assert!(
        err.contains(small.to_str().expect("utf-8")),
        "names the path: {err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    let left = std::fs::read_to_string(&listing).expect("listing");
    assert!(
        !left.contains("/cache/tmp/"),
        "no half-written temp file on the full disk:\n{left}"
    );
    assert!(!dir.join("out1/fn.zip").exists());

    // 1b. Wheels from --find-links are used where they are: the slimmed fragment is what fails.
    let small = dir.join("small-cache-2");
    let listing = dir.join("listing-cache-2.txt");
    let mut cmd = lpack();
    cmd.current_dir(&dir)
        .args(["build", "-r"])
        .arg(dir.join("requirements.txt"))
        .args(["--runtime", "python3.11", "--no-index", "--find-links"])
        .arg(&fixtures().flat)
        .arg("--cache-dir")
        .arg(small.join("cache"))
        .arg("-o")
        .arg(dir.join("out1b/fn.zip"));
    let out = with_full_disk(&small, &listing, &cmd);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("No space left on device"), "{err}");
    assert!(
        err.contains(small.to_str().expect("utf-8")),
        "names the path: {err}"
    );
    let left = std::fs::read_to_string(&listing).expect("listing");
    assert!(!left.contains("/cache/tmp/"), "{left}");
    assert!(!dir.join("out1b/fn.zip").exists());

    // 2. The output is on the full disk: the 1.6 MB artifact does not fit.
    let small = dir.join("small-out");
    let listing = dir.join("listing-out.txt");
    let out = with_full_disk(
        &small,
        &listing,
        &build_cmd(&dir, &dir.join("cache"), &small.join("fn.zip")),
    );
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("No space left on device"), "{err}");
    assert!(
        err.contains(small.to_str().expect("utf-8")),
        "names the path: {err}"
    );
    let left = std::fs::read_to_string(&listing).expect("listing");
    assert!(
        left.trim().is_empty(),
        "nothing half-written beside the artifact:\n{left}"
    );
}
