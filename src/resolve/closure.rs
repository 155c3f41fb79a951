//! Is a trusted lock complete? Every dependency of every locked wheel (markers evaluated for the
//! target, extras followed) must be in the lock, at a version its requirement allows.
//!
//! A complete lock (a hashed requirements file, `uv.lock`, `pylock.toml`) is built as it is,
//! without resolution; this check is what keeps such a file from shipping a package without the
//! packages it imports (`pandas` without `numpy`). Each wheel's dependencies come from its core
//! metadata, read as the resolver reads it (PEP 658 file or the wheel, cached).

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use pep440_rs::Version;
use pep508_rs::{ExtraName, Requirement, VerbatimUrl, VersionOrUrl};

use super::index::{DistFile, IndexClient};
use super::solver::{Provider, spec_range, wheel_metadata};
use super::{Lock, ResolveError};
use crate::http::Http;
use crate::target::Target;
use crate::wheel::normalize_name;

/// Check that `lock` is closed under its dependencies for `target`. `roots` are the input's own
/// requirements (their extras count); `input` names the file in messages.
pub fn check_closed(
    lock: &Lock,
    roots: &[Requirement<VerbatimUrl>],
    target: &Target,
    client: &IndexClient,
    http: Option<&Http>,
    fetcher: &dyn super::WheelFetch,
    input: &str,
) -> Result<(), ResolveError> {
    let env = crate::requirements::marker_environment(target);
    let metadata = super::parallel_map(&lock.wheels, 8, |w| {
        let file = DistFile {
            filename: w.filename.clone(),
            location: w.location.clone(),
            sha256: w.index_sha256.clone(),
            yanked: None,
            requires_python: None,
            core_metadata: false,
            source: w.source.clone(),
        };
        wheel_metadata(client.cache(), http, fetcher, &file, &w.allowed_sha256)
            .map(|text| Provider::parse_metadata(&text).0)
            .map_err(|detail| {
                ResolveError::Metadata(if detail.contains(&w.filename) {
                    detail
                } else {
                    format!("cannot read the dependencies of {}: {detail}", w.filename)
                })
            })
    });
    let mut deps: BTreeMap<&str, (Version, Vec<Requirement<VerbatimUrl>>)> = BTreeMap::new();
    for (w, reqs) in lock.wheels.iter().zip(metadata) {
        let version = Version::from_str(&w.version)
            .map_err(|e| ResolveError::Metadata(format!("{}: bad version: {e}", w.filename)))?;
        deps.insert(w.name.as_str(), (version, reqs?));
    }
    // Extras asked for each package: by the input, then by the packages that require it.
    let mut extras: BTreeMap<String, BTreeSet<ExtraName>> = BTreeMap::new();
    for r in roots {
        if r.evaluate_markers(&env, &[]) {
            extras
                .entry(normalize_name(r.name.as_ref()))
                .or_default()
                .extend(r.extras.iter().cloned());
        }
    }
    let mut problems = BTreeSet::new();
    loop {
        let mut grew = false;
        for (name, (version, reqs)) in &deps {
            let active: Vec<ExtraName> = extras
                .get(*name)
                .map(|e| e.iter().cloned().collect())
                .unwrap_or_default();
            for r in reqs {
                if !r.evaluate_markers(&env, &active) {
                    continue;
                }
                let dep = normalize_name(r.name.as_ref());
                let wanted = requirement_text(r);
                match deps.get(dep.as_str()) {
                    None => {
                        problems.insert(format!(
                            "{name} {version} requires {wanted} — not in {input}; re-lock, or pass --no-deps"
                        ));
                    }
                    Some((have, _)) => {
                        if let Some(VersionOrUrl::VersionSpecifier(s)) = &r.version_or_url
                            && !s.iter().all(|spec| spec_range(spec).contains(have))
                        {
                            problems.insert(format!(
                                "{name} {version} requires {wanted} — {input} has {dep} {have}; re-lock, or pass --no-deps"
                            ));
                        }
                    }
                }
                let asked = extras.entry(dep).or_default();
                for e in &r.extras {
                    grew |= asked.insert(e.clone());
                }
            }
        }
        if !grew {
            break;
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ResolveError::Incomplete(
            problems.into_iter().collect::<Vec<_>>().join("\n"),
        ))
    }
}

/// `numpy>=1.26`, `botocore[crt]<2,>=1.34`: a requirement without its marker.
fn requirement_text(r: &Requirement<VerbatimUrl>) -> String {
    let mut out = normalize_name(r.name.as_ref());
    if !r.extras.is_empty() {
        let mut extras: Vec<String> = r.extras.iter().map(ToString::to_string).collect();
        extras.sort();
        out.push_str(&format!("[{}]", extras.join(",")));
    }
    match &r.version_or_url {
        Some(VersionOrUrl::VersionSpecifier(s)) => {
            let specs: Vec<String> = s.iter().map(ToString::to_string).collect();
            out.push_str(&specs.join(","));
        }
        Some(VersionOrUrl::Url(u)) => out.push_str(&format!(" @ {u}")),
        None => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requirement_text_drops_the_marker() {
        let r = crate::requirements::parse_requirement(
            "NumPy >=1.26 ; python_version >= '3.9' and extra == 'x'",
        )
        .expect("parse");
        assert_eq!(requirement_text(&r), "numpy>=1.26");
        let r = crate::requirements::parse_requirement("a[y,x]<2,>=1").expect("parse");
        let text = requirement_text(&r);
        assert!(text == "a[x,y]<2,>=1" || text == "a[x,y]>=1,<2", "{text}");
    }
}
