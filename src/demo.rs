//! `azure-ad-identity-protection demo`: the whole product on the built-in emulator, through the
//! real binary protocol. Each step runs this same executable with an envelope on stdin, as a SOAR
//! host would, carries the result's context into the next step, and prints what happened.

use crate::emulator::{Emulator, TenantConfig};
use serde_json::{Map, Value, json};
use std::io::{self, Write};
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};

const USAGE: &str = "usage: azure-ad-identity-protection demo [--keep]

Runs the whole product on the built-in offline emulator of Entra ID + Microsoft Graph, started in
this process: each step runs this same binary with an envelope on stdin, as a SOAR host would, and
carries the result's context into the next. It prints each command, the first rows of its result
and which context keys changed (never their values). It needs nothing but this binary: no tenant,
no network beyond 127.0.0.1.

The steps (commands without their azure-ad-identity-protection- prefix):
  sign in      azure-ad-auth-start (device code), a person's Approve on the emulator's
               device-login page, azure-ad-auth-complete, azure-ad-auth-test
  investigate  the high-risk users (risky-user-list), one user's risk detections (risks-list)
               and history (risky-user-history-list), then risky-user-dismiss
  fetch twice  fetch-incidents for that user; a new detection appears in the tenant; the second
               fetch-incidents returns only it
  mirror       two users at risk (risky-user-list), their incidents fetched with mirroring
               Incoming And Outgoing, close_incident and close_out (fetch-incidents)
  respond      one fetched incident worked: its sign-in (sign-in-get), the user's sign-ins
               around it (sign-ins-list), the user's sessions revoked (user-sessions-revoke)
               and the sign-in's IP address blocked (ip-block)
  mirror out   that incident closed as Resolved in the SOAR dismisses the user's risk in Entra
               (update-remote-system)
  mirror in    the other user resets their password in Entra: get-modified-remote-data lists
               the incident and get-remote-data closes it
  workloads    a second instance signs in with the app's test certificate: the risky service
               principals (risky-service-principal-list) and one's risk detections
               (service-principal-risks-list)
