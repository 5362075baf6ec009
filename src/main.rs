//! Reads the envelope from stdin, runs it, writes the result to stdout, exits 0, 1 or 2.

use azure_ad_identity_protection::error::Error;
use azure_ad_identity_protection::runtime::System;
use azure_ad_identity_protection::{Outcome, failed, run_guarded};
use std::io::{Read, Write};
use std::panic;
use std::process::ExitCode;

const USAGE: &str = "usage: azure-ad-identity-protection [--pretty] < envelope.json > result.json
       azure-ad-identity-protection demo              (the whole chain on the built-in emulator)
       azure-ad-identity-protection emulator [...]    (the offline Entra ID + Graph tenant; see emulator --help)

Runs one SOAR command: reads one JSON envelope (command, args, params, context) on stdin and
writes one JSON result (entries, context, ...) on stdout. Exit status: 0 success, 1 command
failed, 2 unusable envelope. See README.md and CONTRACT.md.

  --pretty   indent the result
  --help     this text
  --version  the version";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("demo") => {
            let program = std::env::current_exe().unwrap_or_else(|_| args[0].clone().into());
            azure_ad_identity_protection::demo::main(&program, &args[2..])
        }
        Some("emulator") => azure_ad_identity_protection::emulator::cli::main(&args[2..]),
        _ => plugin(&args[1..]),
    }
}

/// The plugin itself: flags, then one envelope from stdin to one result on stdout.
fn plugin(flags: &[String]) -> ExitCode {
    let mut pretty = false;
    for flag in flags {
        match flag.as_str() {
            "--pretty" => pretty = true,
            "--help" | "-h" => return print_text(USAGE),
            "--version" | "-V" => {
                return print_text(concat!("azure-ad-identity-protection ", env!("CARGO_PKG_VERSION")));
            }
            other => return emit(&refused(format!("unknown flag {other}; see --help.")), pretty),
        }
    }
    let mut input = Vec::new();
    let limit = azure_ad_identity_protection::envelope::MAX_ENVELOPE_BYTES as u64 + 1;
    if let Err(e) = std::io::stdin().take(limit).read_to_end(&mut input) {
        return emit(&refused(format!("could not read stdin ({}).", e.kind())), pretty);
    }
    emit(&run_catching_panics(&input), pretty)
}

fn refused(reason: String) -> Outcome {
    failed(Error::Envelope(reason), None, None)
}

/// Runs the envelope on the real runtime; a panic (a bug) still becomes one result.
fn run_catching_panics(input: &[u8]) -> Outcome {
    // Print where a panic happened but never its payload, which could quote input.
    panic::set_hook(Box::new(|info| {
        let place = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("azure-ad-identity-protection: internal error at {place}");
    }));
    run_guarded(input, &System)
}

/// Writes the result straight to stdout (a listing's result is never held twice in memory).
fn emit(outcome: &Outcome, pretty: bool) -> ExitCode {
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    let written = if pretty {
        serde_json::to_writer_pretty(&mut stdout, &outcome.result)
    } else {
        serde_json::to_writer(&mut stdout, &outcome.result)
    };
    // Writing these types fails only when stdout does (a closed pipe): nothing more can be said.
    if written.is_err() || writeln!(stdout).and_then(|_| stdout.flush()).is_err() {
        return ExitCode::from(1);
    }
    ExitCode::from(outcome.exit_code as u8)
}

fn print_text(text: &str) -> ExitCode {
    println!("{text}");
    ExitCode::SUCCESS
}
