//! Image outputs: an OCI image layout directory, or a docker-archive tar (`docker load`) holding
//! the same layout plus Docker's `manifest.json`.
//!
//! An OCI layout holds many images: writing one adds or replaces its tag in `index.json` (blobs
//! shared, the index replaced atomically) and leaves every other tag and file alone; a non-empty
//! folder that is not a layout is refused. Unreferenced blobs are removed only on request (`gc`).
//! The docker-archive is written to a temporary sibling and renamed into place.

use super::*;

/// Where an image goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageOut {
    /// An OCI image layout directory, the manifest tagged `tag`.
    OciLayout { dir: PathBuf, tag: String },
    /// A tar loadable with `docker load`.
    DockerArchive { file: PathBuf, tag: String },
}

impl ImageOut {
    /// `oci-layout:DIR[:TAG]` (default tag `latest`) or `docker-archive:FILE.tar[:REPO:TAG]`
    /// (default `lpack:latest`).
    pub fn parse(s: &str) -> Result<ImageOut, String> {
        let split = |rest: &str| -> (PathBuf, String) {
            match rest.rsplit_once(':') {
                Some((p, t)) if !t.contains('/') && !t.is_empty() => {
                    (PathBuf::from(p), t.to_string())
                }
                _ => (PathBuf::from(rest), "latest".to_string()),
            }
        };
        if let Some(rest) = s.strip_prefix("oci-layout:") {
            let (dir, tag) = split(rest);
            Ok(ImageOut::OciLayout { dir, tag })
        } else if let Some(rest) = s.strip_prefix("docker-archive:") {
            // As skopeo: `docker-archive:PATH[:docker-reference]`, the reference after `.tar:`.
            let (file, tag) = match rest.find(".tar:") {
                Some(i) => (PathBuf::from(&rest[..i + 4]), rest[i + 5..].to_string()),
                None => (PathBuf::from(rest), "lpack:latest".to_string()),
            };
            Ok(ImageOut::DockerArchive { file, tag })
        } else {
            Err(format!(
                "`{s}`: expected oci-layout:DIR[:TAG] or docker-archive:FILE.tar[:TAG]"
            ))
        }
    }
}

fn index_json(img: &BuiltImage, tag: &str) -> Result<Vec<u8>, ImageError> {
    serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": MT_INDEX,
        "manifests": [descriptor(img, tag)],
    }))
    .map_err(werr)
}

const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// The index entry of `img` tagged `tag`.
fn descriptor(img: &BuiltImage, tag: &str) -> Value {
    json!({
        "mediaType": MT_MANIFEST,
        "digest": img.manifest_digest,
        "size": img.manifest.len(),
        "annotations": {REF_NAME: tag},
    })
}

/// What writing one tag into an OCI image layout did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LayoutWrite {
    /// The manifest digest the tag pointed at before, when it pointed elsewhere.
    pub replaced: Option<String>,
    /// Blobs added (the others were already there).
    pub blobs_added: usize,
    /// With `gc`: the blobs removed because no index entry references them (digest, bytes).
    pub removed: Vec<(String, u64)>,
}

fn layout_err(dir: &Path, detail: impl Into<String>, hint: impl Into<String>) -> ImageError {
    ImageError::Layout {
        dir: dir.to_path_buf(),
        detail: detail.into(),
        hint: hint.into(),
    }
}

/// Write `bytes` to `dest` through a temporary file beside it, mode 0644.
fn write_file_atomic(dest: &Path, bytes: &[u8]) -> Result<(), ImageError> {
    let dir = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".lpack-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(werr)?;
    tmp.write_all(bytes).map_err(werr)?;
    tmp.as_file().sync_all().map_err(werr)?;
    set_mode(tmp.path(), 0o644)?;
    tmp.persist(dest).map_err(|e| werr(e.error))?;
    Ok(())
}

fn set_mode(path: &Path, mode: u32) -> Result<(), ImageError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(werr)
}

