//! lpack's Lambda Runtime API server (2018-06-01), one endpoint per environment on 127.0.0.1.
//!
//! A deliberately small HTTP/1.1 server over `std::net`: one thread accepts, one thread per
//! connection parses requests (Content-Length or chunked bodies, `Expect: 100-continue`,
//! keep-alive) and turns them into [`Event`]s for the controller that runs the environment.
//! It serves only what a runtime client uses:
//!
//! - `GET /2018-06-01/runtime/invocation/next`: blocks until the controller hands out an event,
//!   answered with `Lambda-Runtime-Aws-Request-Id`, `-Deadline-Ms`, `-Invoked-Function-Arn` and
//!   `-Trace-Id`;
//! - `POST …/invocation/{id}/response`: 202; a body over [`MAX_RESPONSE`] bytes (Lambda's
//!   6,291,556) is refused with 413 as Lambda does;
//! - `POST …/invocation/{id}/error` and `POST …/runtime/init/error`: 202; the error type comes
//!   from `Lambda-Runtime-Function-Error-Type` when present, else from the JSON body (awslambdaric
//!   sends no header for handler errors).
//!
//! Every answer carries a `Content-Length` (awslambdaric hangs on a 202 without one).
//! Hand-written rather than hyper/tiny_http: four routes on loopback, exact control over
//! timing, headers and the size limit, no extra dependencies; it never trusts a length it
//! has not bounded.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};
use std::time::Instant;

use serde::{Deserialize, Serialize};

/// Lambda's limit for a synchronous response payload, in bytes.
pub const MAX_RESPONSE: usize = 6_291_556;
/// Bodies beyond this are not even read (the connection is closed).
const MAX_DISCARD: usize = 64 << 20;
const MAX_HEADER: usize = 64 << 10;
const PREFIX: &str = "/2018-06-01";

/// An error as a runtime reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorInfo {
    #[serde(rename = "errorType")]
    pub error_type: String,
    #[serde(rename = "errorMessage")]
    pub error_message: String,
    #[serde(rename = "stackTrace", default)]
    pub stack_trace: Vec<String>,
}

impl ErrorInfo {
    pub fn new(t: &str, m: impl Into<String>) -> ErrorInfo {
        ErrorInfo {
            error_type: t.to_string(),
            error_message: m.into(),
            stack_trace: Vec::new(),
        }
    }

    /// From an error body and the error-type header (the header wins when present).
    pub fn parse(body: &[u8], header: Option<&str>) -> ErrorInfo {
        #[derive(Deserialize, Default)]
        struct Body {
            #[serde(rename = "errorType", default)]
            error_type: Option<String>,
            #[serde(rename = "errorMessage", default)]
            error_message: Option<String>,
            #[serde(rename = "stackTrace", default)]
            stack_trace: Option<serde_json::Value>,
        }
        let b: Body = serde_json::from_slice(body).unwrap_or_default();
        let stack_trace = match b.stack_trace {
            Some(serde_json::Value::Array(a)) => a
                .into_iter()
                .map(|v| match v {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                })
                .collect(),
            Some(serde_json::Value::String(s)) => s.lines().map(str::to_string).collect(),
            _ => Vec::new(),
        };
        let error_type = header
            .filter(|h| !h.is_empty())
            .map(str::to_string)
            .or(b.error_type)
            .unwrap_or_else(|| "Unknown".to_string());
        ErrorInfo {
            error_type,
            error_message: b
                .error_message
                .unwrap_or_else(|| String::from_utf8_lossy(body).chars().take(500).collect()),
            stack_trace,
        }
    }
}

/// An event handed to the runtime by `GET /next`.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub request_id: String,
    pub deadline_ms: u64,
    pub function_arn: String,
    pub trace_id: String,
    pub body: Vec<u8>,
}

/// What the runtime did, in the order it did it.
#[derive(Debug)]
pub enum Event {
    /// `GET /next` arrived; answer through `reply` (dropping it closes the connection).
    Next {
        at: Instant,
        reply: SyncSender<Invocation>,
    },
    /// A response body was posted completely.
    Response {
        id: String,
        at: Instant,
        bytes: usize,
    },
    /// A response over [`MAX_RESPONSE`] was refused (413).
    TooLarge {
        id: String,
        at: Instant,
        bytes: usize,
    },
    /// `POST …/{id}/error`.
    Error {
        id: String,
        at: Instant,
        error: ErrorInfo,
    },
    /// `POST /runtime/init/error`.
    InitError { at: Instant, error: ErrorInfo },
}

