//! Lay a deployment out on disk as Lambda does, once per deployment, timed.
//!
//! - function zip → the task root (`task/`);
//! - its layers → an `/opt` equivalent (`opt/`), extracted in the order given, a later layer
//!   overwriting an earlier one;
//! - image → lpack's app layers applied in order onto `rootfs/` (OCI whiteouts honoured), its
//!   WORKDIR as the task root, its ENV and CMD kept. The base image's own layers (the AWS
//!   runtime, which cannot be pulled everywhere) are not applied: the local interpreter and the
//!   runtime directory stand in for them, and the results say so.
//!
//! Every code directory is made read-only afterwards (0444 files, 0555 directories; the runner
//! adds a read-only bind mount where it can), and every artifact's sha256 is checked against
//! its manifest so the numbers belong to the bytes the manifest describes.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::artifact::{ArtifactKind, ArtifactManifest};
use crate::emit::image::{BaseImage, ImageOut, read_oci_layout};
use crate::target::Target;
use crate::wheel::{ArchivePath, open_archive};

use super::error::BenchError;

/// One deployment as the user named it: a function zip or image manifest, plus layers.
#[derive(Debug, Clone)]
pub struct DeploymentSpec {
    pub name: String,
    /// Manifests (or artifacts with a manifest beside them): the function first, then layers.
    pub artifacts: Vec<PathBuf>,
    pub handler: Option<String>,
}

/// A deployment laid out and ready to run.
#[derive(Debug, Clone)]
pub struct Layout {
    pub name: String,
    /// `zip`, `zip+layers` or `image`.
    pub kind: String,
    pub target: Target,
    pub task_root: PathBuf,
    /// The `/opt` equivalent (layers), if any.
    pub opt: Option<PathBuf>,
    /// ENV of an image (applied before Lambda's own variables).
    pub env: Vec<(String, String)>,
    /// CMD of an image (the default handler).
    pub cmd: Option<String>,
    /// Directories that must be read-only while the runtime runs.
    pub code_dirs: Vec<PathBuf>,
    pub unpack_ms: f64,
    /// (file, sha256) of every artifact.
    pub artifacts: Vec<(String, String)>,
    /// Notes for the results (e.g. the base image stand-in).
    pub notes: Vec<String>,
}

fn io(ctx: impl std::fmt::Display) -> impl FnOnce(std::io::Error) -> BenchError {
    move |e| BenchError::Layout(format!("{ctx}: {e}"))
}

/// The artifact a manifest describes: the manifest's path without `.lpack.json` (manifests
/// are always written beside their artifact), or the path itself when it is the artifact.
pub fn artifact_of(path: &Path) -> PathBuf {
    let s = path.to_string_lossy();
    match s.strip_suffix(".lpack.json") {
        Some(a) => PathBuf::from(a),
        None => path.to_path_buf(),
    }
}

/// Extract a zip into `dest` (later files overwrite earlier ones).
pub fn extract_zip(zip: &Path, dest: &Path) -> Result<(), BenchError> {
    let err = |e: String| BenchError::Layout(format!("unpacking {}: {e}", zip.display()));
    let name = zip.display().to_string();
    let mut archive = open_archive(zip, &name).map_err(|e| err(e.to_string()))?;
    for i in 0..archive.len() {
        let mut f = archive.by_index(i).map_err(|e| err(e.to_string()))?;
        let raw = String::from_utf8_lossy(f.name_raw()).into_owned();
        let path = ArchivePath::new(raw.trim_end_matches('/'))
            .map_err(|why| err(format!("`{raw}` {why}")))?;
        let target = dest.join(path.as_str());
        if f.is_dir() {
            std::fs::create_dir_all(&target).map_err(|e| err(e.to_string()))?;
            continue;
        }
        if let Some(d) = target.parent() {
            std::fs::create_dir_all(d).map_err(|e| err(e.to_string()))?;
        }
        if target.is_dir() {
            let _ = std::fs::remove_dir_all(&target);
        }
        // Written in io::copy's small chunks, as image layers are: one big write can give the
        // file huge page-cache folios, which a mapped .so then counts whole in the runtime's RSS
        // (measured: +40 MB Max Memory Used for the same files), and deployments would differ
        // by how lpack wrote them rather than by what they hold.
        let mut out = std::fs::File::create(&target).map_err(|e| err(e.to_string()))?;
        std::io::copy(&mut f, &mut out).map_err(|e| err(e.to_string()))?;
        if f.unix_mode().is_some_and(|m| m & 0o111 != 0) {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755));
        }
    }
    Ok(())
}