/// Put one blob into `blobs` (unless a file of that size is already there): hard-linked from
/// the cache where possible, else copied; renamed into place, mode 0644.
fn put_blob(blobs: &Path, digest: &str, from: BlobFrom<'_>) -> Result<bool, ImageError> {
    let Some(dest) = blob_path_in(blobs, digest) else {
        return Err(werr(format!("bad digest `{digest}`")));
    };
    let size = match from {
        BlobFrom::Bytes(b) => b.len() as u64,
        BlobFrom::File(p) => std::fs::metadata(p).map_err(werr)?.len(),
    };
    if std::fs::metadata(&dest).is_ok_and(|m| m.is_file() && m.len() == size) {
        return Ok(false);
    }
    match from {
        BlobFrom::Bytes(b) => write_file_atomic(&dest, b)?,
        BlobFrom::File(p) => {
            let tmp = blobs.join(format!(
                "{}blob-{}{}",
                crate::outfile::OUTPUT_TEMP_PREFIX,
                std::process::id(),
                crate::outfile::OUTPUT_TEMP_SUFFIX
            ));
            let _ = std::fs::remove_file(&tmp);
            if std::fs::hard_link(p, &tmp).is_err() {
                std::fs::copy(p, &tmp).map_err(werr)?;
            }
            set_mode(&tmp, 0o644)?;
            std::fs::rename(&tmp, &dest).map_err(werr)?;
        }
    }
    Ok(true)
}

enum BlobFrom<'a> {
    Bytes(&'a [u8]),
    File(&'a Path),
}

fn blob_path_in(blobs: &Path, digest: &str) -> Option<PathBuf> {
    let hex = digest.strip_prefix("sha256:")?;
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then(|| blobs.join(hex))
}

/// Refuse an `oci-layout:DIR` output that is neither new, nor an empty folder, nor an OCI image
/// layout (checked before the image is built, and again before it is written).
pub fn check_layout_dir(dir: &Path) -> Result<(), ImageError> {
    match std::fs::metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(werr(format!("{}: {e}", dir.display()))),
        Ok(m) if !m.is_dir() => {
            return Err(layout_err(
                dir,
                "is a file, not a folder",
                "name a folder for oci-layout:DIR[:TAG] (a new one, or an OCI layout to add the tag to)",
            ));
        }
        Ok(_) => {
            let empty = std::fs::read_dir(dir).map_err(werr)?.next().is_none();
            if !empty && !dir.join("oci-layout").is_file() {
                return Err(layout_err(
                    dir,
                    "is not empty and is not an OCI image layout (it has no `oci-layout` file); lpack writes images only into a new or empty folder or an existing layout",
                    "choose another folder, e.g. --image-out oci-layout:dist/image:TAG, or move this folder's files away",
                ));
            }
        }
    }
    Ok(())
}

/// Add `img` to the OCI image layout `dir` under `tag` (replacing what the tag pointed at);
/// other tags and blobs stay. `dir` may be new, empty, or an existing layout; anything else is
/// refused. Blobs are written before `index.json`, which is replaced atomically, so a reader
/// never sees a tag without its blobs. With `gc`, blobs that no index entry references any more
/// are removed (only files named by a sha256 digest under `blobs/sha256/`).
pub fn write_oci_layout(
    img: &BuiltImage,
    dir: &Path,
    tag: &str,
    gc: bool,
) -> Result<LayoutWrite, ImageError> {
    // 1. What is there: nothing, an empty folder, or a layout.
    let (lock, blobs) = open_layout(dir)?;

    // 2. Blobs first.
    let mut report = LayoutWrite::default();
    let manifest_digest = &img.manifest_digest;
    if put_blob(&blobs, manifest_digest, BlobFrom::Bytes(&img.manifest))? {
        report.blobs_added += 1;
    }
    for b in &img.blobs {
        if put_blob(&blobs, &b.digest, BlobFrom::File(&b.path))? {
            report.blobs_added += 1;
        }
    }

    // 3. The index: replace the tag's entry, keep every other one.
    let index = tag_in_index(dir, img, tag, &mut report)?;

    // 4. Optionally, unreferenced blobs.
    if gc {
        report.removed = collect_garbage(dir, &blobs, &index)?;
    }
    drop(lock);
    Ok(report)
}

