//! OCI images without a Docker daemon.
//!
//! A base image (read from an OCI image layout directory; registries come through the same
//! [`BaseImage`] shape) gets app layers appended, in a stable order so that a code change
//! touches only the last layer and a dependency bump only its own:
//! one layer per heavy distribution (≥ threshold unzipped, by name), one for the remaining
//! dependencies, one for the handler code. Files go under `/var/task` (LAMBDA_TASK_ROOT).
//! Layers are canonical tar+gzip ([`super::tar::TarSink`]), built in parallel and cached by
//! content in the lpack cache, so a rebuild reuses unchanged layers byte for byte.
//!
//! The config keeps the base's settings and sets `architecture`/`os`, Entrypoint, Cmd (the
//! handler), WorkingDir and Env, appends the new `diff_ids`, and one `history` entry per new
//! layer; `created` is the build's epoch, no host name. The manifest is a single-platform OCI
//! image manifest (Lambda rejects indexes). JSON is serialised with sorted keys.
//!
//! Outputs ([`ImageOut`]): an OCI image layout directory (the image added under its tag beside
//! the layout's other images), or a docker-archive tar (`docker load`), which holds a layout of
//! the one image plus Docker's `manifest.json`.

use std::collections::BTreeMap;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde_json::{Value, json};

use super::tar::{TarSink, TarSummary};
use crate::cache::Cache;
use crate::digest::sha256_hex;
use crate::sink::Epoch;
use crate::slim::SlimmedWheel;
use crate::target::{Arch, Target};
use crate::wheel::open_archive;

mod out;
pub use out::{ImageOut, LayoutWrite, check_layout_dir, write_docker_archive, write_oci_layout};

pub const MT_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const MT_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const MT_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const MT_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
const TASK_ROOT: &str = "var/task";

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("base image {base}: {detail}")]
    Base { base: String, detail: String },
    #[error("writing the image: {0}")]
    Write(String),
    #[error("{}: {detail}\n  hint: {hint}", dir.display())]
    Layout {
        dir: PathBuf,
        detail: String,
        hint: String,
    },
    #[error(transparent)]
    Wheel(#[from] crate::wheel::WheelError),
}

fn werr<E: std::fmt::Display>(e: E) -> ImageError {
    ImageError::Write(e.to_string())
}

/// A blob of the base image and where its bytes are.
#[derive(Debug, Clone)]
pub struct Blob {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    pub path: PathBuf,
}

/// The base image: its config and layers.
#[derive(Debug, Clone)]
pub struct BaseImage {
    pub reference: String,
    pub manifest_digest: String,
    pub config: Value,
    pub layers: Vec<Blob>,
}

pub fn oci_arch(arch: Arch) -> &'static str {
    match arch {
        Arch::X86_64 => "amd64",
        Arch::Arm64 => "arm64",
    }
}

fn blob_path(dir: &Path, digest: &str) -> Option<PathBuf> {
    let (algo, hex) = digest.split_once(':')?;
    if algo != "sha256" || hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Some(dir.join("blobs").join(algo).join(hex))
}

/// Read a blob and check its digest.
fn read_blob(dir: &Path, digest: &str, base: &str) -> Result<Vec<u8>, ImageError> {
    let err = |detail: String| ImageError::Base {
        base: base.to_string(),
        detail,
    };
    let p = blob_path(dir, digest).ok_or_else(|| err(format!("bad digest `{digest}`")))?;
    let bytes = std::fs::read(&p).map_err(|e| err(format!("missing blob {digest}: {e}")))?;
    if format!("sha256:{}", sha256_hex(&bytes)) != digest {
        return Err(err(format!("blob {digest} does not match its digest")));
    }
    Ok(bytes)
}