/// One environment's endpoint. Dropping it stops accepting; connections end when their
/// runtime goes away.
pub struct Endpoint {
    pub addr: SocketAddr,
    pub events: Receiver<Event>,
    stop: Arc<AtomicBool>,
}

impl Endpoint {
    /// Listen on 127.0.0.1 on a free port.
    pub fn start() -> std::io::Result<Endpoint> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let (tx, rx) = channel();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        std::thread::Builder::new()
            .name("lpack-runtime-api".into())
            .spawn(move || {
                for conn in listener.incoming() {
                    if stop2.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let tx = tx.clone();
                    let _ = std::thread::Builder::new()
                        .name("lpack-runtime-conn".into())
                        .spawn(move || serve(conn, tx));
                }
            })?;
        Ok(Endpoint {
            addr,
            events: rx,
            stop,
        })
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so its thread ends.
        let _ = TcpStream::connect(self.addr);
    }
}

struct Request {
    method: String,
    path: String,
    headers: BTreeMap<String, String>,
}

fn read_head(r: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    let mut total = 0;
    // Skip stray empty lines between requests.
    loop {
        line.clear();
        let n = r
            .by_ref()
            .take(MAX_HEADER as u64)
            .read_line(&mut line)
            .ok()?;
        if n == 0 {
            return None;
        }
        total += n;
        if !line.trim().is_empty() || total > MAX_HEADER {
            break;
        }
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = BTreeMap::new();
    loop {
        let mut h = String::new();
        let n = r.by_ref().take(MAX_HEADER as u64).read_line(&mut h).ok()?;
        total += n;
        if n == 0 || total > MAX_HEADER {
            return None;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    Some(Request {
        method,
        path,
        headers,
    })
}

/// Read a body, keeping at most `keep` bytes; `Err` when the connection must close.
/// Returns (kept bytes, total length).
fn read_body(
    r: &mut BufReader<TcpStream>,
    req: &Request,
    keep: usize,
) -> Result<(Vec<u8>, usize), ()> {
    let mut kept = Vec::new();
    let mut total = 0usize;
    let mut take = |r: &mut BufReader<TcpStream>, n: usize| -> Result<(), ()> {
        let mut left = n;
        let mut buf = [0u8; 64 << 10];
        while left > 0 {
            let want = left.min(buf.len());
            r.read_exact(&mut buf[..want]).map_err(|_| ())?;
            if kept.len() < keep {
                let room = (keep - kept.len()).min(want);
                kept.extend_from_slice(&buf[..room]);
            }
            left -= want;
        }
        total = total.saturating_add(n);
        if total > MAX_DISCARD { Err(()) } else { Ok(()) }
    };
    let chunked = req
        .headers
        .get("transfer-encoding")
        .is_some_and(|t| t.to_ascii_lowercase().contains("chunked"));
    if chunked {
        loop {
            let mut size = String::new();
            if r.by_ref().take(1024).read_line(&mut size).map_err(|_| ())? == 0 {
                return Err(());
            }
            let hex = size.trim().split(';').next().unwrap_or("");
            let n = usize::from_str_radix(hex, 16).map_err(|_| ())?;
            if n > MAX_DISCARD {
                return Err(());
            }
            if n == 0 {
                // Trailers until an empty line.
                loop {
                    let mut t = String::new();
                    if r.by_ref()
                        .take(MAX_HEADER as u64)
                        .read_line(&mut t)
                        .map_err(|_| ())?
                        == 0
                        || t.trim().is_empty()
                    {
                        break;
                    }
                }
                break;
            }
            take(r, n)?;
            let mut crlf = [0u8; 2];
            r.read_exact(&mut crlf).map_err(|_| ())?;
        }
    } else if let Some(len) = req.headers.get("content-length") {
        let n: usize = len.parse().map_err(|_| ())?;
        if n > MAX_DISCARD {
            return Err(());
        }
        take(r, n)?;
    }
    Ok((kept, total))
}

fn answer(w: &mut TcpStream, status: &str, headers: &[(&str, String)], body: &[u8]) -> bool {
    let mut head = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        // Header values never carry CR/LF (they come from lpack, not the runtime).
        head.push_str(&format!("{k}: {}\r\n", v.replace(['\r', '\n'], " ")));
    }
    head.push_str("\r\n");
    w.write_all(head.as_bytes()).is_ok() && w.write_all(body).is_ok() && w.flush().is_ok()
}

const JSON: (&str, &str) = ("Content-Type", "application/json");

fn json_h() -> Vec<(&'static str, String)> {
    vec![(JSON.0, JSON.1.to_string())]
}

const ACCEPTED: &[u8] = br#"{"status":"OK"}"#;

fn too_large_body() -> Vec<u8> {
    format!(
        r#"{{"errorMessage":"Exceeded maximum allowed payload size ({MAX_RESPONSE} bytes).","errorType":"RequestEntityTooLarge"}}"#
    )
    .into_bytes()
}

/// Serve one connection until it closes.
fn serve(conn: TcpStream, tx: Sender<Event>) {
    let _ = conn.set_nodelay(true);
    let Ok(mut w) = conn.try_clone() else { return };
    let mut r = BufReader::new(conn);
    while let Some(req) = read_head(&mut r) {
        let close = req
            .headers
            .get("connection")
            .is_some_and(|c| c.eq_ignore_ascii_case("close"));
        let declared: Option<usize> = req
            .headers
            .get("content-length")
            .and_then(|l| l.parse().ok());
        let expect = req
            .headers
            .get("expect")
            .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"));
        let path = req.path.strip_prefix(PREFIX).unwrap_or("");
        let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
        let ok = match (req.method.as_str(), segs.as_slice()) {
            ("GET", ["runtime", "invocation", "next"]) => {
                let Some(ok) = next_invocation(&mut w, &tx) else {
                    return;
                };
                ok
            }
            ("POST", ["runtime", "invocation", id, "response"]) => {
                let Some(ok) =
                    post_response(&mut r, &mut w, &req, expect, declared, &tx, id.to_string())
                else {
                    return;
                };
                ok
            }
            ("POST", ["runtime", "invocation", id, "error"]) => {
                post_error(&mut r, &mut w, &req, expect, &tx, Some(id.to_string()))
            }
            ("POST", ["runtime", "init", "error"]) => {
                post_error(&mut r, &mut w, &req, expect, &tx, None)
            }
            _ => {
                if read_body(&mut r, &req, 0).is_err() {
                    return;
                }
                answer(
                    &mut w,
                    "404 Not Found",
                    &json_h(),
                    br#"{"errorMessage":"unknown route","errorType":"NotFound"}"#,
                )
            }
        };
        if !ok || close {
            return;
        }
    }
}

/// Send the next invocation; `None` when the bench has gone, else whether it was sent.
fn next_invocation(w: &mut TcpStream, tx: &Sender<Event>) -> Option<bool> {
    let (reply, wait) = sync_channel(1);
    if tx
        .send(Event::Next {
            at: Instant::now(),
            reply,
        })
        .is_err()
    {
        return None;
    }
    let Ok(inv) = wait.recv() else { return None };
    let h = vec![
        (JSON.0, JSON.1.to_string()),
        ("Lambda-Runtime-Aws-Request-Id", inv.request_id),
        ("Lambda-Runtime-Deadline-Ms", inv.deadline_ms.to_string()),
        ("Lambda-Runtime-Invoked-Function-Arn", inv.function_arn),
        ("Lambda-Runtime-Trace-Id", inv.trace_id),
    ];
    Some(answer(w, "200 OK", &h, &inv.body))
}

/// Read and report a response; `None` when the connection must close, else whether answered.
fn post_response(
    r: &mut BufReader<TcpStream>,
    w: &mut TcpStream,
    req: &Request,
    expect: bool,
    declared: Option<usize>,
    tx: &Sender<Event>,
    id: String,
) -> Option<bool> {
    if expect && declared.is_some_and(|n| n > MAX_RESPONSE) {
        let bytes = declared.unwrap_or(0);
        let _ = tx.send(Event::TooLarge {
            id,
            at: Instant::now(),
            bytes,
        });
        answer(
            w,
            "413 Request Entity Too Large",
            &json_h(),
            &too_large_body(),
        );
        return None;
    }
    if expect && !answer_continue(w) {
        return None;
    }
    let Ok((_, bytes)) = read_body(r, req, 0) else {
        return None;
    };
    let at = Instant::now();
    if bytes > MAX_RESPONSE {
        let _ = tx.send(Event::TooLarge { id, at, bytes });
        Some(answer(
            w,
            "413 Request Entity Too Large",
            &json_h(),
            &too_large_body(),
        ))
    } else {
        let _ = tx.send(Event::Response { id, at, bytes });
        Some(answer(w, "202 Accepted", &json_h(), ACCEPTED))
    }
}

/// An error posted by the runtime (`id` None: the init error).
fn post_error(
    r: &mut BufReader<TcpStream>,
    w: &mut TcpStream,
    req: &Request,
    expect: bool,
    tx: &Sender<Event>,
    id: Option<String>,
) -> bool {
    if expect && !answer_continue(w) {
        return false;
    }
    let Ok((body, _)) = read_body(r, req, 1 << 20) else {
        return false;
    };
    let at = Instant::now();
    let error = ErrorInfo::parse(
        &body,
        req.headers
            .get("lambda-runtime-function-error-type")
            .map(String::as_str),
    );
    let _ = tx.send(match id {
        Some(id) => Event::Error { id, at, error },
        None => Event::InitError { at, error },
    });
    answer(w, "202 Accepted", &json_h(), ACCEPTED)
}

fn answer_continue(w: &mut TcpStream) -> bool {
    w.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").is_ok() && w.flush().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_type_header_wins_else_body() {
        let body = br#"{"errorMessage":"boom","errorType":"ValueError","stackTrace":["a","b"]}"#;
        let e = ErrorInfo::parse(body, None);
        assert_eq!(e.error_type, "ValueError");
        assert_eq!(e.stack_trace, vec!["a", "b"]);
        let e = ErrorInfo::parse(body, Some("Runtime.ImportModuleError"));
        assert_eq!(e.error_type, "Runtime.ImportModuleError");
        let e = ErrorInfo::parse(b"not json", None);
        assert_eq!(
            (e.error_type.as_str(), e.error_message.as_str()),
            ("Unknown", "not json")
        );
    }

    fn roundtrip(ep: &Endpoint, req: &[u8]) -> String {
        let mut s = TcpStream::connect(ep.addr).expect("connect");
        s.write_all(req).expect("write");
        s.shutdown(std::net::Shutdown::Write).expect("shutdown");
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    }

    #[test]
    fn accepts_errors_with_content_length_and_refuses_large_responses() {
        let ep = Endpoint::start().expect("start");
        let body = r#"{"errorMessage":"x","errorType":"Runtime.ImportModuleError"}"#;
        let out = roundtrip(
            &ep,
            format!(
                "POST /2018-06-01/runtime/init/error HTTP/1.1\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        );
        assert!(
            out.starts_with("HTTP/1.1 202 Accepted\r\nContent-Length: 15\r\n"),
            "{out}"
        );
        match ep.events.recv().expect("event") {
            Event::InitError { error, .. } => {
                assert_eq!(error.error_type, "Runtime.ImportModuleError")
            }
            e => panic!("{e:?}"),
        }
        let out = roundtrip(
            &ep,
            format!(
                "POST /2018-06-01/runtime/invocation/r1/response HTTP/1.1\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\r\n",
                MAX_RESPONSE + 1
            )
            .as_bytes(),
        );
        assert!(out.starts_with("HTTP/1.1 413"), "{out}");
        assert!(
            matches!(ep.events.recv(), Ok(Event::TooLarge { bytes, .. }) if bytes == MAX_RESPONSE + 1)
        );
        // Exactly at the limit is accepted (chunked, as curl may send it).
        let chunk = vec![b'x'; MAX_RESPONSE];
        let mut req = format!(
            "POST /2018-06-01/runtime/invocation/r2/response HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n",
            chunk.len()
        )
        .into_bytes();
        req.extend_from_slice(&chunk);
        req.extend_from_slice(b"\r\n0\r\n\r\n");
        let out = roundtrip(&ep, &req);
        assert!(
            out.starts_with("HTTP/1.1 202"),
            "{}",
            &out[..out.len().min(80)]
        );
        assert!(
            matches!(ep.events.recv(), Ok(Event::Response { bytes, .. }) if bytes == MAX_RESPONSE)
        );
    }
}
