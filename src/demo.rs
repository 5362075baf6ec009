//! `azure-ad-identity-protection demo`: the whole product on the built-in emulator, through the
//! real binary protocol. Each step runs this same executable with an envelope on stdin, as a SOAR
//! host would, carries the result's context into the next step, and prints what happened.

use crate::emulator::{Emulator, TenantConfig};
use serde_json::{Map, Value, json};
use std::io::Write;
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};

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
}

/// Runs the demo; exit status 0 only if every step did what it should.
/// `demo [flags]`: `flags` are the words after `demo`.
pub fn main(program: &Path, _flags: &[String]) -> ExitCode {
    match run(program) {
        Ok(()) => {
            println!("\nAll steps succeeded.");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("\ndemo failed: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The demo tenant: seed, risky users, risk detections (the standalone emulator's default too).
const DEMO_TENANT: (u64, usize, usize) = (1, 300, 3000);

fn run(program: &Path) -> Result<(), String> {
    let (seed, users, detections) = DEMO_TENANT;
    let emulator = Emulator::start(TenantConfig::generated(seed, users, detections))
        .map_err(|e| format!("the emulator did not start: {e}"))?;
    println!(
        "Emulator (offline Entra ID + Microsoft Graph; {users} risky users, {detections} risk detections) at {}\n",
        emulator.base_url()
    );
    let params = emulator.device_code_params();
    let mut demo = Demo {
        program,
        emulator,
        params,
        context: Map::new(),
        number: 0,
    };
    demo.sign_in()?;
    let upn = demo.investigate()?;
    demo.fetch_twice(&upn)
}

/// Plays the person's browser: submits the emulator's device-login form with Approve.
fn approve_in_browser(base: &str, user_code: &str) -> Result<String, String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .proxy(None)
        .http_status_as_error(false)
        .build()
        .into();
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
    fn sign_in(&mut self) -> Result<(), String> {
        let started = self.step("azure-ad-auth-start", json!({}), None)?;
        let code = started.result["entries"][0]["Contents"]["user_code"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let page = approve_in_browser(&self.emulator.base_url(), &code)?;
        println!("   (a person opens the link, enters {code} and presses Approve; the page says: {page})");
        self.step("azure-ad-auth-complete", json!({}), None)?;
        self.step("azure-ad-auth-test", json!({}), None).map(|_| ())
    }

    /// The high-risk users, one user's detections and history, then dismiss that user.
    fn investigate(&mut self) -> Result<String, String> {
        let high = self.step(
            "azure-ad-identity-protection-risky-user-list",
            json!({"risk_level": "high"}),
            None,
        )?;
        let user = high
            .items("RiskyUsers")
            .into_iter()
            .next()
            .ok_or("no high-risk user in the tenant")?;
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
        println!("   (the tenant now says {upn} is {state})");
        Ok(upn)
    }

    /// Fetches that user's detections, adds a new one to the tenant, and fetches again.
    fn fetch_twice(&mut self, upn: &str) -> Result<(), String> {
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
        println!("   (a new risk detection appears in the tenant)");
        let second = self.step("fetch-incidents", json!({}), Some(last_run))?;
        let names: Vec<&str> = second.result["incidents"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|i| i["name"].as_str())
            .collect();
        if names.len() != 1 || !names[0].contains("demo-new-detection") {
            return Err(format!(
                "the second fetch should return only the new detection, got {names:?}"
            ));
        }
        Ok(())
    }

    /// Runs one command through the binary and prints what it did.
    fn step(&mut self, command: &str, args: Value, last_run: Option<Value>) -> Result<Step, String> {
        self.number += 1;
        let mut envelope = json!({"command": command, "args": args, "params": self.params, "context": self.context});
        if let Some(last_run) = last_run {
            envelope["last_run"] = last_run;
        }
        println!("{:>2}. !{command}{}", self.number, describe_args(&envelope["args"]));
        let step = invoke(self.program, &envelope)?;
        println!("{}", indent(&summary(&step)));
        println!("   context: {}", context_change(&self.context, &step.context()));
        if step.exit != 0 {
            return Err(format!("{command} exited with {}: {}", step.exit, step.text()));
        }
        self.context = step.context();
        Ok(step)
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

/// The entry's first lines, or the incidents fetched.
fn summary(step: &Step) -> String {
    if let Some(incidents) = step.result["incidents"].as_array() {
        let names = incidents
            .iter()
            .take(3)
            .filter_map(|i| i["name"].as_str())
            .collect::<Vec<_>>()
            .join("; ");
        return format!(
            "{} incident(s){}{names}",
            incidents.len(),
            if names.is_empty() { "" } else { ": " }
        );
    }
    let lines: Vec<&str> = step
        .text()
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('|'))
        .take(3)
        .collect();
    lines.join("\n")
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("   {l}")).collect::<Vec<_>>().join("\n")
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
}
