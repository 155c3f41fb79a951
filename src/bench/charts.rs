//! Bench charts as standalone SVG: the distribution of Init Duration per deployment (ECDF),
//! p50/p95 bars of Init Duration with their bootstrap 95 % intervals, and the import profile.
//!
//! Written by hand with [`crate::svg`]'s primitives, like every chart lpack draws; the same
//! markup inlines into `report.html`.

use std::fmt::Write;

use crate::svg::{esc, ticks};

use super::results::{DeploymentResult, ImportProfile, Sample};

const W: f64 = 900.0;
const PALETTE: &[&str] = &[
    "#1f4e8c", "#e67e22", "#27ae60", "#8e44ad", "#c0392b", "#16a085", "#7f8c8d", "#d4ac0d",
];

fn color(i: usize) -> &'static str {
    PALETTE[i % PALETTE.len()]
}

/// `m` shortened from the left to at most `n` characters (the leaf of a dotted name matters).
fn short(m: &str, n: usize) -> String {
    let count = m.chars().count();
    if count <= n {
        m.to_string()
    } else {
        let tail: String = m.chars().skip(count - (n - 1)).collect();
        format!("…{tail}")
    }
}

fn fmt_ms(v: f64) -> String {
    if v >= 100.0 || v == v.round() {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn header(h: f64, title: &str) -> String {
    crate::svg::header(W, h, title)
}

fn legend(out: &mut String, names: &[String], x: f64, y: f64) {
    for (i, n) in names.iter().enumerate() {
        out.push_str(&crate::svg::swatch(x, y + i as f64 * 18.0, color(i), n));
    }
}

/// Series label: the deployment, with the memory size when several were benched.
fn label(name: &str, memory: u32, several: bool) -> String {
    if several {
        format!("{name} @ {memory} MB")
    } else {
        name.to_string()
    }
}

/// ECDF of Init Duration per deployment × memory.
pub fn init_ecdf(results: &[DeploymentResult], samples: &[Sample]) -> String {
    let several = results
        .iter()
        .map(|r| r.memory_mb)
        .collect::<std::collections::BTreeSet<_>>()
        .len()
        > 1;
    let series: Vec<(String, Vec<f64>)> = results
        .iter()
        .map(|r| {
            let mut v: Vec<f64> = samples
                .iter()
                .filter(|s| s.deployment == r.name && s.memory_mb == r.memory_mb)
                .filter(|s| s.measured.error.is_none() && s.round == super::Round::Steady)
                .filter_map(|s| s.measured.init_ms)
                .collect();
            v.sort_by(f64::total_cmp);
            (label(&r.name, r.memory_mb, several), v)
        })
        .collect();
    let legend_h = 18.0 * series.len() as f64;
    let (left, top, pw, ph) = (70.0, 45.0, W - 70.0 - 30.0, 300.0);
    let h = top + ph + 55.0 + legend_h;
    let mut out = header(h, "Init Duration: cumulative distribution of cold starts");
    let max = series
        .iter()
        .flat_map(|(_, v)| v.last().copied())
        .fold(0.0f64, f64::max)
        * 1.05;
    let xt = ticks(max, 8);
    let xmax = xt.last().copied().unwrap_or(1.0).max(1e-9);
    let x = |v: f64| left + v / xmax * pw;
    let y = |p: f64| top + ph - p * ph;
    for t in &xt {
        let _ = writeln!(
            out,
            "<line x1=\"{0:.1}\" y1=\"{top}\" x2=\"{0:.1}\" y2=\"{1}\" stroke=\"#e5e5e5\"/><text x=\"{0:.1}\" y=\"{2}\" text-anchor=\"middle\">{3}</text>",
            x(*t),
            top + ph,
            top + ph + 16.0,
            fmt_ms(*t)
        );
    }
    for p in [0.0, 0.25, 0.5, 0.75, 1.0] {
        let _ = writeln!(
            out,
            "<line x1=\"{left}\" y1=\"{0:.1}\" x2=\"{1}\" y2=\"{0:.1}\" stroke=\"{2}\"/><text x=\"{3}\" y=\"{4:.1}\" text-anchor=\"end\">{5:.0} %</text>",
            y(p),
            left + pw,
            if p == 0.5 { "#bbbbbb" } else { "#eeeeee" },
            left - 6.0,
            y(p) + 4.0,
            p * 100.0
        );
    }
    let _ = writeln!(
        out,
        "<line x1=\"{left}\" y1=\"{0:.1}\" x2=\"{1}\" y2=\"{0:.1}\" stroke=\"#bbbbbb\" stroke-dasharray=\"4 3\"/><text x=\"{2}\" y=\"{3:.1}\" text-anchor=\"end\" fill=\"#777\" font-size=\"11\">p95</text>",
        y(0.95),
        left + pw,
        left + pw - 4.0,
        y(0.95) + 12.0
    );
    let _ = writeln!(
        out,
        "<rect x=\"{left}\" y=\"{top}\" width=\"{pw}\" height=\"{ph}\" fill=\"none\" stroke=\"#333\"/>\n<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">Init Duration (ms)</text>",
        left + pw / 2.0,
        top + ph + 36.0
    );
    for (i, (_, v)) in series.iter().enumerate() {
        if v.is_empty() {
            continue;
        }
        let n = v.len() as f64;
        let mut d = format!("M{:.1},{:.1}", x(v[0]), y(0.0));
        for (k, val) in v.iter().enumerate() {
            let _ = write!(
                d,
                " L{:.1},{:.1} L{:.1},{:.1}",
                x(*val),
                y(k as f64 / n),
                x(*val),
                y((k + 1) as f64 / n)
            );
        }
        let _ = writeln!(
            out,
            "<path d=\"{d}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"/>",
            color(i)
        );
    }
    let names: Vec<String> = series
        .iter()
        .map(|(n, v)| format!("{n} (n={})", v.len()))
        .collect();
    legend(&mut out, &names, left, top + ph + 58.0);
    out.push_str("</svg>\n");
    out
}

/// p50 and p95 of Init Duration per deployment × memory, with bootstrap 95 % intervals.
pub fn init_percentiles(results: &[DeploymentResult]) -> String {
    let several = results
        .iter()
        .map(|r| r.memory_mb)
        .collect::<std::collections::BTreeSet<_>>()
        .len()
        > 1;
    let rows: Vec<&DeploymentResult> = results.iter().filter(|r| r.init_ms.is_some()).collect();
    let (left, top, pw) = (230.0, 50.0, W - 230.0 - 120.0);
    let row_h = 46.0;
    let ph = row_h * rows.len().max(1) as f64;
    let h = top + ph + 60.0;
    let mut out = header(
        h,
        "Init Duration p50 and p95 (whiskers: bootstrap 95 % interval)",
    );
    let max = rows
        .iter()
        .filter_map(|r| r.init_ms.as_ref())
        .map(|f| f.p95_ci.map_or(f.p95, |c| c.hi.max(f.p95)))
        .fold(0.0f64, f64::max)
        * 1.05;
    let xt = ticks(max, 8);
    let xmax = xt.last().copied().unwrap_or(1.0).max(1e-9);
    let x = |v: f64| left + v / xmax * pw;
    for t in &xt {
        let _ = writeln!(
            out,
            "<line x1=\"{0:.1}\" y1=\"{top}\" x2=\"{0:.1}\" y2=\"{1}\" stroke=\"#e5e5e5\"/><text x=\"{0:.1}\" y=\"{2}\" text-anchor=\"middle\">{3}</text>",
            x(*t),
            top + ph,
            top + ph + 16.0,
            fmt_ms(*t)
        );
    }
    for (i, r) in rows.iter().enumerate() {
        let Some(f) = &r.init_ms else { continue };
        let y0 = top + i as f64 * row_h + 6.0;
        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            left - 8.0,
            y0 + 20.0,
            esc(&label(&r.name, r.memory_mb, several))
        );
        for (k, (v, ci, name)) in [(f.p50, f.p50_ci, "p50"), (f.p95, f.p95_ci, "p95")]
            .into_iter()
            .enumerate()
        {
            let yy = y0 + k as f64 * 17.0;
            let fill = if k == 0 { "#1f4e8c" } else { "#7fa6d9" };
            let _ = writeln!(
                out,
                "<rect x=\"{left}\" y=\"{yy:.1}\" width=\"{:.1}\" height=\"14\" fill=\"{fill}\"/>",
                (x(v) - left).max(0.5)
            );
            let mut end = x(v);
            if let Some(c) = ci {
                let _ = writeln!(
                    out,
                    "<line x1=\"{0:.1}\" y1=\"{1:.1}\" x2=\"{2:.1}\" y2=\"{1:.1}\" stroke=\"#222\" stroke-width=\"1.5\"/><line x1=\"{0:.1}\" y1=\"{3:.1}\" x2=\"{0:.1}\" y2=\"{4:.1}\" stroke=\"#222\"/><line x1=\"{2:.1}\" y1=\"{3:.1}\" x2=\"{2:.1}\" y2=\"{4:.1}\" stroke=\"#222\"/>",
                    x(c.lo),
                    yy + 7.0,
                    x(c.hi),
                    yy + 2.0,
                    yy + 12.0
                );
                end = end.max(x(c.hi));
            }
            let _ = writeln!(
                out,
                "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\">{name} {} ms</text>",
                end + 6.0,
                yy + 11.0,
                fmt_ms(v)
            );
        }
    }
    let _ = writeln!(
        out,
        "<line x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{}\" stroke=\"#333\"/>\n<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">Init Duration (ms)</text>",
        top + ph,
        left + pw / 2.0,
        top + ph + 36.0
    );
    out.push_str("</svg>\n");
    out
}

/// The import profile: the slowest modules (cumulative import time) per deployment.
pub fn imports(profiles: &[ImportProfile], top: usize) -> String {
    // Modules: the union of each deployment's top entries, ordered by their largest time.
    let mut modules: Vec<(String, f64)> = Vec::new();
    for p in profiles {
        for (m, t) in p.top.iter().take(top) {
            match modules.iter_mut().find(|(n, _)| n == m) {
                Some(e) => e.1 = e.1.max(*t),
                None => modules.push((m.clone(), *t)),
            }
        }
    }
    modules.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    modules.truncate(top);
    let per = profiles.len().max(1) as f64;
    let bar = 12.0;
    let group = bar * per + 10.0;
    let (left, top_y, pw) = (300.0, 45.0, W - 300.0 - 80.0);
    let ph = group * modules.len().max(1) as f64;
    let h = top_y + ph + 50.0 + 18.0 * profiles.len() as f64;
    let mut out = header(
        h,
        "Import profile: cumulative import time of the slowest modules",
    );
    let max = modules.iter().map(|m| m.1).fold(0.0f64, f64::max) * 1.05;
    let xt = ticks(max, 8);
    let xmax = xt.last().copied().unwrap_or(1.0).max(1e-9);
    let x = |v: f64| left + v / xmax * pw;
    for t in &xt {
        let _ = writeln!(
            out,
            "<line x1=\"{0:.1}\" y1=\"{top_y}\" x2=\"{0:.1}\" y2=\"{1}\" stroke=\"#e5e5e5\"/><text x=\"{0:.1}\" y=\"{2}\" text-anchor=\"middle\">{3}</text>",
            x(*t),
            top_y + ph,
            top_y + ph + 16.0,
            fmt_ms(*t)
        );
    }
    for (i, (m, _)) in modules.iter().enumerate() {
        let y0 = top_y + i as f64 * group + 5.0;
        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            left - 8.0,
            y0 + group / 2.0,
            esc(&short(m, 44))
        );
        for (k, p) in profiles.iter().enumerate() {
            let v = p.top.iter().find(|(n, _)| n == m).map_or(0.0, |e| e.1);
            let yy = y0 + k as f64 * bar;
            let _ = writeln!(
                out,
                "<rect x=\"{left}\" y=\"{yy:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{}\"/><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\">{}</text>",
                (x(v) - left).max(0.5),
                bar - 2.0,
                color(k),
                x(v) + 4.0,
                yy + bar - 3.0,
                if v > 0.0 {
                    format!("{} ms", fmt_ms(v))
                } else {
                    "–".to_string()
                }
            );
        }
    }
    let _ = writeln!(
        out,
        "<line x1=\"{left}\" y1=\"{top_y}\" x2=\"{left}\" y2=\"{}\" stroke=\"#333\"/>\n<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">cumulative import time (ms), one -X importtime cold start per deployment</text>",
        top_y + ph,
        left + pw / 2.0,
        top_y + ph + 34.0
    );
    let names: Vec<String> = profiles.iter().map(|p| p.deployment.clone()).collect();
    legend(&mut out, &names, left, top_y + ph + 56.0);
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round() {
        assert_eq!(
            ticks(950.0, 5),
            vec![0.0, 200.0, 400.0, 600.0, 800.0, 1000.0]
        );
        assert_eq!(ticks(0.0, 5), vec![0.0, 1.0]);
        // 5,467 with a step of 1,000 needs a 6,000 tick.
        assert_eq!(ticks(5467.0, 8).last(), Some(&6000.0));
    }

    #[test]
    fn escapes_names() {
        let p = [ImportProfile {
            deployment: "a<b".into(),
            top: vec![("m&n".into(), 12.0)],
        }];
        let svg = imports(&p, 5);
        assert!(svg.contains("a&lt;b") && svg.contains("m&amp;n"), "{svg}");
        assert!(svg.starts_with("<svg"));
    }
}
