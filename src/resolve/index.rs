//! Package indexes: the simple repository API and `--find-links` locations.
//!
//! For a project name the client returns every distribution file the configured sources offer,
//! as [`DistFile`] values. Sources are, in order: the primary index (`--index-url`, default the
//! public Python package index), each `--extra-index-url`, then each `--find-links` location.
//!
//! Index pages are requested with content negotiation (`Accept` prefers PEP 691 JSON,
//! `application/vnd.pypi.simple.v1+json`, then PEP 503 HTML); the answer's `Content-Type`
//! decides the parser, so servers that answer HTML to a JSON request (as the PyPI reachable from
//! these machines does) work. File URLs are resolved against the page's final URL (after
//! redirects); `#sha256=` fragments and `hashes` objects give digests; `data-yanked` / `yanked`,
//! `data-requires-python` / `requires-python`, and PEP 658/714 core-metadata flags are kept.
//!
//! A find-links location is either a local directory (its `*.whl`, `*.tar.gz`, `*.zip` files) or
//! the URL of an HTML page of links. Every index page read online is stored in the cache so that
//! `--offline` builds can choose files without the network.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::cache::Cache;
use crate::http::{Http, HttpError, redact};
use crate::wheel::normalize_name;

/// The public index pip and uv use by default.
pub const DEFAULT_INDEX: &str = "https://pypi.org/simple";

const ACCEPT: &str = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01";

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("index page {url} could not be parsed: {detail}")]
    Parse { url: String, detail: String },
    #[error("cannot read find-links directory {path}: {source}")]
    FindLinks {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "--offline: no cached index page for `{name}` (from {url})\n  hint: run the same build once without --offline to fill the cache, or add the wheel with --find-links"
    )]
    OfflineMiss { name: String, url: String },
}

pub use crate::requirements::FileLocation;

/// One file a source offers for a project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DistFile {
    pub filename: String,
    pub location: FileLocation,
    /// sha256 the source states, lowercase hex.
    pub sha256: Option<String>,
    /// `Some(reason)` when yanked (the reason may be empty).
    pub yanked: Option<String>,
    pub requires_python: Option<String>,
    /// The source serves `<url>.metadata` (PEP 658/714).
    pub core_metadata: bool,
    /// The index or find-links location this came from (redacted).
    pub source: String,
}

/// Reads project pages from the configured sources.
pub struct IndexClient {
    http: Option<Http>,
    cache: Cache,
    indexes: Vec<String>,
    find_links: Vec<String>,
    offline: bool,
    /// Pages already read in this run (resolution and wheel choice both ask).
    seen: std::sync::Mutex<std::collections::HashMap<String, Vec<DistFile>>>,
}

/// A stored index page with its HTTP validators, for conditional requests.
#[derive(Serialize, Deserialize)]
struct StoredPage {
    etag: Option<String>,
    last_modified: Option<String>,
    files: Vec<DistFile>,
}

