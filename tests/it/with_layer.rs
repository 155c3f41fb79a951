//! `--with-layer`: function zips built against layers lpack did not build — lpack's own layer
//! zip taken as a foreign one, and a hand-assembled `python/lib/python3.X/site-packages/` zip
//! with a gcc-built library under `lib/`.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::harness::*;

fn req(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).expect("requirements");
    p
}

fn build(dir: &Path, r: &Path, extra: &[&str]) -> std::process::Output {
    run(lpack()
        .current_dir(dir)
        .args(["build", "-r"])
        .arg(r)
        .args([
            "--runtime",
            "python3.11",
            "--bytecode",
            "none",
            "--index-url",
            index(IndexKind::Html),
        ])
        .arg("--cache-dir")
        .arg(dir.join("cache"))
        .args(extra))
}

fn manifest(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).expect("manifest")).expect("json")
}

/// A layer zip written by hand, as users and publishers build them: `(path, bytes)` entries,
/// plus `big` bytes of zeros in one file when asked.
pub fn hand_layer(path: &Path, files: &[(&str, Vec<u8>)], big: u64) {
    let file = std::fs::File::create(path).expect("create zip");
    let mut z = zip::ZipWriter::new(file);
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(big > u32::MAX as u64);
    for (name, body) in files {
        z.start_file(*name, opts).expect("entry");
        z.write_all(body).expect("write");
    }
    if big > 0 {
        z.start_file("python/lib/python3.11/site-packages/bigdata/blob.bin", opts)
            .expect("entry");
        let chunk = vec![0u8; 1 << 20];
        let mut left = big;
        while left > 0 {
            let n = left.min(chunk.len() as u64) as usize;
            z.write_all(&chunk[..n]).expect("write");
            left -= n as u64;
        }
    }
    z.finish().expect("finish");
}

/// `purelib 2.0` (marked as the layer's copy) under `python/lib/python3.11/site-packages/`, and
/// the library `needsdep`'s extension needs under `lib/` (on Lambda's LD_LIBRARY_PATH as /opt/lib).
pub(crate) fn purelib_layer(dir: &Path, version: &str, big: u64) -> PathBuf {
    let site = "python/lib/python3.11/site-packages";
    let work = dir.join("gcc");
    std::fs::create_dir_all(&work).expect("mkdir");
    let lib = gcc_shared(&work, "libmissingdep", "int dep(void) { return 1; }\n", &[]);
    let init = format!("VERSION = '{version}'\nMARK = 'LAYER'\n");
    let record = format!(
        "purelib/__init__.py,,\npurelib/tests/test_core.py,,\npurelib-{version}.dist-info/METADATA,,\npurelib-{version}.dist-info/RECORD,,\n"
    );
    let zip = dir.join(format!("hand-{version}.zip"));
    hand_layer(
        &zip,
        &[
            (&format!("{site}/purelib/__init__.py"), init.into_bytes()),
            (
                &format!("{site}/purelib/tests/test_core.py"),
                "def test_it():\n    assert True\n".repeat(200).into_bytes(),
            ),
            (
                &format!("{site}/purelib-{version}.dist-info/METADATA"),
                format!("Metadata-Version: 2.1\nName: purelib\nVersion: {version}\n").into_bytes(),
            ),
            (
                &format!("{site}/purelib-{version}.dist-info/RECORD"),
                record.into_bytes(),
            ),
            ("lib/libmissingdep.so", lib),
        ],
        big,
    );
    zip
}

fn app(dir: &Path, code: &str) {
    std::fs::create_dir_all(dir.join("app")).expect("mkdir");
    std::fs::write(dir.join("app/app.py"), code).expect("app");
}

