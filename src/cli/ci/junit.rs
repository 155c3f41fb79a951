//! JUnit XML of a command's checks (gates, audit, verify): one `<testsuite>` per kind of check,
//! one `<testcase>` per check; failures carry the message, warnings pass with it in
//! `<system-out>`. GitLab (`artifacts:reports:junit`) and CodeBuild (`reports:`) read it.

use std::fmt::Write as _;

use super::{Check, Status};

/// Escape text and attribute values; drop characters XML 1.0 cannot hold.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

/// The document for `command` (e.g. `lpack build`).
pub fn render(command: &str, checks: &[Check]) -> String {
    let count = |st: Status, of: &[&Check]| of.iter().filter(|c| c.status == st).count();
    let all: Vec<&Check> = checks.iter().collect();
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        s,
        "<testsuites name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\">",
        escape(command),
        all.len(),
        count(Status::Failed, &all),
        count(Status::Skipped, &all)
    );
    let mut suites: Vec<&str> = checks.iter().map(|c| c.suite).collect();
    suites.dedup();
    suites.sort_unstable();
    suites.dedup();
    for suite in suites {
        let of: Vec<&Check> = checks.iter().filter(|c| c.suite == suite).collect();
        let class = format!("lpack.{suite}");
        let _ = writeln!(
            s,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\">",
            escape(&class),
            of.len(),
            count(Status::Failed, &of),
            count(Status::Skipped, &of)
        );
        for c in of {
            let mut attrs = format!(
                "classname=\"{}\" name=\"{}\"",
                escape(&class),
                escape(&c.name)
            );
            if let Some(loc) = &c.location {
                let _ = write!(attrs, " file=\"{}\"", escape(&loc.file));
                if let Some(l) = loc.line {
                    let _ = write!(attrs, " line=\"{l}\"");
                }
            }
            match c.status {
                Status::Passed if c.message.is_empty() => {
                    let _ = writeln!(s, "    <testcase {attrs}/>");
                }
                Status::Passed | Status::Warning => {
                    let _ = writeln!(
                        s,
                        "    <testcase {attrs}>\n      <system-out>{}</system-out>\n    </testcase>",
                        escape(&c.message)
                    );
                }
                Status::Failed => {
                    let first = c.message.lines().next().unwrap_or("");
                    let _ = writeln!(
                        s,
                        "    <testcase {attrs}>\n      <failure type=\"{}\" message=\"{}\">{}</failure>\n    </testcase>",
                        escape(suite),
                        escape(first),
                        escape(&c.message)
                    );
                }
                Status::Skipped => {
                    let _ = writeln!(
                        s,
                        "    <testcase {attrs}>\n      <skipped message=\"{}\"/>\n    </testcase>",
                        escape(&c.message)
                    );
                }
            }
        }
        s.push_str("  </testsuite>\n");
    }
    s.push_str("</testsuites>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::ci::Location;

    #[test]
    fn escapes_and_counts() {
        let checks = vec![
            Check::failed("gates", "max-zipped", "a <b> & \"c\"\u{1}\nmore").at(Location {
                file: "req.txt".into(),
                line: Some(3),
            }),
            Check::passed("gates", "lambda-unzipped-limit"),
            Check::warning("audit", "A003 x.so", "optional"),
        ];
        let xml = render("lpack build", &checks);
        assert!(xml.contains("<testsuites name=\"lpack build\" tests=\"3\" failures=\"1\""));
        assert!(xml.contains(
            "file=\"req.txt\" line=\"3\">\n      <failure type=\"gates\" message=\"a &lt;b&gt; &amp; &quot;c&quot;\">"
        ));
        assert!(!xml.contains('\u{1}'));
        assert!(xml.find("lpack.audit") < xml.find("lpack.gates"));
    }
}
