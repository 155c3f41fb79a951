//! The emit and manifest steps for `format = image`: app layers on a base image, written to
//! every image output and optionally pushed, with an lpack manifest describing it.

use std::path::PathBuf;

use super::units::{Ctx, skipped_records};
use super::{BuildError, default_output};
use crate::artifact::{
    Action, AppLayer, ArtifactKind, ArtifactManifest, ArtifactRecord, FileRecord, ImageRecord,
    SCHEMA_VERSION, TargetRecord, manifest_path,
};
use crate::cache::{Cache, sha256_hex};
use crate::emit::image::{self as img, ImageOut};
use crate::emit::registry::{PushReport, Registry};
use crate::emit::zip::SRC_PACKAGE;
use crate::slim::SlimmedWheel;

/// What an image build produced, for the summary.
#[derive(Debug, Clone)]
pub struct BuiltImageSummary {
    /// Where it went: `oci-layout:DIR:TAG`, `docker-archive:FILE:TAG`, `REF@DIGEST`.
    pub written: Vec<String>,
    pub manifest_digest: String,
    pub config_digest: String,
    pub base_reference: String,
    pub base_layers: usize,
    /// The app layers lpack added.
    pub layers: Vec<AppLayer>,
    pub pushed: Option<PushReport>,
    /// The image's CMD.
    pub handler: String,
    /// What writing the outputs changed besides the image: tags moved, blobs collected.
    pub notes: Vec<String>,
    pub manifest_file: PathBuf,
    pub manifest: ArtifactManifest,
}