#[test]
fn lpack_layer_zip_as_a_foreign_layer() {
    let dir = scratch("with-layer-own");
    let r = req(&dir, "requirements.txt", "fastmath==1.0\npurelib==2.0\n");
    let out = build(&dir, &r, &["--format", "layer", "-o", "out/deps.zip"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // Taken as any published layer: only the zip, not its manifest.
    std::fs::rename(dir.join("out/deps.zip"), dir.join("deps.zip")).expect("move");
    app(
        &dir,
        "import fastmath, purelib\nassert purelib.MARK == 'NEW'\ndef handler(e, c):\n    return fastmath.add(1, 2)\n",
    );
    let mut extra = vec!["--src", "app", "--handler", "app.handler"];
    extra.extend(["--with-layer", "deps.zip", "-o", "out/fn.zip"]);
    let out = build(&dir, &r, &extra);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("layer deps.zip (2 distributions")
            && text.contains(
                "provides 2 of your distributions, left out of the function: fastmath, purelib"
            ),
        "{text}"
    );
    assert!(text.contains("with 1 layer(s) (deps.zip)"), "{text}");
    assert!(
        text.contains("the function ships no distributions of its own"),
        "{text}"
    );
    assert!(text.contains("verified"), "{text}");
    assert_eq!(
        zip_names(&dir.join("out/fn.zip")),
        vec!["app.py".to_string()]
    );
    let m = manifest(&dir.join("out/fn.zip.lpack.json"));
    let l = &m["layers"][0];
    assert_eq!(l["file"], "deps.zip");
    assert_eq!(l["external"]["source"], "deps.zip");
    assert_eq!(
        l["external"]["packages"],
        serde_json::json!(["fastmath==1.0", "purelib==2.0"])
    );
    assert!(
        l["external"]["libraries"].as_array().is_some_and(|a| a
            .iter()
            .any(|p| p.as_str().is_some_and(|p| p.contains("fastmath/_core")))),
        "{l}"
    );
    assert_eq!(m["verify"]["handler"]["status"], "ok", "{}", m["verify"]);

    // An lpack layer with its manifest beside it says which runtime it was built for.
    let pure = req(&dir, "pure.txt", "purelib==2.0\n");
    let out = run(lpack()
        .current_dir(&dir)
        .args(["build", "-r"])
        .arg(&pure)
        .args([
            "--runtime",
            "python3.12",
            "--bytecode",
            "none",
            "--format",
            "layer",
        ])
        .args(["--index-url", index(IndexKind::Html), "-o", "out/py312.zip"])
        .arg("--cache-dir")
        .arg(dir.join("cache")));
    assert!(out.status.success(), "{}", stderr(&out));
    let out = build(
        &dir,
        &r,
        &["--with-layer", "out/py312.zip", "-o", "out/x.zip"],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("published for python3.12")
            && stderr(&out).contains("the target is python3.11"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn hand_assembled_layer_excludes_resolves_libraries_and_verifies_through_opt() {
    let dir = scratch("with-layer-hand");
    fixtures();
    let layer = purelib_layer(&dir, "2.0", 0);
    let layer_arg = layer.to_str().expect("utf-8");
    let r = req(&dir, "requirements.txt", "purelib==2.0\nneedsdep==1.0\n");
    // The handler imports purelib from /opt: its module code fails on any other copy.
    app(
        &dir,
        "import purelib, needsdep\nassert purelib.MARK == 'LAYER', purelib.MARK\ndef handler(e, c):\n    return purelib.VERSION\n",
    );

    // needsdep's extension needs libmissingdep.so: without the layer, the ABI audit refuses.
    let out = build(&dir, &r, &["--src", "app", "-o", "out/alone.zip"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("libmissingdep.so"),
        "{}",
        stderr(&out)
    );

    let out = build(
        &dir,
        &r,
        &[
            "--src",
            "app",
            "--handler",
            "app.handler",
            "--verify",
            "--with-layer",
            layer_arg,
            "-o",
            "out/fn.zip",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("left out of the function: purelib"), "{text}");
    assert!(
        text.contains("the function still ships: needsdep 1.0"),
        "{text}"
    );
    assert!(text.contains("with 1 layer(s) (hand-2.0.zip)"), "{text}");
    let names = zip_names(&dir.join("out/fn.zip"));
    assert!(!names.iter().any(|n| n.starts_with("purelib")), "{names:?}");
    assert!(names.iter().any(|n| n == "needsdep/libuse.so"), "{names:?}");
    let m = manifest(&dir.join("out/fn.zip.lpack.json"));
    assert_eq!(
        m["layers"][0]["distributions"],
        serde_json::json!(["purelib"])
    );
    assert_eq!(
        m["layers"][0]["external"]["libraries"],
        serde_json::json!(["lib/libmissingdep.so"])
    );
    assert_eq!(m["verify"]["handler"]["status"], "ok", "{}", m["verify"]);
    // --json says the same (up to date now: nothing is rebuilt).
    let out = build(
        &dir,
        &r,
        &[
            "--src",
            "app",
            "--handler",
            "app.handler",
            "--with-layer",
            layer_arg,
            "-o",
            "out/fn.zip",
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let j: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(j["unchanged"], true);
    assert_eq!(
        j["layers"][0]["distributions"],
        serde_json::json!(["purelib"])
    );
    let layer_size = m["layers"][0]["unzipped_size"].as_u64().expect("size");
    assert_eq!(
        j["combined_unzipped_size"].as_u64(),
        Some(j["unzipped_size"].as_u64().expect("size") + layer_size)
    );

    // `lpack audit` of the function resolves needsdep's DT_NEEDED against the layer too.
    let out = run(lpack()
        .current_dir(&dir)
        .args(["audit", "out/fn.zip", "--json"]));
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(
        !stdout(&out).contains("libmissingdep.so"),
        "{}",
        stdout(&out)
    );

    // `lpack verify` later stacks the same layer under /opt; a changed layer is refused.
    let out = run(lpack()
        .current_dir(&dir)
        .args(["verify", "out/fn.zip", "--cache-dir"])
        .arg(dir.join("cache")));
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let moved = dir.join("hand-2.0.zip.orig");
    std::fs::rename(&layer, &moved).expect("move");
    purelib_layer(&dir, "2.0", 0);
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&layer)
        .expect("open");
    f.write_all(b"trailing").expect("append");
    drop(f);
    let out = run(lpack()
        .current_dir(&dir)
        .args(["verify", "out/fn.zip", "--cache-dir"])
        .arg(dir.join("cache")));
    assert!(!out.status.success());
    assert!(
        format!("{}{}", stdout(&out), stderr(&out)).contains("changed since"),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    std::fs::rename(&moved, &layer).expect("restore");
}

#[test]
fn version_mismatch_is_an_error_unless_a_copy_is_preferred() {
    let dir = scratch("with-layer-mismatch");
    let layer = purelib_layer(&dir, "2.0", 0);
    let layer_arg = layer.to_str().expect("utf-8");
    let r = req(&dir, "requirements.txt", "purelib==1.0\n");
    let out = build(&dir, &r, &["--with-layer", layer_arg, "-o", "out/fn.zip"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("the layer hand-2.0.zip has purelib 2.0; your lock pins 1.0"),
        "{err}"
    );
    assert!(
        err.contains("--prefer-layer") && err.contains("--prefer-function"),
        "{err}"
    );
    assert!(!dir.join("out/fn.zip").exists());
    // Layers and images take no layers.
    let out = build(
        &dir,
        &r,
        &[
            "--with-layer",
            layer_arg,
            "--format",
            "layer",
            "-o",
            "out/l.zip",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--with-layer builds a function zip"),
        "{}",
        stderr(&out)
    );

    let out = build(
        &dir,
        &r,
        &[
            "--with-layer",
            layer_arg,
            "--prefer-layer",
            "-o",
            "out/layer.zip",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        !zip_names(&dir.join("out/layer.zip"))
            .iter()
            .any(|n| n.starts_with("purelib")),
    );
    let m = manifest(&dir.join("out/layer.zip.lpack.json"));
    assert!(
        m["layers"][0]["external"]["mismatches"][0]
            .as_str()
            .is_some_and(|s| s.contains("--prefer-layer")),
        "{m}"
    );

    let out = build(
        &dir,
        &r,
        &[
            "--with-layer",
            layer_arg,
            "--prefer-function",
            "-o",
            "out/own.zip",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        zip_names(&dir.join("out/own.zip"))
            .iter()
            .any(|n| n == "purelib/__init__.py"),
    );
    let m = manifest(&dir.join("out/own.zip.lpack.json"));
    assert_eq!(m["layers"][0]["distributions"], serde_json::json!([]));
    assert!(
        stdout(&out).contains("the function still ships: purelib 1.0"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn the_layer_counts_toward_the_250_mb() {
    let dir = scratch("with-layer-size");
    // 263 MB of zeros (Lambda allows 262,144,000 bytes): a tiny zip, but Lambda counts it unzipped.
    let layer = purelib_layer(&dir, "2.0", 263 * 1_000_000);
    let layer_arg = layer.to_str().expect("utf-8");
    let r = req(&dir, "requirements.txt", "purelib==2.0\nfastmath==1.0\n");
    let out = build(&dir, &r, &["--with-layer", layer_arg, "-o", "out/fn.zip"]);
    assert!(!out.status.success());
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert!(all.contains("over Lambda's limit"), "{all}");
    assert!(all.contains("function + layers"), "{all}");
    assert!(all.contains("bigdata"), "the layer's rows are named: {all}");
}

#[test]
fn size_report_of_a_layer_alone_and_with_its_function() {
    let dir = scratch("with-layer-report");
    let layer = purelib_layer(&dir, "2.0", 0);
    let layer_arg = layer.to_str().expect("utf-8");
    let out = run(lpack().current_dir(&dir).args([
        "size-report",
        "--layer",
        layer_arg,
        "--runtime",
        "python3.11",
    ]));
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("purelib"), "{text}");
    assert!(text.contains("layer hand-2.0.zip"), "{text}");
    // The test suite inside the package: 6,200 bytes the safe profile removes.
    assert!(
        text.contains("the safe profile would remove 6.2 kB") && text.contains("tests 6.2 kB"),
        "{text}"
    );
    assert!(text.contains("most from: purelib 6.2 kB"), "{text}");
    let out = run(lpack().current_dir(&dir).args([
        "size-report",
        "--json",
        "--layer",
        layer_arg,
        "--runtime",
        "python3.11",
    ]));
    let j: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(j["layers"][0]["distributions"][0]["name"], "purelib");
    assert_eq!(j["layers"][0]["distributions"][0]["version"], "2.0");
    assert_eq!(
        j["layers"][0]["safe_profile"]["total"]["removed"]["tests"],
        6200
    );
    assert_eq!(
        j["layers"][0]["libraries"],
        serde_json::json!(["lib/libmissingdep.so"])
    );

    // Read for another Python, the layer's packages are not on sys.path: said, not hidden.
    let out = run(lpack().current_dir(&dir).args([
        "size-report",
        "--layer",
        layer_arg,
        "--runtime",
        "python3.12",
    ]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("purelib 2.0 (python3.11)")
            && stdout(&out).contains("cannot import them"),
        "{}",
        stdout(&out)
    );

    // A function built against it: its report counts the layer, a row of its own.
    let r = req(&dir, "requirements.txt", "purelib==2.0\nfastmath==1.0\n");
    let out = build(&dir, &r, &["--with-layer", layer_arg, "-o", "out/fn.zip"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run(lpack()
        .current_dir(&dir)
        .args(["size-report", "--json", "out/fn.zip"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let j: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    let files: Vec<&str> = j["artifacts"]
        .as_array()
        .expect("artifacts")
        .iter()
        .filter_map(|a| a["file"].as_str())
        .collect();
    assert_eq!(files, vec!["fn.zip", "hand-2.0.zip"]);
    let unzipped: u64 = j["artifacts"]
        .as_array()
        .expect("artifacts")
        .iter()
        .filter_map(|a| a["unzipped"].as_u64())
        .sum();
    assert_eq!(j["limits"][0]["used"].as_u64(), Some(unzipped));
    assert!(
        j["distributions"]
            .as_array()
            .expect("rows")
            .iter()
            .any(|d| d["name"] == "purelib" && d["version"] == "2.0"),
        "{j}"
    );
}

/// `--with-layer ARN` against moto's server (tests/helpers/moto_layers.py says what it changes:
/// moto's GetLayerVersion answers Location `s3://`; there it is a pre-signed URL of the zip in
/// moto's S3, as AWS gives one). Fake credentials that must never be printed.
#[cfg(feature = "aws")]
mod by_arn {
    use super::*;
    use std::process::Command;

    const KEY_ID: &str = "AKIALPACKLAYERKEY123";
    const SECRET: &str = "lpack/LAYER/secret/DO-NOT-PRINT/fedcba9876543210";

    fn helper() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/helpers/moto_layers.py")
    }

    fn call(url: &str, args: &[&str]) -> String {
        let o = Command::new(helper_python())
            .arg(helper())
            .arg(args[0])
            .arg(url)
            .args(&args[1..])
            .output()
            .expect("python");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    }

    fn arn_build(dir: &Path, url: &str, r: &Path, extra: &[&str]) -> std::process::Output {
        let mut c = aws_env(url);
        c.current_dir(dir)
            .args(["build", "-r"])
            .arg(r)
            .args([
                "--runtime",
                "python3.11",
                "--bytecode",
                "none",
                "--index-url",
                index(IndexKind::Html),
            ])
            .arg("--cache-dir")
            .arg(dir.join("cache"))
            .args(extra);
        run(&mut c)
    }

    /// lpack with the fake key and nothing of the host's AWS setup, talking to `url`.
    fn aws_env(url: &str) -> Command {
        let mut c = lpack();
        for v in [
            "AWS_PROFILE",
            "AWS_SESSION_TOKEN",
            "AWS_REGION",
            "AWS_DEFAULT_REGION",
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
            .env("AWS_ENDPOINT_URL", url);
        c
    }

    fn no_secrets(o: &std::process::Output) {
        let all = format!("{}{}", stdout(o), stderr(o));
        assert!(!all.contains(KEY_ID) && !all.contains(SECRET), "{all}");
    }

    #[test]
    fn published_layer_is_downloaded_verified_and_cached() {
        if !have_moto() {
            return;
        }
        let dir = scratch("with-layer-arn");
        let (_svc, url) = start_moto(&dir, Some(&helper()));
        // Lambda without Docker (invokes echo), set first: moto resets its state when configured.
        moto_lambda_without_docker(&url);
        let layer = purelib_layer(&dir, "2.0", 0);
        let arn = call(
            &url,
            &[
                "publish",
                layer.to_str().expect("utf-8"),
                "purelib-layer",
                "python3.11",
                std::env::consts::ARCH.replace("aarch64", "arm64").as_str(),
            ],
        );
        assert!(arn.starts_with("arn:aws:lambda:us-east-1:"), "{arn}");
        let r = req(&dir, "requirements.txt", "purelib==2.0\nfastmath==1.0\n");
        app(
            &dir,
            "import purelib\nassert purelib.MARK == 'LAYER'\ndef handler(e, c):\n    return 1\n",
        );
        let args = [
            "--src",
            "app",
            "--handler",
            "app.handler",
            "--with-layer",
            arn.as_str(),
            "-o",
            "out/fn.zip",
        ];
        let out = arn_build(&dir, &url, &r, &args);
        no_secrets(&out);
        assert!(out.status.success(), "{}", stderr(&out));
        let text = stdout(&out);
        assert!(
            text.contains("layer purelib-layer:1 (1 distributions")
                && text.contains("left out of the function: purelib"),
            "{text}"
        );
        assert!(text.contains("verified"), "{text}");
        let m = manifest(&dir.join("out/fn.zip.lpack.json"));
        let ext = &m["layers"][0]["external"];
        assert_eq!(ext["source"], arn.as_str());
        assert_eq!(
            ext["compatible_runtimes"],
            serde_json::json!(["python3.11"])
        );
        // CodeSha256 is moto's base64 sha256 of the zip: the same bytes lpack cached.
        let sha = m["layers"][0]["sha256"].as_str().expect("sha256");
        assert_eq!(
            sha,
            lpack::digest::sha256_file(&layer).expect("sha"),
            "the cached download is the published zip"
        );
        assert!(
            ext["code_sha256"]
                .as_str()
                .is_some_and(|s| s.ends_with('='))
        );

        // A layer whose bytes no longer match CodeSha256 (the object replaced after
        // publishing; another zip than the first, which is cached): refused, nothing cached,
        // nothing written.
        let fresh = purelib_layer(&dir.join("fresh"), "2.0", 10);
        let arn2 = call(
            &url,
            &[
                "publish",
                fresh.to_str().expect("utf-8"),
                "altered-layer",
                "python3.11",
                std::env::consts::ARCH.replace("aarch64", "arm64").as_str(),
            ],
        );
        let other = purelib_layer(&dir.join("other"), "2.0", 1000);
        call(
            &url,
            &[
                "put",
                "lpack-layers",
                "altered-layer.zip",
                other.to_str().expect("utf-8"),
            ],
        );
        let args2 = ["--with-layer", arn2.as_str(), "-o", "out/bad.zip"];
        let out = arn_build(&dir, &url, &r, &args2);
        no_secrets(&out);
        assert!(!out.status.success());
        assert!(
            stderr(&out).contains("but Lambda's CodeSha256 is"),
            "{}",
            stderr(&out)
        );
        assert!(!dir.join("out/bad.zip").exists());
        let fresh_sha = lpack::digest::sha256_file(&fresh).expect("sha");
        assert!(
            !dir.join("cache/blobs-v1/sha256").join(&fresh_sha).exists(),
            "a download that failed its check is not cached"
        );

        // The download is cached by its hash: with the object gone bad for the first layer
        // too, a rebuild still uses the verified copy.
        call(
            &url,
            &[
                "put",
                "lpack-layers",
                "purelib-layer.zip",
                other.to_str().expect("utf-8"),
            ],
        );
        let out = arn_build(&dir, &url, &r, &args);
        no_secrets(&out);
        assert!(out.status.success(), "{}", stderr(&out));

        // Bench on AWS (dry run: nothing is called): the function's layer is attached by its
        // ARN, not published again; its zip comes from the cache the build filled.
        let o = run(lpack()
            .current_dir(&dir)
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env("LPACK_CACHE_DIR", dir.join("cache"))
            .args([
                "bench",
                "--backend",
                "aws",
                "--dry-run",
                "--region",
                "us-east-1",
            ])
            .args(["--endpoint-url", "http://127.0.0.1:9"])
            .args(["out/fn.zip.lpack.json", "--handler", "app.handler"])
            .args(["--role-arn", "arn:aws:iam::123456789012:role/x"]));
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let plan = stdout(&o);
        assert!(
            plan.contains(&format!("(attaches)      {arn}")) && !plan.contains("layer version"),
            "{plan}"
        );
        assert!(plan.contains("layers purelib-layer:1"), "{plan}");

        // And deployed (moto without Docker: invokes echo): the function has the layer by its
        // ARN, and lpack published no layer version of its own.
        let state_py = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/helpers/moto_state.py");
        let o = Command::new(helper_python())
            .arg(&state_py)
            .args([&url, "setup"])
            .output()
            .expect("python");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let role = String::from_utf8_lossy(&o.stdout).trim().to_string();
        let o = run(aws_env(&url)
            .current_dir(&dir)
            .env("LPACK_CACHE_DIR", dir.join("cache"))
            .args(["bench", "--backend", "aws", "--region", "us-east-1"])
            .args(["--endpoint-url", &url, "--role-arn", &role, "--keep"])
            .args(["out/fn.zip.lpack.json", "--handler", "app.handler"])
            .args(["--runs", "1", "--warm", "0", "--out"])
            .arg(dir.join("bench-aws")));
        no_secrets(&o);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let o = Command::new(helper_python())
            .arg(&state_py)
            .args([&url, "state"])
            .output()
            .expect("python");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let st: serde_json::Value = serde_json::from_slice(&o.stdout).expect("state");
        let fns = st["functions"].as_array().expect("functions");
        assert!(
            fns.iter()
                .any(|f| f["layers"] == serde_json::json!([arn.as_str()])),
            "{st}"
        );
        let names: Vec<&str> = st["layers"]
            .as_array()
            .expect("layers")
            .iter()
            .filter_map(|l| l["name"].as_str())
            .collect();
        assert!(
            names
                .iter()
                .all(|n| ["purelib-layer", "altered-layer"].contains(n)),
            "{names:?}"
        );

        // Published for another runtime: refused before anything is built.
        let arn3 = call(
            &url,
            &[
                "publish",
                layer.to_str().expect("utf-8"),
                "py312-layer",
                "python3.12",
                std::env::consts::ARCH.replace("aarch64", "arm64").as_str(),
            ],
        );
        let args3 = ["--with-layer", arn3.as_str(), "-o", "out/wrong.zip"];
        let out = arn_build(&dir, &url, &r, &args3);
        no_secrets(&out);
        assert!(!out.status.success());
        assert!(
            stderr(&out).contains(
                "published for python3.12 (its CompatibleRuntimes / CompatibleArchitectures); the target is python3.11"
            ),
            "{}",
            stderr(&out)
        );

        // An ARN that does not exist: moto's error, without the key.
        let missing = format!("{}9", arn3.trim_end_matches(char::is_numeric));
        let args4 = ["--with-layer", missing.as_str(), "-o", "out/missing.zip"];
        let out = arn_build(&dir, &url, &r, &args4);
        no_secrets(&out);
        assert!(!out.status.success());
        assert!(stderr(&out).contains("GetLayerVersion"), "{}", stderr(&out));
    }
}

#[test]
fn a_config_function_names_its_layer() {
    let dir = scratch("with-layer-config");
    let layer = purelib_layer(&dir.join("layers"), "2.0", 0);
    assert!(layer.is_file());
    std::fs::write(dir.join("a.txt"), "purelib==2.0\nfastmath==1.0\n").expect("req");
    // `with-layers` (the plural) is read as `with-layer`, relative to the config file.
    std::fs::write(
        dir.join("lpack.toml"),
        format!(
            "runtime = \"python3.11\"\nindex-url = \"{}\"\ncache-dir = \"cache\"\nbytecode = \"none\"\n\n[functions.a]\nrequirements = \"a.txt\"\nwith-layers = [\"layers/hand-2.0.zip\"]\n\n[functions.b]\nrequirements = \"a.txt\"\n",
            index(IndexKind::Html)
        ),
    )
    .expect("config");
    let out = run(lpack().current_dir(&dir).args(["build"]));
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let a = zip_names(&dir.join("dist/a.zip"));
    let b = zip_names(&dir.join("dist/b.zip"));
    assert!(!a.iter().any(|n| n.starts_with("purelib/")), "{a:?}");
    assert!(b.iter().any(|n| n.starts_with("purelib/")), "{b:?}");
    let m = manifest(&dir.join("dist/a.zip.lpack.json"));
    assert!(
        m["layers"][0]["external"]["source"]
            .as_str()
            .is_some_and(|s| s.ends_with("layers/hand-2.0.zip")),
        "{m}"
    );
}
