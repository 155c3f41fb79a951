//! The content key of a build: a sha256 over everything that decides its artifacts' bytes and
//! manifests, built from contents only (no paths of this machine, no timestamps), so that two
//! runners building the same unit from the same checkout compute the same key. It names the
//! whole artifacts in the local and remote caches ([`super::shared`]).
//!
//! Not the local up-to-date check: that one ([`super::units`]' input hash) is computed after
//! slimming and compares with the manifest beside the output; this one is computed right after
//! locking, before any wheel is fetched, so that a hit costs no wheel at all.
//!
//! What goes in: lpack's version and the remote and manifest schema versions; the target; the
//! input file's path (relative to the working directory) and its bytes; the lock (every wheel's
//! name, version, file name and sha256 — not its URL, so mirrors agree); the handler files (path
//! and sha256 of each, from the one walk of `src`); the recipes (built-in and user, by content);
//! the layer manifests a function is built against (by content) and the layers attached with
//! `--with-layer` (a zip by content, an ARN by name); the source date epoch; and
//! every setting of the request that shapes the output.

use std::path::Path;

use super::error::BuildError;
use super::request::BuildRequest;
use crate::digest::sha256_hex;
use crate::resolve::Lock;

/// Everything the key needs that the pipeline computes.
pub struct KeyInputs<'a> {
    pub input: &'a Path,
    pub lock: &'a Lock,
    pub src_digests: &'a [(String, String)],
    pub recipes_digest: &'a str,
    pub epoch: u64,
    /// The artifact's file name (manifests record it).
    pub output_name: &'a str,
}

fn file_digest(p: &Path) -> Result<String, BuildError> {
    crate::digest::sha256_file(p).map_err(|source| BuildError::Write {
        path: p.to_path_buf(),
        source,
    })
}

/// A layer manifest by content, without what is local to the build that wrote it (the no-change
/// fingerprint of file times, `--timings`): a layer rebuilt, restored from a cache or built on
/// another runner names the same content, so the functions built against it keep their keys.
/// `p` is the manifest or the layer zip beside it. Remembered per process while the file keeps
/// its size and mtime (the functions of a config share one layer's 1.6 MB manifest).
type Seen = Vec<(std::path::PathBuf, (u64, std::time::SystemTime), String)>;
/// Layer manifest digests of this process, by file and the (size, mtime) it had.
static SEEN: std::sync::Mutex<Seen> = std::sync::Mutex::new(Vec::new());

/// A manifest by content: written compact without its local fields (`fingerprint`, `timings`).
fn manifest_content_digest(mut m: crate::artifact::ArtifactManifest) -> Option<String> {
    use sha2::Digest;
    m.fingerprint = None;
    m.timings = None;
    let mut h = sha2::Sha256::new();
    serde_json::to_writer(&mut h, &m).ok()?;
    Some(crate::digest::hex(&h.finalize()))
}

/// Remember the digest of the layer manifest at `file`, which this process has in memory as
/// `m` (it wrote it: a layer of this run), so that the functions built against the layer need
/// not read it back.
pub fn remember_layer_manifest(file: &Path, m: &crate::artifact::ArtifactManifest) {
    let Some(stamp) = std::fs::metadata(file)
        .ok()
        .and_then(|meta| Some((meta.len(), meta.modified().ok()?)))
    else {
        return;
    };
    let Some(digest) = manifest_content_digest(m.clone()) else {
        return;
    };
    let mut seen = SEEN.lock().unwrap_or_else(|p| p.into_inner());
    seen.retain(|(f, _, _)| f != file);
    if seen.len() >= 8 {
        seen.remove(0);
    }
    seen.push((file.to_path_buf(), stamp, digest));
}

