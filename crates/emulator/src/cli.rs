//! `azure-ad-identity-protection emulator [flags]`: runs the offline Entra ID + Graph tenant on
//! loopback until Ctrl-C or SIGTERM, which remove a private CA folder before it exits. The first stdout line is one JSON object with the instance parameters
//! to point the integration at it; stderr gets one line per request.

use std::io::Write;
use std::process::ExitCode;

use serde_json::json;
use signal_hook::consts::signal::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use super::{Emulator, FaultPlan, ServeOptions, TenantConfig};

const USAGE: &str = "usage: azure-ad-identity-protection emulator [flags]

Serves an offline Microsoft Entra ID + Microsoft Graph Identity Protection tenant on 127.0.0.1
until Ctrl-C or SIGTERM (exit 130 or 143; the CA folder of --tls is removed first). The first
stdout line is one JSON object:
  {\"params\": {...}, \"device_code_params\": {...}, \"certificate_params\": {...},
   \"managed_identity_params\": {...}, \"managed_identity_environment\": {...},
   \"ca_file\": path|null, \"admin\": url}
(instance parameters for client credentials with a secret, for device code, for client
credentials with the public test certificate, and for managed identity, which also needs the
engine environment variable managed_identity_environment names; with --tls all include
ca_file, the CA the integration then trusts). The secret, test certificate, key and CA in them
are this offline tenant's public test material, valid nowhere else: never a secret of anyone's
tenant. stderr says so, with where each sign-in's parameters are and the device-login and admin
addresses, then logs one line per request: method, path, status, latency.

  --port N                     port on 127.0.0.1 (default 8765; 0 = any free port)
  --tls                        serve HTTPS with the embedded loopback CA (written to ca_file)
  --ca-out PATH                with --tls: write the CA there (kept) instead of a private temporary
                               folder that is removed when the emulator stops
  --seed FILE                  load the tenant from a JSON tenant file (see --dump-tenant)
  --random-seed N              generate the tenant from seed N (default 1): 300 users, 3000 detections
  --auto-approve               approve every device code as soon as it is issued
  --device-code-interval S     polling interval device codes announce (default 5)
  --token-lifetime S           access-token lifetime in seconds (default 3599)
  --throttle-every N           every Nth Graph or token request answers 429
  --throttle-retry-after S|none  Retry-After on those 429s (default none, like Identity Protection)
  --fail-every N               every Nth Graph or token request answers 503
  --latency-ms MS              wait before answering each Graph or token request
  --dump-tenant                print the tenant as a JSON tenant file and exit
  --help                       this text

Device sign-in: open <base>/devicelogin and enter the code. Runtime control (loopback only):
GET <base>/_emulator lists the admin routes (faults, expire-tokens, revoke-refresh-tokens,
detections, approve, deny, requests, tenant, federated-token: a token of the test federation
issuer for AZURE_FEDERATED_TOKEN_FILE, users/{id}/remediate: the user's secure password
reset). Tokens are RS256-signed; <base>/<tenant>/discovery/v2.0/keys publishes the key.";

/// The default CLI port.
const DEFAULT_PORT: u16 = 8765;
/// The size of the default generated tenant.
const DEFAULT_USERS: usize = 300;
const DEFAULT_DETECTIONS: usize = 3000;

/// Everything the flags say.
#[derive(Debug, Clone, PartialEq)]
struct Flags {
    port: u16,
    tls: bool,
    ca_out: Option<String>,
    seed_file: Option<String>,
    random_seed: Option<u64>,
    auto_approve: bool,
    device_code_interval: Option<u64>,
    token_lifetime: Option<u64>,
    faults: FaultPlan,
    dump_tenant: bool,
    help: bool,
}

impl Default for Flags {
    fn default() -> Self {
        Flags {
            port: DEFAULT_PORT,
            tls: false,
            ca_out: None,
            seed_file: None,
            random_seed: None,
            auto_approve: false,
            device_code_interval: None,
            token_lifetime: None,
            faults: FaultPlan::default(),
            dump_tenant: false,
            help: false,
        }
    }
}

/// Runs `emulator` with the arguments after the subcommand; exit 2 on bad flags, 1 on failure.
pub fn main(args: &[String]) -> ExitCode {
    let flags = match parse(args) {
        Ok(flags) => flags,
        Err(message) => {
            eprintln!("emulator: {message}\nSee 'azure-ad-identity-protection emulator --help'.");
            return ExitCode::from(2);
        }
    };
    if flags.help {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    match run(&flags) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("emulator: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Dumps the tenant, or serves it until a stop signal; the exit status of either.
fn run(flags: &Flags) -> Result<ExitCode, String> {
    let tenant = tenant(flags)?;
    if flags.dump_tenant {
        return print_line(&tenant.to_json().to_string()).map(|()| ExitCode::SUCCESS);
    }
    // Registered before the CA folder is written: a signal that comes at any moment after is
    // held until the wait below, so the folder is always removed.
    let mut signals = Signals::new(STOP_SIGNALS).map_err(|e| format!("cannot handle Ctrl-C: {e}"))?;
    let emulator = Emulator::serve(serve_options(flags, tenant))
        .map_err(|e| format!("cannot listen on 127.0.0.1:{}: {e}", flags.port))?;
    print_line(&startup_line(&emulator).to_string())?;
    eprintln!("{}", announcement(&emulator.base_url(), flags.tls));
    let signal = signals.forever().next().unwrap_or(SIGTERM);
    // Stops serving and removes the private CA folder (a `--ca-out` file is kept).
    drop(emulator);
    Ok(stopped_by(signal))
}

/// Ctrl-C and `kill`'s default. Not SIGHUP: `nohup emulator --tls &` must outlive its terminal.
const STOP_SIGNALS: [i32; 2] = [SIGINT, SIGTERM];

/// 128 + the signal's number (130 for SIGINT, 143 for SIGTERM): what a shell reports for a
/// process that the signal killed, so `$?` reads the same as before. Exiting with it, rather
/// than re-raising the signal, keeps the cleanup in plain Rust with nothing left to run after.
fn stopped_by(signal: i32) -> ExitCode {
    let number = u8::try_from(signal).unwrap_or(0);
    ExitCode::from(128_u8.saturating_add(number))
}

/// What `Emulator::serve` needs, from the flags.
fn serve_options(flags: &Flags, tenant: TenantConfig) -> ServeOptions {
    ServeOptions {
        port: flags.port,
        tls: flags.tls,
        ca_out: flags.ca_out.as_ref().map(std::path::PathBuf::from),
        tenant,
        auto_approve: flags.auto_approve,
        faults: flags.faults.clone(),
        log_requests: true,
        fixture_credentials: true,
    }
}

/// The tenant the flags ask for: a file, or a generated tenant, with the lifetimes applied.
fn tenant(flags: &Flags) -> Result<TenantConfig, String> {
    let mut tenant = match &flags.seed_file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
            TenantConfig::from_json(&text).map_err(|e| format!("{path}: {e}"))?
        }
        None => TenantConfig::generated(flags.random_seed.unwrap_or(1), DEFAULT_USERS, DEFAULT_DETECTIONS),
    };
    if let Some(interval) = flags.device_code_interval {
        tenant.device_code_interval = interval;
    }
    if let Some(lifetime) = flags.token_lifetime {
        tenant.access_token_lifetime = lifetime;
    }
    Ok(tenant)
}

/// The first stdout line: `{"params", "device_code_params", "certificate_params",
/// "managed_identity_params", "managed_identity_environment", "ca_file", "admin"}`. `demo --keep`
/// prints the same object.
pub fn startup_line(emulator: &Emulator) -> serde_json::Value {
    json!({
        "params": emulator.instance_params(),
        "device_code_params": emulator.device_code_params(),
        "certificate_params": emulator.certificate_params(),
        "managed_identity_params": emulator.managed_identity_params(),
        "managed_identity_environment": emulator.managed_identity_environment(),
        "ca_file": emulator.ca_file(),
        "admin": format!("{}/_emulator", emulator.base_url()),
    })
}

/// What a person reads on stderr once the first line is out: where the parameters are, and that
/// the credentials in them are public test material. Lines of at most 100 columns.
fn announcement(base: &str, tls: bool) -> String {
    let mut lines = vec![
        format!("Entra ID + Graph emulator on {base}, offline; Ctrl-C stops it."),
        "Instance parameters, one object per sign-in, are in the JSON line on stdout: params".to_owned(),
        "  (client secret), device_code_params, certificate_params (test certificate and key),".to_owned(),
        "  managed_identity_params with managed_identity_environment (the engine's variable).".to_owned(),
    ];
    if tls {
        lines.push("  ca_file is the CA they all trust; Ctrl-C or SIGTERM removes its folder.".to_owned());
    }
    let material = if tls {
        "secret, certificate, key and CA"
    } else {
        "secret, certificate and key"
    };
    lines.extend([
        format!("  Their {material} are this offline tenant's public test material,"),
        "  valid nowhere else: never a secret of anyone's tenant.".to_owned(),
        format!("Device sign-in: {base}/devicelogin. Admin: {base}/_emulator."),
    ]);
    lines.join("\n")
}

/// Prints one line on stdout and flushes it (a parent process reads it through a pipe).
fn print_line(line: &str) -> Result<(), String> {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}")
        .and_then(|()| stdout.flush())
        .map_err(|e| format!("cannot write to stdout: {e}"))
}

/// Reads the flags; `--flag value` and `--flag=value` both work.
fn parse(args: &[String]) -> Result<Flags, String> {
    let mut flags = Flags::default();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) if name.starts_with("--") => (name, Some(value.to_owned())),
            _ => (arg.as_str(), None),
        };
        if takes_value(name) {
            let value = inline
                .or_else(|| rest.next().cloned())
                .ok_or(format!("{name} needs a value"))?;
            set_value(&mut flags, name, &value)?;
        } else if inline.is_some() {
            return Err(format!("{name} takes no value"));
        } else {
            set_switch(&mut flags, name)?;
        }
    }
    if flags.seed_file.is_some() && flags.random_seed.is_some() {
        return Err("--seed and --random-seed exclude each other".to_owned());
    }
    Ok(flags)
}

