//! Installing wheels as pip would, and the runtime directory: what `/var/lang/lib/python3.X/
//! site-packages` holds on Lambda (the runtime-provided packages, and awslambdaric for bench),
//! installed once through lpack's resolver and cache. Shared by verify, bench and the bytecode
//! trace.

use std::path::Path;
use std::process::{Command, Stdio};

use super::error::VerifyError;
use crate::cache::Cache;
use crate::http::Http;
use crate::progress::Reporter;
use crate::resolve::index::IndexClient;
use crate::target::Target;
use crate::wheel::{Wheel, open_archive};

const RUNTIME_PROVIDED: &str = include_str!("../../data/lambda-runtime-provided.txt");
const RUNTIME_CLIENT: &str = include_str!("../../data/lambda-runtime-client.txt");

/// Install the packages the Lambda runtime provides into `dest` (purelib layout).
pub fn install_runtime(
    dest: &Path,
    target: &Target,
    cache: &Cache,
    client: &IndexClient,
    http: Option<&Http>,
    reporter: &dyn Reporter,
) -> Result<(), VerifyError> {
    install_pinned(
        RUNTIME_PROVIDED,
        dest,
        target,
        cache,
        client,
        http,
        reporter,
    )
}

/// Install a pinned requirement set (text) into `dest` through lpack's resolver and cache.
fn install_pinned(
    text: &str,
    dest: &Path,
    target: &Target,
    cache: &Cache,
    client: &IndexClient,
    http: Option<&Http>,
    reporter: &dyn Reporter,
) -> Result<(), VerifyError> {
    let err = |e: String| VerifyError::Runtime(e);
    let tmp = tempfile::Builder::new()
        .prefix("runtime-")
        .suffix(".txt")
        .tempfile_in(cache.root())
        .map_err(|e| err(e.to_string()))?;
    std::fs::write(tmp.path(), text).map_err(|e| err(e.to_string()))?;
    let pinned =
        crate::requirements::read_pinned(tmp.path(), target).map_err(|e| err(e.to_string()))?;
    drop(tmp);
    let lock = crate::resolve::resolve_pinned(&pinned, target, client, reporter)
        .map_err(|e| err(e.to_string()))?;
    let (wheels, _) = crate::fetch::fetch(&lock, cache, http, client.offline(), reporter)
        .map_err(|e| err(e.to_string()))?;
    for w in wheels {
        install_wheel(&w.path, &w.locked.filename, dest, target).map_err(err)?;
    }
    Ok(())
}

/// Install one wheel into `dest` as pip would (purelib/platlib/data at the root; scripts and
/// headers left out). Returns the installed paths.
pub(crate) fn install_wheel(
    path: &Path,
    filename: &str,
    dest: &Path,
    target: &Target,
) -> Result<Vec<String>, String> {
    let err = |e: &dyn std::fmt::Display| format!("{filename}: {e}");
    let wheel = Wheel::open(path, filename).map_err(|e| err(&e))?;
    let data_dir = crate::slim::data_dir_of(&wheel);
    let mut archive = open_archive(path, filename).map_err(|e| err(&e))?;
    let mut out = Vec::new();
    for e in &wheel.entries {
        if let crate::slim::Verdict::Keep(p) =
            crate::slim::plan_entry(&e.path, data_dir.as_deref(), target)
        {
            let t = dest.join(p.as_str());
            if let Some(d) = t.parent() {
                std::fs::create_dir_all(d).map_err(|e| err(&e))?;
            }
            let mut f = archive.by_index(e.index).map_err(|e| err(&e))?;
            let mut file = std::fs::File::create(&t).map_err(|e| err(&e))?;
            std::io::copy(&mut f, &mut file).map_err(|e| err(&e))?;
            out.push(p.to_string());
        }
    }
    Ok(out)
}

/// The runtime directory of `target` — what `/var/lang/lib/python3.X/site-packages` holds on
/// Lambda: the runtime-provided packages (boto3 and its dependencies) and, with
/// `runtime_client`, awslambdaric — installed once through lpack's resolver and cache into
/// `CACHE/runtime/KEY`, compiled to bytecode by `tools.python` (as Lambda's own directory is),
/// and reused. Shared by `lpack verify` and `lpack bench`.
pub fn runtime_dir(
    tools: &super::Tools<'_>,
    runtime_client: bool,
) -> Result<std::path::PathBuf, VerifyError> {
    let super::Tools {
        target,
        python,
        cache,
        client,
        http,
        reporter,
    } = *tools;
    let err = |e: String| VerifyError::Runtime(e);
    let (_, version) =
        crate::slim::bytecode::python_version(python).map_err(|e| err(e.to_string()))?;
    let mut text = RUNTIME_PROVIDED.to_string();
    if runtime_client {
        text.push_str(RUNTIME_CLIENT);
    }
    let key = crate::digest::sha256_hex(
        format!(
            "{text}\n{}\n{}",
            target.slug(),
            version.lines().next().unwrap_or("")
        )
        .as_bytes(),
    );
    let parent = cache.root().join("runtime");
    let dir = parent.join(&key[..16]);
    cache.note_path(&dir.join(".complete"));
    if dir.join(".complete").is_file() {
        return Ok(dir);
    }
    std::fs::create_dir_all(&parent).map_err(|e| err(e.to_string()))?;
    let staged = tempfile::Builder::new()
        .prefix(".staging-")
        .tempdir_in(&parent)
        .map_err(|e| err(e.to_string()))?;
    // Two files, each read on its own: the runtime-provided set is hashed, the client's pins
    // are not, and a requirements file is hashed all or nothing.
    install_pinned(
        RUNTIME_PROVIDED,
        staged.path(),
        target,
        cache,
        client,
        http,
        reporter,
    )?;
    if runtime_client {
        install_pinned(
            RUNTIME_CLIENT,
            staged.path(),
            target,
            cache,
            client,
            http,
            reporter,
        )?;
    }
    let out = Command::new(python)
        .args(["-I", "-m", "compileall", "-q", "-j", "0"])
        .arg(staged.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| err(format!("compiling with {}: {e}", python.display())))?;
    if !out.status.success() {
        return Err(err(format!(
            "compiling with {}: {}",
            python.display(),
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        )));
    }
    std::fs::write(staged.path().join(".complete"), key.as_bytes())
        .map_err(|e| err(e.to_string()))?;
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(staged.path(), std::fs::Permissions::from_mode(0o755));
    }
    let kept = staged.keep();
    if std::fs::rename(&kept, &dir).is_err() {
        // Another lpack finished first: use its copy.
        let _ = std::fs::remove_dir_all(&kept);
        if !dir.join(".complete").is_file() {
            return Err(err(format!("cannot create {}", dir.display())));
        }
    }
    Ok(dir)
}