impl IndexClient {
    pub fn new(
        http: Option<Http>,
        cache: Cache,
        indexes: Vec<String>,
        find_links: Vec<String>,
        offline: bool,
    ) -> IndexClient {
        IndexClient {
            http,
            cache,
            indexes,
            find_links,
            offline,
            seen: std::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }

    /// The index URLs searched, redacted, for messages.
    pub fn describe_sources(&self) -> String {
        let mut all: Vec<String> = self.indexes.iter().map(|u| redact(u)).collect();
        all.extend(
            self.find_links
                .iter()
                .map(|f| format!("--find-links {}", redact(f))),
        );
        if all.is_empty() {
            "no package sources (--no-index without --find-links)".to_string()
        } else {
            all.join(", ")
        }
    }

    /// Wheels already in the cache under any of `hashes` (offline builds of hashed locks).
    pub fn cached_files(&self, hashes: &[String]) -> Vec<DistFile> {
        hashes
            .iter()
            .filter_map(|h| {
                let (path, filename) = self.cache.wheel_any_name(h)?;
                Some(DistFile {
                    filename,
                    location: FileLocation::Path(path),
                    sha256: Some(h.clone()),
                    yanked: None,
                    requires_python: None,
                    core_metadata: false,
                    source: "cache".to_string(),
                })
            })
            .collect()
    }

    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    pub fn offline(&self) -> bool {
        self.offline
    }

    /// Every file offered for `name` by every source.
    pub fn project_files(&self, name: &str) -> Result<Vec<DistFile>, IndexError> {
        let norm = normalize_name(name);
        let mut out = Vec::new();
        for index in &self.indexes {
            let url = format!("{}/{}/", index.trim_end_matches('/'), norm);
            out.extend(self.index_page(&norm, &url)?);
        }
        for fl in &self.find_links {
            let files = if fl.contains("://") {
                self.index_page(&norm, fl)?
            } else {
                find_links_dir(Path::new(fl))?
            };
            out.extend(files.into_iter().filter(|f| {
                file_project_name(&f.filename).is_some_and(|n| normalize_name(&n) == norm)
            }));
        }
        Ok(out)
    }

    fn index_page(&self, name: &str, url: &str) -> Result<Vec<DistFile>, IndexError> {
        if let Ok(seen) = self.seen.lock()
            && let Some(files) = seen.get(url)
        {
            return Ok(files.clone());
        }
        let files = self.index_page_uncached(name, url)?;
        if let Ok(mut seen) = self.seen.lock() {
            seen.insert(url.to_string(), files.clone());
        }
        Ok(files)
    }

    /// The stored copy of a page (files and validators); older caches held just the files.
    fn stored(&self, url: &str) -> Option<StoredPage> {
        let body = self.cache.read_index_page(url)?;
        serde_json::from_slice::<StoredPage>(&body)
            .ok()
            .or_else(|| {
                serde_json::from_slice::<Vec<DistFile>>(&body)
                    .ok()
                    .map(|files| StoredPage {
                        etag: None,
                        last_modified: None,
                        files,
                    })
            })
    }

    fn store(&self, url: &str, page: &StoredPage) {
        if let Ok(json) = serde_json::to_vec(page) {
            let _ = self.cache.write_index_page(url, &json);
        }
    }

    fn index_page_uncached(&self, name: &str, url: &str) -> Result<Vec<DistFile>, IndexError> {
        let stored = self.stored(url);
        if self.offline {
            return stored
                .map(|p| p.files)
                .ok_or_else(|| IndexError::OfflineMiss {
                    name: name.to_string(),
                    url: redact(url),
                });
        }
        let Some(http) = &self.http else {
            return Err(IndexError::OfflineMiss {
                name: name.to_string(),
                url: redact(url),
            });
        };
        // Revalidate a stored copy (ETag / Last-Modified): a 304 costs no page transfer.
        let validators = stored
            .as_ref()
            .map(|p| (p.etag.clone(), p.last_modified.clone()))
            .unwrap_or((None, None));
        let resp = http.get_conditional(
            url,
            ACCEPT,
            validators.0.as_deref(),
            validators.1.as_deref(),
        )?;
        let status = resp.status().as_u16();
        if status == 304
            && let Some(page) = stored
        {
            return Ok(page.files);
        }
        if status == 404 || status == 410 {
            // Unknown project on this index; remember that for offline builds too.
            self.store(
                url,
                &StoredPage {
                    etag: None,
                    last_modified: None,
                    files: Vec::new(),
                },
            );
            return Ok(Vec::new());
        }
        if !resp.status().is_success() {
            return Err(HttpError::Status {
                url: redact(url),
                status,
            }
            .into());
        }
        let header = |h: reqwest::header::HeaderName| {
            resp.headers()
                .get(h)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let etag = header(reqwest::header::ETAG);
        let last_modified = header(reqwest::header::LAST_MODIFIED);
        let final_url = resp.url().to_string();
        let content_type = header(reqwest::header::CONTENT_TYPE)
            .unwrap_or_default()
            .to_ascii_lowercase();
        let body = resp.text().map_err(|e| Http::transfer_error(url, &e))?;
        let source = redact(url);
        let files = if content_type.contains("json") {
            parse_json(&body, &final_url, &source).map_err(|detail| IndexError::Parse {
                url: source.clone(),
                detail,
            })?
        } else {
            parse_html(&body, &final_url, &source)
        };
        self.store(
            url,
            &StoredPage {
                etag,
                last_modified,
                files: files.clone(),
            },
        );
        Ok(files)
    }
}

/// The project name part of a distribution file name (wheel or sdist).
pub fn file_project_name(filename: &str) -> Option<String> {
    if filename.ends_with(".whl") {
        return filename.split('-').next().map(str::to_string);
    }
    let stem = filename
        .strip_suffix(".tar.gz")
        .or_else(|| filename.strip_suffix(".zip"))
        .or_else(|| filename.strip_suffix(".tar.bz2"))?;
    stem.rsplit_once('-').map(|(n, _)| n.to_string())
}

/// The version part of a distribution file name.
pub fn file_version(filename: &str) -> Option<String> {
    if filename.ends_with(".whl") {
        return filename.split('-').nth(1).map(str::to_string);
    }
    let stem = filename
        .strip_suffix(".tar.gz")
        .or_else(|| filename.strip_suffix(".zip"))
        .or_else(|| filename.strip_suffix(".tar.bz2"))?;
    stem.rsplit_once('-').map(|(_, v)| v.to_string())
}

fn is_distribution(filename: &str) -> bool {
    [".whl", ".tar.gz", ".zip", ".tar.bz2"]
        .iter()
        .any(|s| filename.ends_with(s))
}

fn find_links_dir(dir: &Path) -> Result<Vec<DistFile>, IndexError> {
    let rd = std::fs::read_dir(dir).map_err(|source| IndexError::FindLinks {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut out = Vec::new();
    for entry in rd.flatten() {
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        if !is_distribution(&name) || !entry.path().is_file() {
            continue;
        }
        let path = entry.path().canonicalize().unwrap_or_else(|_| entry.path());
        out.push(DistFile {
            filename: name,
            location: FileLocation::Path(path),
            sha256: None,
            yanked: None,
            requires_python: None,
            core_metadata: false,
            source: format!("--find-links {}", dir.display()),
        });
    }
    out.sort_by(|a, b| a.filename.cmp(&b.filename));
    Ok(out)
}

fn split_fragment_hash(url: &url::Url) -> (url::Url, Option<String>) {
    let mut clean = url.clone();
    let hash = url.fragment().and_then(|f| {
        f.split('&').find_map(|kv| {
            kv.strip_prefix("sha256=")
                .filter(|h| h.len() == 64)
                .map(str::to_ascii_lowercase)
        })
    });
    clean.set_fragment(None);
    (clean, hash)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Some(b) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn filename_of(url: &url::Url) -> Option<String> {
    let last = url.path_segments()?.next_back()?;
    let name = percent_decode(last);
    (!name.is_empty()).then_some(name)
}

#[derive(Deserialize)]
struct JsonPage {
    files: Vec<JsonFile>,
}

#[derive(Deserialize)]
struct JsonFile {
    filename: String,
    url: String,
    #[serde(default)]
    hashes: std::collections::BTreeMap<String, String>,
    #[serde(rename = "requires-python", default)]
    requires_python: Option<String>,
    #[serde(default)]
    yanked: Option<serde_json::Value>,
    #[serde(rename = "core-metadata", default)]
    core_metadata: Option<serde_json::Value>,
    #[serde(rename = "dist-info-metadata", default)]
    dist_info_metadata: Option<serde_json::Value>,
}

fn truthy(v: &Option<serde_json::Value>) -> Option<String> {
    match v {
        None | Some(serde_json::Value::Null) | Some(serde_json::Value::Bool(false)) => None,
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(_) => Some(String::new()),
    }
}

/// Parse a PEP 691 JSON project page.
pub fn parse_json(body: &str, base: &str, source: &str) -> Result<Vec<DistFile>, String> {
    let page: JsonPage = serde_json::from_str(body).map_err(|e| e.to_string())?;
    let base = url::Url::parse(base).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for f in page.files {
        let Ok(abs) = base.join(&f.url) else { continue };
        let (clean, frag_hash) = split_fragment_hash(&abs);
        let sha256 = f
            .hashes
            .get("sha256")
            .map(|h| h.to_ascii_lowercase())
            .or(frag_hash);
        out.push(DistFile {
            filename: f.filename,
            location: FileLocation::Url(clean.to_string()),
            sha256,
            yanked: truthy(&f.yanked),
            requires_python: f.requires_python.filter(|s| !s.is_empty()),
            core_metadata: truthy(&f.core_metadata)
                .or_else(|| truthy(&f.dist_info_metadata))
                .is_some(),
            source: source.to_string(),
        });
    }
    Ok(out)
}

/// Parse a PEP 503 HTML page (or any page of `<a href>` links to distributions).
///
/// The page is read by a WHATWG HTML tokenizer (`html5gum`), so attribute values are taken as a
/// browser takes them: quoted values may hold a raw `>` (`data-requires-python=">=3.10"`, as some
/// servers write it), character references are decoded (`&gt;=3.10`), names are case-blind, and
/// a `<base href>` changes how relative links resolve.
pub fn parse_html(body: &str, base: &str, source: &str) -> Vec<DistFile> {
    let Ok(mut base) = url::Url::parse(base) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for token in html5gum::Tokenizer::new(body) {
        let Ok(html5gum::Token::StartTag(tag)) = token else {
            continue;
        };
        let get = |n: &str| -> Option<String> {
            tag.attributes
                .get(n.as_bytes())
                .map(|v| String::from_utf8_lossy(&v.value).into_owned())
        };
        match tag.name.as_slice() {
            b"base" => {
                if let Some(href) = get("href")
                    && let Ok(b) = base.join(&href)
                {
                    base = b;
                }
            }
            b"a" => {
                if let Some(file) = link(&get, &base, source) {
                    out.push(file);
                }
            }
            _ => {}
        }
    }
    out
}

/// One `<a>` of an index page as a distribution file (`None` for links to anything else).
fn link(get: &dyn Fn(&str) -> Option<String>, base: &url::Url, source: &str) -> Option<DistFile> {
    let href = get("href")?;
    let abs = base.join(href.trim()).ok()?;
    let (clean, sha256) = split_fragment_hash(&abs);
    let filename = filename_of(&clean)?;
    if !is_distribution(&filename) {
        return None;
    }
    // PEP 592: present = yanked, its value (maybe empty) the reason.
    let yanked = get("data-yanked");
    // PEP 714 (`data-core-metadata`) and its older spelling (PEP 658): present and not "false".
    let core_metadata = get("data-core-metadata")
        .or_else(|| get("data-dist-info-metadata"))
        .is_some_and(|v| v != "false");
    Some(DistFile {
        filename,
        location: FileLocation::Url(clean.to_string()),
        sha256,
        yanked,
        requires_python: get("data-requires-python")
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty()),
        core_metadata,
        source: source.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn parses_pep503_html() {
        let body = format!(
            r#"<!DOCTYPE html><html><body><h1>Links for numpy</h1>
<a href="../../packages/ab/numpy-2.0-cp312-cp312-manylinux_2_17_x86_64.whl#sha256={HASH}" data-requires-python="&gt;=3.9" data-dist-info-metadata="sha256=x">numpy-2.0-cp312-cp312-manylinux_2_17_x86_64.whl</a><br/>
<A HREF='https://files.example/numpy-1.0.tar.gz' data-yanked="broken &amp; bad">numpy-1.0.tar.gz</A>
<a href="notes.txt">notes</a>
</body></html>"#
        );
        let files = parse_html(&body, "https://idx.example/simple/numpy/", "idx");
        assert_eq!(files.len(), 2);
        assert_eq!(
            files[0].location,
            FileLocation::Url(
                "https://idx.example/packages/ab/numpy-2.0-cp312-cp312-manylinux_2_17_x86_64.whl"
                    .into()
            )
        );
        assert_eq!(files[0].sha256.as_deref(), Some(HASH));
        assert_eq!(files[0].requires_python.as_deref(), Some(">=3.9"));
        assert!(files[0].core_metadata);
        assert_eq!(files[0].yanked, None);
        assert_eq!(files[1].yanked.as_deref(), Some("broken & bad"));
    }

    #[test]
    fn parses_pep691_json() {
        let body = format!(
            r#"{{"meta":{{"api-version":"1.1"}},"name":"six","files":[
{{"filename":"six-1.0-py3-none-any.whl","url":"/files/six-1.0-py3-none-any.whl","hashes":{{"sha256":"{HASH}"}},"requires-python":null,"yanked":false,"core-metadata":{{"sha256":"x"}}}},
{{"filename":"six-0.9-py3-none-any.whl","url":"six-0.9-py3-none-any.whl","hashes":{{}},"yanked":"security"}}]}}"#
        );
        let files = parse_json(&body, "http://127.0.0.1:9/simple/six/", "idx").expect("json");
        assert_eq!(files.len(), 2);
        assert_eq!(
            files[0].location,
            FileLocation::Url("http://127.0.0.1:9/files/six-1.0-py3-none-any.whl".into())
        );
        assert!(files[0].core_metadata);
        assert_eq!(files[1].yanked.as_deref(), Some("security"));
        assert_eq!(
            files[1].location,
            FileLocation::Url("http://127.0.0.1:9/simple/six/six-0.9-py3-none-any.whl".into())
        );
    }

    #[test]
    fn names_and_versions_from_filenames() {
        assert_eq!(
            file_project_name("aws_xray_sdk-2.14.0-py2.py3-none-any.whl").as_deref(),
            Some("aws_xray_sdk")
        );
        assert_eq!(
            file_version("pandas-2.3.1.tar.gz").as_deref(),
            Some("2.3.1")
        );
        assert_eq!(
            file_project_name("python-dateutil-2.9.0.tar.gz").as_deref(),
            Some("python-dateutil")
        );
    }

    #[test]
    fn attributes_with_raw_angle_brackets_and_entities() {
        // Some servers write `>` unescaped inside a quoted attribute; a tag does not end there.
        let page = r#"<html><body>
<a href="/f/a-1.0-py3-none-any.whl" data-requires-python=">=3.10" data-yanked>a-1.0</a>
<a href="/f/a-0.9-py3-none-any.whl" data-requires-python="&gt;=3.8,&lt;4" data-core-metadata="sha256=ab">a-0.9</a>
<a data-requires-python='<3.9 , >=2.7' HREF=/f/a-0.8.tar.gz data-dist-info-metadata="false">a-0.8</a>
<a href="/f/a-0.7-py3-none-any.whl" data-yanked="bad &amp; &quot;broken&quot; &#x2014; use 1.0">x</a>
<!-- <a href="/f/a-0.1-py3-none-any.whl">commented out</a> -->
</body></html>"#;
        let files = parse_html(page, "https://i.example/simple/a/", "idx");
        let names: Vec<&str> = files.iter().map(|f| f.filename.as_str()).collect();
        assert_eq!(
            names,
            [
                "a-1.0-py3-none-any.whl",
                "a-0.9-py3-none-any.whl",
                "a-0.8.tar.gz",
                "a-0.7-py3-none-any.whl"
            ]
        );
        assert_eq!(files[0].requires_python.as_deref(), Some(">=3.10"));
        assert_eq!(files[0].yanked.as_deref(), Some(""));
        assert!(!files[0].core_metadata);
        assert_eq!(files[1].requires_python.as_deref(), Some(">=3.8,<4"));
        assert!(files[1].core_metadata);
        assert_eq!(files[2].requires_python.as_deref(), Some("<3.9 , >=2.7"));
        assert!(!files[2].core_metadata);
        assert_eq!(
            files[3].yanked.as_deref(),
            Some("bad & \"broken\" \u{2014} use 1.0")
        );
    }

    #[test]
    fn odd_pages_do_not_panic() {
        // Regression (fuzzing): a multi-byte character right after an unfinished reference.
        for page in [
            "<a href=\"x-1.0-py3-none-any.whl\" data-x=\"&abcdefghijé;\">x</a>",
            "<a href=\"x-1.0-py3-none-any.whl",
            "<a href='x-1.0.tar.gz' data-requires-python=\"&#xFFFFFFFF;\">",
            "<<a<a href=>>",
            "<base href=\"::::\"><a href=\"x-1.0.zip\">",
            "\u{0}<a\u{0} href=\"x-1.0.zip\u{0}\">",
        ] {
            let _ = parse_html(page, "https://i.example/simple/x/", "fuzz");
        }
    }

    #[test]
    fn base_href_changes_relative_links() {
        let page = "<base href=\"https://files.example/p/\"><a href=\"x-1.0.zip\">x</a>";
        let files = parse_html(page, "https://i.example/simple/x/", "idx");
        assert_eq!(
            files[0].location,
            FileLocation::Url("https://files.example/p/x-1.0.zip".into())
        );
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%2Bb%zz%"), "a+b%zz%");
    }
}
