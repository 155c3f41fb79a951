//! Bench outputs: `samples.csv` and `samples.json` (every invocation), `summary.json`
//! (schema below, documented in docs/bench.md), `summary.md` (tables for
//! `$GITHUB_STEP_SUMMARY`), the SVG charts and `report.html` — one self-contained page (inline
//! SVG and CSS, nothing fetched) with the table, the charts and the provenance. Also the plain
//! text table the CLI prints. Rendering only: nothing here measures or prints.

use std::fmt::Write;
use std::path::Path;

use super::charts;
use super::results::{DeploymentResult, Provenance, Results};
use super::stats::Figure;

/// File names written into `--out DIR`.
pub const FILES: &[&str] = &[
    "samples.csv",
    "samples.json",
    "summary.json",
    "summary.md",
    "init-ecdf.svg",
    "init-percentiles.svg",
    "imports.svg",
    "report.html",
];

fn f1(v: f64) -> String {
    format!("{v:.1}")
}

/// Raw samples as CSV (one row per invocation).
pub fn samples_csv(r: &Results) -> String {
    let mut out = String::from(
        "deployment,memory_mb,environment,invocation,cold,request_id,init_ms,duration_ms,round_trip_ms,max_memory_mb,response_bytes,error_type,error_message,round,billed_ms,restore_ms,billed_restore_ms\n",
    );
    let q = |s: &str| {
        if s.contains([',', '"', '\n']) {
            format!("\"{}\"", s.replace('"', "\"\"").replace('\n', " "))
        } else {
            s.to_string()
        }
    };
    for s in &r.samples {
        let m = &s.measured;
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            q(&s.deployment),
            s.memory_mb,
            s.environment,
            m.invocation,
            s.cold(),
            m.request_id,
            m.init_ms.map(|v| format!("{v:.3}")).unwrap_or_default(),
            m.duration_ms.map(|v| format!("{v:.3}")).unwrap_or_default(),
            m.round_trip_ms
                .map(|v| format!("{v:.3}"))
                .unwrap_or_default(),
            m.max_memory_mb.map(|v| v.to_string()).unwrap_or_default(),
            m.response_bytes.map(|v| v.to_string()).unwrap_or_default(),
            q(m.error.as_ref().map_or("", |e| e.error_type.as_str())),
            q(m.error.as_ref().map_or("", |e| e.error_message.as_str())),
            match s.round {
                super::Round::Steady => "steady",
                super::Round::AfterDeploy => "after-deploy",
                super::Round::NotCold => "not-cold",
            },
            m.billed_ms.map(|v| v.to_string()).unwrap_or_default(),
            m.restore_ms.map(|v| format!("{v:.3}")).unwrap_or_default(),
            m.billed_restore_ms
                .map(|v| v.to_string())
                .unwrap_or_default(),
        );
    }
    out
}

fn cell(f: &Option<Figure>, pick: fn(&Figure) -> f64) -> String {
    f.as_ref()
        .map(|f| f1(pick(f)))
        .unwrap_or_else(|| "–".into())
}

fn ci(f: &Option<Figure>, pick: fn(&Figure) -> Option<super::stats::Interval>) -> String {
    f.as_ref()
        .and_then(pick)
        .map(|c| format!("{:.0}–{:.0}", c.lo, c.hi))
        .unwrap_or_else(|| "–".into())
}

