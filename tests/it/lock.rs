//! `lpack lock` and loose builds: resolution scenarios on a static PEP 503 index (with
//! `data-yanked`, `data-requires-python` and PEP 658 `.metadata` sidecars) that the test writes
//! and serves with `python -m http.server` on 127.0.0.1.

use std::path::{Path, PathBuf};

use crate::harness::*;

struct Dist<'a> {
    name: &'a str,
    version: &'a str,
    tags: &'a [&'a str],
    requires: &'a [&'a str],
    yanked: bool,
}

const fn d<'a>(name: &'a str, version: &'a str, requires: &'a [&'a str]) -> Dist<'a> {
    Dist {
        name,
        version,
        tags: &["py3-none-any"],
        requires,
        yanked: false,
    }
}

/// Write the scenario index under `root` and serve it.
fn scenario_index(root: &Path) -> Service {
    let dists = [
        // glibc backtracking: 2.0 ships only manylinux_2_28 wheels (both arches).
        Dist {
            tags: &[
                "cp311-cp311-manylinux2014_x86_64",
                "cp312-cp312-manylinux2014_x86_64",
                "cp311-cp311-manylinux2014_aarch64",
                "cp312-cp312-manylinux2014_aarch64",
            ],
            ..d("glib", "1.0", &[])
        },
        Dist {
            tags: &[
                "cp311-cp311-manylinux_2_28_x86_64",
                "cp312-cp312-manylinux_2_28_x86_64",
                "cp311-cp311-manylinux_2_28_aarch64",
                "cp312-cp312-manylinux_2_28_aarch64",
            ],
            ..d("glib", "2.0", &[])
        },
        d(
            "app",
            "1.0",
            &[
                "glib",
                "dep311 ; python_version < \"3.12\"",
                "armonly ; platform_machine == \"aarch64\"",
                "speedup ; extra == \"fast\"",
            ],
        ),
        d("dep311", "1.0", &[]),
        d("armonly", "1.0", &[]),
        d("speedup", "1.0", &[]),
        Dist {
            tags: &["cp38-abi3-manylinux2014_x86_64"],
            ..d("abi3pkg", "1.0", &[])
        },
        d("left", "1.0", &["shared<2"]),
        d("right", "1.0", &["shared>=2"]),
        d("shared", "1.0", &[]),
        d("shared", "2.0", &[]),
        d("yank", "1.0", &[]),
        Dist {
            yanked: true,
            ..d("yank", "2.0", &[])
        },
        d("pre", "1.0", &[]),
        d("pre", "2.0b1", &[]),
    ];
    let files = root.join("files");
    std::fs::create_dir_all(&files).expect("mkdir");
    let mut pages: std::collections::BTreeMap<String, String> = Default::default();
    for dist in &dists {
        for tag in dist.tags {
            let p = write_wheel_requiring(
                &files,
                dist.name,
                dist.version,
                tag,
                &[F(&format!("{}/__init__.py", dist.name), b"")],
                dist.requires,
            );
            let fname = p.file_name().expect("name").to_string_lossy().into_owned();
            let sha = lpack::digest::sha256_hex(&std::fs::read(&p).expect("wheel"));
            let meta = metadata_text(dist.name, dist.version, dist.requires);
            std::fs::write(files.join(format!("{fname}.metadata")), &meta).expect("metadata");
            let meta_sha = lpack::digest::sha256_hex(meta.as_bytes());
            let yanked = if dist.yanked {
                " data-yanked=\"broken\""
            } else {
                ""
            };
            pages.entry(dist.name.to_string()).or_default().push_str(&format!(
                "<a href=\"../../files/{fname}#sha256={sha}\" data-core-metadata=\"sha256={meta_sha}\"{yanked}>{fname}</a><br/>\n"
            ));
        }
    }
    // An sdist-only project.
    std::fs::write(files.join("onlysrc-1.0.tar.gz"), b"sdist").expect("sdist");
    pages.insert(
        "onlysrc".into(),
        "<a href=\"../../files/onlysrc-1.0.tar.gz\">onlysrc-1.0.tar.gz</a>\n".into(),
    );
    for (name, links) in pages {
        let dir = root.join("simple").join(&name);
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(
            dir.join("index.html"),
            format!("<!DOCTYPE html><html><body>\n{links}</body></html>\n"),
        )
        .expect("page");
    }
    let py = helper_python().to_string_lossy().into_owned();
    Service::start(
        &py,
        &[
            "-m".into(),
            "http.server".into(),
            "--bind".into(),
            "127.0.0.1".into(),
            "{port}".into(),
            "--directory".into(),
            root.display().to_string(),
        ],
        &root.join("server.log"),
    )
}

fn lock(dir: &Path, url: &str, body: &str, extra: &[&str]) -> (std::process::Output, PathBuf) {
    let r = dir.join("req.txt");
    std::fs::write(&r, body).expect("req");
    let out = dir.join("pylock.toml");
    let _ = std::fs::remove_file(&out);
    let o = run(lpack()
        .current_dir(dir)
        .args(["lock", "-r"])
        .arg(&r)
        .args(["--index-url", url, "-o"])
        .arg(&out)
        .arg("--cache-dir")
        .arg(dir.join("cache"))
        .args(extra));
    (o, out)
}

fn versions(pylock: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(pylock).expect("pylock");
    let mut out = Vec::new();
    let mut name = None;
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("name = \"") {
            if v.ends_with(".whl\"") {
                continue;
            }
            name = Some(v.trim_end_matches('"').to_string());
        } else if let Some(v) = line.strip_prefix("version = \"")
            && let Some(n) = name.take()
        {
            out.push((n, v.trim_end_matches('"').to_string()));
        }
    }
    out
}