/// Make a tree read-only (files 0444, executables 0555, directories 0555) or writable again.
pub fn set_readonly(dir: &Path, readonly: bool) {
    use std::os::unix::fs::PermissionsExt;
    let entries: Vec<_> = walkdir::WalkDir::new(dir)
        .follow_links(false)
        .into_iter()
        .flatten()
        .filter(|e| !e.path_is_symlink())
        .collect();
    // Directories last when locking (so children stay reachable), first when unlocking.
    let mut order: Vec<&walkdir::DirEntry> = entries.iter().collect();
    if readonly {
        order.reverse();
    }
    for e in order {
        let exec = e
            .metadata()
            .map(|m| m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false);
        let mode = match (e.file_type().is_dir(), readonly, exec) {
            (true, true, _) => 0o555,
            (true, false, _) => 0o755,
            (false, true, true) => 0o555,
            (false, true, false) => 0o444,
            (false, false, true) => 0o755,
            (false, false, false) => 0o644,
        };
        let _ = std::fs::set_permissions(e.path(), std::fs::Permissions::from_mode(mode));
    }
}

fn read_manifest(p: &Path) -> Result<ArtifactManifest, BenchError> {
    ArtifactManifest::read(p).map_err(|e| BenchError::Input(e.to_string()))
}

fn check_sha(file: &Path, want: &str) -> Result<String, BenchError> {
    let got =
        crate::digest::sha256_file(file).map_err(io(format!("reading {}", file.display())))?;
    if got != want {
        return Err(BenchError::Input(format!(
            "{} does not match its manifest (sha256 {got}, manifest says {want})\n  hint: rebuild it, or bench the manifest written with it",
            file.display()
        )));
    }
    Ok(got)
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.display().to_string())
}

/// A deployment's artifacts, found from its manifests and checked against them (kinds, target,
/// sha256 and image digest), not yet unpacked: what both backends start from.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub name: String,
    pub target: Target,
    /// The function's manifest.
    pub manifest: ArtifactManifest,
    /// The function zip (for images: the image's directory).
    pub function: PathBuf,
    /// Layer zips with their manifests, in the order they are applied.
    pub layers: Vec<(PathBuf, ArtifactManifest)>,
    /// For each of `layers`: the ARN of a published layer (`+arn:…`), which the AWS backend
    /// attaches rather than publishes.
    pub layer_arns: Vec<Option<String>>,
    pub image: Option<ResolvedImage>,
    /// (file, sha256) of every artifact.
    pub artifacts: Vec<(String, String)>,
}

/// An image read from its OCI layout (or unpacked docker-archive).
#[derive(Debug, Clone)]
pub struct ResolvedImage {
    pub dir: PathBuf,
    pub tag: Option<String>,
    pub image: BaseImage,
    pub record: crate::artifact::ImageRecord,
}

impl Resolved {
    /// `zip`, `zip+layers` or `image`.
    pub fn kind(&self) -> &'static str {
        match (&self.image, self.layers.is_empty()) {
            (Some(_), _) => "image",
            (None, true) => "zip",
            (None, false) => "zip+layers",
        }
    }
}

