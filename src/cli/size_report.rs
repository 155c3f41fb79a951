//! `lpack size-report`: where every byte went, against Lambda's limits.

use super::{Outcome, SizeReportArgs};
use crate::artifact::{Action, ArtifactKind, ArtifactManifest, ArtifactRecord, FileRecord};
use crate::cache::Cache;
use crate::report::{self, SizeReport, render};

fn load(paths: &[std::path::PathBuf], cache: &std::path::Path) -> anyhow::Result<SizeReport> {
    Ok(report::build(&manifests(paths, cache)?))
}

/// The manifests named, and for function zips built `--with-layer`, their external layers
/// (read from the zips; a row of the recorded size when the zip is gone).
fn manifests(
    paths: &[std::path::PathBuf],
    cache: &std::path::Path,
) -> anyhow::Result<Vec<ArtifactManifest>> {
    let read: Vec<ArtifactManifest> = paths
        .iter()
        .map(|p| ArtifactManifest::read(p))
        .collect::<Result<Vec<_>, _>>()?;
    let mut out = read.clone();
    for m in &read {
        out.extend(external_layers(m, cache));
    }
    Ok(out)
}

fn external_layers(m: &ArtifactManifest, cache: &std::path::Path) -> Vec<ArtifactManifest> {
    let target = match (m.target.runtime.parse(), m.target.arch.parse()) {
        (Ok(r), Ok(a)) => crate::target::Target::new(r, a),
        _ => return Vec::new(),
    };
    let mut out = Vec::new();
    for l in &m.layers {
        let Some(ext) = &l.external else { continue };
        let zip = if crate::extlayer::is_arn(&ext.source) {
            // The cache is opened (and so created) only when a layer came from an ARN.
            Cache::open(cache)
                .ok()
                .and_then(|c| crate::extlayer::cached_zip(&c, &l.sha256))
        } else {
            Some(std::path::PathBuf::from(&ext.source))
        };
        let indexed = zip
            .filter(|z| crate::digest::sha256_file(z).is_ok_and(|s| s == l.sha256))
            .and_then(|z| crate::extlayer::index(&z, &ext.source, &target).ok());
        out.push(match indexed {
            Some(mut layer) => {
                layer.label = l.file.clone();
                layer.manifest(&target)
            }
            None => recorded_only(m, l),
        });
    }
    out
}

/// A layer known only from the function's record of it: one row of its unzipped size.
fn recorded_only(m: &ArtifactManifest, l: &crate::artifact::LayerRef) -> ArtifactManifest {
    ArtifactManifest {
        kind: ArtifactKind::LayerZip,
        artifact: ArtifactRecord {
            file: l.file.clone(),
            sha256: l.sha256.clone(),
            size: 0,
            unzipped_size: l.unzipped_size,
            entries: 0,
        },
        packages: Vec::new(),
        rules: Vec::new(),
        layers: Vec::new(),
        verify: None,
        handler: None,
        files: vec![FileRecord {
            path: l.file.clone(),
            package: format!("layer {} (zip not found)", l.file),
            original_size: l.unzipped_size,
            size: l.unzipped_size,
            compressed_size: 0,
            action: Action::Keep,
            rule: None,
            note: None,
        }],
        ..m.clone()
    }
}

/// One `--layer`: as it is, and as the safe profile would leave it.
struct LayerView {
    layer: crate::extlayer::ExternalLayer,
    warnings: Vec<String>,
    safe: SizeReport,
}

fn layer_views(
    args: &SizeReportArgs,
    cache: &std::path::Path,
) -> anyhow::Result<(Vec<ArtifactManifest>, Vec<LayerView>)> {
    if args.layer.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let cache = &Cache::open(cache)?;
    let target = crate::target::Target::new(args.runtime.parse()?, args.arch.parse()?);
    let mut manifests = Vec::new();
    let mut views = Vec::new();
    for spec in &args.layer {
        let layer = crate::extlayer::open(spec, &target, cache)?;
        let warnings = layer.check(&target)?;
        let safe = crate::pipeline::external::safe_profile_view(&layer, &target)?;
        manifests.push(layer.manifest(&target));
        views.push(LayerView {
            layer,
            warnings,
            safe: report::build(std::slice::from_ref(&safe)),
        });
    }
    Ok((manifests, views))
}