/// From an index's `manifests`, the entry for linux/`arch`, or an error listing what it offers.
pub fn pick_platform(list: &[Value], arch: Arch) -> Result<Value, String> {
    let want = oci_arch(arch);
    list.iter()
        .find(|m| m["platform"]["architecture"] == want && m["platform"]["os"] == "linux")
        .cloned()
        .ok_or_else(|| {
            let offered: Vec<String> = list
                .iter()
                .map(|m| {
                    format!(
                        "{}/{}",
                        m["platform"]["os"].as_str().unwrap_or("?"),
                        m["platform"]["architecture"].as_str().unwrap_or("?")
                    )
                })
                .collect();
            format!("no linux/{want} image; it offers {}", offered.join(", "))
        })
}

/// Read a base image from an OCI image layout directory (`tag` picks a manifest by its
/// `org.opencontainers.image.ref.name`; an index is resolved to the target's platform).
pub fn read_oci_layout(dir: &Path, tag: Option<&str>, arch: Arch) -> Result<BaseImage, ImageError> {
    let reference = match tag {
        Some(t) => format!("oci-layout:{}:{t}", dir.display()),
        None => format!("oci-layout:{}", dir.display()),
    };
    let err = |detail: String| ImageError::Base {
        base: reference.clone(),
        detail,
    };
    let index: Value = serde_json::from_slice(
        &std::fs::read(dir.join("index.json")).map_err(|e| err(format!("no index.json: {e}")))?,
    )
    .map_err(|e| err(format!("index.json: {e}")))?;
    let manifests = index["manifests"].as_array().cloned().unwrap_or_default();
    let chosen = match tag {
        Some(t) => manifests
            .iter()
            .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == t)
            .ok_or_else(|| err(format!("no image tagged `{t}` in index.json")))?,
        None => manifests
            .first()
            .ok_or_else(|| err("index.json lists no image".to_string()))?,
    };
    let mut desc = chosen.clone();
    // Resolve nested indexes to the platform we build for.
    for _ in 0..4 {
        let mt = desc["mediaType"].as_str().unwrap_or("");
        if mt != MT_INDEX && mt != DOCKER_LIST {
            break;
        }
        let digest = desc["digest"].as_str().unwrap_or("");
        let inner: Value = serde_json::from_slice(&read_blob(dir, digest, &reference)?)
            .map_err(|e| err(e.to_string()))?;
        let list = inner["manifests"].as_array().cloned().unwrap_or_default();
        desc = pick_platform(&list, arch).map_err(err)?;
    }
    let manifest_digest = desc["digest"]
        .as_str()
        .ok_or_else(|| err("manifest descriptor without digest".to_string()))?
        .to_string();
    let manifest: Value = serde_json::from_slice(&read_blob(dir, &manifest_digest, &reference)?)
        .map_err(|e| err(e.to_string()))?;
    let mt = manifest["mediaType"].as_str().unwrap_or(MT_MANIFEST);
    if mt != MT_MANIFEST && mt != DOCKER_MANIFEST {
        return Err(err(format!("unsupported manifest type {mt}")));
    }
    let config_digest = manifest["config"]["digest"].as_str().unwrap_or("");
    let config: Value = serde_json::from_slice(&read_blob(dir, config_digest, &reference)?)
        .map_err(|e| err(e.to_string()))?;
    if let Some(a) = config["architecture"].as_str()
        && a != oci_arch(arch)
    {
        return Err(err(format!(
            "is built for {a}, but the target is {}",
            oci_arch(arch)
        )));
    }
    let mut layers = Vec::new();
    for l in manifest["layers"].as_array().cloned().unwrap_or_default() {
        let digest = l["digest"].as_str().unwrap_or("").to_string();
        let path =
            blob_path(dir, &digest).ok_or_else(|| err(format!("bad layer digest {digest}")))?;
        if !path.is_file() {
            return Err(err(format!("layer blob {digest} is missing")));
        }
        let media_type = match l["mediaType"].as_str().unwrap_or(MT_LAYER) {
            DOCKER_LAYER => MT_LAYER.to_string(),
            other => other.to_string(),
        };
        layers.push(Blob {
            media_type,
            digest,
            size: l["size"].as_u64().unwrap_or(0),
            path,
        });
    }
    Ok(BaseImage {
        reference,
        manifest_digest,
        config,
        layers,
    })
}

