//! Lambda's REPORT lines, read from the 4 KB log tail an `Invoke` with `LogType=Tail` returns
//! (base64 in `X-Amz-Log-Result`). Fields are found by name, never by position: the text
//! format separates `Key: value unit` pairs with tabs (spaces once copied out of a console), and
//! the order differs between Lambda, SnapStart and the emulator. The JSON log format carries the
//! same numbers in `platform.report` → `record.metrics`. `INIT_REPORT` (text) and
//! `platform.initReport` (JSON) carry an init that failed, or a SnapStart snapshot's init.

use base64::Engine;

/// What the log tail says about one invocation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    pub request_id: String,
    pub duration_ms: Option<f64>,
    pub billed_ms: Option<u64>,
    pub memory_mb: Option<u32>,
    pub max_memory_mb: Option<u64>,
    /// On a cold start.
    pub init_ms: Option<f64>,
    /// On a SnapStart restore.
    pub restore_ms: Option<f64>,
    pub billed_restore_ms: Option<u64>,
    /// `error` or `timeout` when the invocation failed (absent on success).
    pub status: Option<String>,
    pub error_type: Option<String>,
    /// The last INIT_REPORT: (Init Duration, phase `init` or `invoke`).
    pub init_report: Option<(f64, String)>,
}

impl Report {
    /// A cold start: Init or Restore Duration, or an init that failed and ran again during
    /// the invoke.
    pub fn cold(&self) -> bool {
        self.init_ms.is_some()
            || self.restore_ms.is_some()
            || self
                .init_report
                .as_ref()
                .is_some_and(|(_, p)| p == "invoke")
    }

    /// Init Duration, from REPORT, else from an INIT_REPORT of the invoke phase (an init
    /// that failed reports its duration only there).
    pub fn init(&self) -> Option<f64> {
        self.init_ms.or_else(|| {
            self.init_report
                .as_ref()
                .filter(|(_, p)| p == "invoke")
                .map(|(d, _)| *d)
        })
    }

    pub fn failed(&self) -> bool {
        self.status
            .as_deref()
            .is_some_and(|s| !s.eq_ignore_ascii_case("success"))
    }
}

/// Decode `X-Amz-Log-Result` (base64 of the last 4 KB of the log, possibly cut mid-character).
pub fn decode_tail(b64: &str) -> Option<String> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    Some(String::from_utf8_lossy(&raw).into_owned())
}

/// Every key a text REPORT or INIT_REPORT line can carry, longest first so that `Duration`
/// never claims the tail of `Billed Duration`.
const KEYS: &[&str] = &[
    "Billed Restore Duration",
    "Restore Duration",
    "Billed Duration",
    "Init Duration",
    "Max Memory Used",
    "Memory Size",
    "Error Type",
    "RequestId",
    "Duration",
    "Status",
    "Phase",
];

