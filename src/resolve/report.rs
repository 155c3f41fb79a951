//! Resolution failures in words: pubgrub's derivation tree rendered for people.
//!
//! pubgrub's default report prints ranges as sets (`∅`, `>=1.0, <2.0 | >2.0`), names the root
//! with a placeholder version and says "your requirements is forbidden". This formatter says
//! "you require a>=2", "a 2.0 requires b==1.0", "no version of a matches >=3", writes ranges as
//! PEP 440 specifiers (local-version bounds as `==1.2.3` / `<=1.2.3`), and ends every sentence.

use std::ops::Bound;

use pep440_rs::Version;
use pubgrub::{Derived, External, Map, Ranges, ReportFormatter, Term};

use super::pkg::Pkg;

type Vs = Ranges<Version>;

/// The smallest version above every local version of `v` (mirrors `solver::after_locals`).
fn below_locals(hi: &Version) -> Option<Version> {
    // `<=1.2.3` is kept as `< 1.2.3.post0.dev0`; `==1.2.3` as `[1.2.3, 1.2.3.post0.dev0)`.
    if hi.dev() == Some(0) && hi.local().is_empty() {
        return match hi.post() {
            Some(0) => Some(hi.clone().with_dev(None).with_post(None)),
            Some(p) => Some(hi.clone().with_dev(None).with_post(Some(p - 1))),
            None => None,
        };
    }
    None
}

/// A version as people write it: pep440_rs's internal min/max markers dropped.
fn plain(v: &Version) -> String {
    if v.min().is_some() || v.max().is_some() {
        v.clone().with_min(None).with_max(None).to_string()
    } else {
        v.to_string()
    }
}

