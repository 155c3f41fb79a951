//! `lpack size-report`: where every byte went, against Lambda's limits.

use super::{Outcome, SizeReportArgs};
use crate::artifact::ArtifactManifest;
use crate::report::{self, SizeReport, render};

fn load(paths: &[std::path::PathBuf]) -> anyhow::Result<SizeReport> {
    Ok(report::build(&manifests(paths)?))
}

fn manifests(paths: &[std::path::PathBuf]) -> anyhow::Result<Vec<ArtifactManifest>> {
    Ok(paths
        .iter()
        .map(|p| ArtifactManifest::read(p))
        .collect::<Result<Vec<_>, _>>()?)
}

pub fn run(args: SizeReportArgs) -> anyhow::Result<Outcome> {
    if let Some(pair) = &args.diff {
        let (old, new) = (load(&pair[..1])?, load(&pair[1..])?);
        let d = report::diff(&old, &new);
        if args.json {
            println!("{}", serde_json::to_string_pretty(&d)?);
        } else {
            print!("{}", render::diff_table(&d, args.markdown));
        }
        return gates(&new, &args, &pair[1..], Some(&d));
    }
    if args.inputs.is_empty() {
        anyhow::bail!(
            "name at least one artifact or manifest (e.g. `lpack size-report dist/app.zip`), or use --diff OLD NEW"
        );
    }
    let r = load(&args.inputs)?;
    if let Some(svg) = &args.svg {
        let body = report::svg::render(&r, args.top)
            .map_err(|e| anyhow::anyhow!("drawing the chart: {e}"))?;
        crate::cache::write_output(svg, body.as_bytes())
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", svg.display()))?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else if args.markdown {
        print!("{}", render::markdown(&r, args.top));
    } else {
        print!("{}", render::table(&r, args.top));
    }
    gates(&r, &args, &args.inputs, None)
}

fn gates(
    r: &SizeReport,
    args: &SizeReportArgs,
    inputs: &[std::path::PathBuf],
    diff: Option<&report::DiffReport>,
) -> anyhow::Result<Outcome> {
    if args.ci.wanted() {
        let (max_unzipped, max_zipped) = (args.gates.max_unzipped, args.gates.max_zipped);
        let failures = report::gate(r, max_unzipped, max_zipped);
        let gates = crate::pipeline::Gates {
            max_unzipped,
            max_zipped,
        };
        super::ci::results::size_report(r, &manifests(inputs)?, &failures, &gates, diff)
            .emit(&args.ci)?;
    }
    Ok(super::gate_report(r, &args.gates))
}
