//! `lpack plan`: the units of a config as jobs a CI system fans out — layers first, each
//! function after the layers it names — and the manifests a final report job gathers.
//!
//! Pure data from the config file; the CLI renders it (plain JSON, a GitHub Actions matrix, a
//! CodeBuild batch build-graph). Jobs over a CI system's limit are packed into shards, each
//! building several units in one `lpack build A B …`.

use super::{ConfigFile, Unit, Value};

/// One unit of the config.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PlannedUnit {
    pub name: String,
    /// `layer` or `function`.
    pub kind: &'static str,
    /// The layers (of this config) it is built against.
    pub depends_on: Vec<String>,
    /// Its manifest, relative to the config's directory.
    pub manifest: String,
}

/// Every unit, layers first (each group sorted by name, as the config holds them).
pub fn units(config: &ConfigFile) -> Vec<PlannedUnit> {
    let output = |u: &Unit, ext: &str| -> String {
        match u.settings.get("output").map(|s| &s.value) {
            Some(Value::Str(o)) => o.clone(),
            _ => format!("dist/{}.{ext}", u.name),
        }
    };
    let mut out = Vec::new();
    for l in &config.layers {
        out.push(PlannedUnit {
            name: l.name.clone(),
            kind: "layer",
            depends_on: Vec::new(),
            manifest: format!("{}.lpack.json", output(l, "zip")),
        });
    }
    for f in &config.functions {
        let image = [&f.settings, &config.root]
            .iter()
            .find_map(|t| t.get("format"))
            .is_some_and(|s| s.value == Value::Str("image".into()));
        out.push(PlannedUnit {
            name: f.name.clone(),
            kind: "function",
            depends_on: f.layers.iter().map(|(l, _)| l.clone()).collect(),
            manifest: format!(
                "{}.lpack.json",
                output(f, if image { "image" } else { "zip" })
            ),
        });
    }
    out
}

/// `units` packed into at most `max` contiguous groups of near-equal size (order kept, so
/// layers stay ahead of functions). `max` of 0 is taken as 1.
pub fn shards<T: Clone>(units: &[T], max: usize) -> Vec<Vec<T>> {
    let max = max.max(1);
    if units.len() <= max {
        return units.iter().map(|u| vec![u.clone()]).collect();
    }
    let per = units.len().div_ceil(max);
    units.chunks(per).map(<[T]>::to_vec).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_keep_order_and_limit() {
        let v: Vec<u32> = (0..600).collect();
        let s = shards(&v, 256);
        assert!(s.len() <= 256);
        assert_eq!(s.concat(), v);
        assert_eq!(shards(&v[..3], 256), vec![vec![0], vec![1], vec![2]]);
        assert_eq!(shards(&v[..3], 0).concat(), vec![0, 1, 2]);
    }
}