/// `Key: value` pairs of a text line, found by name.
fn fields(line: &str) -> Vec<(&'static str, String)> {
    let mut claims: Vec<(usize, usize, &'static str)> = Vec::new();
    for key in KEYS {
        let pat = format!("{key}: ");
        let mut from = 0;
        while let Some(i) = line[from..].find(&pat) {
            let at = from + i;
            from = at + pat.len();
            let boundary = at == 0 || line[..at].ends_with(['\t', ' ']);
            let inside = claims.iter().any(|(s, e, _)| at >= *s && at < *e);
            if boundary && !inside {
                claims.push((at, at + pat.len(), key));
            }
        }
    }
    claims.sort();
    let mut out = Vec::new();
    for (i, (_, end, key)) in claims.iter().enumerate() {
        let stop = claims.get(i + 1).map_or(line.len(), |c| c.0);
        let value = line[*end..stop].trim();
        out.push((*key, value.to_string()));
    }
    out
}

fn number(v: &str) -> Option<f64> {
    let n = v.split_whitespace().next()?;
    n.parse::<f64>().ok().filter(|x| x.is_finite() && *x >= 0.0)
}

fn whole(v: &str) -> Option<u64> {
    number(v).map(|x| x.ceil() as u64)
}

fn text_report(line: &str, r: &mut Report) {
    for (k, v) in fields(line) {
        match k {
            "RequestId" => r.request_id = v.split_whitespace().next().unwrap_or("").to_string(),
            "Duration" => r.duration_ms = number(&v),
            "Billed Duration" => r.billed_ms = whole(&v),
            "Memory Size" => r.memory_mb = whole(&v).map(|m| m as u32),
            "Max Memory Used" => r.max_memory_mb = whole(&v),
            "Init Duration" => r.init_ms = number(&v),
            "Restore Duration" => r.restore_ms = number(&v),
            "Billed Restore Duration" => r.billed_restore_ms = whole(&v),
            "Status" => r.status = Some(v),
            "Error Type" => r.error_type = Some(v),
            _ => {}
        }
    }
}

fn text_init_report(line: &str) -> Option<(f64, String)> {
    let f = fields(line);
    let d = f
        .iter()
        .find(|(k, _)| *k == "Init Duration")
        .and_then(|(_, v)| number(v))?;
    let phase = f
        .iter()
        .find(|(k, _)| *k == "Phase")
        .map_or("init".to_string(), |(_, v)| v.clone());
    Some((d, phase))
}

/// A JSON log record, if the line holds one (possibly after another writer's text).
fn json_record(line: &str) -> Option<serde_json::Value> {
    let start = line.find('{')?;
    let v: serde_json::Value = serde_json::from_str(line[start..].trim()).ok()?;
    v.get("type")?.as_str()?;
    Some(v)
}

fn json_report(v: &serde_json::Value, r: &mut Report) {
    let rec = &v["record"];
    let m = &rec["metrics"];
    let f = |k: &str| m[k].as_f64().filter(|x| x.is_finite() && *x >= 0.0);
    r.request_id = rec["requestId"].as_str().unwrap_or("").to_string();
    r.duration_ms = f("durationMs");
    r.billed_ms = f("billedDurationMs").map(|x| x.ceil() as u64);
    r.memory_mb = f("memorySizeMB").map(|x| x as u32);
    r.max_memory_mb = f("maxMemoryUsedMB").map(|x| x.ceil() as u64);
    r.init_ms = f("initDurationMs");
    r.restore_ms = f("restoreDurationMs");
    r.billed_restore_ms = f("billedRestoreDurationMs").map(|x| x.ceil() as u64);
    r.status = rec["status"].as_str().map(str::to_string);
    r.error_type = rec["errorType"].as_str().map(str::to_string);
}

/// Parse a log tail: the last REPORT (text or JSON) and the last INIT_REPORT. `None` when
/// the tail holds no REPORT at all.
pub fn parse(log: &str) -> Option<Report> {
    let mut r = Report::default();
    let mut found = false;
    let mut init_report = None;
    for line in log.lines() {
        if let Some(i) = line.find("REPORT RequestId:") {
            if line[..i].ends_with("INIT_") {
                continue;
            }
            let mut fresh = Report::default();
            text_report(&line[i..], &mut fresh);
            r = fresh;
            found = true;
        } else if let Some(i) = line.find("INIT_REPORT ") {
            if let Some(ir) = text_init_report(&line[i + "INIT_REPORT ".len()..]) {
                init_report = Some(ir);
            }
        } else if let Some(v) = json_record(line) {
            match v["type"].as_str() {
                Some("platform.report") => {
                    let mut fresh = Report::default();
                    json_report(&v, &mut fresh);
                    r = fresh;
                    found = true;
                }
                Some("platform.initReport") => {
                    let rec = &v["record"];
                    if let Some(d) = rec["metrics"]["durationMs"].as_f64() {
                        let phase = rec["phase"].as_str().unwrap_or("init").to_string();
                        init_report = Some((d, phase));
                    }
                }
                _ => {}
            }
        }
    }
    if !found {
        return None;
    }
    r.init_report = init_report;
    Some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn cold_text_report() {
        // The line from a real Lambda cold start (tab separated, trailing tab).
        let log = "START RequestId: 0f3a Version: $LATEST\nEND RequestId: 0f3a\nREPORT RequestId: 6b1e7c4e-3c59-4cbf-9a8f-2d6f0c3b9a11\tDuration: 1655.10 ms\tBilled Duration: 1978 ms\tMemory Size: 256 MB\tMax Memory Used: 97 MB\tInit Duration: 322.04 ms\t\n";
        let r = parse(&decode_tail(&b64(log)).expect("b64")).expect("report");
        assert_eq!(r.request_id, "6b1e7c4e-3c59-4cbf-9a8f-2d6f0c3b9a11");
        assert_eq!(r.duration_ms, Some(1655.10));
        assert_eq!(r.billed_ms, Some(1978));
        assert_eq!(r.memory_mb, Some(256));
        assert_eq!(r.max_memory_mb, Some(97));
        assert_eq!(r.init_ms, Some(322.04));
        assert!(r.cold() && !r.failed());
        assert_eq!(r.restore_ms, None);
    }

    #[test]
    fn warm_text_report_is_not_cold() {
        let log = "START RequestId: 8c1d Version: $LATEST\n[INFO]\t2026-05-01T10:00:00.000Z\t8c1d\tworking\nEND RequestId: 8c1d\nREPORT RequestId: 8c1d2f40-5b7e-4e21-a0c4-1f2e3d4c5b6a\tDuration: 12.87 ms\tBilled Duration: 13 ms\tMemory Size: 1024 MB\tMax Memory Used: 181 MB\t\n";
        let r = parse(log).expect("report");
        assert_eq!(r.duration_ms, Some(12.87));
        assert_eq!(r.billed_ms, Some(13));
        assert!(!r.cold());
        assert_eq!(r.init(), None);
    }

    #[test]
    fn order_and_separators_do_not_matter() {
        // The emulator prints Init Duration before Duration; consoles turn tabs into spaces.
        let a = parse("REPORT RequestId: x\tInit Duration: 0.36 ms\tDuration: 100.23 ms\tBilled Duration: 101 ms\tMemory Size: 3008 MB\tMax Memory Used: 3008 MB\t").expect("a");
        assert_eq!(
            (a.init_ms, a.duration_ms, a.billed_ms),
            (Some(0.36), Some(100.23), Some(101))
        );
        let b = parse("REPORT RequestId: 60d0 Duration: 143.12 ms Billed Duration: 144 ms Memory Size: 128 MB Max Memory Used: 68 MB").expect("b");
        assert_eq!(
            (b.duration_ms, b.billed_ms, b.max_memory_mb),
            (Some(143.12), Some(144), Some(68))
        );
    }

    #[test]
    fn snapstart_restore() {
        let log = "START RequestId: 8c36 Version: 3\nEND RequestId: 8c360c87-d4b7-4423-b5f3-af02be3c1763\nREPORT RequestId: 8c360c87-d4b7-4423-b5f3-af02be3c1763\tDuration: 2338.66 ms\tBilled Duration: 2521 ms\tMemory Size: 3009 MB\tMax Memory Used: 173 MB\tRestore Duration: 398.97 ms\tBilled Restore Duration: 182 ms\t\n";
        let r = parse(log).expect("report");
        assert_eq!(r.restore_ms, Some(398.97));
        assert_eq!(r.billed_restore_ms, Some(182));
        assert_eq!(r.billed_ms, Some(2521));
        assert_eq!(r.init_ms, None);
        assert!(r.cold());
    }

    #[test]
    fn failed_init_reports_in_init_report() {
        let log = "INIT_REPORT Init Duration: 83.58 ms\tPhase: init\tStatus: error\tError Type: Runtime.ImportModuleError\nINIT_REPORT Init Duration: 80.49 ms\tPhase: invoke\tStatus: error\tError Type: Runtime.ImportModuleError\nSTART RequestId: 5732 Version: $LATEST\nEND RequestId: 57325a9d-ff5f-42e4-83df-80f3dcaaef25\nREPORT RequestId: 57325a9d-ff5f-42e4-83df-80f3dcaaef25\tDuration: 95.78 ms\tBilled Duration: 96 ms\tMemory Size: 512 MB\tMax Memory Used: 39 MB\tStatus: error\tError Type: Runtime.ImportModuleError\n";
        let r = parse(log).expect("report");
        assert!(r.failed());
        assert_eq!(r.error_type.as_deref(), Some("Runtime.ImportModuleError"));
        assert_eq!(r.status.as_deref(), Some("error"));
        assert_eq!(r.init_ms, None);
        assert_eq!(r.init(), Some(80.49));
        assert!(r.cold());
        assert_eq!(r.duration_ms, Some(95.78));
    }

    #[test]
    fn out_of_memory_and_timeout() {
        let r = parse("REPORT RequestId: 276f\tDuration: 10935.70 ms\tBilled Duration: 10936 ms\tMemory Size: 1024 MB\tMax Memory Used: 1024 MB\tStatus: error\tError Type: Runtime.OutOfMemory\n").expect("oom");
        assert_eq!(r.error_type.as_deref(), Some("Runtime.OutOfMemory"));
        assert!(r.failed() && !r.cold());
        let t = parse("REPORT RequestId: 9a0b\tDuration: 3000.00 ms\tBilled Duration: 3000 ms\tMemory Size: 128 MB\tMax Memory Used: 41 MB\tInit Duration: 151.20 ms\tStatus: timeout\n").expect("timeout");
        assert_eq!(t.status.as_deref(), Some("timeout"));
        assert!(t.failed() && t.cold());
    }

    #[test]
    fn json_log_format() {
        let log = concat!(
            "{\"time\":\"2026-05-01T10:00:00.100Z\",\"type\":\"platform.initStart\",\"record\":{\"initializationType\":\"on-demand\",\"phase\":\"init\"}}\n",
            "{\"timestamp\":\"2026-05-01T10:00:00.900Z\",\"level\":\"INFO\",\"requestId\":\"d661\",\"message\":\"hello\"}\n",
            "{\"time\":\"2026-05-01T10:00:00.950Z\",\"type\":\"platform.runtimeDone\",\"record\":{\"requestId\":\"d661\",\"status\":\"success\",\"metrics\":{\"durationMs\":41.2,\"producedBytes\":50}}}\n",
            "{\"time\":\"2026-05-01T10:00:00.951Z\",\"type\":\"platform.report\",\"record\":{\"requestId\":\"d661f7cf-9208-46b9-85b0-213b04a91065\",\"status\":\"success\",\"metrics\":{\"durationMs\":41.7,\"billedDurationMs\":734,\"memorySizeMB\":1024,\"maxMemoryUsedMB\":121,\"initDurationMs\":691.9}}}\n",
        );
        let r = parse(log).expect("report");
        assert_eq!(r.request_id, "d661f7cf-9208-46b9-85b0-213b04a91065");
        assert_eq!(
            (r.duration_ms, r.billed_ms, r.init_ms),
            (Some(41.7), Some(734), Some(691.9))
        );
        assert_eq!((r.memory_mb, r.max_memory_mb), (Some(1024), Some(121)));
        assert!(r.cold() && !r.failed());
        // SnapStart, with another writer's text before the JSON on the same line.
        let s = parse("[extension] ready {\"time\":\"2026-05-01T10:00:01Z\",\"type\":\"platform.report\",\"record\":{\"requestId\":\"e1\",\"status\":\"success\",\"metrics\":{\"durationMs\":147.2,\"billedDurationMs\":201,\"memorySizeMB\":512,\"maxMemoryUsedMB\":91,\"restoreDurationMs\":500.8,\"billedRestoreDurationMs\":53}}}").expect("snap");
        assert_eq!((s.restore_ms, s.billed_restore_ms), (Some(500.8), Some(53)));
        // An error, and the init report of a failed init.
        let e = parse(concat!(
            "{\"time\":\"t\",\"type\":\"platform.initReport\",\"record\":{\"initializationType\":\"on-demand\",\"phase\":\"invoke\",\"status\":\"error\",\"errorType\":\"Runtime.ImportModuleError\",\"metrics\":{\"durationMs\":80.5}}}\n",
            "{\"time\":\"t\",\"type\":\"platform.report\",\"record\":{\"requestId\":\"e2\",\"status\":\"error\",\"errorType\":\"Runtime.ImportModuleError\",\"metrics\":{\"durationMs\":95.8,\"billedDurationMs\":96,\"memorySizeMB\":512,\"maxMemoryUsedMB\":39}}}\n",
        )).expect("error");
        assert!(e.failed() && e.cold());
        assert_eq!(e.init(), Some(80.5));
        assert_eq!(e.error_type.as_deref(), Some("Runtime.ImportModuleError"));
    }

    #[test]
    fn no_report_and_truncated_tails() {
        assert_eq!(parse("START RequestId: a Version: $LATEST\nhello\n"), None);
        assert_eq!(parse(""), None);
        assert!(decode_tail("!!!").is_none());
        // The tail is the last 4 KB: a log cut in the middle still yields its REPORT.
        let cut = "lo world\nREPORT RequestId: z\tDuration: 1.00 ms\tBilled Duration: 1 ms\tMemory Size: 128 MB\tMax Memory Used: 40 MB\t";
        assert_eq!(parse(cut).and_then(|r| r.billed_ms), Some(1));
    }
}