fn safe_text(v: &LayerView) -> String {
    let mb = super::human_size;
    let t = &v.safe.total;
    let removed = t.removed_total();
    let mut s = format!(
        "\nlayer {} ({}): {} distributions, {} unzipped, {} zipped\n",
        v.layer.label,
        v.layer.source,
        v.layer.dists.len(),
        mb(v.layer.unzipped_size),
        mb(v.layer.size)
    );
    for w in &v.warnings {
        s.push_str(&format!("  warning: {w}\n"));
    }
    let pct = if t.before > 0 {
        removed as f64 * 100.0 / t.before as f64
    } else {
        0.0
    };
    s.push_str(&format!(
        "  the safe profile would remove {} of it ({pct:.1} %), leaving {}\n",
        mb(removed),
        mb(t.after)
    ));
    let mut cats: Vec<(&String, &u64)> = t.removed.iter().filter(|(_, b)| **b > 0).collect();
    cats.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    if !cats.is_empty() {
        let parts: Vec<String> = cats
            .iter()
            .map(|(c, b)| format!("{c} {}", mb(**b)))
            .collect();
        s.push_str(&format!("    by category: {}\n", parts.join(", ")));
    }
    let mut dists: Vec<&report::DistRow> = v
        .safe
        .distributions
        .iter()
        .filter(|d| d.removed_total() > 0)
        .collect();
    dists.sort_by(|a, b| {
        b.removed_total()
            .cmp(&a.removed_total())
            .then(a.name.cmp(&b.name))
    });
    if !dists.is_empty() {
        let parts: Vec<String> = dists
            .iter()
            .take(8)
            .map(|d| format!("{} {}", d.name, mb(d.removed_total())))
            .collect();
        s.push_str(&format!("    most from: {}\n", parts.join(", ")));
        s.push_str("  hint: `lpack build --format layer` of the same pins writes that slimmer layer; `lpack bench` compares cold starts\n");
    }
    s
}

pub fn run(args: SizeReportArgs) -> anyhow::Result<Outcome> {
    let cache = args.cache_dir.clone().unwrap_or_else(Cache::default_root);
    if let Some(pair) = &args.diff {
        let (old, new) = (load(&pair[..1], &cache)?, load(&pair[1..], &cache)?);
        let d = report::diff(&old, &new);
        if args.json {
            println!("{}", serde_json::to_string_pretty(&d)?);
        } else {
            print!("{}", render::diff_table(&d, args.markdown));
        }
        let ms = manifests(&pair[1..], &cache)?;
        return gates(&new, &args, &ms, Some(&d));
    }
    if args.inputs.is_empty() && args.layer.is_empty() {
        anyhow::bail!(
            "name at least one artifact or manifest (e.g. `lpack size-report dist/app.zip`), a layer (--layer ZIP|ARN), or use --diff OLD NEW"
        );
    }
    let mut all = manifests(&args.inputs, &cache)?;
    let (layers, views) = layer_views(&args, &cache)?;
    all.extend(layers);
    let r = report::build(&all);
    if let Some(svg) = &args.svg {
        let body = report::svg::render(&r, args.top)
            .map_err(|e| anyhow::anyhow!("drawing the chart: {e}"))?;
        crate::outfile::write_output(svg, body.as_bytes())
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", svg.display()))?;
    }
    if args.json {
        if views.is_empty() {
            println!("{}", serde_json::to_string_pretty(&r)?);
        } else {
            let layers: Vec<serde_json::Value> = views
                .iter()
                .map(|v| {
                    serde_json::json!({
                        "layer": v.layer.label,
                        "source": v.layer.source,
                        "sha256": v.layer.sha256,
                        "zipped": v.layer.size,
                        "unzipped": v.layer.unzipped_size,
                        "distributions": v.layer.dists.iter().map(|d| serde_json::json!({"name": d.name, "version": d.version, "site": d.site, "modules": d.modules, "unzipped": d.size})).collect::<Vec<_>>(),
                        "hidden": v.layer.hidden,
                        "libraries": v.layer.libraries,
                        "warnings": v.warnings,
                        "safe_profile": v.safe,
                    })
                })
                .collect();
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({"report": r, "layers": layers}))?
            );
        }
    } else {
        if args.markdown {
            print!("{}", render::markdown(&r, args.top));
        } else {
            print!("{}", render::table(&r, args.top));
        }
        for v in &views {
            print!("{}", safe_text(v));
        }
    }
    gates(&r, &args, &all, None)
}

fn gates(
    r: &SizeReport,
    args: &SizeReportArgs,
    manifests: &[ArtifactManifest],
    diff: Option<&report::DiffReport>,
) -> anyhow::Result<Outcome> {
    if args.ci.wanted() {
        let (max_unzipped, max_zipped) = (args.gates.max_unzipped, args.gates.max_zipped);
        let failures = report::gate(r, max_unzipped, max_zipped);
        let gates = crate::pipeline::Gates {
            max_unzipped,
            max_zipped,
        };
        super::ci::results::size_report(r, manifests, &failures, &gates, diff).emit(&args.ci)?;
    }
    Ok(super::gate_report(r, &args.gates))
}
