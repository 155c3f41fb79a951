//! One HTTP client for the whole tool: TLS from the system trust store, retries, clear errors.
//!
//! Index pages and wheel downloads both go through [`Http`]. TLS uses rustls with the `ring`
//! provider and the platform verifier, which reads the operating system's certificate store and
//! honours `SSL_CERT_FILE` / `SSL_CERT_DIR` — corporate TLS-inspecting proxies work as they do for
//! pip. Proxies come from the usual `HTTPS_PROXY` / `HTTP_PROXY` / `NO_PROXY` variables.
//! Credentials embedded in an index URL (`https://user:token@host/simple`) are sent as basic
//! auth and never appear in messages or manifests (see [`redact`]).
//!
//! Transient failures (connection errors, timeouts, 429 and 5xx answers) are retried with
//! exponential backoff; the final error names the URL and what happened.

use std::time::Duration;

use reqwest::blocking::{Client, Response};
use reqwest::header::{ACCEPT, HeaderValue};

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error(
        "cannot reach {url}: {detail}\n  hint: check the index URL and your network, or build from the cache with --offline"
    )]
    Unreachable { url: String, detail: String },
    #[error("{url} answered HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("cannot set up HTTPS: {0}")]
    Setup(String),
}

/// Remove `user:password@` from a URL for display and records.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if !u.username().is_empty() || u.password().is_some() => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        _ => url.to_string(),
    }
}

/// An error and its causes on one line (`a: b: c`), without repeats.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    s
}

/// A shared blocking HTTP client with retries.
#[derive(Clone)]
pub struct Http {
    attempts: u32,
}

/// The client of this process, built on first use: building one reads every certificate of the
/// system's store (tens of milliseconds), which a build answered from the cache never needs, and
/// which the builds of a config's many functions would otherwise repeat.
static SHARED: std::sync::OnceLock<Client> = std::sync::OnceLock::new();

impl Http {
    /// A handle on the process's client (built when the first request needs it).
    pub fn new() -> Result<Http, HttpError> {
        let attempts = std::env::var("LPACK_HTTP_RETRIES")
            .ok()
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(3)
            .max(1);
        Ok(Http { attempts })
    }

    /// The shared client, built now if no request needed it yet.
    fn shared() -> Result<&'static Client, HttpError> {
        if let Some(c) = SHARED.get() {
            return Ok(c);
        }
        let c = Self::client()?;
        Ok(SHARED.get_or_init(|| c))
    }

    fn client() -> Result<Client, HttpError> {
        // Installing twice (tests, several clients) is harmless: the first provider wins.
        let _ = rustls::crypto::ring::default_provider().install_default();
        Client::builder()
            .user_agent(concat!("lpack/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(15))
            .timeout(Duration::from_secs(600))
            .pool_max_idle_per_host(16)
            .build()
            .map_err(|e| HttpError::Setup(error_chain(&e)))
    }

    /// GET with retries on transient failures. Non-success statuses other than transient ones
    /// are returned to the caller (an index answers 404 for unknown projects).
    pub fn get(&self, url: &str, accept: Option<&'static str>) -> Result<Response, HttpError> {
        let shown = redact(url);
        let mut delay = Duration::from_millis(250);
        let mut last = String::new();
        let client = Self::shared()?;
        for attempt in 1..=self.attempts {
            let mut req = client.get(url);
            if let Some(a) = accept {
                req = req.header(ACCEPT, HeaderValue::from_static(a));
            }
            match req.send() {
                Ok(resp) => {
                    let status = resp.status();
                    let transient = status.is_server_error() || status.as_u16() == 429;
                    if !transient || attempt == self.attempts {
                        return Ok(resp);
                    }
                    last = format!("HTTP {}", status.as_u16());
                }
                Err(e) => last = error_chain(&e),
            }
            if attempt < self.attempts {
                std::thread::sleep(delay);
                delay *= 2;
            }
        }
        Err(HttpError::Unreachable {
            url: shown,
            detail: format!("{last} (after {} attempts)", self.attempts),
        })
    }

    /// GET with `If-None-Match` / `If-Modified-Since` when validators are known (a 304 answer
    /// is returned to the caller).
    pub fn get_conditional(
        &self,
        url: &str,
        accept: &'static str,
        etag: Option<&str>,
        last_modified: Option<&str>,
    ) -> Result<Response, HttpError> {
        if etag.is_none() && last_modified.is_none() {
            return self.get(url, Some(accept));
        }
        let shown = redact(url);
        let mut req = Self::shared()?
            .get(url)
            .header(ACCEPT, HeaderValue::from_static(accept));
        if let Some(e) = etag.and_then(|e| HeaderValue::from_str(e).ok()) {
            req = req.header(reqwest::header::IF_NONE_MATCH, e);
        }
        if let Some(m) = last_modified.and_then(|m| HeaderValue::from_str(m).ok()) {
            req = req.header(reqwest::header::IF_MODIFIED_SINCE, m);
        }
        match req.send() {
            Ok(r) => Ok(r),
            // One plain retry path for transient failures.
            Err(_) => self
                .get(url, Some(accept))
                .map_err(|_| HttpError::Unreachable {
                    url: shown,
                    detail: "conditional request failed".to_string(),
                }),
        }
    }

    /// GET that must succeed with 2xx.
    pub fn get_ok(&self, url: &str, accept: Option<&'static str>) -> Result<Response, HttpError> {
        let resp = self.get(url, accept)?;
        if resp.status().is_success() {
            Ok(resp)
        } else {
            Err(HttpError::Status {
                url: redact(url),
                status: resp.status().as_u16(),
            })
        }
    }

    /// POST `body` with `headers`; the answer's body on 2xx, else an error with its text.
    pub fn post(
        &self,
        url: &str,
        body: &str,
        headers: &[(&str, String)],
    ) -> Result<String, HttpError> {
        let mut req = Self::shared()?.post(url).body(body.to_string());
        for (k, v) in headers {
            req = req.header(*k, v.as_str());
        }
        let resp = req.send().map_err(|e| HttpError::Unreachable {
            url: redact(url),
            detail: error_chain(&e),
        })?;
        let status = resp.status().as_u16();
        let text = resp.text().unwrap_or_default();
        if (200..300).contains(&status) {
            Ok(text)
        } else {
            Err(HttpError::Status {
                url: redact(url),
                status,
            })
        }
    }

    /// Describe a mid-transfer read failure.
    pub fn transfer_error(url: &str, e: &dyn std::error::Error) -> HttpError {
        HttpError::Unreachable {
            url: redact(url),
            detail: format!("transfer failed: {}", error_chain(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_credentials() {
        assert_eq!(
            redact("https://user:secret@example.org/simple/"),
            "https://example.org/simple/"
        );
        assert_eq!(redact("https://example.org/x"), "https://example.org/x");
        assert_eq!(redact("/local/dir"), "/local/dir");
    }
}