/// Check, create (0755) and lock the layout folder; returns the lock and the blobs folder.
fn open_layout(dir: &Path) -> Result<(std::fs::File, PathBuf), ImageError> {
    check_layout_dir(dir)?;
    let blobs = dir.join("blobs").join("sha256");
    // Folders lpack creates are 0755 whatever the umask, as the files are 0644.
    let created: Vec<PathBuf> = [dir.to_path_buf(), dir.join("blobs"), blobs.clone()]
        .into_iter()
        .filter(|d| !d.exists())
        .collect();
    std::fs::create_dir_all(&blobs).map_err(werr)?;
    for d in &created {
        set_mode(d, 0o755)?;
    }
    // One writer at a time per layout (the index is read, changed and replaced).
    let lock = std::fs::File::open(dir).map_err(werr)?;
    lock.lock().map_err(werr)?;
    let layout_file = dir.join("oci-layout");
    if !layout_file.is_file() {
        write_file_atomic(&layout_file, br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    }
    Ok((lock, blobs))
}

/// Point `tag` at `img` in `index.json`, other entries kept, replaced atomically; the index.
fn tag_in_index(
    dir: &Path,
    img: &BuiltImage,
    tag: &str,
    report: &mut LayoutWrite,
) -> Result<Value, ImageError> {
    let index_file = dir.join("index.json");
    let mut index: Value = match std::fs::read(&index_file) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            layout_err(
                &index_file,
                format!("is not valid JSON ({e})"),
                "fix or remove it (it lists the layout's images), or write to another folder",
            )
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            json!({"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": []})
        }
        Err(e) => return Err(werr(format!("{}: {e}", index_file.display()))),
    };
    let Some(obj) = index.as_object_mut() else {
        return Err(layout_err(
            &index_file,
            "is not a JSON object",
            "fix or remove it, or write to another folder",
        ));
    };
    let manifests = obj
        .entry("manifests")
        .or_insert_with(|| json!([]))
        .as_array_mut()
        .ok_or_else(|| {
            layout_err(
                &index_file,
                "has no `manifests` array",
                "fix or remove it, or write to another folder",
            )
        })?;
    let tagged = |m: &Value| m["annotations"][REF_NAME].as_str() == Some(tag);
    let mut entry = Some(descriptor(img, tag));
    let mut updated = Vec::with_capacity(manifests.len() + 1);
    for m in manifests.drain(..) {
        if tagged(&m) {
            if let Some(old) = m["digest"].as_str()
                && old != img.manifest_digest
            {
                report.replaced = Some(old.to_string());
            }
            // The first entry of the tag is replaced in place; later duplicates go.
            if let Some(e) = entry.take() {
                updated.push(e);
            }
        } else {
            updated.push(m);
        }
    }
    if let Some(e) = entry {
        updated.push(e);
    }
    *manifests = updated;
    let bytes = serde_json::to_vec(&index).map_err(werr)?;
    write_file_atomic(&index_file, &bytes)?;
    Ok(index)
}

/// Remove the blobs no index entry references (following nested indexes to manifests, and
/// manifests to their config and layers). A referenced manifest that cannot be read stops the
/// collection before anything is removed.
fn collect_garbage(
    dir: &Path,
    blobs: &Path,
    index: &Value,
) -> Result<Vec<(String, u64)>, ImageError> {
    let mut keep: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    let mut queue: Vec<String> = Vec::new();
    let add = |d: &Value, keep: &mut std::collections::BTreeSet<String>, q: &mut Vec<String>| {
        if let Some(digest) = d["digest"].as_str()
            && keep.insert(digest.to_string())
        {
            q.push(digest.to_string());
        }
    };
    for m in index["manifests"].as_array().into_iter().flatten() {
        add(m, &mut keep, &mut queue);
    }
    while let Some(digest) = queue.pop() {
        let Some(path) = blob_path_in(blobs, &digest) else {
            // Another algorithm: its blobs are not ours to collect.
            continue;
        };
        let bytes = std::fs::read(&path).map_err(|e| {
            layout_err(
                dir,
                format!("--gc: blob {digest} referenced by the index cannot be read ({e}); nothing was removed"),
                "repair the layout (e.g. rebuild the tags that use it), then run --gc again",
            )
        })?;
        // Layers are not JSON; manifests and indexes name further blobs.
        let Ok(v) = serde_json::from_slice::<Value>(&bytes) else {
            continue;
        };
        for d in v["manifests"].as_array().into_iter().flatten() {
            add(d, &mut keep, &mut queue);
        }
        if v.get("config").is_some() {
            add(&v["config"], &mut keep, &mut queue);
        }
        for d in v["layers"].as_array().into_iter().flatten() {
            add(d, &mut keep, &mut queue);
        }
        if v.get("subject").is_some() {
            add(&v["subject"], &mut keep, &mut queue);
        }
    }
    let mut names: Vec<(String, PathBuf)> = std::fs::read_dir(blobs)
        .map_err(werr)?
        .filter_map(Result::ok)
        .filter_map(|e| Some((e.file_name().to_str()?.to_string(), e.path())))
        .filter(|(n, _)| n.len() == 64 && n.bytes().all(|b| b.is_ascii_hexdigit()))
        .collect();
    names.sort();
    let mut removed = Vec::new();
    for (hex, path) in names {
        let digest = format!("sha256:{hex}");
        if keep.contains(&digest) {
            continue;
        }
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        std::fs::remove_file(&path).map_err(werr)?;
        removed.push((digest, size));
    }
    Ok(removed)
}

