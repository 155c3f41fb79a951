//! GitHub Actions' file and workflow-command formats: step outputs (`$GITHUB_OUTPUT`), the job
//! summary (`$GITHUB_STEP_SUMMARY`, at most 1 MiB per step) and annotations (`::error …::`).
//!
//! Escaping follows `@actions/core`: in a message `%`, `\r` and `\n` become `%25`, `%0D`, `%0A`;
//! in a property value `:` and `,` also become `%3A`, `%2C`.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

/// GitHub's limit on the summary one step writes.
pub const SUMMARY_LIMIT: u64 = 1024 * 1024;
/// GitHub shows at most this many error and this many warning annotations per step.
pub const ANNOTATION_CAP: usize = 10;

/// Escape a workflow command's message.
pub fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escape a workflow command's property value (`file=`, `title=`).
pub fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// One annotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Annotation {
    /// `error`, `warning` or `notice`.
    pub level: &'static str,
    pub title: String,
    pub file: Option<String>,
    pub line: Option<usize>,
    pub message: String,
}

impl Annotation {
    /// The workflow command, e.g. `::error file=req.txt,line=3,title=…::message`.
    pub fn command(&self) -> String {
        let mut props = Vec::new();
        if let Some(f) = &self.file {
            props.push(format!("file={}", escape_property(f)));
            if let Some(l) = self.line {
                props.push(format!("line={l}"));
            }
        }
        props.push(format!("title={}", escape_property(&self.title)));
        format!(
            "::{} {}::{}",
            self.level,
            props.join(","),
            escape_data(&self.message)
        )
    }
}

/// The first [`ANNOTATION_CAP`] errors and the first [`ANNOTATION_CAP`] warnings, in order.
pub fn capped(all: &[Annotation]) -> Vec<&Annotation> {
    let (mut errors, mut warnings) = (0, 0);
    all.iter()
        .filter(|a| {
            let n = if a.level == "error" {
                &mut errors
            } else {
                &mut warnings
            };
            *n += 1;
            *n <= ANNOTATION_CAP
        })
        .collect()
}

/// Step outputs in `$GITHUB_OUTPUT` syntax: `name=value`, or for a value holding a newline
/// `name<<DELIM` / value / `DELIM`, where DELIM (`lpack_EOF_` + 16 hex digits of the value's
/// sha256) cannot occur in the value.
pub fn outputs_text(outputs: &[(String, String)]) -> String {
    let mut s = String::new();
    for (k, v) in outputs {
        if v.contains('\n') || v.contains('\r') {
            let delim = format!(
                "lpack_EOF_{}",
                &crate::digest::sha256_hex(v.as_bytes())[..16]
            );
            let _ = write!(s, "{k}<<{delim}\n{v}\n{delim}\n");
        } else {
            let _ = writeln!(s, "{k}={v}");
        }
    }
    s
}

/// `markdown` cut (at a line boundary, with a note) so that the summary file stays within
/// GitHub's 1 MiB when it already holds `existing` bytes.
pub fn fit_summary(markdown: &str, existing: u64) -> String {
    const NOTE: &str = "\n_(truncated: GitHub keeps at most 1 MiB of summary per step)_\n";
    let room = SUMMARY_LIMIT.saturating_sub(existing) as usize;
    if markdown.len() <= room {
        return markdown.to_string();
    }
    let budget = room.saturating_sub(NOTE.len());
    let mut cut = 0;
    for (i, _) in markdown.match_indices('\n') {
        if i + 1 > budget {
            break;
        }
        cut = i + 1;
    }
    if cut == 0 {
        return String::new();
    }
    format!("{}{NOTE}", &markdown[..cut])
}

/// Append `text` to the file an environment variable names (GitHub creates it per step).
pub fn append(path: &Path, text: &str) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    f.write_all(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_messages_and_properties() {
        let a = Annotation {
            level: "error",
            title: "lpack gate: max-zipped, 50%".into(),
            file: Some("dir,x/req:s.txt".into()),
            line: Some(7),
            message: "over by 5%\r\nsee: hint".into(),
        };
        assert_eq!(
            a.command(),
            "::error file=dir%2Cx/req%3As.txt,line=7,title=lpack gate%3A max-zipped%2C 50%25::over by 5%25%0D%0Asee: hint"
        );
    }

    #[test]
    fn caps_each_level_at_ten() {
        let mk = |level| Annotation {
            level,
            title: String::new(),
            file: None,
            line: None,
            message: String::new(),
        };
        let mut all: Vec<_> = (0..12).map(|_| mk("error")).collect();
        all.extend((0..3).map(|_| mk("warning")));
        let kept = capped(&all);
        assert_eq!(kept.iter().filter(|a| a.level == "error").count(), 10);
        assert_eq!(kept.iter().filter(|a| a.level == "warning").count(), 3);
    }

    #[test]
    fn multiline_outputs_use_a_delimiter_not_in_the_value() {
        let text = outputs_text(&[
            ("status".into(), "passed".into()),
            ("artifacts".into(), "a.zip\nb.zip".into()),
        ]);
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("status=passed"));
        let open = lines.next().unwrap_or_default();
        let delim = open.strip_prefix("artifacts<<").unwrap_or_default();
        assert!(delim.starts_with("lpack_EOF_") && delim.len() == 26);
        assert_eq!(lines.collect::<Vec<_>>(), ["a.zip", "b.zip", delim]);
    }

    #[test]
    fn summary_stays_within_a_mebibyte() {
        let md = "line\n".repeat(300_000);
        let cut = fit_summary(&md, 1000);
        assert!(cut.len() as u64 + 1000 <= SUMMARY_LIMIT);
        assert!(cut.ends_with("per step)_\n"));
        assert_eq!(fit_summary("small\n", 0), "small\n");
        assert_eq!(fit_summary("small\n", SUMMARY_LIMIT), "");
    }
}
