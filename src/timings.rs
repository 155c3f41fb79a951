//! Where a build's time goes: wall and CPU seconds per stage and the critical path
//! (`lpack build --timings`).
//!
//! A foundation, like [`crate::progress`]: stages know only [`Stage`] and [`Recorder`], which
//! they reach through [`crate::progress::Reporter::timings`] (no recorder there: nothing is
//! measured, at the cost of one virtual call). Work is recorded as *spans*: a stage, the item it
//! worked on (a distribution, or none for work on the whole build), start and end on the build's
//! clock and the CPU seconds it used.
//!
//! - A [`Recorder::thread_span`] counts the CPU of the thread it runs on (for work that rayon
//!   spreads over threads: each piece is its own span, so the CPU adds up across threads).
//! - A [`Recorder::process_span`] counts the whole process's CPU and that of the children it
//!   waited for (for a stage that runs alone and fans out inside).
//! - Child processes waited for inside a thread span add their CPU with [`Span::add_cpu`].
//!   Long-lived helpers that are not waited for (the bytecode compilers) also report what each
//!   piece of work cost with [`add_helper_cpu`], so the process total counts them.
//!
//! A stage's wall time is the union of its spans (work done at the same time counts once), so
//! the stages' wall times add up to more than the build's when they overlap. The critical path
//! is found backwards from the span that ended last: each step is the span that ended last
//! before it started, among the spans of the same item and those of the whole build; the gaps
//! between steps are time spent waiting.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// A stage of the build, in pipeline order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// Reading the input, opening indexes, choosing (or trusting) the pins.
    Resolve,
    /// Bringing wheels into the cache (or finding them there).
    Download,
    /// RECORD and declared-size checks of every wheel.
    Integrity,
    /// Reading wheels: verdicts per entry, import graphs (the guard).
    Parse,
    /// Stripping ELF files.
    Strip,
    /// Compiling bytecode with the target Python.
    Bytecode,
    /// Writing fragments, the artifact and its manifest.
    Emit,
    /// Importing the artifact with the target Python.
    Verify,
}

impl Stage {
    pub const ALL: [Stage; 8] = [
        Stage::Resolve,
        Stage::Download,
        Stage::Integrity,
        Stage::Parse,
        Stage::Strip,
        Stage::Bytecode,
        Stage::Emit,
        Stage::Verify,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Stage::Resolve => "resolve",
            Stage::Download => "download",
            Stage::Integrity => "integrity",
            Stage::Parse => "parse",
            Stage::Strip => "strip",
            Stage::Bytecode => "bytecode",
            Stage::Emit => "emit",
            Stage::Verify => "verify",
        }
    }
}

/// One piece of recorded work.
#[derive(Debug, Clone)]
struct Recorded {
    stage: Stage,
    item: Option<String>,
    start: Duration,
    end: Duration,
    cpu: Duration,
}

/// Collects the spans of one build (shared by its threads).
#[derive(Debug)]
pub struct Recorder {
    origin: Instant,
    cpu_origin: Duration,
    spans: Mutex<Vec<Recorded>>,
    /// CPU of every thread span recorded so far, in nanoseconds: a process span subtracts what
    /// thread spans recorded while it ran (a wheel checked as it lands, inside the resolve
    /// stage, counts once, as integrity).
    thread_cpu_ns: std::sync::atomic::AtomicU64,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder::new()
    }
}

/// CPU time (user + system) of the calling thread.
pub fn thread_cpu() -> Duration {
    clock(libc::CLOCK_THREAD_CPUTIME_ID)
}

fn clock(id: libc::clockid_t) -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; clock_gettime only writes to it.
    let rc = unsafe { libc::clock_gettime(id, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(
        ts.tv_sec.max(0) as u64,
        ts.tv_nsec.clamp(0, 999_999_999) as u32,
    )
}

/// CPU time of this process plus that of the children it has waited for and of the helpers
/// still running ([`add_helper_cpu`]).
pub fn process_cpu() -> Duration {
    let helpers = Duration::from_nanos(HELPER_CPU_NS.load(std::sync::atomic::Ordering::Relaxed));
    rusage(libc::RUSAGE_SELF) + rusage(libc::RUSAGE_CHILDREN) + helpers
}

/// CPU reported by helper processes this process has not waited for, in nanoseconds.
static HELPER_CPU_NS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Count `cpu` that a long-lived child process (one not waited for after each piece of work)
/// spent for this process, in [`process_cpu`].
pub fn add_helper_cpu(cpu: Duration) {
    let ns = u64::try_from(cpu.as_nanos()).unwrap_or(u64::MAX);
    HELPER_CPU_NS.fetch_add(ns, std::sync::atomic::Ordering::Relaxed);
}

fn rusage(who: libc::c_int) -> Duration {
    // SAFETY: an all-zero rusage is a valid value; getrusage only writes to it.
    let mut r: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `r` is a valid, writable rusage.
    if unsafe { libc::getrusage(who, &mut r) } != 0 {
        return Duration::ZERO;
    }
    let tv = |t: libc::timeval| {
        Duration::new(t.tv_sec.max(0) as u64, 0) + Duration::from_micros(t.tv_usec.max(0) as u64)
    };
    tv(r.ru_utime) + tv(r.ru_stime)
}

/// Peak resident memory of this process, in bytes (Linux reports kilobytes).
pub fn peak_rss() -> u64 {
    // SAFETY: as in `rusage`.
    let mut r: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `r` is a valid, writable rusage.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut r) } != 0 {
        return 0;
    }
    r.ru_maxrss.max(0) as u64 * 1024
}