fn layer_manifest_digest(p: &Path) -> Result<String, BuildError> {
    let file = if p.extension().is_some_and(|e| e == "json") {
        p.to_path_buf()
    } else {
        crate::artifact::manifest_path(p)
    };
    let stamp = std::fs::metadata(&file)
        .ok()
        .and_then(|m| Some((m.len(), m.modified().ok()?)));
    // Held while the digest is computed: the functions built at once against one layer wait
    // for one reading of its manifest instead of each reading it.
    let mut seen = SEEN.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(stamp) = stamp
        && let Some(d) = seen
            .iter()
            .find(|(f, s, _)| *f == file && *s == stamp)
            .map(|(_, _, d)| d.clone())
    {
        return Ok(d);
    }
    let bytes = std::fs::read(&file).map_err(|source| BuildError::Write {
        path: file.clone(),
        source,
    })?;
    // Read as a manifest (typed: several times faster than a JSON tree for the layer's
    // thousands of file records) and written back compact without the local fields; other
    // JSON the same way as a tree; anything else by its bytes.
    let digest = match serde_json::from_slice::<crate::artifact::ArtifactManifest>(&bytes) {
        Ok(m) => manifest_content_digest(m).unwrap_or_else(|| sha256_hex(&bytes)),
        Err(_) => match serde_json::from_slice::<serde_json::Value>(&bytes) {
            Ok(serde_json::Value::Object(mut m)) => {
                m.remove("fingerprint");
                m.remove("timings");
                sha256_hex(serde_json::Value::Object(m).to_string().as_bytes())
            }
            _ => sha256_hex(&bytes),
        },
    };
    if let Some(stamp) = stamp {
        seen.retain(|(f, _, _)| *f != file);
        if seen.len() >= 8 {
            seen.remove(0);
        }
        seen.push((file, stamp, digest.clone()));
    }
    Ok(digest)
}

/// A path as another machine's checkout would name it: relative to the working directory when
/// it lies under it (CI runners check out to different directories).
fn portable(p: &Path) -> String {
    let rel = std::env::current_dir()
        .ok()
        .and_then(|cwd| p.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| p.to_path_buf());
    rel.display().to_string().replace('\\', "/")
}