/// Resolve `spec`; `scratch` receives an unpacked docker-archive if the image only has one.
pub fn resolve(spec: &DeploymentSpec, scratch: &Path) -> Result<Resolved, BenchError> {
    let first = spec
        .artifacts
        .first()
        .ok_or_else(|| BenchError::Input(format!("deployment {} names no artifact", spec.name)))?;
    let m = read_manifest(first)?;
    let target = Target::new(
        m.target
            .runtime
            .parse()
            .map_err(|e| BenchError::Input(format!("{}: {e}", first.display())))?,
        m.target
            .arch
            .parse()
            .map_err(|e| BenchError::Input(format!("{}: {e}", first.display())))?,
    );
    match m.kind {
        ArtifactKind::LayerZip => Err(BenchError::Input(format!(
            "{} is a layer; bench a function with it: FN.zip.lpack.json+{}",
            first.display(),
            file_name(first)
        ))),
        ArtifactKind::FunctionZip => resolve_zip(spec, first, m, target),
        ArtifactKind::Image => resolve_image(spec, first, m, target, scratch),
    }
}

/// A function zip (checked against its manifest) and its layers.
fn resolve_zip(
    spec: &DeploymentSpec,
    first: &Path,
    m: ArtifactManifest,
    target: Target,
) -> Result<Resolved, BenchError> {
    let mut artifacts = Vec::new();
    let zip = artifact_of(first);
    artifacts.push((file_name(&zip), check_sha(&zip, &m.artifact.sha256)?));
    // Layers: named after `+`, else those the function was built against. A layer
    // lpack did not build (`+arn:…`, `+layer.zip` without a manifest, or one the
    // function was built `--with-layer`) is indexed from its zip.
    let mut paths: Vec<(PathBuf, Option<String>)> = spec.artifacts[1..]
        .iter()
        .map(|p| (p.clone(), None))
        .collect();
    if paths.is_empty() {
        let beside = first.parent().unwrap_or(Path::new("."));
        for l in &m.layers {
            match &l.external {
                Some(ext) => paths.push((PathBuf::from(&ext.source), Some(l.sha256.clone()))),
                None => paths.push((beside.join(&l.file), None)),
            }
        }
    }
    let mut layers = Vec::new();
    let mut layer_arns = Vec::new();
    for (l, recorded) in &paths {
        let text = l.to_string_lossy();
        let foreign = crate::extlayer::is_arn(&text)
            || recorded.is_some()
            || (l.is_file()
                && !text.ends_with(".lpack.json")
                && !crate::artifact::manifest_path(l).is_file());
        if foreign {
            let (zip, lm) = external_layer(&text, recorded.as_deref(), &target)?;
            artifacts.push((lm.artifact.file.clone(), lm.artifact.sha256.clone()));
            layers.push((zip, lm));
            layer_arns.push(crate::extlayer::is_arn(&text).then(|| text.to_string()));
            continue;
        }
        let (lz, lm) = lpack_layer(l, &m)?;
        artifacts.push((file_name(&lz), check_sha(&lz, &lm.artifact.sha256)?));
        layers.push((lz, lm));
        layer_arns.push(None);
    }
    Ok(Resolved {
        name: spec.name.clone(),
        target,
        manifest: m,
        function: zip,
        layers,
        layer_arns,
        image: None,
        artifacts,
    })
}

/// A layer lpack built, by its manifest: a layer for the function's runtime and architecture.
fn lpack_layer(l: &Path, m: &ArtifactManifest) -> Result<(PathBuf, ArtifactManifest), BenchError> {
    let lm = read_manifest(l)?;
    if lm.kind != ArtifactKind::LayerZip {
        return Err(BenchError::Input(format!(
            "{} is not a layer (after `+` only layers may follow the function)",
            l.display()
        )));
    }
    if lm.target.runtime != m.target.runtime || lm.target.arch != m.target.arch {
        return Err(BenchError::Input(format!(
            "layer {} is built for {} {}, the function for {} {}",
            l.display(),
            lm.target.runtime,
            lm.target.arch,
            m.target.runtime,
            m.target.arch
        )));
    }
    Ok((artifact_of(l), lm))
}