#[derive(Debug, Clone, Copy)]
enum CpuOf {
    Thread(Duration),
    /// The process's CPU and the recorder's thread-span CPU at the start.
    Process(Duration, u64),
}

/// Work under way; recorded when dropped (or [`Span::end`]ed).
pub struct Span<'a> {
    recorder: Option<&'a Recorder>,
    stage: Stage,
    item: Option<String>,
    start: Instant,
    cpu: CpuOf,
    extra: Duration,
}

impl Span<'_> {
    /// A span that records nothing (no recorder).
    pub fn none(stage: Stage) -> Span<'static> {
        Span {
            recorder: None,
            stage,
            item: None,
            start: Instant::now(),
            cpu: CpuOf::Thread(Duration::ZERO),
            extra: Duration::ZERO,
        }
    }

    /// CPU used on this span's behalf elsewhere (a child process it waited for).
    pub fn add_cpu(&mut self, cpu: Duration) {
        self.extra += cpu;
    }

    pub fn end(self) {}
}

impl Drop for Span<'_> {
    fn drop(&mut self) {
        let Some(r) = self.recorder else { return };
        let nested = || r.thread_cpu_ns.load(std::sync::atomic::Ordering::Relaxed);
        let cpu = match self.cpu {
            CpuOf::Thread(at) => {
                let cpu = thread_cpu().saturating_sub(at) + self.extra;
                let ns = u64::try_from(cpu.as_nanos()).unwrap_or(u64::MAX);
                r.thread_cpu_ns
                    .fetch_add(ns, std::sync::atomic::Ordering::Relaxed);
                cpu
            }
            CpuOf::Process(at, inner) => process_cpu()
                .saturating_sub(at)
                .saturating_sub(Duration::from_nanos(nested().saturating_sub(inner)))
                .saturating_add(self.extra),
        };
        let end = Instant::now();
        let rec = Recorded {
            stage: self.stage,
            item: self.item.take(),
            start: self.start.saturating_duration_since(r.origin),
            end: end.saturating_duration_since(r.origin),
            cpu,
        };
        if let Ok(mut spans) = r.spans.lock() {
            spans.push(rec);
        }
    }
}

/// A thread span when there is a recorder, else one that records nothing.
pub fn thread_span<'a>(r: Option<&'a Recorder>, stage: Stage, item: Option<&str>) -> Span<'a> {
    match r {
        Some(r) => r.thread_span(stage, item),
        None => Span::none(stage),
    }
}

/// A process span when there is a recorder, else one that records nothing.
pub fn process_span(r: Option<&Recorder>, stage: Stage) -> Span<'_> {
    match r {
        Some(r) => r.process_span(stage),
        None => Span::none(stage),
    }
}

impl Recorder {
    pub fn new() -> Recorder {
        Recorder {
            origin: Instant::now(),
            cpu_origin: process_cpu(),
            spans: Mutex::new(Vec::new()),
            thread_cpu_ns: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Work of `stage` (on `item`) on this thread.
    pub fn thread_span(&self, stage: Stage, item: Option<&str>) -> Span<'_> {
        Span {
            recorder: Some(self),
            stage,
            item: item.map(str::to_string),
            start: Instant::now(),
            cpu: CpuOf::Thread(thread_cpu()),
            extra: Duration::ZERO,
        }
    }

    /// A stage run alone: the whole process's CPU (and its waited-for children's) counts.
    pub fn process_span(&self, stage: Stage) -> Span<'_> {
        Span {
            recorder: Some(self),
            stage,
            item: None,
            start: Instant::now(),
            cpu: CpuOf::Process(
                process_cpu(),
                self.thread_cpu_ns
                    .load(std::sync::atomic::Ordering::Relaxed),
            ),
            extra: Duration::ZERO,
        }
    }

