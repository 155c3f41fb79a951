//! `lpack size-report`: where every byte went, against Lambda's limits.

use super::{Outcome, SizeReportArgs};
use crate::artifact::ArtifactManifest;
use crate::report::{self, SizeReport, render};

fn load(paths: &[std::path::PathBuf]) -> anyhow::Result<SizeReport> {
    let manifests = paths
        .iter()
        .map(|p| ArtifactManifest::read(p))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(report::build(&manifests))
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
        return gates(&new, &args);
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
    gates(&r, &args)
}

fn gates(r: &SizeReport, args: &SizeReportArgs) -> anyhow::Result<Outcome> {
    Ok(super::gate_report(r, &args.gates))
}