/// A range as PEP 440 specifiers: `>=1.0, <2.0`, `==1.2.3`, alternatives joined by ` or `.
pub fn specifier(range: &Vs) -> String {
    if range.is_empty() {
        return "(no version)".to_string();
    }
    if *range == Ranges::full() {
        return String::new();
    }
    let mut parts = Vec::new();
    for (lo, hi) in range.iter() {
        let part = match (lo, hi) {
            (Bound::Included(a), Bound::Included(b)) if a == b => format!("=={}", plain(a)),
            (Bound::Included(a), Bound::Excluded(b))
                if below_locals(b).is_some_and(|v| &v == a) =>
            {
                format!("=={}", plain(a))
            }
            _ => {
                let lower = match lo {
                    // `!=1.2.3` leaves `>= 1.2.3.post0.dev0`: above every 1.2.3+local.
                    Bound::Included(a) => Some(match below_locals(a) {
                        Some(v) => format!(">{}", plain(&v)),
                        None => format!(">={}", plain(a)),
                    }),
                    Bound::Excluded(a) => Some(format!(">{}", plain(a))),
                    Bound::Unbounded => None,
                };
                let upper = match hi {
                    Bound::Excluded(b) => Some(match below_locals(b) {
                        Some(v) => format!("<={}", plain(&v)),
                        None => format!("<{}", plain(b)),
                    }),
                    Bound::Included(b) => Some(format!("<={}", plain(b))),
                    Bound::Unbounded => None,
                };
                [lower, upper]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        };
        parts.push(part);
    }
    parts.join(" or ")
}

/// `a>=2`, `a 2.0` (one version), `a` (any version).
fn term(p: &Pkg, range: &Vs) -> String {
    if let Some(v) = range.as_singleton() {
        return format!("{p} {}", plain(v));
    }
    let s = specifier(range);
    if s.starts_with("==") && !s.contains(" or ") {
        return format!("{p} {}", &s[2..]);
    }
    if s.contains(" or ") {
        format!("{p} ({s})")
    } else {
        format!("{p}{s}")
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// The report formatter (see the module doc).
pub struct Words;

impl ReportFormatter<Pkg, Vs, String> for Words {
    type Output = String;

    fn format_external(&self, external: &External<Pkg, Vs, String>) -> String {
        match external {
            External::NotRoot(..) => "you asked for these requirements".to_string(),
            External::NoVersions(p, set) => {
                if *set == Ranges::full() {
                    format!("no version of {p} can be used")
                } else {
                    format!("no version of {p} matches {}", specifier(set))
                }
            }
            // The reason is a whole clause of its own ("a 2.0 requires Python >=3.13, …").
            External::Custom(_, _, reason) => reason.clone(),
            External::FromDependencyOf(p, sp, d, sd) => match p {
                Pkg::Root => format!("you require {}", term(d, sd)),
                _ => format!("{} requires {}", term(p, sp), term(d, sd)),
            },
        }
    }

    fn format_terms(&self, terms: &Map<Pkg, Term<Vs>>) -> String {
        let all: Vec<(&Pkg, &Term<Vs>)> = terms.iter().collect();
        match all.as_slice() {
            [] => "no set of versions works".to_string(),
            [(Pkg::Root, Term::Positive(_))] => "your requirements cannot be met".to_string(),
            [(p, Term::Positive(r))] => format!("{} cannot be used", term(p, r)),
            [(p, Term::Negative(r))] => format!("{} is needed", term(p, &r.complement())),
            [(p1, Term::Positive(r1)), (p2, Term::Negative(r2))]
            | [(p2, Term::Negative(r2)), (p1, Term::Positive(r1))] => self.format_external(
                &External::FromDependencyOf((*p1).clone(), r1.clone(), (*p2).clone(), r2.clone()),
            ),
            many => {
                let parts: Vec<String> = many
                    .iter()
                    .map(|(p, t)| match t {
                        Term::Positive(r) => term(p, r),
                        Term::Negative(r) => format!("not {}", term(p, r)),
                    })
                    .collect();
                format!("{} cannot be chosen together", parts.join(" and "))
            }
        }
    }

    fn explain_both_external(
        &self,
        external1: &External<Pkg, Vs, String>,
        external2: &External<Pkg, Vs, String>,
        current_terms: &Map<Pkg, Term<Vs>>,
    ) -> String {
        format!(
            "Because {} and {}, {}.",
            self.format_external(external1),
            self.format_external(external2),
            self.format_terms(current_terms)
        )
    }

    fn explain_both_ref(
        &self,
        ref_id1: usize,
        derived1: &Derived<Pkg, Vs, String>,
        ref_id2: usize,
        derived2: &Derived<Pkg, Vs, String>,
        current_terms: &Map<Pkg, Term<Vs>>,
    ) -> String {
        format!(
            "Because {} ({ref_id1}) and {} ({ref_id2}), {}.",
            self.format_terms(&derived1.terms),
            self.format_terms(&derived2.terms),
            self.format_terms(current_terms)
        )
    }

    fn explain_ref_and_external(
        &self,
        ref_id: usize,
        derived: &Derived<Pkg, Vs, String>,
        external: &External<Pkg, Vs, String>,
        current_terms: &Map<Pkg, Term<Vs>>,
    ) -> String {
        format!(
            "Because {} ({ref_id}) and {}, {}.",
            self.format_terms(&derived.terms),
            self.format_external(external),
            self.format_terms(current_terms)
        )
    }

    fn and_explain_external(
        &self,
        external: &External<Pkg, Vs, String>,
        current_terms: &Map<Pkg, Term<Vs>>,
    ) -> String {
        format!(
            "And because {}, {}.",
            self.format_external(external),
            self.format_terms(current_terms)
        )
    }

    fn and_explain_ref(
        &self,
        ref_id: usize,
        derived: &Derived<Pkg, Vs, String>,
        current_terms: &Map<Pkg, Term<Vs>>,
    ) -> String {
        format!(
            "And because {} ({ref_id}), {}.",
            self.format_terms(&derived.terms),
            self.format_terms(current_terms)
        )
    }

    fn and_explain_prior_and_external(
        &self,
        prior_external: &External<Pkg, Vs, String>,
        external: &External<Pkg, Vs, String>,
        current_terms: &Map<Pkg, Term<Vs>>,
    ) -> String {
        format!(
            "And because {} and {}, {}.",
            self.format_external(prior_external),
            self.format_external(external),
            self.format_terms(current_terms)
        )
    }
}

/// A sentence that starts with a capital (pubgrub's lines start lower-case when there is a
/// single external cause).
pub fn sentence(s: &str) -> String {
    let s = capitalise(s.trim());
    if s.ends_with('.') { s } else { format!("{s}.") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn v(s: &str) -> Version {
        Version::from_str(s).expect("version")
    }

    fn specs(s: &str) -> Vs {
        super::super::solver::specs_range(&pep440_rs::VersionSpecifiers::from_str(s).expect("s"))
    }

    #[test]
    fn ranges_read_as_specifiers() {
        assert_eq!(specifier(&specs(">=1.0,<2.0")), ">=1.0, <2.0");
        assert_eq!(specifier(&specs("==1.2.3")), "==1.2.3");
        assert_eq!(specifier(&specs("<=1.2.3")), "<=1.2.3");
        assert_eq!(specifier(&specs(">1.2.3")), ">1.2.3");
        assert_eq!(specifier(&specs("<1.2.3")), "<1.2.3");
        assert_eq!(specifier(&specs("!=2.0")), "<2.0 or >2.0");
        assert_eq!(specifier(&Ranges::empty()), "(no version)");
        assert_eq!(
            term(&Pkg::Dist("a".into()), &Ranges::singleton(v("2.0"))),
            "a 2.0"
        );
        assert_eq!(term(&Pkg::Dist("a".into()), &specs("==1.2.3")), "a 1.2.3");
        assert_eq!(term(&Pkg::Dist("a".into()), &specs(">=3")), "a>=3");
        assert_eq!(term(&Pkg::Dist("a".into()), &Ranges::full()), "a");
    }
}