/// Rows of the main table: (header, cells per deployment). Columns only the AWS backend fills
/// (not cold, after deploy, SnapStart restore) appear when a row has them.
fn table(r: &Results) -> (Vec<&'static str>, Vec<Vec<String>>) {
    let aws = r.provenance.backend == "aws";
    let any = |f: fn(&DeploymentResult) -> bool| r.deployments.iter().any(f);
    let not_cold = aws || any(|d| d.not_cold > 0);
    let after = any(|d| d.after_deploy_init_ms.is_some());
    let restore = any(|d| d.restore_ms.is_some());
    // Cold starts (those with an Init Duration) apart from the warm invokes after them.
    let cold = |d: &DeploymentResult| d.init_ms.as_ref().map_or(0, |f| f.n);
    let warm = r.deployments.iter().any(|d| d.n > cold(d));
    let mut head = vec!["deployment", "kind", "memory MB", "cold starts"];
    if warm {
        head.push("warm invokes");
    }
    head.push("errors");
    if not_cold {
        head.push("not cold");
    }
    head.extend([
        "Init p50",
        "p50 95% CI",
        "Init p95",
        "p95 95% CI",
        "Init max",
    ]);
    if after {
        head.push("after-deploy Init p50");
    }
    if restore {
        head.extend(["Restore p50", "Restore p95"]);
    }
    head.extend([
        "Duration p50",
        "Max Mem p50",
        "Max Mem max",
        "round trip p50",
    ]);
    if !aws {
        head.push("layout ms");
    }
    head.push("$/1M inv.");
    let rows = r
        .deployments
        .iter()
        .map(|d: &DeploymentResult| {
            let mut row = vec![
                d.name.clone(),
                d.kind.clone(),
                d.memory_mb.to_string(),
                cold(d).to_string(),
            ];
            if warm {
                row.push(d.n.saturating_sub(cold(d)).to_string());
            }
            row.push(if d.errors == 0 {
                "0".to_string()
            } else {
                format!(
                    "{} ({})",
                    d.errors,
                    d.error_types.keys().cloned().collect::<Vec<_>>().join(", ")
                )
            });
            if not_cold {
                row.push(d.not_cold.to_string());
            }
            row.extend([
                cell(&d.init_ms, |f| f.p50),
                ci(&d.init_ms, |f| f.p50_ci),
                cell(&d.init_ms, |f| f.p95),
                ci(&d.init_ms, |f| f.p95_ci),
                cell(&d.init_ms, |f| f.max),
            ]);
            if after {
                row.push(cell(&d.after_deploy_init_ms, |f| f.p50));
            }
            if restore {
                row.extend([
                    cell(&d.restore_ms, |f| f.p50),
                    cell(&d.restore_ms, |f| f.p95),
                ]);
            }
            row.extend([
                cell(&d.duration_ms, |f| f.p50),
                cell(&d.max_memory_mb, |f| f.p50),
                cell(&d.max_memory_mb, |f| f.max),
                cell(&d.round_trip_ms, |f| f.p50),
            ]);
            if !aws {
                row.push(format!("{:.0}", d.unpack_ms));
            }
            row.push(
                d.cost_per_million_usd
                    .map(|c| format!("{c:.2}"))
                    .unwrap_or_else(|| "–".into()),
            );
            row
        })
        .collect();
    (head, rows)
}

/// The plain-text table for the terminal.
pub fn text_table(r: &Results) -> String {
    let (head, rows) = table(r);
    let mut widths: Vec<usize> = head.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (i, c) in row.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<String>| -> String {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let pad = widths[i].saturating_sub(c.chars().count());
                if i < 2 {
                    format!("{c}{}", " ".repeat(pad))
                } else {
                    format!("{}{c}", " ".repeat(pad))
                }
            })
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let mut out = line(head.iter().map(|h| h.to_string()).collect());
    out.push('\n');
    for row in rows {
        out.push_str(&line(row));
        out.push('\n');
    }
    out.push_str(&legend(r));
    out
}

/// What the table's columns mean, in a few lines under it.
pub fn legend(r: &Results) -> String {
    let mut out = String::from(
        "memory MB: the function's memory size · cold starts: fresh environments measured (Init from each) · warm invokes: further invokes on them (--warm), in Duration only
         Init / Duration / round trip (process start → response) in ms; Max Mem: peak memory in MB; 95% CI: bootstrap interval
",
    );
    if r.provenance.backend != "aws" {
        out.push_str(
            "layout ms: laying the artifact out as Lambda does (unzip, layers to /opt) before the runs, not part of Init
",
        );
    }
    out.push_str(&format!(
        "$/1M inv.: USD per million invocations at {:.0} % cold starts\n",
        r.provenance.cold_share * 100.0
    ));
    out
}

/// Import profile comparison lines: "pyarrow.parquet 310 ms → 95 ms".
pub fn import_lines(r: &Results, top: usize) -> Vec<String> {
    let ps = &r.import_profiles;
    let Some(first) = ps.first() else {
        return Vec::new();
    };
    first
        .top
        .iter()
        .take(top)
        .map(|(m, t)| {
            let rest: Vec<String> = ps[1..]
                .iter()
                .map(|p| {
                    p.top
                        .iter()
                        .find(|(n, _)| n == m)
                        .map_or_else(|| "–".to_string(), |e| format!("{:.0} ms", e.1))
                })
                .collect();
            if rest.is_empty() {
                format!("{m} {t:.0} ms")
            } else {
                format!("{m} {t:.0} ms → {}", rest.join(" → "))
            }
        })
        .collect()
}