/// A per-runtime image spec (`images/python3.X.toml`, embedded).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageSpec {
    pub base: String,
    pub entrypoint: Vec<String>,
    pub workdir: String,
    #[serde(default)]
    pub env: Vec<String>,
}

const SPECS: &[(u32, &str)] = &[
    (9, include_str!("../../../images/python3.9.toml")),
    (10, include_str!("../../../images/python3.10.toml")),
    (11, include_str!("../../../images/python3.11.toml")),
    (12, include_str!("../../../images/python3.12.toml")),
    (13, include_str!("../../../images/python3.13.toml")),
    (14, include_str!("../../../images/python3.14.toml")),
];

/// The image spec of a runtime.
pub fn spec_for(target: &Target) -> ImageSpec {
    let minor = target.runtime.minor();
    let src = SPECS
        .iter()
        .find(|(m, _)| *m == minor)
        .map_or(SPECS[0].1, |(_, s)| s);
    // The specs are part of the binary and covered by a test.
    toml::from_str(src).unwrap_or_else(|e| panic!("built-in images/python3.{minor}.toml: {e}"))
}

/// How the image runs.
#[derive(Debug, Clone)]
pub struct ImageSettings {
    pub entrypoint: Vec<String>,
    /// The handler, e.g. `["app.handler"]`.
    pub cmd: Vec<String>,
    pub workdir: String,
    pub env: Vec<String>,
    /// Distributions at least this large (unzipped) get a layer of their own.
    pub heavy_threshold: u64,
    pub epoch: Epoch,
    pub gzip_level: u32,
}

/// One app layer (the manifest's record of it; defined with the manifest schema).
pub use crate::artifact::AppLayer;

/// The cache's record directory for "which blob an image layer's content key produced".
const LAYER_RECORDS: &str = "layers-v1";

/// A built image, ready to be written or pushed.
#[derive(Debug, Clone)]
pub struct BuiltImage {
    pub manifest: Vec<u8>,
    pub manifest_digest: String,
    pub config: Vec<u8>,
    pub config_digest: String,
    pub base: BaseImage,
    pub layers: Vec<AppLayer>,
    /// Every blob (base layers, app layers, config) and where its bytes are.
    pub blobs: Vec<Blob>,
}

/// Format an epoch as RFC 3339 UTC.
pub fn rfc3339(epoch: Epoch) -> String {
    let secs = epoch.0;
    let (y, m, d) = crate::sink::civil_from_days((secs / 86_400) as i64);
    let r = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        r / 3600,
        (r % 3600) / 60,
        r % 60
    )
}

struct LayerPlan {
    description: String,
    distributions: Vec<String>,
    wheels: Vec<usize>,
    src: bool,
}

fn layer_plans(slimmed: &[SlimmedWheel], has_src: bool, threshold: u64) -> Vec<LayerPlan> {
    let mut heavy = Vec::new();
    let mut rest = Vec::new();
    for (i, s) in slimmed.iter().enumerate() {
        if super::layer::wheel_size(s).0 >= threshold {
            heavy.push(i);
        } else {
            rest.push(i);
        }
    }
    heavy.sort_by(|a, b| {
        slimmed[*a]
            .wheel
            .locked
            .name
            .cmp(&slimmed[*b].wheel.locked.name)
    });
    let mut plans: Vec<LayerPlan> = heavy
        .into_iter()
        .map(|i| {
            let w = &slimmed[i].wheel.locked;
            LayerPlan {
                description: format!("{} {}", w.name, w.version),
                distributions: vec![w.name.clone()],
                wheels: vec![i],
                src: false,
            }
        })
        .collect();
    if !rest.is_empty() {
        let mut names: Vec<String> = rest
            .iter()
            .map(|i| slimmed[*i].wheel.locked.name.clone())
            .collect();
        names.sort();
        plans.push(LayerPlan {
            description: format!("{} other dependencies", names.len()),
            distributions: names,
            wheels: rest,
            src: false,
        });
    }
    if has_src {
        plans.push(LayerPlan {
            description: "handler code".to_string(),
            distributions: vec![crate::emit::zip::SRC_PACKAGE.to_string()],
            wheels: vec![],
            src: true,
        });
    }
    plans
}

