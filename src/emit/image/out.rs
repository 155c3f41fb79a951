//! Image outputs: an OCI image layout directory, or a docker-archive tar (`docker load`) holding
//! the same layout plus Docker's `manifest.json`; both written to a temporary sibling and renamed
//! into place.

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
        "manifests": [{
            "mediaType": MT_MANIFEST,
            "digest": img.manifest_digest,
            "size": img.manifest.len(),
            "annotations": {"org.opencontainers.image.ref.name": tag},
        }],
    }))
    .map_err(werr)
}

/// Write an OCI image layout directory (replacing `dir` only once complete).
pub fn write_oci_layout(img: &BuiltImage, dir: &Path, tag: &str) -> Result<(), ImageError> {
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(werr)?;
    crate::cache::sweep_stale_temps(parent, ".lpack-image-", "");
    let tmp = tempfile::Builder::new()
        .prefix(".lpack-image-")
        .tempdir_in(parent)
        .map_err(werr)?;
    // Held until this function returns: a killed build's staging directory is unlocked, and the
    // next build's sweep removes it.
    let staging_lock = std::fs::File::open(tmp.path()).map_err(werr)?;
    staging_lock.try_lock().map_err(werr)?;
    let blobs = tmp.path().join("blobs").join("sha256");
    std::fs::create_dir_all(&blobs).map_err(werr)?;
    std::fs::write(
        tmp.path().join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .map_err(werr)?;
    std::fs::write(tmp.path().join("index.json"), index_json(img, tag)?).map_err(werr)?;
    let manifest_hex = img.manifest_digest.trim_start_matches("sha256:");
    std::fs::write(blobs.join(manifest_hex), &img.manifest).map_err(werr)?;
    for b in &img.blobs {
        let dest = blobs.join(b.digest.trim_start_matches("sha256:"));
        // A digest listed twice (an app layer identical to a base layer) is written once: a
        // copy onto the hard link made the first time would truncate the cached blob itself.
        if dest.exists() {
            continue;
        }
        if std::fs::hard_link(&b.path, &dest).is_err() {
            std::fs::copy(&b.path, &dest).map_err(werr)?;
        }
    }
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755));
    }
    let staged = tmp.keep();
    if dir.exists() {
        let old = parent.join(format!(
            ".lpack-old-{}",
            dir.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        ));
        let _ = std::fs::remove_dir_all(&old);
        std::fs::rename(dir, &old).map_err(werr)?;
        std::fs::rename(&staged, dir).map_err(werr)?;
        let _ = std::fs::remove_dir_all(&old);
    } else {
        std::fs::rename(&staged, dir).map_err(werr)?;
    }
    Ok(())
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
    let tmp = crate::cache::output_temp(parent).map_err(werr)?;
    let repo_tag = if tag.contains(':') {
        tag.to_string()
    } else {
        format!("lpack:{tag}")
    };
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
    let mut files: BTreeMap<String, Source> = BTreeMap::new();
    enum Source {
        Bytes(Vec<u8>),
        Path(PathBuf),
    }
    files.insert(
        "oci-layout".into(),
        Source::Bytes(br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec()),
    );
    files.insert(
        "index.json".into(),
        Source::Bytes(index_json(img, &repo_tag)?),
    );
    files.insert("manifest.json".into(), Source::Bytes(docker_manifest));
    files.insert(
        format!(
            "blobs/sha256/{}",
            img.manifest_digest.trim_start_matches("sha256:")
        ),
        Source::Bytes(img.manifest.clone()),
    );
    for b in &img.blobs {
        files.insert(
            format!("blobs/sha256/{}", b.digest.trim_start_matches("sha256:")),
            Source::Path(b.path.clone()),
        );
    }
    let out = BufWriter::new(tmp.as_file().try_clone().map_err(werr)?);
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
    for (name, src) in &files {
        match src {
            Source::Bytes(b) => {
                let mut h = header(tar::EntryType::Regular, 0o644, b.len() as u64)?;
                builder.append_data(&mut h, name, &b[..]).map_err(werr)?;
            }
            Source::Path(p) => {
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
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o644))
            .map_err(werr)?;
    }
    tmp.persist(file).map_err(|e| werr(e.error))?;
    Ok(())
}
