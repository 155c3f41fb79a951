//! The size report as an SVG chart: the total the artifact ships (the bar Lambda's
//! 262,144,000-byte unzipped limit, a red line, applies to), what slimming removed as a bar of its
//! own, then one horizontal stacked bar per distribution: kept bytes and bytecode added in blues,
//! removed bytes by category in warm tones; the legend below the bars. Drawn by hand with
//! [`crate::svg`]'s primitives, like every chart lpack draws.

use std::fmt::Write;

use super::{DistRow, SizeReport, UNZIPPED_LIMIT};
use crate::svg::{esc, swatch, ticks};

/// An SVG colour.
type Color = &'static str;

const KEPT: Color = "#1f4e8c";
const ADDED: Color = "#78aadc";
const LIMIT: Color = "#d62728";
const CATEGORY_COLORS: &[(&str, Color)] = &[
    ("stripped", "#e67e22"),
    ("tests", "#f1c40f"),
    ("sources", "#d35400"),
    ("docs", "#f39c12"),
    ("bytecode", "#9b59b6"),
    ("runtime-provided", "#27ae60"),
    ("optional", "#c0392b"),
    ("duplicates", "#7f8c8d"),
    ("user", "#e84393"),
    ("other", "#bdc3c7"),
];

/// One bar: its label, its segments (width in MB, color), and the text after it.
struct Bar {
    label: String,
    segments: Vec<(f64, Color)>,
    text: String,
}

fn mb(b: u64) -> f64 {
    b as f64 / 1e6
}

/// The removed bytes of `d`, by category, in the legend's order (lighter than what ships, so a
/// bar reads as "shipped, then what was taken off").
fn removed_segments(d: &DistRow) -> Vec<(f64, Color, &'static str)> {
    CATEGORY_COLORS
        .iter()
        .filter_map(|(cat, color)| d.removed.get(*cat).map(|v| (mb(*v), *color, *cat)))
        .collect()
}

/// The bars: first what the artifact ships (the only bar the limit line applies to), then what
/// slimming removed from it (its own bar, so removed bytes never make a fitting artifact look
/// over the limit), then each distribution (shipped, then removed, stacked).
fn bars(r: &SizeReport, top: Option<usize>) -> (Vec<Bar>, Vec<(String, Color)>) {
    let mut legend: Vec<(String, Color)> = vec![
        ("kept (shipped)".to_string(), KEPT),
        ("bytecode added (shipped)".to_string(), ADDED),
    ];
    let mut note = |cat: &str, color: Color| {
        let name = format!("removed: {cat}");
        if !legend.iter().any(|(l, _)| *l == name) {
            legend.push((name, color));
        }
    };
    let shipped = |d: &DistRow| {
        vec![
            (mb(d.after.saturating_sub(d.bytecode_added)), KEPT),
            (mb(d.bytecode_added), ADDED),
        ]
    };
    let t = &r.total;
    let mut out = vec![Bar {
        label: "total shipped".to_string(),
        segments: shipped(t),
        text: format!("{:.1} MB", mb(t.after)),
    }];
    let removed: Vec<(f64, Color, &str)> = removed_segments(t);
    if !removed.is_empty() {
        for (_, color, cat) in &removed {
            note(cat, *color);
        }
        out.push(Bar {
            label: "total removed".to_string(),
            segments: removed.iter().map(|(w, c, _)| (*w, *c)).collect(),
            text: format!(
                "{:.1} MB removed (not shipped)",
                removed.iter().map(|(w, _, _)| w).sum::<f64>()
            ),
        });
    }
    let mut dists: Vec<&DistRow> = r.distributions.iter().collect();
    dists.sort_by_key(|d| std::cmp::Reverse(d.before + d.bytecode_added));
    for d in dists.into_iter().take(top.unwrap_or(15)) {
        let mut segments = shipped(d);
        for (w, color, cat) in removed_segments(d) {
            note(cat, color);
            segments.push((w, color));
        }
        out.push(Bar {
            label: if d.version.is_empty() {
                d.name.clone()
            } else {
                format!("{} {}", d.name, d.version)
            },
            segments,
            text: if d.before + d.bytecode_added > 0 {
                format!("{:.1} MB", mb(d.after))
            } else {
                String::new()
            },
        });
    }
    (out, legend)
}

const WIDTH: f64 = 1100.0;
/// Left of the plot (the bar labels end here), top of the first bar row, row height.
const LEFT: f64 = 250.0;
const TOP: f64 = 60.0;
const ROW: f64 = 30.0;
/// Room right of the plot for the text after the longest bar.
const RIGHT: f64 = 230.0;
/// The legend: entries per line, and the width of one.
const LEGEND_COLUMNS: usize = 3;
const LEGEND_WIDTH: f64 = 330.0;