/// Build one layer into the cache (or find it there). Returns its summary and blob path.
fn build_layer(
    plan: &LayerPlan,
    slimmed: &[SlimmedWheel],
    src: &[(String, PathBuf, bool)],
    settings: &ImageSettings,
    cache: &Cache,
) -> Result<(AppLayer, PathBuf), ImageError> {
    let key = layer_key(plan, slimmed, src, settings)?;
    if let Some(summary) = cache
        .read_record(LAYER_RECORDS, &key)
        .and_then(|b| serde_json::from_slice::<AppLayer>(&b).ok())
        && let Some(path) = cache.blob(&summary.digest)
    {
        return Ok((
            AppLayer {
                description: plan.description.clone(),
                distributions: plan.distributions.clone(),
                ..summary
            },
            path,
        ));
    }

    let entries = layer_entries(plan, slimmed, src);
    let (summary, path) = write_layer(&entries, slimmed, settings, cache)?;
    let layer = AppLayer {
        description: plan.description.clone(),
        distributions: plan.distributions.clone(),
        digest: summary.digest,
        diff_id: summary.diff_id,
        size: summary.size,
        tar_size: summary.tar_size,
    };
    let record = serde_json::to_vec(&layer).unwrap_or_default();
    cache
        .write_record(LAYER_RECORDS, &key, &record)
        .map_err(werr)?;
    Ok((layer, path))
}

/// A layer's content key: its fragments or handler files' digests, epoch, gzip level, name.
fn layer_key(
    plan: &LayerPlan,
    slimmed: &[SlimmedWheel],
    src: &[(String, PathBuf, bool)],
    settings: &ImageSettings,
) -> Result<String, ImageError> {
    let mut key = format!(
        "layer-v1|{}|{}|{}",
        settings.epoch.0, settings.gzip_level, plan.description
    );
    for i in &plan.wheels {
        key.push_str(&format!("|{}", slimmed[*i].fragment.display()));
    }
    if plan.src {
        for (p, disk, exec) in src {
            let digest = crate::digest::sha256_file(disk).map_err(werr)?;
            key.push_str(&format!("|{p}:{digest}:{exec}"));
        }
    }
    Ok(sha256_hex(key.as_bytes()))
}

/// Where a layer entry's bytes come from.
enum EntrySource {
    Dir,
    /// Fragment of `slimmed[wheel]`, entry index, executable.
    Wheel(usize, usize, bool),
    /// A handler file on disk, executable.
    Disk(PathBuf, bool),
}