/// An image from its OCI layout (or docker-archive), checked against its manifest's digest.
fn resolve_image(
    spec: &DeploymentSpec,
    first: &Path,
    m: ArtifactManifest,
    target: Target,
    scratch: &Path,
) -> Result<Resolved, BenchError> {
    let mut artifacts = Vec::new();
    if spec.artifacts.len() > 1 {
        return Err(BenchError::Input(format!(
            "{}: layers are not allowed with image functions",
            spec.name
        )));
    }
    let rec = m.image.clone().ok_or_else(|| {
        BenchError::Input(format!(
            "{}: an image manifest without `image`",
            first.display()
        ))
    })?;
    let beside = first.parent().unwrap_or(Path::new("."));
    let (dir, tag, _holder) = image_source(first, beside, &rec.outputs, scratch)?;
    let img = read_oci_layout(&dir, tag.as_deref(), target.arch)
        .map_err(|e| BenchError::Input(e.to_string()))?;
    if img.manifest_digest != rec.manifest_digest {
        return Err(BenchError::Input(format!(
            "the image at {} is {}, its manifest says {}\n  hint: rebuild it, or bench the manifest written with it",
            dir.display(),
            img.manifest_digest,
            rec.manifest_digest
        )));
    }
    artifacts.push((file_name(&dir), rec.manifest_digest.clone()));
    Ok(Resolved {
        name: spec.name.clone(),
        target,
        manifest: m,
        function: dir.clone(),
        layers: Vec::new(),
        layer_arns: Vec::new(),
        image: Some(ResolvedImage {
            dir,
            tag,
            image: img,
            record: rec,
        }),
        artifacts,
    })
}