    /// Record finished work measured elsewhere (`start` and `end` on the build's clock).
    pub fn record(&self, stage: Stage, item: Option<&str>, start: Instant, cpu: Duration) {
        let rec = Recorded {
            stage,
            item: item.map(str::to_string),
            start: start.saturating_duration_since(self.origin),
            end: self.origin.elapsed(),
            cpu,
        };
        if let Ok(mut spans) = self.spans.lock() {
            spans.push(rec);
        }
    }

    /// The stages so far, the critical path and the totals.
    pub fn report(&self) -> Report {
        let spans = self.spans.lock().map(|s| s.clone()).unwrap_or_default();
        let total = self.origin.elapsed();
        let stages = Stage::ALL
            .iter()
            .filter_map(|&stage| {
                let mine: Vec<&Recorded> = spans.iter().filter(|s| s.stage == stage).collect();
                if mine.is_empty() {
                    return None;
                }
                let wall = union(mine.iter().map(|s| (s.start, s.end)));
                let cpu: Duration = mine.iter().map(|s| s.cpu).sum();
                let first = mine.iter().map(|s| s.start).min().unwrap_or_default();
                let last = mine.iter().map(|s| s.end).max().unwrap_or_default();
                Some(StageTiming {
                    stage,
                    wall: secs(wall),
                    cpu: secs(cpu),
                    start: secs(first),
                    end: secs(last),
                    spans: mine.len(),
                })
            })
            .collect();
        Report {
            wall: secs(total),
            cpu: secs(process_cpu().saturating_sub(self.cpu_origin)),
            peak_rss: peak_rss(),
            stages,
            critical_path: critical_path(&spans),
        }
    }
}

/// Seconds, rounded to the millisecond (what is shown and stored).
fn secs(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}

/// Total length of the union of intervals.
fn union(intervals: impl Iterator<Item = (Duration, Duration)>) -> Duration {
    let mut v: Vec<(Duration, Duration)> = intervals.collect();
    v.sort();
    let mut total = Duration::ZERO;
    let mut cur: Option<(Duration, Duration)> = None;
    for (s, e) in v {
        match cur {
            Some((cs, ce)) if s <= ce => cur = Some((cs, ce.max(e))),
            Some((cs, ce)) => {
                total += ce - cs;
                cur = Some((s, e));
            }
            None => cur = Some((s, e)),
        }
    }
    if let Some((cs, ce)) = cur {
        total += ce - cs;
    }
    total
}

/// Backwards from the span that ended last: the span of the same item (or of the whole build)
/// that ended last before the current one started.
fn critical_path(spans: &[Recorded]) -> Vec<PathStep> {
    let mut steps = Vec::new();
    let Some(mut cur) = spans.iter().max_by_key(|s| s.end) else {
        return steps;
    };
    // Spans that end within a millisecond of the start still count as before it.
    let slack = Duration::from_millis(1);
    loop {
        let item = cur.item.clone();
        let prev = spans
            .iter()
            // Starting strictly earlier: the walk always moves back in time.
            .filter(|s| s.end <= cur.start + slack && s.start < cur.start)
            .filter(|s| s.item.is_none() || cur.item.is_none() || s.item == cur.item)
            .max_by_key(|s| s.end);
        let waited = prev.map_or(cur.start, |p| cur.start.saturating_sub(p.end));
        steps.push(PathStep {
            stage: cur.stage,
            item,
            start: secs(cur.start),
            seconds: secs(cur.end.saturating_sub(cur.start)),
            waited: secs(waited),
        });
        match prev {
            Some(p) => cur = p,
            None => break,
        }
    }
    steps.reverse();
    // Merge consecutive steps of the same stage and item (a stage recorded in pieces).
    let mut merged: Vec<PathStep> = Vec::new();
    for s in steps {
        match merged.last_mut() {
            Some(m) if m.stage == s.stage && m.item == s.item => {
                m.seconds = secs(Duration::from_secs_f64(
                    (s.start + s.seconds - m.start).max(0.0),
                ));
            }
            _ => merged.push(s),
        }
    }
    merged
}

/// One stage's totals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageTiming {
    pub stage: Stage,
    /// Seconds during which at least one piece of this stage was running.
    pub wall: f64,
    /// CPU seconds (threads of lpack and the child processes it waited for).
    pub cpu: f64,
    /// When the stage's first piece started and its last ended (seconds since the build began).
    pub start: f64,
    pub end: f64,
    /// Pieces recorded (one per wheel, per ELF file, …).
    pub spans: usize,
}

/// One step of the critical path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PathStep {
    pub stage: Stage,
    /// The distribution it worked on; none for work on the whole build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<String>,
    pub start: f64,
    pub seconds: f64,
    /// Seconds between the previous step's end and this step's start.
    pub waited: f64,
}

