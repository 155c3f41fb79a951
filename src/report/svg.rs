//! The size report as an SVG chart: the total the artifact ships (the bar Lambda's
//! 262,144,000-byte unzipped limit, a red line, applies to), what slimming removed as a bar of its
//! own, then one horizontal stacked bar per distribution: kept bytes and bytecode added in blues,
//! removed bytes by category in warm tones. Drawn with plotters' SVG backend
//! (text is emitted as SVG text, so no fonts are needed to render).

use plotters::prelude::*;

use super::{DistRow, SizeReport, UNZIPPED_LIMIT};

const KEPT: RGBColor = RGBColor(31, 78, 140);
const ADDED: RGBColor = RGBColor(120, 170, 220);
const CATEGORY_COLORS: &[(&str, RGBColor)] = &[
    ("stripped", RGBColor(230, 126, 34)),
    ("tests", RGBColor(241, 196, 15)),
    ("sources", RGBColor(211, 84, 0)),
    ("docs", RGBColor(243, 156, 18)),
    ("bytecode", RGBColor(155, 89, 182)),
    ("runtime-provided", RGBColor(39, 174, 96)),
    ("optional", RGBColor(192, 57, 43)),
    ("duplicates", RGBColor(127, 140, 141)),
    ("user", RGBColor(142, 68, 173)),
    ("other", RGBColor(189, 195, 199)),
];

fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// One bar: its label, its segments (width in MB, color), and the text after it.
struct Bar {
    label: String,
    segments: Vec<(f64, RGBColor)>,
    text: String,
}

fn mb(b: u64) -> f64 {
    b as f64 / 1e6
}

/// The removed bytes of `d`, by category, in the legend's order (lighter than what ships, so a
/// bar reads as "shipped, then what was taken off").
fn removed_segments(d: &DistRow) -> Vec<(f64, RGBColor, &'static str)> {
    CATEGORY_COLORS
        .iter()
        .filter_map(|(cat, color)| d.removed.get(*cat).map(|v| (mb(*v), *color, *cat)))
        .collect()
}

/// The bars: first what the artifact ships (the only bar the limit line applies to), then what
/// slimming removed from it (its own bar, so removed bytes never make a fitting artifact look
/// over the limit), then each distribution (shipped, then removed, stacked).
fn bars(r: &SizeReport, top: Option<usize>) -> (Vec<Bar>, Vec<(String, RGBColor)>) {
    let mut legend: Vec<(String, RGBColor)> = vec![
        ("kept (shipped)".to_string(), KEPT),
        ("bytecode added (shipped)".to_string(), ADDED),
    ];
    let mut note = |cat: &str, color: RGBColor| {
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
    let removed: Vec<(f64, RGBColor, &str)> = removed_segments(t);
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

/// Render the chart; `top` limits the distributions drawn (the totals are always first).
pub fn render(r: &SizeReport, top: Option<usize>) -> Result<String, String> {
    let (rows, legend) = bars(r, top);
    let n = rows.len();
    let names: Vec<String> = rows.iter().map(|b| b.label.clone()).collect();
    let widest = rows
        .iter()
        .map(|b| b.segments.iter().map(|(w, _)| w).sum::<f64>())
        .fold(0.0, f64::max);
    let xmax = widest.max(mb(UNZIPPED_LIMIT)) * 1.12;
    let height = 170 + 30 * n as u32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (1100, height)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let title = r
            .artifacts
            .iter()
            .map(|a| format!("{} ({}, {} profile)", a.file, a.runtime, a.profile))
            .collect::<Vec<_>>()
            .join(" + ");
        let mut chart = ChartBuilder::on(&root)
            .caption(format!("Where the bytes go: {title}"), ("sans-serif", 18))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(230)
            .build_cartesian_2d(0f64..xmax, -0.5f64..(n as f64 - 0.5))
            .map_err(err)?;
        let label = |y: &f64| -> String {
            let i = y.round();
            if (y - i).abs() > 0.01 || i < 0.0 {
                return String::new();
            }
            names.get(n - 1 - i as usize).cloned().unwrap_or_default()
        };
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(n)
            .y_label_formatter(&label)
            .x_label_formatter(&|x| format!("{x:.0}"))
            .x_desc("MB installed (unzipped), 1 MB = 1,000,000 bytes")
            .label_style(("sans-serif", 13))
            .draw()
            .map_err(err)?;
        for (i, b) in rows.iter().enumerate() {
            let y = (n - 1 - i) as f64;
            let mut x = 0.0;
            let rects: Vec<Rectangle<(f64, f64)>> = b
                .segments
                .iter()
                .filter(|(w, _)| *w > 0.0)
                .map(|(w, color)| {
                    let r = Rectangle::new([(x, y - 0.32), (x + w, y + 0.32)], color.filled());
                    x += w;
                    r
                })
                .collect();
            chart.draw_series(rects).map_err(err)?;
            if !b.text.is_empty() {
                chart
                    .draw_series(std::iter::once(Text::new(
                        b.text.clone(),
                        (x + xmax * 0.006, y + 0.18),
                        ("sans-serif", 12).into_font().color(&BLACK),
                    )))
                    .map_err(err)?;
            }
        }
        let limit = UNZIPPED_LIMIT as f64 / 1e6;
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(limit, -0.5), (limit, n as f64 - 0.5)],
                RED.stroke_width(2),
            )))
            .map_err(err)?
            .label("Lambda limit: 262,144,000 bytes unzipped (function + layers)")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], RED.stroke_width(2)));
        for (name, color) in legend {
            chart
                .draw_series(std::iter::empty::<Rectangle<(f64, f64)>>())
                .map_err(err)?
                .label(name)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 14, y + 5)], color.filled())
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .label_font(("sans-serif", 12))
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK.mix(0.4))
            .draw()
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
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