/// A layer lpack did not build: its zip (the file, or by ARN the download cached by `lpack
/// build --with-layer`, else fetched now) and its index as a layer manifest. `recorded`: the
/// sha256 the function was built against, which the zip must still have.
fn external_layer(
    source: &str,
    recorded: Option<&str>,
    target: &Target,
) -> Result<(PathBuf, ArtifactManifest), BenchError> {
    let bad = |e: crate::extlayer::ExtLayerError| BenchError::Input(e.to_string());
    let cache_root = std::env::var_os("LPACK_CACHE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(crate::cache::Cache::default_root);
    let layer = match recorded {
        Some(sha) if crate::extlayer::is_arn(source) => {
            let cache = crate::cache::Cache::open(&cache_root)
                .map_err(|e| BenchError::Input(e.to_string()))?;
            match crate::extlayer::cached_zip(&cache, sha) {
                Some(zip) => {
                    let mut l = crate::extlayer::index(&zip, source, target).map_err(bad)?;
                    l.label = crate::extlayer::arn_label(source);
                    l
                }
                None => crate::extlayer::open(source, target, &cache).map_err(bad)?,
            }
        }
        _ if crate::extlayer::is_arn(source) => {
            let cache = crate::cache::Cache::open(&cache_root)
                .map_err(|e| BenchError::Input(e.to_string()))?;
            crate::extlayer::open(source, target, &cache).map_err(bad)?
        }
        _ => crate::extlayer::index(Path::new(source), source, target).map_err(bad)?,
    };
    if let Some(sha) = recorded
        && layer.sha256 != sha
    {
        return Err(BenchError::Input(format!(
            "layer {source} is not the one the function was built against (sha256 {}, built against {sha})\n  hint: rebuild the function against the layer as it is now",
            layer.sha256
        )));
    }
    layer.check(target).map_err(bad)?;
    Ok((layer.zip.clone(), layer.manifest(target)))
}

/// Lay `spec` out under `dest` (which must not exist yet).
pub fn lay_out(spec: &DeploymentSpec, dest: &Path) -> Result<Layout, BenchError> {
    std::fs::create_dir_all(dest).map_err(io(format!("creating {}", dest.display())))?;
    let started = Instant::now();
    let r = resolve(spec, dest)?;
    let mut notes = Vec::new();
    let kind = r.kind().to_string();
    let layout = match &r.image {
        None => {
            let task = dest.join("task");
            std::fs::create_dir_all(&task).map_err(io("creating the task root"))?;
            extract_zip(&r.function, &task)?;
            let mut code_dirs = vec![task.clone()];
            let opt = if r.layers.is_empty() {
                None
            } else {
                let opt = dest.join("opt");
                std::fs::create_dir_all(&opt).map_err(io("creating /opt"))?;
                for (lz, _) in &r.layers {
                    extract_zip(lz, &opt)?;
                }
                code_dirs.push(opt.clone());
                Some(opt)
            };
            Layout {
                name: r.name.clone(),
                kind,
                target: r.target.clone(),
                task_root: task,
                opt,
                env: Vec::new(),
                cmd: None,
                code_dirs,
                unpack_ms: 0.0,
                artifacts: r.artifacts.clone(),
                notes,
            }
        }
        Some(ri) => {
            let (img, rec) = (&ri.image, &ri.record);
            let rootfs = dest.join("rootfs");
            std::fs::create_dir_all(&rootfs).map_err(io("creating the image root"))?;
            let app: Vec<&str> = rec.layers.iter().map(|l| l.digest.as_str()).collect();
            for blob in img
                .layers
                .iter()
                .filter(|b| app.contains(&b.digest.as_str()))
            {
                apply_layer(&blob.path, &rootfs)?;
            }
            let cfg = &img.config["config"];
            let workdir = cfg["WorkingDir"].as_str().unwrap_or("/var/task");
            let wd = ArchivePath::new(workdir.trim_matches('/'))
                .map(|p| rootfs.join(p.as_str()))
                .unwrap_or_else(|_| rootfs.clone());
            std::fs::create_dir_all(&wd).map_err(io("creating WORKDIR"))?;
            let env = cfg["Env"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str())
                        .filter_map(|kv| kv.split_once('='))
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect()
                })
                .unwrap_or_default();
            notes.push(format!(
                "image: the base image's layers ({}) are stood in for by the local interpreter and runtime directory; only lpack's {} app layer(s) are applied",
                rec.base,
                rec.layers.len()
            ));
            Layout {
                name: r.name.clone(),
                kind,
                target: r.target.clone(),
                task_root: wd,
                opt: None,
                env,
                cmd: image_cmd(img),
                code_dirs: vec![rootfs],
                unpack_ms: 0.0,
                artifacts: r.artifacts.clone(),
                notes,
            }
        }
    };
    let mut layout = layout;
    for d in &layout.code_dirs {
        set_readonly(d, true);
    }
    layout.unpack_ms = started.elapsed().as_secs_f64() * 1000.0;
    Ok(layout)
}

/// An image's CMD (its default handler).
pub fn image_cmd(img: &BaseImage) -> Option<String> {
    img.config["config"]["Cmd"]
        .as_array()
        .and_then(|a| a.first())
        .and_then(|v| v.as_str())
        .map(str::to_string)
}

