//! Standalone SVG charts, written by hand: the few primitives every chart lpack draws shares
//! (the size report's bars, bench's ECDF, percentiles and import profile).
//!
//! By hand rather than with a plotting crate: simple figures, exact control over labels and
//! layout, deterministic bytes (fixed number formatting, no ids), text as SVG text so no fonts
//! are needed to render, and the same markup inlines into an HTML report.

/// The font every chart uses.
pub const FONT: &str = "font-family=\"Helvetica, Arial, sans-serif\"";

/// `s` escaped for SVG text and attribute values.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Round tick positions from 0 for a range up to `max` (steps of 1, 2, 2.5, 5 × 10^k), about
/// `want` of them, the last at or beyond `max` so every value is inside the axis.
pub fn ticks(max: f64, want: usize) -> Vec<f64> {
    if !max.is_finite() || max <= 0.0 {
        return vec![0.0, 1.0];
    }
    let raw = max / want.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let mut v = Vec::new();
    let mut t = 0.0;
    loop {
        v.push(t);
        if t >= max || v.len() > 50 {
            break;
        }
        t += step;
    }
    v
}

/// The opening of a `width` × `height` chart: the `<svg>` element, a white background and the
/// centred title. The caller closes it with `</svg>`.
pub fn header(width: f64, height: f64, title: &str) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" {FONT} font-size=\"12\">\n<rect width=\"{width}\" height=\"{height}\" fill=\"#ffffff\"/>\n<text x=\"{}\" y=\"22\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\">{}</text>\n",
        width / 2.0,
        esc(title)
    )
}

/// A legend entry: a 12 px swatch of `color` with `name` beside it, its baseline at `y`.
pub fn swatch(x: f64, y: f64, color: &str, name: &str) -> String {
    format!(
        "<rect x=\"{x}\" y=\"{}\" width=\"12\" height=\"12\" fill=\"{color}\"/><text x=\"{}\" y=\"{y}\">{}</text>\n",
        y - 10.0,
        x + 18.0,
        esc(name)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_cover_the_range_in_round_steps() {
        assert_eq!(ticks(9.0, 4), vec![0.0, 2.5, 5.0, 7.5, 10.0]);
        assert_eq!(ticks(0.0, 4), vec![0.0, 1.0]);
        assert_eq!(ticks(f64::NAN, 4), vec![0.0, 1.0]);
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(esc("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
        assert!(swatch(0.0, 20.0, "#fff", "x<y").contains("x&lt;y"));
    }
}