/// `format = image`: app layers on a base image, written to every image output.
pub fn build_image(
    ctx: &Ctx<'_>,
    slimmed: &[SlimmedWheel],
    cache: &Cache,
) -> Result<BuiltImageSummary, BuildError> {
    let req = ctx.req;
    let target = &req.target;
    let handler = req.handler.clone().ok_or_else(|| {
        BuildError::Request(
            "--format image needs --handler MODULE.FUNCTION (the image's CMD), e.g. --handler app.handler".to_string(),
        )
    })?;
    let Some((module, _func)) = handler.rsplit_once('.') else {
        return Err(BuildError::Request(format!(
            "--handler `{handler}` must be MODULE.FUNCTION, e.g. app.handler"
        )));
    };
    let src_files: Vec<(String, PathBuf, bool)> = ctx
        .src
        .files
        .iter()
        .map(|f| (f.path.to_string(), f.disk.clone(), f.executable))
        .collect();
    let module_path = module.replace('.', "/");
    let candidates = [
        format!("{module_path}.py"),
        format!("{module_path}/__init__.py"),
    ];
    let in_src = src_files.iter().any(|(p, _, _)| candidates.contains(p));
    let in_deps = slimmed.iter().any(|s| {
        s.entries
            .iter()
            .any(|e| candidates.iter().any(|c| c == e.path.as_str()))
    });
    if !in_src && !in_deps {
        return Err(BuildError::Request(format!(
            "handler module `{module}` is not in the image: no {} in --src{}\n  hint: pass --src with your handler code, or fix --handler",
            candidates[0],
            req.src
                .as_ref()
                .map(|s| format!(" {}", s.display()))
                .unwrap_or_else(|| " (none given)".to_string())
        )));
    }
    if req.image.outputs.is_empty() && req.image.push.is_none() {
        return Err(BuildError::Request(
            "--format image needs --image-out oci-layout:DIR[:TAG] or docker-archive:FILE.tar[:TAG], or --push REF".to_string(),
        ));
    }
    // Fail on a bad push reference before any work.
    let registry = match &req.image.push {
        Some(r) => Some(Registry::connect(r)?),
        None => None,
    };
    let outs: Vec<ImageOut> = req
        .image
        .outputs
        .iter()
        .map(|o| ImageOut::parse(o).map_err(|e| BuildError::Request(format!("--image-out {e}"))))
        .collect::<Result<_, _>>()?;
    for o in &outs {
        if let ImageOut::OciLayout { dir, .. } = o {
            img::check_layout_dir(dir)?;
        }
    }
    let spec = img::spec_for(target);
    let base_ref = req.image.base.clone().unwrap_or_else(|| spec.base.clone());
    let base = match base_ref.strip_prefix("oci-layout:") {
        Some(rest) => {
            let (dir, tag) = match rest.rsplit_once(':') {
                Some((d, t)) if !t.contains('/') => (PathBuf::from(d), Some(t.to_string())),
                _ => (PathBuf::from(rest), None),
            };
            img::read_oci_layout(&dir, tag.as_deref(), target.arch)?
        }
        None => Registry::connect(&base_ref)?.pull_base(target.arch, cache)?,
    };
    let settings = img::ImageSettings {
        entrypoint: spec.entrypoint.clone(),
        cmd: vec![handler.clone()],
        workdir: spec.workdir.clone(),
        env: spec.env.clone(),
        heavy_threshold: req.image.heavy_threshold,
        epoch: ctx.epoch,
        gzip_level: 6,
    };
    let built = img::build_image(slimmed, &src_files, target, base, &settings, cache)?;
    let mut written = Vec::new();
    let mut notes = Vec::new();
    for out in &outs {
        match out {
            ImageOut::OciLayout { dir, tag } => {
                let w = img::write_oci_layout(&built, dir, tag, req.image.gc)?;
                let place = format!("oci-layout:{}:{tag}", dir.display());
                if let Some(old) = &w.replaced {
                    notes.push(format!("{place}: tag moved from {old}"));
                }
                if req.image.gc {
                    let bytes: u64 = w.removed.iter().map(|(_, n)| n).sum();
                    notes.push(format!(
                        "{}: --gc removed {} unreferenced blob(s), {bytes} bytes{}",
                        dir.display(),
                        w.removed.len(),
                        w.removed
                            .iter()
                            .map(|(d, _)| format!("\n    {d}"))
                            .collect::<String>()
                    ));
                }
                written.push(place);
            }
            ImageOut::DockerArchive { file, tag } => {
                img::write_docker_archive(&built, file, tag, ctx.epoch)?;
                written.push(format!("docker-archive:{}:{tag}", file.display()));
            }
        }
    }

    let pushed = match &registry {
        Some(reg) => {
            let report = reg.push(&built)?;
            written.push(format!("{}@{}", report.reference, report.digest));
            Some(report)
        }
        None => None,
    };

    // Records: the app files under /var/task.
    let mut files: Vec<FileRecord> = Vec::new();
    for s in slimmed {
        files.extend(s.meta.records.iter().cloned().map(|mut r| {
            if r.action != Action::Drop {
                r.path = format!("var/task/{}", r.path);
            }
            r
        }));
    }
    for (p, disk, _) in &src_files {
        let size = std::fs::metadata(disk).map(|m| m.len()).unwrap_or(0);
        files.push(FileRecord {
            path: format!("var/task/{p}"),
            package: SRC_PACKAGE.to_string(),
            original_size: size,
            size,
            compressed_size: 0,
            action: Action::Keep,
            rule: None,
            note: None,
        });
    }
    files.sort_by(|a, b| a.path.cmp(&b.path).then(a.package.cmp(&b.package)));
    let unzipped: u64 = files
        .iter()
        .filter(|f| f.action != Action::Drop)
        .map(|f| f.size)
        .sum();
    let total_blobs: u64 =
        built.blobs.iter().map(|b| b.size).sum::<u64>() + built.manifest.len() as u64;
    let first = outs.first().map(|o| match o {
        ImageOut::OciLayout { dir, .. } => dir.clone(),
        ImageOut::DockerArchive { file, .. } => file.clone(),
    });
    // Without a local output the manifest goes where the output (or its default) points.
    let manifest_file = manifest_path(&first.unwrap_or_else(|| {
        req.output
            .clone()
            .unwrap_or_else(|| default_output(ctx.input).with_extension("image"))
    }));
    let manifest = ArtifactManifest {
        schema_version: SCHEMA_VERSION,
        lpack_version: env!("CARGO_PKG_VERSION").to_string(),
        kind: ArtifactKind::Image,
        target: TargetRecord::of(target),
        inputs_sha256: sha256_hex(built.manifest_digest.as_bytes()),
        requirements: ctx.input.display().to_string(),
        source_date_epoch: ctx.epoch.0,
        artifact: ArtifactRecord {
            file: written.first().cloned().unwrap_or_default(),
            sha256: built
                .manifest_digest
                .trim_start_matches("sha256:")
                .to_string(),
            size: total_blobs,
            unzipped_size: unzipped,
            entries: files.len(),
        },
        packages: crate::emit::zip::package_records(slimmed, &files),
        skipped_requirements: skipped_records(ctx.skipped),
        warnings: ctx.warnings.to_vec(),
        profile: format!("{:?}", req.slim.profile).to_lowercase(),
        bytecode: format!("{:?}", ctx.plan.mode).to_lowercase(),
        bytecode_note: ctx.bytecode_note.map(str::to_string),
        rules: Vec::new(),
        stale_rules: ctx.stale_rules.to_vec(),
        audit: Vec::new(),
        layer_prefix: None,
        layers: Vec::new(),
        image: Some(ImageRecord {
            manifest_digest: built.manifest_digest.clone(),
            config_digest: built.config_digest.clone(),
            base: built.base.reference.clone(),
            base_manifest_digest: built.base.manifest_digest.clone(),
            layers: built.layers.clone(),
            outputs: written.clone(),
        }),
        handler: Some(handler.clone()),
        verify: None,
        timings: None,
        fingerprint: None,
        files,
    };
    manifest.write(&manifest_file)?;
    Ok(BuiltImageSummary {
        written,
        manifest_digest: built.manifest_digest.clone(),
        config_digest: built.config_digest.clone(),
        base_reference: built.base.reference.clone(),
        base_layers: built.base.layers.len(),
        layers: built.layers.clone(),
        pushed,
        handler,
        notes,
        manifest_file,
        manifest,
    })
}