Mirroring needs no XSOAR either: update-remote-system, get-modified-remote-data and
get-remote-data are the commands XSOAR's mirroring runs.

  --keep             after the steps, keep the emulator running until Ctrl-C, and print its base
                     URL, device-login page and admin address, then one JSON line (the `emulator`
                     subcommand's first line) to try the README's examples with; see below
  --help, -h, help   this text

Exit status: 0 every step did what it should (also when stdout closes early, as with `| head`),
1 a step failed, 2 an unknown flag.

The JSON line --keep prints: instance parameters for each sign-in, then the CA and admin:";

/// What `--keep` prints the JSON line's keys for; `--help` shows the same table.
const PRINTED_PARAMS: [(&str, &str); 7] = [
    ("params", "client credentials with the app's secret"),
    ("device_code_params", "device code, as the demo signed in"),
    (
        "certificate_params",
        "client credentials with the test certificate and its key",
    ),
    (
        "managed_identity_params",
        "managed identity; the engine also needs the variable below",
    ),
    (
        "managed_identity_environment",
        "AZURE_POD_IDENTITY_AUTHORITY_HOST, pointing at this IMDS",
    ),
    (
        "ca_file",
        "the CA to trust with `emulator --tls`; null here (plain http)",
    ),
    ("admin", "the admin routes: faults, approve, new detections, ..."),
];

/// The credentials in those objects are the emulator's, and say so.
const PUBLIC_TEST_MATERIAL: &str = "The secret, certificate and key in them are this offline tenant's public test material,\n\
     valid nowhere else: never a secret of anyone's tenant.";

/// [`PRINTED_PARAMS`] as aligned lines, each `indent` spaces in.
fn params_table(indent: usize) -> Vec<String> {
    PRINTED_PARAMS
        .iter()
        .map(|(key, what)| format!("{:indent$}{key:<30}{what}", ""))
        .collect()
}

/// `demo --help`: [`USAGE`], then what `--keep` prints.
fn usage() -> String {
    let mut lines = vec![USAGE.to_string()];
    lines.extend(params_table(2));
    lines.extend(PUBLIC_TEST_MATERIAL.lines().map(|line| format!("  {line}")));
    lines.join("\n")
}

/// Columns of the terminal the output is made for: prose is wrapped, table rows are cut with "…".
const WIDTH: usize = 100;
/// Table rows shown per list step, after the header.
const ROWS_SHOWN: usize = 3;
/// Incident names shown per fetch.
const INCIDENTS_SHOWN: usize = 3;

/// What the words after `demo` ask for.
#[derive(Debug, PartialEq)]
enum Request {
    Usage,
    Run { keep: bool },
}

/// Why the demo stopped before its end.
#[derive(Debug)]
enum Stop {
    /// A step did not do what it should; the message says what.
    Failed(String),
    /// stdout was closed (`demo | head`): nobody reads any more, so the demo ends quietly.
    Closed,
}

impl From<String> for Stop {
    fn from(message: String) -> Stop {
        Stop::Failed(message)
    }
}

/// The demo's stdout: lines fitted to [`WIDTH`], control characters escaped, a closed pipe a
/// [`Stop::Closed`] instead of `println!`'s panic.
struct Out(io::Stdout);

impl Out {
    /// Writes `text` indented by `indent` spaces: table rows (`|...`) cut, prose wrapped between words.
    fn say(&mut self, indent: usize, text: &str) -> Result<(), Stop> {
        for line in text.split('\n').map(formats::printable) {
            // A line's own leading spaces add to the indent, so wrapping keeps them.
            let body = line.trim_start();
            let indent = indent + (line.len() - body.len());
            let width = WIDTH.saturating_sub(indent);
            let pieces = match body.starts_with('|') {
                true => vec![cut(body, width)],
                false => wrap(body, width.saturating_sub(3)),
            };
            for (i, piece) in pieces.iter().enumerate() {
                let pad = if i == 0 { indent } else { indent + 3 };
                self.write(&format!("{:pad$}{piece}", ""))?;
            }
        }
        Ok(())
    }

    /// Writes `line` as it is (preformatted text, JSON to copy), flushed for a reader at the other
    /// end of a pipe.
    fn write(&mut self, line: &str) -> Result<(), Stop> {
        let mut stdout = self.0.lock();
        writeln!(stdout, "{}", line.trim_end())
            .and_then(|()| stdout.flush())
            .map_err(|e| match e.kind() {
                io::ErrorKind::BrokenPipe => Stop::Closed,
                _ => Stop::Failed(format!("cannot write to stdout: {e}")),
            })
    }
}

/// One finished step.
struct Step {
    exit: i32,
    result: Value,
}

impl Step {
    fn context(&self) -> Map<String, Value> {
        self.result
            .get("context")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    }

    fn text(&self) -> &str {
        self.result["entries"][0]["HumanReadable"].as_str().unwrap_or_default()
    }

    fn items(&self, path: &str) -> Vec<Value> {
        let key = format!("AADIdentityProtection.{path}(val.id === obj.id)");
        self.result["entries"][0]["EntryContext"][key]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

/// The demo's state: the emulator, the instance parameters, and the context the host would keep.
struct Demo<'a> {
    program: &'a Path,
    emulator: Emulator,
    params: Value,
    context: Map<String, Value>,
    number: usize,
    out: Out,
    keep: bool,
}

/// `demo [flags]`: `flags` are the words after `demo`. Exit status 0 only if every step did what
/// it should (or stdout closed early), 1 if one did not, 2 for an unknown flag.
pub fn main(program: &Path, flags: &[String]) -> ExitCode {
    let mut out = Out(io::stdout());
    let outcome = match parse(flags) {
        Ok(Request::Usage) => out.write(&usage()),
        Ok(Request::Run { keep }) => run(program, keep, out),
        Err(message) => {
            let _ = writeln!(io::stderr(), "demo: {message}");
            return ExitCode::from(2);
        }
    };
    match outcome {
        Ok(()) | Err(Stop::Closed) => ExitCode::SUCCESS,
        Err(Stop::Failed(message)) => {
            let _ = writeln!(io::stderr(), "\ndemo failed: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Reads the flags; the first unknown one is refused before anything starts.
fn parse(flags: &[String]) -> Result<Request, String> {
    let mut keep = false;
    for flag in flags {
        match flag.as_str() {
            "--help" | "-h" | "help" => return Ok(Request::Usage),
            "--keep" => keep = true,
            other => {
                return Err(format!("unknown flag {}; see `demo --help`", formats::printable(other)));
            }
        }
    }
    Ok(Request::Run { keep })
}

/// The demo tenant: seed, risky users, risk detections (the standalone emulator's default too).
const DEMO_TENANT: (u64, usize, usize) = (1, 300, 3000);

fn run(program: &Path, keep: bool, mut out: Out) -> Result<(), Stop> {
    let (seed, users, detections) = DEMO_TENANT;
    let emulator = Emulator::start(TenantConfig::generated(seed, users, detections))
        .map_err(|e| format!("the emulator did not start: {e}"))?;
    out.say(
        0,
        &format!(
            "Emulator at {} (offline Entra ID + Graph: {users} risky users, {detections} detections)\n",
            emulator.base_url()
        ),
    )?;
    let params = emulator.device_code_params();
    let mut demo = Demo {
        program,
        emulator,
        params,
        context: Map::new(),
        number: 0,
        out,
        keep,
    };
    demo.sign_in()?;
    let upn = demo.investigate()?;
    demo.fetch_twice(&upn)?;
    demo.mirror()?;
    demo.workload_identity()?;
    demo.out.say(0, "\nAll steps succeeded.")?;
    match keep {
        true => demo.keep_running(),
        false => Ok(()),
    }
}

/// Now, in epoch seconds: the emulator stamps its changes with the real clock too.
fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// An HTTP client for the emulator on loopback: no proxy, every status an answer.
fn loopback_agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .proxy(None)
        .http_status_as_error(false)
        .build()
        .into()
}

/// Plays the user's secure password reset in Entra, through the emulator's admin route.
fn remediate_in_entra(base: &str, user_id: &str) -> Result<(), String> {
    let agent = loopback_agent();
    let response = agent
        .post(format!("{base}/_emulator/users/{user_id}/remediate"))
        .content_type("application/json")
        .send("{}")
        .map_err(|e| format!("the emulator's admin route did not answer: {e}"))?;
    match response.status().as_u16() {
        200 => Ok(()),
        status => Err(format!("remediating {user_id} in the emulator answered {status}")),
    }
}

/// Plays the person's browser: submits the emulator's device-login form with Approve.
fn approve_in_browser(base: &str, user_code: &str) -> Result<String, String> {
    let agent = loopback_agent();
    let mut response = agent
        .post(format!("{base}/devicelogin"))
        .send_form([("user_code", user_code), ("action", "approve")])
        .map_err(|e| format!("the device-login page did not answer: {e}"))?;
    let page = response.body_mut().read_to_string().unwrap_or_default();
    let said = page
        .split("<p>")
        .nth(1)
        .and_then(|p| p.split("</p>").next())
        .unwrap_or("no message")
        .to_string();
    match response.status().as_u16() {
        200 => Ok(said),
        status => Err(format!("the device-login page answered {status}: {said}")),
    }
}

impl Demo<'_> {
    fn sign_in(&mut self) -> Result<(), Stop> {
        let started = self.step("azure-ad-auth-start", json!({}), None)?;
        let code = started.result["entries"][0]["Contents"]["user_code"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let page = approve_in_browser(&self.emulator.base_url(), &code)?;
        let note = format!("(a person opens the link, enters {code} and presses Approve; the page says: {page})");
        self.out.say(3, &note)?;
        self.out.say(3, match self.keep {
            true => "(--keep: the emulator stays up after the last step, so the link still opens then)",
            false => "(the emulator stops when the demo ends, and the link with it: run `demo --keep` to keep it running and open the page)",
        })?;
        self.step("azure-ad-auth-complete", json!({}), None)?;
        self.step("azure-ad-auth-test", json!({}), None).map(|_| ())
    }

    /// The high-risk users, one user's detections and history, then dismiss that user.
    fn investigate(&mut self) -> Result<String, Stop> {
        let high = self.step(
            "azure-ad-identity-protection-risky-user-list",
            json!({"risk_level": "high"}),
            None,
        )?;
        let user = high
            .items("RiskyUsers")
            .into_iter()
            .next()
            .ok_or_else(|| "no high-risk user in the tenant".to_string())?;
        let (id, upn) = (text(&user, "id"), text(&user, "userPrincipalName"));
        self.step(
            "azure-ad-identity-protection-risks-list",
            json!({"user_principal_name": upn}),
            None,
        )?;
        self.step(
            "azure-ad-identity-protection-risky-user-history-list",
            json!({"user_id": id}),
            None,
        )?;
        self.step(
            "azure-ad-identity-protection-risky-user-dismiss",
            json!({"user_ids": id}),
            None,
        )?;
        let state = self
            .emulator
            .risky_user(&id)
            .map(|u| text(&u, "riskState"))
            .unwrap_or_default();
        self.out.say(3, &format!("(the tenant now says {upn} is {state})"))?;
        Ok(upn)
    }

    /// Fetches that user's detections, adds a new one to the tenant, and fetches again.
    fn fetch_twice(&mut self, upn: &str) -> Result<(), Stop> {
        self.params["first_fetch"] = json!("2024-01-01");
        self.params["max_fetch"] = json!("200");
        self.params["fetch_user_principal_name"] = json!(upn);
        let first = self.step("fetch-incidents", json!({}), Some(json!({})))?;
        let last_run = first.result["last_run"].clone();
        let new_detection = json!({
            "id": "demo-new-detection", "riskEventType": "anonymizedIPAddress", "riskLevel": "high", "riskState": "atRisk",
            "riskDetail": "none", "detectedDateTime": "2024-07-01T12:00:00Z", "userPrincipalName": upn,
        });
        self.emulator.add_detection(new_detection);
        self.out.say(3, "(a new risk detection appears in the tenant)")?;
        let second = self.step("fetch-incidents", json!({}), Some(last_run))?;
        let names = incident_names(&second.result);
        if names.len() != 1 || !names[0].contains("demo-new-detection") {
            let message = format!("the second fetch should return only the new detection, got {names:?}");
            return Err(Stop::Failed(message));
        }
        Ok(())
    }

    /// Mirroring, both ways: the incidents of two users at risk are fetched with mirroring on;
    /// one is closed in the SOAR, which dismisses its user's risk in Entra; the other user
    /// resets their password in Entra, and the mirror closes their incident.
    fn mirror(&mut self) -> Result<(), Stop> {
        let at_risk = self.step(
            "azure-ad-identity-protection-risky-user-list",
            json!({"risk_state": "atRisk", "risk_level": "high", "limit": "2"}),
            None,
        )?;
        let users = at_risk.items("RiskyUsers");
        let [closer, remediator] = [0, 1].map(|n| users.get(n).map(|u| (text(u, "id"), text(u, "userPrincipalName"))));
        let ((closer_id, closer_upn), (remediator_id, remediator_upn)) = closer
            .zip(remediator)
            .ok_or_else(|| "fewer than two high-risk users at risk in the tenant".to_string())?;
        self.params["fetch_user_principal_name"] = json!(format!("{closer_upn},{remediator_upn}"));
        self.params["mirror_direction"] = json!("Incoming And Outgoing");
        self.params["close_incident"] = json!("true");
        self.params["close_out"] = json!("true");
        self.out.say(
            3,
            "(the instance now mirrors Incoming And Outgoing, with close_incident and close_out)",
        )?;
        let fetched = self.step("fetch-incidents", json!({}), Some(json!({})))?;
        let open_incident_of = |user: &str| {
            fetched.result["incidents"]
                .as_array()
                .into_iter()
                .flatten()
                .find_map(|incident| {
                    let raw: Value = serde_json::from_str(incident["rawJSON"].as_str()?).ok()?;
                    (raw["userId"] == user && raw["riskState"] == "atRisk").then(|| text(incident, "dbotMirrorId"))
                })
        };
        let (closed, remediated) = open_incident_of(&closer_id)
            .zip(open_incident_of(&remediator_id))
            .ok_or_else(|| "the fetch gave no open incident for each of the two users".to_string())?;
        self.investigate_and_respond(&closed, &closer_id)?;
        let before = crate::time::iso8601(now_secs());
        self.out.say(
            3,
            &format!("(an analyst closes incident {closed} of {closer_upn} as Resolved; XSOAR mirrors it out)"),
        )?;
        self.step(
            "update-remote-system",
            json!({"remoteId": closed, "status": "2", "delta": "{\"closeReason\": \"Resolved\"}"}),
            None,
        )?;
        let state = self.emulator.risky_user(&closer_id).map(|u| text(&u, "riskState"));
        self.out.say(
            3,
            &format!("(Entra now says {closer_upn} is {})", state.unwrap_or_default()),
        )?;
        remediate_in_entra(&self.emulator.base_url(), &remediator_id)?;
        self.out.say(
            3,
            &format!("({remediator_upn} resets their password in Entra: the risk is remediated)"),
        )?;
        let modified = self.step("get-modified-remote-data", json!({"lastUpdate": before}), None)?;
        let listed = modified.result["mirror"]["modified_ids"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if !listed.iter().any(|id| id == remediated.as_str()) {
            return Err(Stop::Failed(format!(
                "{remediated} changed in Entra but was not listed as modified"
            )));
        }
        let remote = self.step("get-remote-data", json!({"id": remediated, "lastUpdate": before}), None)?;
        let closes = remote.result["mirror"]["entries"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|entry| entry["Contents"]["dbotIncidentClose"] == true);
        if !closes {
            return Err(Stop::Failed(format!("the mirror did not close incident {remediated}")));
        }
        self.out.say(3, &format!("(XSOAR closes incident {remediated})"))?;
        for name in [
            "fetch_user_principal_name",
            "mirror_direction",
            "close_incident",
            "close_out",
        ] {
            self.params.as_object_mut().map(|p| p.remove(name));
        }
        Ok(())
    }

    /// From the incident of `detection`: the sign-in behind it, the user's sign-ins around it,
    /// then the response: the user's sessions revoked and the sign-in's IP address blocked.
    fn investigate_and_respond(&mut self, detection: &str, user: &str) -> Result<(), Stop> {
        self.out.say(
            3,
            &format!("(the analyst works incident {detection}: what happened, and stop it)"),
        )?;
        let sign_in = self.step(
            "azure-ad-identity-protection-sign-in-get",
            json!({"detection_id": detection}),
            None,
        )?;
        let ip = sign_in
            .items("SignIn")
            .first()
            .map(|s| text(s, "ipAddress"))
            .filter(|ip| !ip.is_empty())
            .ok_or_else(|| format!("the sign-in of detection {detection} has no IP address"))?;
        self.step(
            "azure-ad-identity-protection-sign-ins-list",
            json!({"around_detection_id": detection, "window": "2 hours"}),
            None,
        )?;
        self.step(
            "azure-ad-identity-protection-user-sessions-revoke",
            json!({"user_id": user}),
            None,
        )?;
        self.step("azure-ad-identity-protection-ip-block", json!({"ip": ip}), None)?;
        Ok(())
    }

    /// Workload identities: signed in as an app with its certificate (no secret, no person), the
    /// risky service principals and one's risk detections. The device-code sign-in above asks
    /// only for the user permissions, so this runs as its own instance with its own context.
    fn workload_identity(&mut self) -> Result<(), Stop> {
        let user_params = std::mem::replace(&mut self.params, self.emulator.certificate_params());
        let user_context = std::mem::take(&mut self.context);
        self.out
            .say(3, "(a second instance: the app signs in with its certificate)")?;
        let outcome = self.risky_workloads();
        (self.params, self.context) = (user_params, user_context);
        outcome
    }

    fn risky_workloads(&mut self) -> Result<(), Stop> {
        let list = self.step(
            "azure-ad-identity-protection-risky-service-principal-list",
            json!({"limit": "5"}),
            None,
        )?;
        let principal = list
            .items("RiskyServicePrincipals")
            .into_iter()
            .next()
            .ok_or_else(|| "no risky service principal in the tenant".to_string())?;
        self.step(
            "azure-ad-identity-protection-service-principal-risks-list",
            json!({"service_principal_id": text(&principal, "id"), "limit": "5"}),
            None,
        )
        .map(drop)
    }

    /// Runs one command through the binary and prints what it did.
    fn step(&mut self, command: &str, args: Value, last_run: Option<Value>) -> Result<Step, Stop> {
        self.number += 1;
        let mut envelope = json!({
            "command": command, "args": args, "params": self.params, "context": self.context,
            // As the XSOAR bridge names the instance: fetched incidents mirror through it.
            "instance_name": "demo",
        });
        if let Some(last_run) = last_run {
            envelope["last_run"] = last_run;
        }
        let title = format!("{:>2}. !{command}{}", self.number, describe_args(&envelope["args"]));
        self.out.say(0, &title)?;
        let step = invoke(self.program, &envelope)?;
        self.out.say(3, &summary(&step))?;
        let change = context_change(&self.context, &step.context());
        self.out.say(3, &format!("context: {change}"))?;
        if step.exit != 0 {
            return Err(Stop::Failed(format!(
                "{command} exited with {}: {}",
                step.exit,
                step.text()
            )));
        }
        self.context = step.context();
        Ok(step)
    }

    /// `--keep`: prints where the emulator answers and what to point the integration at, then
    /// serves until the process is stopped (Ctrl-C). The demo serves plain http: no CA folder
    /// to remove, so the default end on a signal is right.
    fn keep_running(&mut self) -> Result<(), Stop> {
        // The fixtures' placeholder tokens then work here too, with their URL replaced.
        self.emulator.seed_fixture_credentials();
        let base = self.emulator.base_url();
        let mut lines = vec![
            "\nThe emulator keeps running (--keep); Ctrl-C stops it.".to_string(),
            format!("   base URL:      {base}"),
            format!("   device login:  {base}/devicelogin"),
            format!("   admin:         {base}/_emulator"),
            format!("   fixtures/:     replace http://127.0.0.1:8765 with {base}"),
            "   The JSON line below (the `emulator` subcommand's first line): instance parameters for".to_string(),
            "   each sign-in, then the CA and admin:".to_string(),
        ];
        lines.extend(params_table(5));
        lines.extend(PUBLIC_TEST_MATERIAL.lines().map(|line| format!("   {line}")));
        for line in lines {
            self.out.write(&line)?;
        }
        // One line, to copy whole: longer than the terminal, as the certificate's PEM is.
        self.out
            .write(&crate::emulator::cli::startup_line(&self.emulator).to_string())?;
        loop {
            std::thread::park();
        }
    }
}

fn invoke(program: &Path, envelope: &Value) -> Result<Step, String> {
    let mut child = Command::new(program)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_remove("HTTPS_PROXY")
        .env_remove("HTTP_PROXY")
        .env_remove("ALL_PROXY")
        .spawn()
        .map_err(|e| format!("could not run {}: {e}", program.display()))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(envelope.to_string().as_bytes())
            .map_err(|e| format!("could not write the envelope: {e}"))?;
    }
    let output = child
        .wait_with_output()
        .map_err(|e| format!("the command did not finish: {e}"))?;
    let result = serde_json::from_slice(&output.stdout).map_err(|e| format!("stdout was not one JSON result: {e}"))?;
    Ok(Step {
        exit: output.status.code().unwrap_or(-1),
        result,
    })
}

fn text(value: &Value, key: &str) -> String {
    value.get(key).and_then(Value::as_str).unwrap_or_default().to_string()
}

fn describe_args(args: &Value) -> String {
    let pairs = args
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!(" {k}=\"{}\"", v.as_str().unwrap_or_default()));
    pairs.collect()
}

fn incident_names(result: &Value) -> Vec<&str> {
    let incidents = result["incidents"].as_array().into_iter().flatten();
    incidents.filter_map(|i| i["name"].as_str()).collect()
}

/// The incidents fetched, or the entry's text with the first rows of each table.
fn summary(step: &Step) -> String {
    match step.result["incidents"].as_array() {
        // One name a line: a name is a long word-like string that wraps badly.
        Some(incidents) => incidents_line(incidents.len(), &incident_names(&step.result)).replace("; ", ";\n   "),
        None => excerpt(step.text()),
    }
}

/// "40 incident(s): A; B; C … and 37 more".
fn incidents_line(count: usize, names: &[&str]) -> String {
    let shown = &names[..names.len().min(INCIDENTS_SHOWN)];
    let mut line = format!("{count} incident(s)");
    if !shown.is_empty() {
        line.push_str(&format!(": {}", shown.join("; ")));
    }
    let more = count.saturating_sub(shown.len());
    if more > 0 && !shown.is_empty() {
        line.push_str(&format!(" … and {more} more"));
    }
    line
}

/// The markdown's non-empty lines, each table cut to its header and first [`ROWS_SHOWN`] rows.
fn excerpt(markdown: &str) -> String {
    let mut shown: Vec<String> = Vec::new();
    let mut table: Vec<&str> = Vec::new();
    for line in markdown.lines().filter(|l| !l.trim().is_empty()) {
        if line.starts_with('|') {
            table.push(line);
            continue;
        }
        shown.extend(table_excerpt(&std::mem::take(&mut table)));
        shown.push(line.to_string());
    }
    shown.extend(table_excerpt(&table));
    shown.join("\n")
}

/// The header and the first rows, without the `|---|` line, then how many rows were left out.
fn table_excerpt(table: &[&str]) -> Vec<String> {
    let rows: Vec<&str> = table.iter().copied().filter(|l| !is_separator(l)).collect();
    let mut shown: Vec<String> = rows.iter().take(1 + ROWS_SHOWN).map(|r| r.to_string()).collect();
    match rows.len().saturating_sub(1 + ROWS_SHOWN) {
        0 => {}
        1 => shown.push("… and 1 more row".to_string()),
        more => shown.push(format!("… and {more} more rows")),
    }
    shown
}

/// A markdown table's `|---|:--:|` line.
fn is_separator(line: &str) -> bool {
    line.chars().all(|c| matches!(c, '|' | '-' | ':' | ' '))
}

/// `line` in pieces of at most `width` characters, broken between words (a longer word stays whole).
fn wrap(line: &str, width: usize) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut current = String::new();
    for word in line.split_whitespace() {
        let needed = current.chars().count() + 1 + word.chars().count();
        if !current.is_empty() && needed > width {
            pieces.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(word);
    }
    pieces.push(current);
    pieces
}

/// `line` (a table row) cut to `width` characters after its last whole cell, then "…".
fn cut(line: &str, width: usize) -> String {
    if line.chars().count() <= width {
        return line.to_string();
    }
    let head: String = line.chars().take(width.saturating_sub(2)).collect();
    let whole_cells = head
        .rfind('|')
        .filter(|&i| i > 0)
        .map_or(head.as_str(), |i| &head[..=i]);
    format!("{whole_cells} …")
}

/// Which context keys appeared, went or changed (names only: values may be secrets).
fn context_change(before: &Map<String, Value>, after: &Map<String, Value>) -> String {
    let added: Vec<&str> = after
        .keys()
        .filter(|k| !before.contains_key(*k))
        .map(String::as_str)
        .collect();
    let removed: Vec<&str> = before
        .keys()
        .filter(|k| !after.contains_key(*k))
        .map(String::as_str)
        .collect();
    let changed: Vec<&str> = after
        .iter()
        .filter(|(k, v)| before.get(*k).is_some_and(|b| b != *v))
        .map(|(k, _)| k.as_str())
        .collect();
    let parts = [("+", added), ("-", removed), ("~", changed)];
    let shown: Vec<String> = parts
        .iter()
        .filter(|(_, keys)| !keys.is_empty())
        .map(|(sign, keys)| format!("{sign}{}", keys.join(&format!(" {sign}"))))
        .collect();
    if shown.is_empty() {
        "unchanged".to_string()
    } else {
        shown.join("  ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_changes_name_keys_only() {
        let before = json!({"a": 1, "b": "secret-1", "c": 3}).as_object().cloned().unwrap();
        let after = json!({"b": "secret-2", "c": 3, "d": 4}).as_object().cloned().unwrap();
        assert_eq!(context_change(&before, &after), "+d  -a  ~b");
        assert_eq!(context_change(&before, &before), "unchanged");
    }

    #[test]
    fn flags() {
        let words = |line: &str| line.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
        #[rustfmt::skip]
        let cases = [
            ("", Ok(Request::Run { keep: false })),
            ("--keep", Ok(Request::Run { keep: true })),
            ("--keep --help", Ok(Request::Usage)),
            ("-h", Ok(Request::Usage)),
            ("help", Ok(Request::Usage)),
            ("--bogus --help", Err("unknown flag --bogus; see `demo --help`".to_string())),
            ("keep", Err("unknown flag keep; see `demo --help`".to_string())),
        ];
        for (line, expected) in cases {
            assert_eq!(parse(&words(line)), expected, "{line}");
        }
        let hostile = parse(&["--\u{1b}[2J".to_string()]);
        assert_eq!(hostile, Err("unknown flag --\\u{1b}[2J; see `demo --help`".to_string()));
    }

    #[test]
    fn incidents_lines_say_how_many_were_left_out() {
        #[rustfmt::skip]
        let cases: [(usize, &[&str], &str); 5] = [
            (0, &[], "0 incident(s)"),
            (1, &["A"], "1 incident(s): A"),
            (3, &["A", "B", "C"], "3 incident(s): A; B; C"),
            (40, &["A", "B", "C", "D"], "40 incident(s): A; B; C … and 37 more"),
            (4, &["A", "B", "C", "D"], "4 incident(s): A; B; C … and 1 more"),
        ];
        for (count, names, expected) in cases {
            assert_eq!(incidents_line(count, names), expected);
        }
    }

    #[test]
    fn tables_show_their_header_and_first_rows() {
        let table = |rows: usize| {
            let body: Vec<String> = (1..=rows).map(|n| format!("| r{n} |")).collect();
            format!("### T\n|H|\n|---|\n{}\nNext page: more.", body.join("\n"))
        };
        #[rustfmt::skip]
        let cases = [
            (0, "### T\n|H|\nNext page: more."),
            (3, "### T\n|H|\n| r1 |\n| r2 |\n| r3 |\nNext page: more."),
            (4, "### T\n|H|\n| r1 |\n| r2 |\n| r3 |\n… and 1 more row\nNext page: more."),
            (50, "### T\n|H|\n| r1 |\n| r2 |\n| r3 |\n… and 47 more rows\nNext page: more."),
        ];
        for (rows, expected) in cases {
            assert_eq!(excerpt(&table(rows)), expected, "{rows} rows");
        }
        assert_eq!(excerpt("✅ Done.\n\n"), "✅ Done.");
    }

    #[test]
    fn lines_fit_the_width() {
        #[rustfmt::skip]
        let cases = [
            ("| São |", 7, "| São |"),
            ("| one | two | three |", 15, "| one | two | …"),
            ("|H|Header|", 9, "|H| …"),
            ("| abcdefgh |", 6, "| ab …"),
        ];
        for (line, width, expected) in cases {
            assert_eq!(cut(line, width), expected, "{line} in {width}");
        }
        assert_eq!(wrap("one two three", 7), ["one two", "three"]);
        assert_eq!(
            wrap("a https://example.com/long b", 5),
            ["a", "https://example.com/long", "b"]
        );
        assert_eq!(wrap("", 5), [""]);
    }
}
