//! Progress bars for the terminal: the CLI's implementation of [`Reporter`].
//!
//! Bars draw on stderr and only when it is a terminal; `--quiet` and `--json` turn them off.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::progress::{Phase, Reporter};

pub struct Bars {
    multi: Option<MultiProgress>,
    /// Shown before each phase when several builds share the terminal.
    prefix: String,
    bars: Mutex<HashMap<&'static str, ProgressBar>>,
    bytes: AtomicU64,
}

impl Bars {
    pub fn new(wanted: bool) -> Bars {
        let multi = (wanted && std::io::stderr().is_terminal())
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        Bars {
            multi,
            prefix: String::new(),
            bars: Mutex::new(HashMap::new()),
            bytes: AtomicU64::new(0),
        }
    }

    /// Bars for one of several builds drawn together: same terminal area, phases prefixed with
    /// `name`.
    pub fn named(&self, name: &str) -> Bars {
        Bars {
            multi: self.multi.clone(),
            prefix: format!("{name} "),
            bars: Mutex::new(HashMap::new()),
            bytes: AtomicU64::new(0),
        }
    }

    fn with_bar(&self, phase: Phase, f: impl FnOnce(&ProgressBar)) {
        if let Ok(bars) = self.bars.lock()
            && let Some(b) = bars.get(phase.label())
        {
            f(b);
        }
    }
}

impl Reporter for Bars {
    fn start(&self, phase: Phase, total: u64) {
        let Some(multi) = &self.multi else { return };
        let style = ProgressStyle::with_template(
            "{prefix:>12.cyan.bold} [{bar:30}] {pos}/{len} {msg} {elapsed}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        let bar = multi.add(ProgressBar::new(total).with_style(style));
        bar.set_prefix(format!("{}{}", self.prefix, phase.label()));
        if let Ok(mut bars) = self.bars.lock() {
            bars.insert(phase.label(), bar);
        }
    }

    fn advance(&self, phase: Phase, n: u64) {
        self.with_bar(phase, |b| b.inc(n));
    }

    fn bytes(&self, phase: Phase, n: u64) {
        let total = self.bytes.fetch_add(n, Ordering::Relaxed) + n;
        self.with_bar(phase, |b| {
            b.set_message(format!("{}", indicatif::HumanBytes(total)));
        });
    }

    fn finish(&self, phase: Phase) {
        if let Ok(mut bars) = self.bars.lock()
            && let Some(b) = bars.remove(phase.label())
        {
            b.finish_and_clear();
        }
    }
}