/// `summary.md`.
pub fn markdown(r: &Results) -> String {
    let (head, rows) = table(r);
    let mut out = String::from("## lpack bench: cold starts\n\n");
    let p = &r.provenance;
    let _ = writeln!(
        out,
        "{} · {} · {} runs × {} warm · concurrency {} · CPU shaping: {} · {}\n",
        p.target, p.python, p.runs, p.warm, p.concurrency, p.cpu_shaping, p.date
    );
    let _ = writeln!(out, "| {} |", head.join(" | "));
    let _ = writeln!(
        out,
        "|{}|",
        head.iter()
            .enumerate()
            .map(|(i, _)| if i < 2 { "---" } else { "---:" })
            .collect::<Vec<_>>()
            .join("|")
    );
    for row in rows {
        let _ = writeln!(out, "| {} |", row.join(" | ").replace('\n', " "));
    }
    out.push_str("\nTimes in ms, memory in MB; cold starts: fresh environments measured (Init from each); warm invokes: further invokes on them (Duration only); layout ms: laying the artifact out as Lambda does, not part of Init; CI: bootstrap 95 % interval. Cost per million invocations at ");
    let _ = writeln!(
        out,
        "{:.0} % cold starts ({} prices of {}).\n",
        p.cold_share * 100.0,
        p.region,
        p.prices_date
    );
    if !r.import_profiles.is_empty() {
        let names: Vec<&str> = r
            .import_profiles
            .iter()
            .map(|p| p.deployment.as_str())
            .collect();
        let _ = writeln!(out, "### Import profile ({})\n", names.join(" → "));
        for l in import_lines(r, 10) {
            let _ = writeln!(out, "- {l}");
        }
        out.push('\n');
    }
    for d in &r.deployments {
        if let Some(e) = &d.first_error {
            let _ = writeln!(
                out,
                "**{} @ {} MB**: {} × error, first: `{}`: {}\n",
                d.name, d.memory_mb, d.errors, e.error_type, e.error_message
            );
        }
    }
    for n in &p.notes {
        let _ = writeln!(out, "> {n}");
    }
    out
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `report.html`: one self-contained page.
pub fn html(r: &Results, svgs: &[(&str, String)]) -> String {
    let p = &r.provenance;
    let mut out = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>lpack bench</title>\n<style>\nbody{font-family:Helvetica,Arial,sans-serif;margin:24px auto;max-width:1180px;color:#222;padding:0 16px}\nh1{font-size:22px}h2{font-size:17px;margin-top:28px}\ntable{border-collapse:collapse;font-size:12.5px;width:100%}\nth,td{border:1px solid #ddd;padding:4px 6px;text-align:right;white-space:nowrap}\nth{background:#f3f5f8}td:nth-child(-n+2),th:nth-child(-n+2){text-align:left}\ntr.err td{background:#fff3f0}\n.chart{margin:12px 0;overflow-x:auto}\ndl{display:grid;grid-template-columns:max-content 1fr;gap:3px 14px;font-size:13px}\ndt{font-weight:bold}dd{margin:0}\npre{background:#f7f7f7;padding:8px;font-size:12px;overflow-x:auto}\n.note{color:#555;font-size:13px}\n</style></head><body>\n<h1>lpack bench: cold starts</h1>\n",
    );
    let _ = writeln!(
        out,
        "<p class=\"note\">{} · {} · {} cold starts per deployment × memory, {} warm invokes each · CPU shaping: {} · {}</p>",
        esc(&p.target),
        esc(&p.python),
        p.runs,
        p.warm,
        esc(&p.cpu_shaping),
        esc(&p.date)
    );
    summary_table(&mut out, r);
    out.push_str("</tbody></table>\n<p class=\"note\">Times in ms, memory in MB. CI: bootstrap 95 % interval (fixed seed). Cost: USD per million invocations");
    let _ = writeln!(
        out,
        " at {:.0} % cold starts, {} prices of {}, init billed.</p>",
        p.cold_share * 100.0,
        esc(&p.region),
        esc(&p.prices_date)
    );
    for (title, svg) in svgs {
        let _ = writeln!(
            out,
            "<h2>{}</h2>\n<div class=\"chart\">\n{}</div>",
            esc(title),
            svg
        );
    }
    if !r.import_profiles.is_empty() {
        out.push_str("<h2>Slowest imports compared</h2>\n<ul>\n");
        for l in import_lines(r, 10) {
            let _ = writeln!(out, "<li>{}</li>", esc(&l));
        }
        out.push_str("</ul>\n");
    }
    errors(&mut out, r);
    provenance(&mut out, p);
    for n in &p.notes {
        let _ = writeln!(out, "<p class=\"note\">{}</p>", esc(n));
    }
    out.push_str("</body></html>\n");
    out
}

/// The summary table: one row per deployment × memory, rows with errors marked.
fn summary_table(out: &mut String, r: &Results) {
    let (head, rows) = table(r);
    out.push_str("<table id=\"summary\"><thead><tr>");
    for h in &head {
        let _ = write!(out, "<th>{}</th>", esc(h));
    }
    out.push_str("</tr></thead><tbody>\n");
    for (d, row) in r.deployments.iter().zip(rows) {
        let _ = write!(
            out,
            "<tr{}>",
            if d.errors > 0 { " class=\"err\"" } else { "" }
        );
        for c in row {
            let _ = write!(out, "<td>{}</td>", esc(&c));
        }
        out.push_str("</tr>\n");
    }
}

/// Each deployment's first error, with its stack trace.
fn errors(out: &mut String, r: &Results) {
    let errs: Vec<&DeploymentResult> = r
        .deployments
        .iter()
        .filter(|d| d.first_error.is_some())
        .collect();
    if !errs.is_empty() {
        out.push_str("<h2>Errors</h2>\n");
        for d in errs {
            if let Some(e) = &d.first_error {
                let _ = writeln!(
                    out,
                    "<p><b>{} @ {} MB</b>: {} error(s); first: <code>{}</code> {}</p><pre>{}</pre>",
                    esc(&d.name),
                    d.memory_mb,
                    d.errors,
                    esc(&e.error_type),
                    esc(&e.error_message),
                    esc(&e.stack_trace.join("\n"))
                );
            }
        }
    }
}

/// Where the numbers come from: versions, host, CPU shaping, the AWS run and the artifacts.
fn provenance(out: &mut String, p: &Provenance) {
    out.push_str("<h2>Provenance</h2>\n<dl>\n");
    let mut kv = |k: &str, v: String| {
        let _ = writeln!(out, "<dt>{}</dt><dd>{}</dd>", esc(k), esc(&v));
    };
    kv("lpack", p.lpack_version.clone());
    kv("date", p.date.clone());
    kv("backend", p.backend.clone());
    kv("target", p.target.clone());
    kv("interpreter", p.python.clone());
    kv(
        "host CPU",
        if p.host_cpus == 0 {
            p.host_cpu.clone()
        } else {
            format!("{} ({} CPUs)", p.host_cpu, p.host_cpus)
        },
    );
    kv("CPU shaping", p.cpu_shaping.clone());
    kv("Max Memory Used from", p.memory_source.clone());
    kv(
        "code read-only by",
        match p.read_only {
            super::ReadOnly::Permissions => "file modes (not root)",
            super::ReadOnly::MountNamespace => "file modes and a read-only bind mount",
            super::ReadOnly::RootPermissionsOnly => {
                "file modes only, which root ignores (no mount namespace)"
            }
            super::ReadOnly::Lambda => "AWS Lambda",
        }
        .to_string(),
    );
    kv("timeout", format!("{} s", p.timeout_s));
    if let Some(a) = &p.aws {
        kv("AWS run", format!("{} in {}", a.run_id, a.region));
        kv(
            "created",
            format!(
                "{} ({})",
                a.created.len(),
                if a.kept { "kept" } else { "deleted at the end" }
            ),
        );
    }
    for a in &p.artifacts {
        kv(
            &format!("artifact ({})", a.deployment),
            format!(
                "{} sha256:{}",
                a.file,
                a.sha256.trim_start_matches("sha256:")
            ),
        );
    }
    out.push_str("</dl>\n");
}

/// Write every output into `dir`.
pub fn write_all(r: &Results, dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let put = |name: &str, body: &[u8]| crate::outfile::write_output(&dir.join(name), body);
    put("samples.csv", samples_csv(r).as_bytes())?;
    let samples = serde_json::to_vec_pretty(&r.samples).map_err(std::io::Error::other)?;
    put("samples.json", &samples)?;
    let mut summary = serde_json::to_vec_pretty(r).map_err(std::io::Error::other)?;
    summary.push(b'\n');
    put("summary.json", &summary)?;
    put("summary.md", markdown(r).as_bytes())?;
    let ecdf = charts::init_ecdf(&r.deployments, &r.samples);
    let bars = charts::init_percentiles(&r.deployments);
    let imports = charts::imports(&r.import_profiles, 12);
    put("init-ecdf.svg", ecdf.as_bytes())?;
    put("init-percentiles.svg", bars.as_bytes())?;
    put("imports.svg", imports.as_bytes())?;
    let mut svgs = vec![
        ("Init Duration distribution", ecdf),
        ("Init Duration p50 / p95", bars),
    ];
    if !r.import_profiles.is_empty() {
        svgs.push(("Import profile", imports));
    }
    put("report.html", html(r, &svgs).as_bytes())?;
    Ok(())
}
