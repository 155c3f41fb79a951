//! The emit and manifest steps for `format = image`: app layers on a base image, written to
//! every image output and optionally pushed, with an lpack manifest describing it.

use std::path::PathBuf;

use super::error::BuildError;
use super::outcome::BuiltImageSummary;
use super::request::default_output;
use super::units::{Ctx, skipped_records};
use crate::artifact::{
    Action, ArtifactKind, ArtifactManifest, ArtifactRecord, FileRecord, ImageRecord,
    SCHEMA_VERSION, TargetRecord, manifest_path,
};
use crate::cache::Cache;
use crate::digest::sha256_hex;
use crate::emit::image::{self as img, ImageOut};
use crate::emit::registry::Registry;
use crate::emit::zip::SRC_PACKAGE;
use crate::slim::SlimmedWheel;

/// `format = image`: app layers on a base image, written to every image output.
pub fn build_image(
    ctx: &Ctx<'_>,
    slimmed: &[SlimmedWheel],
    cache: &Cache,
) -> Result<BuiltImageSummary, BuildError> {
    let req = ctx.req;
    let target = &req.target;
    let handler = image_handler(ctx, slimmed)?;
    let src_files = src_files(ctx);
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
    let base = pull_base(ctx, &spec.base, cache)?;
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
    let (mut written, notes) = write_outputs(ctx, &built, &outs)?;
    let pushed = match &registry {
        Some(reg) => {
            let report = reg.push(&built)?;
            written.push(format!("{}@{}", report.reference, report.digest));
            Some(report)
        }
        None => None,
    };
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
    let files = image_files(slimmed, &src_files);
    let manifest = image_manifest(ctx, slimmed, &built, &written, &handler, files);
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

/// The handler code: (path in the image, file on disk, executable).
fn src_files(ctx: &Ctx<'_>) -> Vec<(String, PathBuf, bool)> {
    ctx.src
        .files
        .iter()
        .map(|f| (f.path.to_string(), f.disk.clone(), f.executable))
        .collect()
}

/// The image's CMD: `--handler MODULE.FUNCTION`, whose module must be in `--src` or a package.
fn image_handler(ctx: &Ctx<'_>, slimmed: &[SlimmedWheel]) -> Result<String, BuildError> {
    let req = ctx.req;
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
    let module_path = module.replace('.', "/");
    let candidates = [
        format!("{module_path}.py"),
        format!("{module_path}/__init__.py"),
    ];
    let in_src = ctx
        .src
        .files
        .iter()
        .any(|f| candidates.iter().any(|c| c == f.path.as_str()));
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
    Ok(handler)
}

/// The base image: `--base` (a registry reference or `oci-layout:DIR[:TAG]`), else the
/// runtime's AWS base image.
fn pull_base(ctx: &Ctx<'_>, default: &str, cache: &Cache) -> Result<img::BaseImage, BuildError> {
    let req = ctx.req;
    let base_ref = req
        .image
        .base
        .clone()
        .unwrap_or_else(|| default.to_string());
    Ok(match base_ref.strip_prefix("oci-layout:") {
        Some(rest) => {
            let (dir, tag) = match rest.rsplit_once(':') {
                Some((d, t)) if !t.contains('/') => (PathBuf::from(d), Some(t.to_string())),
                _ => (PathBuf::from(rest), None),
            };
            img::read_oci_layout(&dir, tag.as_deref(), req.target.arch)?
        }
        None => Registry::connect(&base_ref)?.pull_base(req.target.arch, cache)?,
    })
}

/// Write the image to every `--image-out`. Returns where it went and what else changed (tags
/// moved, blobs collected by `--gc`).
fn write_outputs(
    ctx: &Ctx<'_>,
    built: &img::BuiltImage,
    outs: &[ImageOut],
) -> Result<(Vec<String>, Vec<String>), BuildError> {
    let gc = ctx.req.image.gc;
    let mut written = Vec::new();
    let mut notes = Vec::new();
    for out in outs {
        match out {
            ImageOut::OciLayout { dir, tag } => {
                let w = img::write_oci_layout(built, dir, tag, gc)?;
                let place = format!("oci-layout:{}:{tag}", dir.display());
                if let Some(old) = &w.replaced {
                    notes.push(format!("{place}: tag moved from {old}"));
                }
                if gc {
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
                img::write_docker_archive(built, file, tag, ctx.epoch)?;
                written.push(format!("docker-archive:{}:{tag}", file.display()));
            }
        }
    }
    Ok((written, notes))
}

/// The manifest's file records: the app files under /var/task, sorted.
fn image_files(slimmed: &[SlimmedWheel], src_files: &[(String, PathBuf, bool)]) -> Vec<FileRecord> {
    let mut files: Vec<FileRecord> = Vec::new();
    for s in slimmed {
        files.extend(s.meta.records.iter().cloned().map(|mut r| {
            if r.action != Action::Drop {
                r.path = format!("var/task/{}", r.path);
            }
            r
        }));
    }
    for (p, disk, _) in src_files {
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
    files
}

/// The lpack manifest of an image build.
fn image_manifest(
    ctx: &Ctx<'_>,
    slimmed: &[SlimmedWheel],
    built: &img::BuiltImage,
    written: &[String],
    handler: &str,
    files: Vec<FileRecord>,
) -> ArtifactManifest {
    let req = ctx.req;
    let unzipped: u64 = files
        .iter()
        .filter(|f| f.action != Action::Drop)
        .map(|f| f.size)
        .sum();
    let total_blobs: u64 =
        built.blobs.iter().map(|b| b.size).sum::<u64>() + built.manifest.len() as u64;
    ArtifactManifest {
        schema_version: SCHEMA_VERSION,
        lpack_version: env!("CARGO_PKG_VERSION").to_string(),
        kind: ArtifactKind::Image,
        target: TargetRecord::of(&req.target),
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
            outputs: written.to_vec(),
        }),
        handler: Some(handler.to_string()),
        verify: None,
        timings: None,
        fingerprint: None,
        files,
    }
}
