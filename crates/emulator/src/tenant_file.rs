//! Tenant files: a tenant as JSON in Graph's own response shapes, for `--seed FILE` and
//! `--dump-tenant`:
//!
//! ```json
//! {"tenant_id": "…", "tenant_domain": "…",
//!  "riskyUsers": {"value": [riskyUser…]},
//!  "riskDetections": {"value": [riskDetection…]},
//!  "riskyUserHistory": {"value": [riskyUserHistoryItem…]},
//!  "riskyServicePrincipals": {"value": [riskyServicePrincipal…]},
//!  "riskyServicePrincipalHistory": {"value": [riskyServicePrincipalHistoryItem…]},
//!  "servicePrincipalRiskDetections": {"value": [servicePrincipalRiskDetection…]},
//!  "signIns": {"value": [signIn…]},
//!  "apps": [{"client_id", "client_secret", "public_client_flows", "secret_expired", "permissions",
//!            "certificates": ["-----BEGIN CERTIFICATE-----…" or base64 DER, …],
//!            "federated_credentials": [{"issuer", "subject", "audience", "issuer_keys": [JWK…]}]}],
//!  "user": {"object_id", "user_principal_name", "display_name"}}
//! ```
//!
//! Every key is optional: an absent list is empty, anything else `TenantConfig::default()` fills;
//! without `signIns`, the log is derived from the file's users and detections, so they agree.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::config::{AppRegistration, FederatedCredential, SignedInUser, TenantConfig};
use super::generate::sign_ins;
use super::pem::{certificates_from_text, pem};

/// The seed of the ordinary sign-ins of a tenant file without a sign-in log.
const DERIVED_SIGN_IN_SEED: u64 = 0x4649_4c45;

/// An app registration as a tenant file writes it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AppFile {
    client_id: String,
    #[serde(default)]
    client_secret: Option<String>,
    #[serde(default)]
    public_client_flows: Option<bool>,
    #[serde(default)]
    secret_expired: bool,
    #[serde(default)]
    permissions: Option<Vec<String>>,
    /// Public certificates (PEM, or base64 DER as the portal exports it), for client assertions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    certificates: Vec<String>,
    /// Federated credentials (workload identity federation).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    federated_credentials: Vec<FederatedCredential>,
}

/// The signed-in user as a tenant file writes it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct UserFile {
    object_id: String,
    user_principal_name: String,
    display_name: String,
}

const KNOWN_KEYS: [&str; 11] = [
    "tenant_id",
    "tenant_domain",
    "riskyUsers",
    "riskDetections",
    "riskyUserHistory",
    "riskyServicePrincipals",
    "riskyServicePrincipalHistory",
    "servicePrincipalRiskDetections",
    "signIns",
    "apps",
    "user",
];

impl TenantConfig {
    /// Reads a tenant file (see the module docs); the error names the part that is wrong.
    pub fn from_json(text: &str) -> Result<TenantConfig, String> {
        let root: Value = serde_json::from_str(text).map_err(|e| format!("the tenant file is not valid JSON: {e}"))?;
        let fields = root.as_object().ok_or("the tenant file must be a JSON object")?;
        if let Some(key) = fields.keys().find(|k| !KNOWN_KEYS.contains(&k.as_str())) {
            return Err(format!("unknown key {key:?}; known keys: {}", KNOWN_KEYS.join(", ")));
        }
        let mut config = TenantConfig::default();
        read_identity(fields, &mut config)?;
        config.risky_users = collection(fields, "riskyUsers", "id")?;
        config.risk_detections = collection(fields, "riskDetections", "id")?;
        config.risky_user_history = collection(fields, "riskyUserHistory", "userId")?;
        config.risky_service_principals = collection(fields, "riskyServicePrincipals", "id")?;
        config.risky_service_principal_history =
            collection(fields, "riskyServicePrincipalHistory", "servicePrincipalId")?;
        config.service_principal_risk_detections = collection(fields, "servicePrincipalRiskDetections", "id")?;
        config.sign_ins = match fields.contains_key("signIns") {
            true => collection(fields, "signIns", "id")?,
            false => sign_ins(DERIVED_SIGN_IN_SEED, &config.risky_users, &config.risk_detections),
        };
        if let Some(apps) = fields.get("apps") {
            config.apps = read_apps(apps)?;
        }
        if let Some(user) = fields.get("user") {
            config.user = read_user(user)?;
        }
        Ok(config)
    }

    /// The tenant as a tenant file ([`TenantConfig::from_json`] reads it back).
    pub fn to_json(&self) -> serde_json::Value {
        let user = UserFile {
            object_id: self.user.object_id.clone(),
            user_principal_name: self.user.user_principal_name.clone(),
            display_name: self.user.display_name.clone(),
        };
        json!({
            "tenant_id": self.tenant_id,
            "tenant_domain": self.tenant_domain,
            "riskyUsers": {"value": self.risky_users},
            "riskDetections": {"value": self.risk_detections},
            "riskyUserHistory": {"value": self.risky_user_history},
            "riskyServicePrincipals": {"value": self.risky_service_principals},
            "riskyServicePrincipalHistory": {"value": self.risky_service_principal_history},
            "servicePrincipalRiskDetections": {"value": self.service_principal_risk_detections},
            "signIns": {"value": self.sign_ins},
            "apps": self.apps.iter().map(app_file).collect::<Vec<_>>(),
            "user": user,
        })
    }
}