fn takes_value(name: &str) -> bool {
    [
        "--port",
        "--ca-out",
        "--seed",
        "--random-seed",
        "--device-code-interval",
        "--token-lifetime",
        "--throttle-every",
        "--throttle-retry-after",
        "--fail-every",
        "--latency-ms",
    ]
    .contains(&name)
}

fn set_switch(flags: &mut Flags, name: &str) -> Result<(), String> {
    match name {
        "--tls" => flags.tls = true,
        "--auto-approve" => flags.auto_approve = true,
        "--dump-tenant" => flags.dump_tenant = true,
        "--help" | "-h" => flags.help = true,
        other => return Err(format!("unknown flag {other}")),
    }
    Ok(())
}

fn set_value(flags: &mut Flags, name: &str, value: &str) -> Result<(), String> {
    match name {
        "--port" => flags.port = number(name, value)?,
        "--ca-out" => flags.ca_out = Some(value.to_owned()),
        "--seed" => flags.seed_file = Some(value.to_owned()),
        "--random-seed" => flags.random_seed = Some(number(name, value)?),
        "--device-code-interval" => flags.device_code_interval = Some(number(name, value)?),
        "--token-lifetime" => flags.token_lifetime = Some(positive(name, value)?),
        "--throttle-every" => flags.faults.throttle_every = Some(positive(name, value)?),
        "--throttle-retry-after" if value == "none" => flags.faults.throttle_retry_after = None,
        "--throttle-retry-after" => flags.faults.throttle_retry_after = Some(number(name, value)?),
        "--fail-every" => flags.faults.fail_every = Some(positive(name, value)?),
        "--latency-ms" => flags.faults.latency_ms = number(name, value)?,
        other => return Err(format!("unknown flag {other}")),
    }
    Ok(())
}