/// Write a docker-archive: the OCI layout plus Docker's manifest.json, as one canonical tar.
pub fn write_docker_archive(
    img: &BuiltImage,
    file: &Path,
    tag: &str,
    epoch: Epoch,
) -> Result<(), ImageError> {
    let parent = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(werr)?;
    let tmp = crate::outfile::output_temp(parent).map_err(werr)?;
    let repo_tag = if tag.contains(':') {
        tag.to_string()
    } else {
        format!("lpack:{tag}")
    };
    let files = archive_files(img, &repo_tag)?;
    let out = BufWriter::new(tmp.as_file().try_clone().map_err(werr)?);
    write_archive_tar(out, &files, epoch)?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o644))
            .map_err(werr)?;
    }
    tmp.persist(file).map_err(|e| werr(e.error))?;
    Ok(())
}

/// Where a docker-archive file's bytes come from.
enum ArchiveSource {
    Bytes(Vec<u8>),
    Path(PathBuf),
}

/// The files of a docker-archive by name: the OCI layout and Docker's `manifest.json`.
fn archive_files(
    img: &BuiltImage,
    repo_tag: &str,
) -> Result<BTreeMap<String, ArchiveSource>, ImageError> {
    let layer_paths: Vec<String> = img
        .base
        .layers
        .iter()
        .map(|b| b.digest.clone())
        .chain(img.layers.iter().map(|l| l.digest.clone()))
        .map(|d| format!("blobs/sha256/{}", d.trim_start_matches("sha256:")))
        .collect();
    let docker_manifest = serde_json::to_vec(&json!([{
        "Config": format!("blobs/sha256/{}", img.config_digest.trim_start_matches("sha256:")),
        "RepoTags": [repo_tag],
        "Layers": layer_paths,
    }]))
    .map_err(werr)?;
    let mut files: BTreeMap<String, ArchiveSource> = BTreeMap::new();
    files.insert(
        "oci-layout".into(),
        ArchiveSource::Bytes(br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec()),
    );
    files.insert(
        "index.json".into(),
        ArchiveSource::Bytes(index_json(img, repo_tag)?),
    );
    files.insert(
        "manifest.json".into(),
        ArchiveSource::Bytes(docker_manifest),
    );
    files.insert(
        format!(
            "blobs/sha256/{}",
            img.manifest_digest.trim_start_matches("sha256:")
        ),
        ArchiveSource::Bytes(img.manifest.clone()),
    );
    for b in &img.blobs {
        files.insert(
            format!("blobs/sha256/{}", b.digest.trim_start_matches("sha256:")),
            ArchiveSource::Path(b.path.clone()),
        );
    }
    Ok(files)
}

/// Write `files` to `out` as one canonical tar (owner 0, mtime `epoch`) and flush it.
fn write_archive_tar(
    out: BufWriter<std::fs::File>,
    files: &BTreeMap<String, ArchiveSource>,
    epoch: Epoch,
) -> Result<(), ImageError> {
    let mut builder = tar::Builder::new(out);
    let header = |kind: tar::EntryType, mode: u32, size: u64| -> Result<tar::Header, ImageError> {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(epoch.0);
        h.set_size(size);
        Ok(h)
    };
    for d in ["blobs/", "blobs/sha256/"] {
        let mut h = header(tar::EntryType::Directory, 0o755, 0)?;
        builder
            .append_data(&mut h, d, std::io::empty())
            .map_err(werr)?;
    }
    for (name, src) in files {
        match src {
            ArchiveSource::Bytes(b) => {
                let mut h = header(tar::EntryType::Regular, 0o644, b.len() as u64)?;
                builder.append_data(&mut h, name, &b[..]).map_err(werr)?;
            }
            ArchiveSource::Path(p) => {
                let f = std::fs::File::open(p).map_err(werr)?;
                let len = f.metadata().map_err(werr)?.len();
                let mut h = header(tar::EntryType::Regular, 0o644, len)?;
                builder.append_data(&mut h, name, f).map_err(werr)?;
            }
        }
    }
    let mut w = builder.into_inner().map_err(werr)?;
    w.flush().map_err(werr)?;
    drop(w);
    Ok(())
}