/// The content key (64 hex digits); `None` when a wheel of the lock has no digest (its bytes
/// could change under the same name, so no key can stand for them).
pub fn artifact_key(req: &BuildRequest, k: &KeyInputs<'_>) -> Result<Option<String>, BuildError> {
    if k.lock
        .wheels
        .iter()
        .any(|w| w.index_sha256.is_none() && w.allowed_sha256.is_empty())
    {
        return Ok(None);
    }
    let wheels: Vec<_> = k
        .lock
        .wheels
        .iter()
        .map(|w| {
            let mut allowed = w.allowed_sha256.clone();
            allowed.sort();
            serde_json::json!([w.name, w.version, w.filename, w.index_sha256, allowed])
        })
        .collect();
    let layers = req
        .exclude_layers
        .iter()
        .map(|p| layer_manifest_digest(p))
        .collect::<Result<Vec<_>, _>>()?;
    let split = match &req.split {
        Some(s) if s != "auto" && Path::new(s).is_file() => Some(file_digest(Path::new(s))?),
        other => other.clone(),
    };
    // Layers attached at deploy time (`--with-layer`): a zip by content, an ARN as named (a
    // layer version's ARN names immutable content).
    let with_layers = req
        .with_layers
        .iter()
        .map(|l| {
            if l.starts_with("arn:") {
                Ok(l.clone())
            } else {
                file_digest(Path::new(l))
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    let user_recipes = req
        .slim
        .recipes
        .iter()
        .map(|p| file_digest(p))
        .collect::<Result<Vec<_>, _>>()?;
    let s = &req.slim;
    let doc = serde_json::json!({
        "remote_schema": crate::cache::remote::SCHEMA,
        "manifest_schema": crate::artifact::SCHEMA_VERSION,
        "lpack": env!("CARGO_PKG_VERSION"),
        "target": req.target.slug(),
        "input": [portable(k.input), file_digest(k.input)?],
        "output": k.output_name,
        "lock": wheels,
        "src": k.src_digests,
        "recipes": [k.recipes_digest, user_recipes],
        "layers": layers,
        "with_layers": with_layers,
        "epoch": k.epoch,
        "settings": {
            "format": format!("{:?}", req.format),
            "extras": req.extras,
            "groups": req.groups,
            "prerelease": format!("{:?}", req.prerelease),
            "no_deps": req.no_deps,
            "handler": req.handler,
            "exclude": req.src_filter.exclude,
            "include": req.src_filter.include,
            "on_conflict": format!("{:?}", req.on_conflict),
            "prefer": format!("{:?}", req.prefer),
            "profile": format!("{:?}", s.profile),
            "keep": s.keep,
            "drop": s.drop,
            "force_drop": s.force_drop,
            "bytecode": format!("{:?}", s.bytecode),
            "bytecode_for_imports": s.bytecode_for_imports,
            "layer_layout": format!("{:?}", req.layer_layout),
            "split": split,
            "layer_budget": req.layer_budget,
            "limit_check": req.limit_check,
            // A size budget decides how much bytecode fits.
            "max_unzipped": req.gates.max_unzipped,
            "max_zipped": req.gates.max_zipped,
            "max_image_size": req.max_image_size,
            "verify_record": req.verify_record,
            "audit_fails": req.audit_fails,
            "verify": format!("{:?}", req.verify),
        },
    });
    Ok(Some(sha256_hex(doc.to_string().as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_layer_manifest_is_keyed_without_its_local_fingerprint_and_timings() {
        let dir = tempfile::tempdir().expect("tempdir");
        let write = |name: &str, v: serde_json::Value| {
            let p = dir.path().join(name);
            std::fs::write(&p, v.to_string()).expect("write");
            p
        };
        let a = write(
            "a.json",
            serde_json::json!({"artifact": {"sha256": "aa"}, "fingerprint": {"inputs": "1"}}),
        );
        let b = write(
            "b.json",
            serde_json::json!({"artifact": {"sha256": "aa"}, "fingerprint": {"inputs": "2"},
                "timings": {"stages": []}}),
        );
        let c = write(
            "c.json",
            serde_json::json!({"artifact": {"sha256": "bb"}, "fingerprint": {"inputs": "1"}}),
        );
        let d = |p: &Path| layer_manifest_digest(p).expect("digest");
        assert_eq!(d(&a), d(&b));
        assert_ne!(d(&a), d(&c));

        // One of lpack's own manifests (the typed reading).
        let target = crate::target::Target::new(
            crate::target::Runtime::Python312,
            crate::target::Arch::X86_64,
        );
        let layer = crate::extlayer::ExternalLayer {
            source: "layer.zip".into(),
            zip: dir.path().join("layer.zip"),
            label: "layer.zip".into(),
            sha256: "aa".into(),
            code_sha256: None,
            size: 1,
            unzipped_size: 1,
            entries: 0,
            dists: Vec::new(),
            hidden: Vec::new(),
            libraries: Vec::new(),
            machines: Default::default(),
            compatible_runtimes: Vec::new(),
            compatible_architectures: Vec::new(),
            files: Vec::new(),
        }
        .manifest(&target);
        let mut timed = layer.clone();
        timed.timings = Some(Default::default());
        let mut other = layer.clone();
        other.artifact.sha256 = "bb".into();
        let m = |name: &str, m: &crate::artifact::ArtifactManifest| {
            let p = dir.path().join(name);
            m.write(&p).expect("write");
            p
        };
        let (x, y, z) = (
            m("x.json", &layer),
            m("y.json", &timed),
            m("z.json", &other),
        );
        assert_eq!(d(&x), d(&y));
        assert_ne!(d(&x), d(&z));
        // Remembered from memory, the digest is the one read from the file.
        assert_eq!(manifest_content_digest(timed.clone()), Some(d(&y)));
        remember_layer_manifest(&z, &layer);
        assert_eq!(
            d(&z),
            d(&x),
            "the remembered digest answers while the file is unchanged"
        );
    }
}