/// Where one build's time went.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Seconds from the start of the build to this report.
    pub wall: f64,
    /// CPU seconds of the build (lpack's threads and the children it waited for).
    pub cpu: f64,
    /// Peak resident memory of the lpack process so far, in bytes.
    pub peak_rss: u64,
    pub stages: Vec<StageTiming>,
    pub critical_path: Vec<PathStep>,
}

// Seconds are rounded finite numbers (never NaN), so equality is an equivalence: the manifest,
// which holds a report, compares as `Eq`.
impl Eq for StageTiming {}
impl Eq for PathStep {}
impl Eq for Report {}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(stage: Stage, item: Option<&str>, start: u64, end: u64) -> Recorded {
        Recorded {
            stage,
            item: item.map(str::to_string),
            start: Duration::from_millis(start),
            end: Duration::from_millis(end),
            cpu: Duration::ZERO,
        }
    }

    #[test]
    fn union_counts_overlap_once() {
        let ms = Duration::from_millis;
        let u = union([(ms(0), ms(10)), (ms(5), ms(20)), (ms(30), ms(40))].into_iter());
        assert_eq!(u, ms(30));
        assert_eq!(union(std::iter::empty()), Duration::ZERO);
    }

    #[test]
    fn critical_path_follows_the_last_wheel() {
        let spans = vec![
            rec(Stage::Resolve, None, 0, 100),
            rec(Stage::Download, Some("numpy"), 100, 900),
            rec(Stage::Download, Some("six"), 100, 150),
            rec(Stage::Strip, Some("six"), 150, 160),
            rec(Stage::Strip, Some("numpy"), 900, 1200),
            rec(Stage::Emit, None, 1200, 1300),
            rec(Stage::Verify, None, 1300, 1500),
        ];
        let path = critical_path(&spans);
        let names: Vec<(Stage, Option<&str>)> =
            path.iter().map(|s| (s.stage, s.item.as_deref())).collect();
        assert_eq!(
            names,
            vec![
                (Stage::Resolve, None),
                (Stage::Download, Some("numpy")),
                (Stage::Strip, Some("numpy")),
                (Stage::Emit, None),
                (Stage::Verify, None),
            ]
        );
        assert_eq!(path[2].seconds, 0.3);
    }

    #[test]
    fn spans_are_recorded_with_their_cpu() {
        let r = Recorder::new();
        {
            let _s = r.thread_span(Stage::Strip, Some("x"));
            let mut n = 0u64;
            for i in 0..2_000_000u64 {
                n = n.wrapping_add(i * i);
            }
            assert!(n > 0);
        }
        {
            let mut s = r.process_span(Stage::Verify);
            s.add_cpu(Duration::from_millis(250));
        }
        let rep = r.report();
        assert_eq!(rep.stages.len(), 2);
        assert_eq!(rep.stages[0].stage, Stage::Strip);
        assert!(rep.stages[1].cpu >= 0.25, "{rep:?}");
        assert!(rep.peak_rss > 0);
    }

    /// Work recorded as a thread span while a process span runs (a wheel checked as it lands,
    /// during resolve) counts once: in its own stage, not again in the process span's. Process
    /// CPU counts every thread, so the check runs alone, in a process of its own (this test
    /// binary again, filtered to this test).
    #[test]
    fn thread_spans_inside_a_process_span_count_once() {
        const ALONE: &str = "LPACK_TEST_TIMINGS_ALONE";
        if std::env::var_os(ALONE).is_none() {
            let exe = std::env::current_exe().expect("test binary");
            let out = std::process::Command::new(exe)
                .args([
                    "--exact",
                    "timings::tests::thread_spans_inside_a_process_span_count_once",
                    "--test-threads=1",
                    "--nocapture",
                ])
                .env(ALONE, "1")
                .output()
                .expect("run alone");
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "{text}{}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(text.contains("1 passed"), "{text}");
            return;
        }
        let burn = || {
            let t = thread_cpu();
            let mut n = 0u64;
            while thread_cpu().saturating_sub(t) < Duration::from_millis(200) {
                n = n.wrapping_add(std::hint::black_box(n) | 1);
            }
            n
        };
        let r = Recorder::new();
        {
            let _outer = r.process_span(Stage::Resolve);
            std::thread::scope(|s| {
                s.spawn(|| {
                    let _inner = r.thread_span(Stage::Integrity, Some("x"));
                    burn()
                });
            });
        }
        let rep = r.report();
        let cpu = |stage| {
            rep.stages
                .iter()
                .find(|s| s.stage == stage)
                .map(|s| s.cpu)
                .unwrap_or(-1.0)
        };
        assert!(cpu(Stage::Integrity) >= 0.2, "{rep:?}");
        assert!(cpu(Stage::Resolve) < 0.1, "{rep:?}");
    }
}