/// Where the image's blobs are: an OCI layout (the first `oci-layout:` output), or a
/// docker-archive unpacked under `dest` (lpack's archives hold an OCI layout).
fn image_source(
    manifest: &Path,
    beside: &Path,
    outputs: &[String],
    dest: &Path,
) -> Result<(PathBuf, Option<String>, ()), BenchError> {
    let resolve = |p: &Path| -> PathBuf {
        // The manifest sits beside the first output; try that before the recorded path.
        let near = artifact_of(manifest);
        if p.is_absolute() || p.exists() {
            p.to_path_buf()
        } else if near.file_name() == p.file_name() && near.exists() {
            near
        } else {
            beside.join(p)
        }
    };
    for o in outputs {
        if let Ok(ImageOut::OciLayout { dir, tag }) = ImageOut::parse(o) {
            let d = resolve(&dir);
            if d.join("index.json").is_file() {
                return Ok((d, Some(tag), ()));
            }
        }
    }
    for o in outputs {
        if let Ok(ImageOut::DockerArchive { file, .. }) = ImageOut::parse(o) {
            let f = resolve(&file);
            if f.is_file() {
                let unpacked = dest.join("image-src");
                let mut ar = tar::Archive::new(
                    std::fs::File::open(&f).map_err(io(format!("opening {}", f.display())))?,
                );
                ar.unpack(&unpacked)
                    .map_err(io(format!("unpacking {}", f.display())))?;
                return Ok((unpacked, None, ()));
            }
        }
    }
    Err(BenchError::Input(format!(
        "{}: none of the image's outputs ({}) is here\n  hint: build the image with --image-out oci-layout:DIR (or docker-archive:FILE.tar) and keep it beside its manifest",
        manifest.display(),
        outputs.join(", ")
    )))
}

