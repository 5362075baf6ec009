//! Reads the envelope from stdin, runs it, writes the result to stdout, exits 0, 1 or 2.

use azure_ad_identity_protection::commands::{COMMANDS, closest_name};
use azure_ad_identity_protection::error::Error;
use azure_ad_identity_protection::markdown::quoted;
use azure_ad_identity_protection::runtime::System;
use azure_ad_identity_protection::{Outcome, failed, run_guarded};
use std::io::{IsTerminal, Read, Write};
use std::panic;
use std::process::ExitCode;

const USAGE: &str = "usage: azure-ad-identity-protection [--pretty] < envelope.json > result.json
       azure-ad-identity-protection demo              (the whole chain on the built-in emulator)
       azure-ad-identity-protection emulator [...]    (the offline Entra ID + Graph tenant; see emulator --help)

Runs one SOAR command: reads one JSON envelope (command, args, params, context) on stdin and
writes one JSON result (entries, context, ...) on stdout. Exit status: 0 success, 1 command
failed, 2 unusable envelope. See docs/protocol.md (host protocol 1), README.md and schema/envelope.schema.json.

  --pretty                 indent the result
  --help, -h, help         this text
  --version, -V, version   the version";

/// The words `main` takes as its first argument besides flags; a typo of one gets a suggestion.
const SUBCOMMANDS: [&str; 4] = ["demo", "emulator", "help", "version"];

const VERSION: &str = concat!(
    "azure-ad-identity-protection ",
    env!("CARGO_PKG_VERSION"),
    " (protocol 1)"
);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("demo") => {
            let program = std::env::current_exe().unwrap_or_else(|_| args[0].clone().into());
            azure_ad_identity_protection::demo::main(&program, &args[2..])
        }
        Some("emulator") => azure_ad_identity_protection::emulator::cli::main(&args[2..]),
        // The bare words too, as the first argument like the subcommands beside them: `help` is
        // what people type first, and `version` is its pair.
        Some("help") => print_text(&usage()),
        Some("version") => print_text(VERSION),
        // Not a flag, so a mistyped subcommand: the envelope goes on stdin, never in a word.
        Some(word) if !word.starts_with('-') => unknown_subcommand(word),
        _ => plugin(
            args.first().map_or("azure-ad-identity-protection", String::as_str),
            &args[1..],
        ),
    }
}

/// `unknown subcommand `emulater`; did you mean `emulator`?` on stderr, exit 2, nothing on
/// stdout: a person typed it, so no JSON result (a host never passes a word).
fn unknown_subcommand(word: &str) -> ExitCode {
    let hint = match closest_name(word, SUBCOMMANDS) {
        Some(name) => format!("did you mean `{name}`?"),
        None => format!(
            "the subcommands are {}; an envelope goes on stdin (see --help)",
            SUBCOMMANDS.join(", ")
        ),
    };
    let word = azure_ad_identity_protection::runtime::printable(word);
    eprintln!("azure-ad-identity-protection: unknown subcommand `{word}`; {hint}");
    ExitCode::from(2)
}

/// USAGE and the commands, from the command table so that the list cannot drift from it.
fn usage() -> String {
    let mut text = format!("{USAGE}\n\nCommands (the envelope's `command`; arguments go under `args`, * = required):");
    for command in COMMANDS {
        text.push_str("\n  ");
        text.push_str(command.name);
        let args: Vec<String> = command
            .args
            .iter()
            .map(|a| format!("{}{}", a.name, if a.required { "*" } else { "" }))
            .collect();
        if !args.is_empty() {
            text.push_str("\n      args: ");
            text.push_str(&args.join(", "));
        }
    }
    text
}

/// The plugin itself: flags, then one envelope from stdin to one result on stdout.
fn plugin(program: &str, flags: &[String]) -> ExitCode {
    let mut pretty = false;
    for flag in flags {
        match flag.as_str() {
            "--pretty" => pretty = true,
            "--help" | "-h" => return print_text(&usage()),
            "--version" | "-V" => return print_text(VERSION),
            other => return emit(&refused(format!("unknown flag {}; see --help.", quoted(other))), pretty),
        }
    }
    // A person who started the binary in a terminal would otherwise wait on a silent prompt.
    // Only for a terminal: a host's pipe never sees this line. With --pretty too: the wait is
    // the same.
    if std::io::stdin().is_terminal() {
        eprintln!(
            "{}",
            terminal_hint(&azure_ad_identity_protection::runtime::printable(program))
        );
    }
    let mut input = Vec::new();
    let limit = azure_ad_identity_protection::envelope::MAX_ENVELOPE_BYTES as u64 + 1;
    if let Err(e) = std::io::stdin().take(limit).read_to_end(&mut input) {
        return emit(&refused(format!("could not read stdin ({}).", e.kind())), pretty);
    }
    emit(&run_catching_panics(&input), pretty)
}

/// One line: what the binary waits for, how to end it, and where to look. The demo is offered
/// under the name the binary was started by, which works both from a checkout
/// (`target/release/...`) and from an installed copy, where `cargo run` would not.
fn terminal_hint(program: &str) -> String {
    let end = if cfg!(windows) { "Ctrl-Z then Enter" } else { "Ctrl-D" };
    format!(
        "azure-ad-identity-protection: reading one JSON envelope from stdin ({end} to end; see --help; try `{program} demo`)"
    )
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

/// Writes the result (redacted, bounded: `Outcome::to_json`) to stdout and exits at once:
/// a listing's entries are not worth freeing one by one just before the process ends.
fn emit(outcome: &Outcome, pretty: bool) -> ExitCode {
    let (bytes, exit_code) = outcome.to_json(pretty);
    let mut stdout = std::io::stdout().lock();
    // Writing fails only when stdout does (a closed pipe): nothing more can be said.
    let written = stdout.write_all(&bytes).and_then(|()| stdout.write_all(b"\n"));
    let code = match written.and_then(|()| stdout.flush()) {
        Ok(()) => exit_code,
        Err(_) => 1,
    };
    std::process::exit(code)
}

fn print_text(text: &str) -> ExitCode {
    println!("{text}");
    ExitCode::SUCCESS
}