/// Render the chart; `top` limits the distributions drawn (the totals are always first).
pub fn render(r: &SizeReport, top: Option<usize>) -> Result<String, String> {
    let (rows, legend) = bars(r, top);
    let widest = rows
        .iter()
        .map(|b| b.segments.iter().map(|(w, _)| w).sum::<f64>())
        .fold(0.0, f64::max);
    let xt = ticks(widest.max(mb(UNZIPPED_LIMIT)) * 1.05, 8);
    let xmax = xt.last().copied().unwrap_or(1.0).max(1e-9);
    let pw = WIDTH - LEFT - RIGHT;
    let x = |v: f64| LEFT + v / xmax * pw;
    let ph = ROW * rows.len().max(1) as f64;
    let legend_top = TOP + ph + 62.0;
    // The limit line's entry has a line of its own, then the colours in columns.
    let height = legend_top + (1 + legend.len().div_ceil(LEGEND_COLUMNS)) as f64 * 20.0 + 10.0;
    let title = r
        .artifacts
        .iter()
        .map(|a| format!("{} ({}, {} profile)", a.file, a.runtime, a.profile))
        .collect::<Vec<_>>()
        .join(" + ");
    let mut out = crate::svg::header(WIDTH, height, &format!("Where the bytes go: {title}"));
    let bottom = TOP + ph;
    for t in &xt {
        let _ = writeln!(
            out,
            "<line x1=\"{0:.1}\" y1=\"{TOP}\" x2=\"{0:.1}\" y2=\"{bottom}\" stroke=\"#e5e5e5\"/><text x=\"{0:.1}\" y=\"{1}\" text-anchor=\"middle\">{2:.0}</text>",
            x(*t),
            bottom + 16.0,
            t
        );
    }
    for (i, b) in rows.iter().enumerate() {
        let y = TOP + i as f64 * ROW + 6.0;
        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\" font-size=\"13\">{}</text>",
            LEFT - 8.0,
            y + 13.0,
            esc(&b.label)
        );
        let mut at = 0.0;
        for (w, color) in b.segments.iter().filter(|(w, _)| *w > 0.0) {
            let _ = writeln!(
                out,
                "<rect x=\"{:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"18\" fill=\"{color}\"/>",
                x(at),
                (x(at + w) - x(at)).max(0.5)
            );
            at += w;
        }
        if !b.text.is_empty() {
            let _ = writeln!(
                out,
                "<text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
                x(at) + 6.0,
                y + 13.0,
                esc(&b.text)
            );
        }
    }
    let limit = x(mb(UNZIPPED_LIMIT));
    let _ = writeln!(
        out,
        "<line class=\"limit\" x1=\"{limit:.1}\" y1=\"{}\" x2=\"{limit:.1}\" y2=\"{bottom}\" stroke=\"{LIMIT}\" stroke-width=\"2\"/>",
        TOP - 8.0
    );
    let _ = writeln!(
        out,
        "<line x1=\"{LEFT}\" y1=\"{TOP}\" x2=\"{LEFT}\" y2=\"{bottom}\" stroke=\"#333\"/>\n<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">MB installed (unzipped), 1 MB = 1,000,000 bytes</text>",
        LEFT + pw / 2.0,
        bottom + 36.0
    );
    let _ = writeln!(
        out,
        "<text x=\"{limit:.1}\" y=\"{}\" text-anchor=\"middle\" fill=\"{LIMIT}\">limit {:.1} MB</text>",
        TOP - 12.0,
        mb(UNZIPPED_LIMIT)
    );
    out.push_str(&swatch(
        20.0,
        legend_top,
        LIMIT,
        "Lambda limit: 262,144,000 bytes unzipped (function + layers)",
    ));
    for (k, (name, color)) in legend.iter().enumerate() {
        let lx = 20.0 + (k % LEGEND_COLUMNS) as f64 * LEGEND_WIDTH;
        let ly = legend_top + (1 + k / LEGEND_COLUMNS) as f64 * 20.0;
        out.push_str(&swatch(lx, ly, color, name));
    }
    out.push_str("</svg>\n");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first bar is what ships: removed bytes are never stacked onto it, so an artifact that
    /// fits draws inside the limit line.
    #[test]
    fn the_total_bar_is_what_ships() {
        let mut total = DistRow {
            name: "total".into(),
            version: String::new(),
            before: 400_000_000,
            after: 200_000_000,
            zipped: 80_000_000,
            removed: Default::default(),
            bytecode_added: 10_000_000,
            kept: Default::default(),
            top_rules: Vec::new(),
        };
        total.removed.insert("tests".into(), 150_000_000);
        total.removed.insert("stripped".into(), 60_000_000);
        let r = SizeReport {
            schema_version: 1,
            artifacts: Vec::new(),
            distributions: Vec::new(),
            total,
            limits: Vec::new(),
            top_rules: Vec::new(),
        };
        let (bars, legend) = bars(&r, None);
        let width = |b: &Bar| b.segments.iter().map(|(w, _)| w).sum::<f64>();
        assert_eq!(bars[0].label, "total shipped");
        assert!((width(&bars[0]) - 200.0).abs() < 1e-9);
        assert!(width(&bars[0]) < mb(UNZIPPED_LIMIT));
        assert_eq!(bars[1].label, "total removed");
        assert!((width(&bars[1]) - 210.0).abs() < 1e-9);
        assert!(legend.iter().any(|(l, _)| l == "removed: tests"));
        assert!(render(&r, None).unwrap().contains("total shipped"));
    }
}