/// The layer's files under the task root and every directory above them, sorted.
fn layer_entries(
    plan: &LayerPlan,
    slimmed: &[SlimmedWheel],
    src: &[(String, PathBuf, bool)],
) -> BTreeMap<String, EntrySource> {
    let mut entries: BTreeMap<String, EntrySource> = BTreeMap::new();
    for i in &plan.wheels {
        for e in &slimmed[*i].entries {
            entries.insert(
                format!("{TASK_ROOT}/{}", e.path),
                EntrySource::Wheel(*i, e.index, e.executable),
            );
        }
    }
    if plan.src {
        for (p, disk, exec) in src {
            entries.insert(
                format!("{TASK_ROOT}/{p}"),
                EntrySource::Disk(disk.clone(), *exec),
            );
        }
    }
    let dirs: Vec<String> = entries
        .keys()
        .flat_map(|p| {
            p.match_indices('/')
                .map(|(i, _)| p[..i].to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    for d in dirs {
        entries.entry(d).or_insert(EntrySource::Dir);
    }
    entries
}

/// Write the entries as a gzip tar into the cache's blobs; returns its summary and path.
fn write_layer(
    entries: &BTreeMap<String, EntrySource>,
    slimmed: &[SlimmedWheel],
    settings: &ImageSettings,
    cache: &Cache,
) -> Result<(TarSummary, PathBuf), ImageError> {
    let tmp = cache.temp_file().map_err(werr)?;
    let file = tmp.as_file().try_clone().map_err(werr)?;
    let mut sink = TarSink::new(
        BufWriter::with_capacity(1 << 20, file),
        settings.epoch,
        settings.gzip_level,
    );
    let mut archives: BTreeMap<usize, zip::ZipArchive<std::io::BufReader<std::fs::File>>> =
        BTreeMap::new();
    for (path, from) in entries {
        match from {
            EntrySource::Dir => sink.add_dir(path).map_err(werr)?,
            EntrySource::Wheel(wi, index, exec) => {
                let s = &slimmed[*wi];
                let archive = match archives.entry(*wi) {
                    std::collections::btree_map::Entry::Occupied(o) => o.into_mut(),
                    std::collections::btree_map::Entry::Vacant(v) => {
                        v.insert(open_archive(&s.fragment, &s.wheel.locked.filename)?)
                    }
                };
                let mut f = archive.by_index(*index).map_err(werr)?;
                let mut buf = Vec::with_capacity(f.size() as usize);
                f.read_to_end(&mut buf).map_err(werr)?;
                sink.add_file(path, *exec, &buf).map_err(werr)?;
            }
            EntrySource::Disk(p, exec) => {
                let buf = std::fs::read(p).map_err(werr)?;
                sink.add_file(path, *exec, &buf).map_err(werr)?;
            }
        }
    }
    let (summary, writer): (TarSummary, _) = sink.finish().map_err(werr)?;
    writer.into_inner().map_err(|e| werr(e.error()))?;
    let path = cache.commit_blob(tmp, &summary.digest).map_err(werr)?;
    Ok((summary, path))
}

/// Build the image: app layers (in parallel, cached), config and manifest.
pub fn build_image(
    slimmed: &[SlimmedWheel],
    src: &[(String, PathBuf, bool)],
    target: &Target,
    base: BaseImage,
    settings: &ImageSettings,
    cache: &Cache,
) -> Result<BuiltImage, ImageError> {
    let plans = layer_plans(slimmed, !src.is_empty(), settings.heavy_threshold);
    let built: Vec<(AppLayer, PathBuf)> = plans
        .par_iter()
        .map(|p| build_layer(p, slimmed, src, settings, cache))
        .collect::<Result<_, _>>()?;

    let config = image_config(&base, target, settings, &built)?;
    let config_bytes = serde_json::to_vec(&config).map_err(werr)?;
    let config_digest = format!("sha256:{}", sha256_hex(&config_bytes));

    let mut layer_descs: Vec<Value> = base
        .layers
        .iter()
        .map(|b| json!({"mediaType": b.media_type, "digest": b.digest, "size": b.size}))
        .collect();
    for (l, _) in &built {
        layer_descs.push(json!({"mediaType": MT_LAYER, "digest": l.digest, "size": l.size}));
    }
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": MT_MANIFEST,
        "config": {"mediaType": MT_CONFIG, "digest": config_digest, "size": config_bytes.len()},
        "layers": layer_descs,
    });
    let manifest_bytes = serde_json::to_vec(&manifest).map_err(werr)?;
    let manifest_digest = format!("sha256:{}", sha256_hex(&manifest_bytes));
    let config_path = cache
        .write_blob(&config_digest, &config_bytes)
        .map_err(werr)?;

    let mut blobs = base.layers.clone();
    for (l, p) in &built {
        blobs.push(Blob {
            media_type: MT_LAYER.to_string(),
            digest: l.digest.clone(),
            size: l.size,
            path: p.clone(),
        });
    }
    blobs.push(Blob {
        media_type: MT_CONFIG.to_string(),
        digest: config_digest.clone(),
        size: config_bytes.len() as u64,
        path: config_path,
    });
    Ok(BuiltImage {
        manifest: manifest_bytes,
        manifest_digest,
        config: config_bytes,
        config_digest,
        base,
        layers: built.into_iter().map(|(l, _)| l).collect(),
        blobs,
    })
}

/// The image config: the base's, for the target, with lpack's settings and app layers.
fn image_config(
    base: &BaseImage,
    target: &Target,
    settings: &ImageSettings,
    built: &[(AppLayer, PathBuf)],
) -> Result<Value, ImageError> {
    let created = rfc3339(settings.epoch);
    let mut config = base.config.clone();
    let obj = config.as_object_mut().ok_or_else(|| ImageError::Base {
        base: base.reference.clone(),
        detail: "config is not a JSON object".to_string(),
    })?;
    obj.insert("architecture".into(), json!(oci_arch(target.arch)));
    obj.insert("os".into(), json!("linux"));
    obj.insert("created".into(), json!(created));
    for legacy in [
        "container",
        "container_config",
        "docker_version",
        "hostname",
    ] {
        obj.remove(legacy);
    }
    let mut cfg = obj.get("config").cloned().unwrap_or_else(|| json!({}));
    if let Some(c) = cfg.as_object_mut() {
        run_settings(c, settings);
    }
    obj.insert("config".into(), cfg);
    let mut diff_ids: Vec<Value> = obj
        .get("rootfs")
        .and_then(|r| r.get("diff_ids"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut history: Vec<Value> = obj
        .get("history")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for (l, _) in built {
        diff_ids.push(json!(l.diff_id));
        history.push(json!({
            "created": created,
            "created_by": format!("lpack {} build: {}", env!("CARGO_PKG_VERSION"), l.description),
            "comment": format!("/var/task: {}", l.distributions.join(", ")),
        }));
    }
    obj.insert(
        "rootfs".into(),
        json!({"type": "layers", "diff_ids": diff_ids}),
    );
    obj.insert("history".into(), json!(history));
    Ok(config)
}

/// Set entrypoint, command, working directory and environment (lpack's variables win).
fn run_settings(c: &mut serde_json::Map<String, Value>, settings: &ImageSettings) {
    let mut env: Vec<String> = c
        .get("Env")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    for e in &settings.env {
        let key = e.split('=').next().unwrap_or("");
        env.retain(|x| x.split('=').next() != Some(key));
        env.push(e.clone());
    }
    c.insert("Entrypoint".into(), json!(settings.entrypoint));
    c.insert("Cmd".into(), json!(settings.cmd));
    c.insert("WorkingDir".into(), json!(settings.workdir));
    c.insert("Env".into(), json!(env));
    c.remove("Hostname");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_parse() {
        assert_eq!(
            ImageOut::parse("oci-layout:out/img:v1"),
            Ok(ImageOut::OciLayout {
                dir: "out/img".into(),
                tag: "v1".into()
            })
        );
        assert_eq!(
            ImageOut::parse("docker-archive:/tmp/x.tar"),
            Ok(ImageOut::DockerArchive {
                file: "/tmp/x.tar".into(),
                tag: "lpack:latest".into()
            })
        );
        assert_eq!(
            ImageOut::parse("docker-archive:out/x.tar:acme/fn:v2"),
            Ok(ImageOut::DockerArchive {
                file: "out/x.tar".into(),
                tag: "acme/fn:v2".into()
            })
        );
        assert!(ImageOut::parse("registry:foo").is_err());
    }

    #[test]
    fn specs_parse() {
        for r in crate::target::Runtime::ALL {
            let s = spec_for(&Target::new(r, Arch::X86_64));
            assert!(s.base.ends_with(&format!("python:3.{}", r.minor())));
            assert_eq!(s.workdir, "/var/task");
        }
    }

    #[test]
    fn rfc3339_of_epochs() {
        assert_eq!(rfc3339(Epoch(315_532_800)), "1980-01-01T00:00:00Z");
        assert_eq!(rfc3339(Epoch(1_709_210_096)), "2024-02-29T12:34:56Z");
    }
}