fn read_identity(fields: &Map<String, Value>, config: &mut TenantConfig) -> Result<(), String> {
    for (key, slot) in [
        ("tenant_id", &mut config.tenant_id),
        ("tenant_domain", &mut config.tenant_domain),
    ] {
        if let Some(value) = fields.get(key) {
            let text = value.as_str().filter(|t| !t.trim().is_empty());
            *slot = text
                .ok_or_else(|| format!("{key} must be a non-empty string"))?
                .to_owned();
        }
    }
    Ok(())
}

/// `fields[name].value`: an array of objects, each with a string `key_field`. Absent: empty.
fn collection(fields: &Map<String, Value>, name: &str, key_field: &str) -> Result<Vec<Value>, String> {
    let Some(wrapper) = fields.get(name) else {
        return Ok(Vec::new());
    };
    let items = wrapper
        .get("value")
        .and_then(Value::as_array)
        .ok_or_else(|| format!("{name} must be {{\"value\": [...]}}, as Graph answers a list"))?;
    for (n, item) in items.iter().enumerate() {
        if !item.is_object() {
            return Err(format!("{name}.value[{n}] is not a JSON object"));
        }
        if item[key_field].as_str().is_none_or(str::is_empty) {
            return Err(format!("{name}.value[{n}] has no string \"{key_field}\""));
        }
    }
    Ok(items.clone())
}

fn read_apps(apps: &Value) -> Result<Vec<AppRegistration>, String> {
    let apps: Vec<AppFile> = serde_json::from_value(apps.clone()).map_err(|e| format!("apps: {e}"))?;
    apps.into_iter().map(app_registration).collect()
}

fn app_registration(file: AppFile) -> Result<AppRegistration, String> {
    let mut app = match &file.client_secret {
        Some(secret) => AppRegistration::confidential(&file.client_id, secret),
        None => AppRegistration::public_client(&file.client_id),
    };
    app.public_client_flows = file.public_client_flows.unwrap_or(app.public_client_flows);
    app.secret_expired = file.secret_expired;
    app.permissions = file.permissions.unwrap_or(app.permissions);
    for text in &file.certificates {
        let read = certificates_from_text(text).map_err(|e| format!("apps: {}: {e}", file.client_id))?;
        app.certificates.extend(read);
    }
    app.federated_credentials = file.federated_credentials;
    Ok(app)
}

fn app_file(app: &AppRegistration) -> AppFile {
    AppFile {
        client_id: app.client_id.clone(),
        client_secret: app.client_secret.clone(),
        public_client_flows: Some(app.public_client_flows),
        secret_expired: app.secret_expired,
        permissions: Some(app.permissions.clone()),
        certificates: app.certificates.iter().map(|der| pem(der)).collect(),
        federated_credentials: app.federated_credentials.clone(),
    }
}

fn read_user(user: &Value) -> Result<SignedInUser, String> {
    let user: UserFile = serde_json::from_value(user.clone()).map_err(|e| format!("user: {e}"))?;
    Ok(SignedInUser {
        object_id: user.object_id,
        user_principal_name: user.user_principal_name,
        display_name: user.display_name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_tenant_round_trips() {
        let config = TenantConfig::default();
        let text = config.to_json().to_string();
        let back = TenantConfig::from_json(&text).map_err(|e| e.to_string());
        let back = back.as_ref().map(TenantConfig::to_json);
        assert_eq!(back, Ok(config.to_json()));
    }

    #[test]
    fn minimal_files_use_defaults() {
        let text = r#"{"tenant_id": "t1", "riskyUsers": {"value": [{"id": "u1"}]}}"#;
        let config = TenantConfig::from_json(text).unwrap_or_default();
        assert_eq!(config.tenant_id, "t1");
        assert_eq!((config.risky_users.len(), config.risk_detections.len()), (1, 0));
        assert_eq!(config.apps.len(), TenantConfig::default().apps.len());
    }

    #[test]
    fn bad_files_name_the_problem() {
        #[rustfmt::skip]
        let cases = [
            ("{", "not valid JSON"),
            ("[]", "must be a JSON object"),
            (r#"{"riskyusers": {"value": []}}"#, "unknown key \"riskyusers\""),
            (r#"{"tenant_id": 5}"#, "tenant_id must be a non-empty string"),
            (r#"{"riskyUsers": []}"#, "riskyUsers must be {\"value\": [...]}"),
            (r#"{"riskDetections": {"value": [1]}}"#, "riskDetections.value[0] is not a JSON object"),
            (r#"{"riskDetections": {"value": [{"id": "a"}, {}]}}"#, "riskDetections.value[1] has no string \"id\""),
            (r#"{"riskyUserHistory": {"value": [{"id": "h"}]}}"#, "riskyUserHistory.value[0] has no string \"userId\""),
            (r#"{"riskyServicePrincipalHistory": {"value": [{"id": "h"}]}}"#, "has no string \"servicePrincipalId\""),
            (r#"{"apps": [{"client_secret": "s"}]}"#, "apps: missing field `client_id`"),
            (r#"{"user": {"object_id": "o"}}"#, "user: missing field"),
        ];
        for (text, needle) in cases {
            match TenantConfig::from_json(text) {
                Err(message) => assert!(message.contains(needle), "{text}: {message}"),
                Ok(_) => panic!("{text}: accepted"),
            }
        }
    }
}