fn has(v: &[(String, String)], name: &str, version: &str) -> bool {
    v.iter().any(|(n, x)| n == name && x == version)
}

#[test]
fn resolution_scenarios() {
    let dir = scratch("lock-scenarios");
    let srv = scenario_index(&dir.join("index"));
    let url = format!("http://127.0.0.1:{}/simple", srv.port);

    // glibc backtracking and markers, python3.11 on x86_64.
    let (o, p) = lock(
        &dir,
        &url,
        "app\n",
        &["--runtime", "python3.11", "--arch", "x86_64"],
    );
    assert!(o.status.success());
    let v = versions(&p);
    assert!(
        has(&v, "glib", "1.0"),
        "AL2's glibc 2.26 cannot run glib 2.0: {v:?}"
    );
    assert!(
        has(&v, "dep311", "1.0") && !v.iter().any(|(n, _)| n == "armonly" || n == "speedup"),
        "{v:?}"
    );
    let text = std::fs::read_to_string(&p).expect("lock");
    assert!(
        text.contains("runtime = \"python3.11\"") && text.contains("hashes = { sha256 = "),
        "{text}"
    );

    // python3.12 on arm64 with an extra.
    let (o, p) = lock(
        &dir,
        &url,
        "app[fast]\nabi3pkg ; platform_machine == 'x86_64'\n",
        &["--runtime", "python3.12", "--arch", "arm64"],
    );
    assert!(o.status.success());
    let v = versions(&p);
    assert!(
        has(&v, "glib", "2.0") && has(&v, "armonly", "1.0") && has(&v, "speedup", "1.0"),
        "{v:?}"
    );
    assert!(
        !v.iter().any(|(n, _)| n == "dep311" || n == "abi3pkg"),
        "{v:?}"
    );

    // abi3 wheels serve newer Pythons.
    let (o, p) = lock(&dir, &url, "abi3pkg\n", &["--runtime", "python3.12"]);
    assert!(o.status.success());
    assert!(has(&versions(&p), "abi3pkg", "1.0"));

    // A conflict, explained.
    let (o, _) = lock(&dir, &url, "left\nright\n", &[]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains("left") && err.contains("right") && err.contains("shared"),
        "{err}"
    );

    // Versions that exist but have no wheel for the target are named with the reason.
    let (o, _) = lock(&dir, &url, "glib>=2\n", &["--runtime", "python3.11"]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains("glib 2.0 has no wheel for python3.11 on x86_64 (glibc 2.26)"),
        "{err}"
    );

    // sdist only.
    let (o, _) = lock(&dir, &url, "onlysrc\n", &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("source distributions"),
        "{}",
        stderr(&o)
    );

    // Yanked versions are skipped unless pinned exactly.
    let (o, p) = lock(&dir, &url, "yank\n", &[]);
    assert!(o.status.success());
    assert!(has(&versions(&p), "yank", "1.0"));
    let (o, p) = lock(&dir, &url, "yank==2.0\n", &[]);
    assert!(o.status.success());
    assert!(has(&versions(&p), "yank", "2.0"));
    assert!(
        stderr(&o).contains("yanked"),
        "a warning says so: {}",
        stderr(&o)
    );

    // Pre-releases (as uv): not by default, not even when nothing else matches; yes when a
    // requirement names one or when allowed.
    let (o, p) = lock(&dir, &url, "pre\n", &[]);
    assert!(o.status.success());
    assert!(has(&versions(&p), "pre", "1.0"));
    let (o, _) = lock(&dir, &url, "pre>1.0\n", &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("pre 2.0b1 is a pre-release: to use it, require one explicitly"),
        "{}",
        stderr(&o)
    );
    let (o, p) = lock(&dir, &url, "pre>=2.0b1\n", &[]);
    assert!(o.status.success());
    assert!(has(&versions(&p), "pre", "2.0b1"));
    let (o, p) = lock(&dir, &url, "pre\n", &["--prerelease", "allow"]);
    assert!(o.status.success());
    assert!(has(&versions(&p), "pre", "2.0b1"));

    // A direct wheel (`name @ file://…`) that is on no index, with dependencies of its own.
    let wheels = dir.join("direct");
    std::fs::create_dir_all(&wheels).expect("mkdir");
    let w = write_wheel_requiring(
        &wheels,
        "directpkg",
        "3.0",
        "py3-none-any",
        &[F("directpkg/__init__.py", b"D = 3\n")],
        &["shared<2"],
    );
    let (o, p) = lock(
        &dir,
        &url,
        &format!("directpkg @ file://{}\n", w.display()),
        &[],
    );
    assert!(o.status.success());
    let v = versions(&p);
    assert!(
        has(&v, "directpkg", "3.0") && has(&v, "shared", "1.0"),
        "{v:?}"
    );
    let b = run(lpack()
        .current_dir(&dir)
        .args([
            "build",
            "-r",
            "req.txt",
            "--index-url",
            &url,
            "--bytecode",
            "none",
            "-q",
            "-o",
            "out/direct.zip",
        ])
        .arg("--cache-dir")
        .arg(dir.join("cache")));
    assert!(b.status.success());
    assert!(
        zip_names(&dir.join("out/direct.zip"))
            .iter()
            .any(|n| n == "directpkg/__init__.py")
    );

    // The lock builds offline, and refuses another target.
    let (o, p) = lock(&dir, &url, "app\n", &["--runtime", "python3.11"]);
    assert!(o.status.success());
    let b = run(lpack()
        .current_dir(&dir)
        .args(["build", "-r"])
        .arg(&p)
        .args([
            "--runtime",
            "python3.11",
            "--bytecode",
            "none",
            "-q",
            "-o",
            "out/fn.zip",
        ])
        .arg("--cache-dir")
        .arg(dir.join("cache")));
    assert!(b.status.success());
    drop(srv);
    let b = run(lpack()
        .current_dir(&dir)
        .args(["build", "-r"])
        .arg(&p)
        .args([
            "--runtime",
            "python3.11",
            "--bytecode",
            "none",
            "-q",
            "--offline",
            "-o",
            "out/fn2.zip",
        ])
        .arg("--cache-dir")
        .arg(dir.join("cache")));
    assert!(
        b.status.success(),
        "a pylock builds offline from a warm cache"
    );
    let b = run(lpack()
        .current_dir(&dir)
        .args(["build", "-r"])
        .arg(&p)
        .args(["--runtime", "python3.12", "--offline", "-o", "out/fn3.zip"])
        .arg("--cache-dir")
        .arg(dir.join("cache")));
    assert_eq!(b.status.code(), Some(2));
    assert!(
        stderr(&b).contains("locked for python3.11 on x86_64"),
        "{}",
        stderr(&b)
    );
}
