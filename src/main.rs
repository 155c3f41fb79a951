//! The `lpack` binary: parse arguments, run, map the result to an exit code
//! (0 ok, 1 a gate the user asked for failed, 2 error).
//!
//! A panic is a bug, whatever the input: it is reported as an error (exit 2, not Rust's 101) with
//! a request to report it, so scripts see the same contract for every failure.

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};
use lpack::cli::{Cli, Outcome, run};

/// Large buffers (an inflated library, a wheel's sources, compressed output) go straight to the
/// kernel and back when freed. glibc would otherwise raise its mmap threshold to the largest
/// buffer freed so far (up to 32 MiB) and keep later ones in per-thread heaps after they are
/// freed; with a thread per core stripping, compiling and checking at once, that retained
/// memory, not live data, set the build's peak.
fn bounded_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: called before any other thread exists; M_MMAP_THRESHOLD takes a byte count.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

fn main() -> ExitCode {
    // Output piped into `head` and the like: end quietly when the reader goes away, as other
    // command-line tools do, instead of failing on the next write.
    // SAFETY: called first, before any other thread exists; SIG_DFL is a valid disposition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    bounded_heap();
    std::panic::set_hook(Box::new(|info| {
        eprintln!(
            "error: internal error (a bug in lpack, whatever the input): {info}\n  hint: please report it with the command that triggered it"
        );
    }));
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let matches = Cli::command().get_matches_from(&argv);
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let result = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(cli, argv))) {
        Ok(r) => r,
        Err(_) => return ExitCode::from(2),
    };
    match result {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::GateFailed) => ExitCode::from(1),
        Err(err) => {
            eprintln!("error: {err}");
            let mut source = err.source();
            while let Some(cause) = source {
                let text = cause.to_string();
                if !err.to_string().contains(&text) {
                    eprintln!("  caused by: {text}");
                }
                source = cause.source();
            }
            ExitCode::from(2)
        }
    }
}