/// A whole number in `T`'s range.
fn number<T: std::str::FromStr>(name: &str, value: &str) -> Result<T, String> {
    value
        .parse()
        .map_err(|_| format!("{name} wants a whole number, not {value:?}"))
}

/// A whole number above zero.
fn positive<T: std::str::FromStr + Default + PartialOrd>(name: &str, value: &str) -> Result<T, String> {
    let n: T = number(name, value)?;
    if n > T::default() {
        Ok(n)
    } else {
        Err(format!("{name} wants a number above 0, not {value:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn flags_parse() {
        let faults = |throttle_every, throttle_retry_after, fail_every, latency_ms| FaultPlan {
            throttle_every,
            throttle_retry_after,
            fail_every,
            latency_ms,
            slow_down: false,
        };
        #[rustfmt::skip]
        let cases = [
            ("", Flags::default()),
            ("--port 0 --tls", Flags { port: 0, tls: true, ..Flags::default() }),
            ("--port=9000 --auto-approve", Flags { port: 9000, auto_approve: true, ..Flags::default() }),
            ("--seed t.json --dump-tenant", Flags { seed_file: Some("t.json".into()), dump_tenant: true, ..Flags::default() }),
            ("--random-seed 42", Flags { random_seed: Some(42), ..Flags::default() }),
            ("--device-code-interval 1 --token-lifetime 60", Flags { device_code_interval: Some(1), token_lifetime: Some(60), ..Flags::default() }),
            ("--throttle-every 3 --throttle-retry-after 2", Flags { faults: faults(Some(3), Some(2), None, 0), ..Flags::default() }),
            ("--throttle-every 3 --throttle-retry-after none --fail-every 5 --latency-ms 20", Flags { faults: faults(Some(3), None, Some(5), 20), ..Flags::default() }),
            ("--help", Flags { help: true, ..Flags::default() }),
        ];
        for (line, expected) in cases {
            assert_eq!(parse(&args(line)), Ok(expected), "{line}");
        }
    }

    #[test]
    fn bad_flags_are_named() {
        #[rustfmt::skip]
        let cases = [
            ("--prot 1", "unknown flag --prot"),
            ("--port", "--port needs a value"),
            ("--port 70000", "--port wants a whole number, not \"70000\""),
            ("--port x", "--port wants a whole number"),
            ("--throttle-every 0", "--throttle-every wants a number above 0"),
            ("--throttle-retry-after soon", "--throttle-retry-after wants a whole number"),
            ("--tls=yes", "--tls takes no value"),
            ("--seed a.json --random-seed 2", "exclude each other"),
            ("serve", "unknown flag serve"),
        ];
        for (line, needle) in cases {
            match parse(&args(line)) {
                Err(message) => assert!(message.contains(needle), "{line}: {message}"),
                Ok(flags) => panic!("{line}: accepted as {flags:?}"),
            }
        }
    }

    #[test]
    fn tenants_from_flags() {
        let path = std::env::temp_dir().join(format!("emulator-cli-tenant-{}.json", std::process::id()));
        let written = std::fs::write(&path, TenantConfig::default().to_json().to_string());
        assert!(written.is_ok());
        let from_file = Flags {
            seed_file: Some(path.display().to_string()),
            token_lifetime: Some(60),
            ..Flags::default()
        };
        let loaded = tenant(&from_file).unwrap_or_default();
        assert_eq!((loaded.risky_users.len(), loaded.access_token_lifetime), (5, 60));
        let _ = std::fs::remove_file(&path);
        let generated = tenant(&Flags::default()).unwrap_or_default();
        assert_eq!(
            (generated.risky_users.len(), generated.risk_detections.len()),
            (300, 3000)
        );
        let missing = Flags {
            seed_file: Some("/nonexistent/tenant.json".into()),
            ..Flags::default()
        };
        assert!(tenant(&missing).is_err_and(|e| e.contains("cannot read /nonexistent/tenant.json")));
    }

    #[test]
    fn the_startup_line_has_both_parameter_sets() {
        let emulator = Emulator::start(TenantConfig::default());
        let Ok(emulator) = emulator else {
            panic!("the emulator starts")
        };
        let line = startup_line(&emulator);
        assert_eq!(line["params"]["client_credentials"], "true");
        assert_eq!(
            line["device_code_params"]["app_id"],
            "4ffef4a4-601f-4393-a789-432f3f3b8470"
        );
        assert_eq!(line["ca_file"], serde_json::Value::Null);
        assert_eq!(line["params"].get("ca_file"), None);
        assert_eq!(line["admin"], format!("{}/_emulator", emulator.base_url()));
        assert_eq!(line["managed_identity_params"]["use_managed_identities"], "true");
        assert_eq!(
            line["managed_identity_environment"]["AZURE_POD_IDENTITY_AUTHORITY_HOST"],
            emulator.base_url()
        );
    }

    /// Issue 19: the human line said nothing of where the parameters are, nor that the key in
    /// them is public.
    #[test]
    fn the_announcement_says_where_the_params_are_and_that_their_credentials_are_public() {
        let widest = "https://127.0.0.1:65535";
        for tls in [false, true] {
            let text = announcement(widest, tls);
            for needle in [
                "the JSON line on stdout",
                "params\n  (client secret)",
                "device_code_params",
                "certificate_params",
                "managed_identity_params",
                "public test material",
                "never a secret of anyone's tenant",
                "https://127.0.0.1:65535/devicelogin",
            ] {
                assert!(text.contains(needle), "tls {tls}: {needle} missing in\n{text}");
            }
            assert_eq!(text.contains("ca_file is the CA they all trust"), tls, "{text}");
            for line in text.lines() {
                assert!(line.chars().count() <= 100, "{line}");
            }
        }
    }

    #[test]
    fn with_tls_both_parameter_sets_carry_the_ca_file() {
        let options = ServeOptions {
            tls: true,
            ..ServeOptions::default()
        };
        let Ok(emulator) = Emulator::serve(options) else {
            panic!("the TLS emulator starts")
        };
        let line = startup_line(&emulator);
        assert!(line["ca_file"].is_string(), "{line}");
        assert_eq!(line["params"]["ca_file"], line["ca_file"]);
        assert_eq!(line["device_code_params"]["ca_file"], line["ca_file"]);
    }
}
