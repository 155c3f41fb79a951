//! The `lpack` binary: parse arguments, run, map the result to an exit code
//! (0 ok, 1 a gate the user asked for failed, 2 error).
//!
//! A panic is a bug, whatever the input: it is reported as an error (exit 2, not Rust's 101) with
//! a request to report it, so scripts see the same contract for every failure.

use std::process::ExitCode;

use clap::Parser;
use lpack::cli::{Cli, Outcome, run};

fn main() -> ExitCode {
    std::panic::set_hook(Box::new(|info| {
        eprintln!(
            "error: internal error (a bug in lpack, whatever the input): {info}\n  hint: please report it with the command that triggered it"
        );
    }));
    let cli = Cli::parse();
    let result = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(cli))) {
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