/// Apply one gzip tar layer onto `root`, honouring whiteouts (`.wh.NAME`, `.wh..wh..opq`).
pub fn apply_layer(blob: &Path, root: &Path) -> Result<(), BenchError> {
    let err = |e: String| BenchError::Layout(format!("layer {}: {e}", blob.display()));
    let f = std::fs::File::open(blob).map_err(|e| err(e.to_string()))?;
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(f));
    for entry in ar.entries().map_err(|e| err(e.to_string()))? {
        let mut e = entry.map_err(|e| err(e.to_string()))?;
        let raw = e
            .path()
            .map_err(|e| err(e.to_string()))?
            .to_string_lossy()
            .into_owned();
        let clean = raw.trim_start_matches("./").trim_start_matches('/');
        let clean = clean.trim_end_matches('/');
        if clean.is_empty() || clean == "." {
            continue;
        }
        let path = ArchivePath::new(clean).map_err(|why| err(format!("`{raw}` {why}")))?;
        let target = root.join(path.as_str());
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let parent = target.parent().unwrap_or(root).to_path_buf();
        if name == ".wh..wh..opq" {
            if let Ok(rd) = std::fs::read_dir(&parent) {
                for c in rd.flatten() {
                    let p = c.path();
                    let _ = if p.is_dir() && !p.is_symlink() {
                        std::fs::remove_dir_all(&p)
                    } else {
                        std::fs::remove_file(&p)
                    };
                }
            }
            continue;
        }
        if let Some(victim) = name.strip_prefix(".wh.") {
            let p = parent.join(victim);
            let _ = if p.is_dir() && !p.is_symlink() {
                std::fs::remove_dir_all(&p)
            } else {
                std::fs::remove_file(&p)
            };
            continue;
        }
        std::fs::create_dir_all(&parent).map_err(|e| err(e.to_string()))?;
        let kind = e.header().entry_type();
        if kind.is_dir() {
            if target.exists() && !target.is_dir() {
                let _ = std::fs::remove_file(&target);
            }
            std::fs::create_dir_all(&target).map_err(|e| err(e.to_string()))?;
            continue;
        }
        if target.is_dir() && !target.is_symlink() {
            let _ = std::fs::remove_dir_all(&target);
        } else if target.exists() || target.is_symlink() {
            let _ = std::fs::remove_file(&target);
        }
        if kind.is_symlink() {
            if let Ok(Some(link)) = e.link_name() {
                let _ = std::os::unix::fs::symlink(link, &target);
            }
        } else if kind.is_hard_link() {
            if let Ok(Some(link)) = e.link_name() {
                let l = link.to_string_lossy();
                if let Ok(src) =
                    ArchivePath::new(l.trim_start_matches("./").trim_start_matches('/'))
                {
                    let _ = std::fs::copy(root.join(src.as_str()), &target);
                }
            }
        } else if kind.is_file() {
            let mode = e.header().mode().unwrap_or(0o644);
            let mut out = std::fs::File::create(&target).map_err(|e| err(e.to_string()))?;
            std::io::copy(&mut e, &mut out).map_err(|e| err(e.to_string()))?;
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(
                &target,
                std::fs::Permissions::from_mode(if mode & 0o111 != 0 { 0o755 } else { 0o644 }),
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(path: &Path, entries: &[(&str, Option<&[u8]>)]) {
        let f = std::fs::File::create(path).expect("create");
        let gz = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
        let mut t = tar::Builder::new(gz);
        for (name, data) in entries {
            let mut h = tar::Header::new_gnu();
            match data {
                Some(d) => {
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_size(d.len() as u64);
                    h.set_mode(0o644);
                    h.set_cksum();
                    t.append_data(&mut h, name, *d).expect("file");
                }
                None => {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_size(0);
                    h.set_mode(0o755);
                    h.set_cksum();
                    t.append_data(&mut h, name, std::io::empty()).expect("dir");
                }
            }
        }
        t.into_inner().expect("tar").finish().expect("gz");
    }

    #[test]
    fn layers_apply_in_order_with_whiteouts() {
        let dir = tempfile::tempdir().expect("tmp");
        let root = dir.path().join("root");
        let (l1, l2) = (dir.path().join("l1.tgz"), dir.path().join("l2.tgz"));
        layer(
            &l1,
            &[
                ("var/task/", None),
                ("var/task/a.py", Some(b"A = 1\n")),
                ("var/task/gone.py", Some(b"x")),
                ("var/task/old/", None),
                ("var/task/old/x.py", Some(b"x")),
                ("var/task/keep/", None),
                ("var/task/keep/stale.py", Some(b"x")),
            ],
        );
        layer(
            &l2,
            &[
                ("var/task/a.py", Some(b"A = 2\n")),
                ("var/task/.wh.gone.py", Some(b"")),
                ("var/task/.wh.old", Some(b"")),
                ("var/task/keep/.wh..wh..opq", Some(b"")),
                ("var/task/keep/new.py", Some(b"y")),
            ],
        );
        apply_layer(&l1, &root).expect("l1");
        apply_layer(&l2, &root).expect("l2");
        let task = root.join("var/task");
        assert_eq!(std::fs::read(task.join("a.py")).expect("a"), b"A = 2\n");
        assert!(!task.join("gone.py").exists());
        assert!(!task.join("old").exists());
        assert!(!task.join("keep/stale.py").exists());
        assert!(task.join("keep/new.py").is_file());
    }

    #[test]
    fn unsafe_layer_paths_are_refused() {
        let dir = tempfile::tempdir().expect("tmp");
        let l = dir.path().join("bad.tgz");
        // tar::Builder refuses `..` itself, so write the name into the header by hand.
        let f = std::fs::File::create(&l).expect("create");
        let gz = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
        let mut t = tar::Builder::new(gz);
        let mut h = tar::Header::new_gnu();
        h.as_gnu_mut().expect("gnu").name[..12].copy_from_slice(b"../escape.py");
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(1);
        h.set_mode(0o644);
        h.set_cksum();
        t.append(&h, &b"x"[..]).expect("append");
        t.into_inner().expect("tar").finish().expect("gz");
        let e = apply_layer(&l, &dir.path().join("root")).expect_err("refused");
        assert!(e.to_string().contains("escape.py"), "{e}");
        assert!(!dir.path().join("escape.py").exists());
    }

    #[test]
    fn manifest_paths_name_their_artifact() {
        assert_eq!(
            artifact_of(Path::new("dist/fn.zip.lpack.json")),
            PathBuf::from("dist/fn.zip")
        );
        assert_eq!(
            artifact_of(Path::new("dist/fn.zip")),
            PathBuf::from("dist/fn.zip")
        );
    }
}
