//! The emulated tenant: its id, app registrations, signed-in user, token policy and risky users.

use serde_json::Value;

/// The Identity Protection Graph permissions an app gets by default (users, detections, the
/// signIn verdicts an application gives with IdentityRiskEvent.ReadWrite.All and, for workload
/// identities, service principals).
pub const IDENTITY_PROTECTION_PERMISSIONS: [&str; 6] = [
    "IdentityRiskyUser.Read.All",
    "IdentityRiskyUser.ReadWrite.All",
    "IdentityRiskEvent.Read.All",
    "IdentityRiskEvent.ReadWrite.All",
    "IdentityRiskyServicePrincipal.Read.All",
    "IdentityRiskyServicePrincipal.ReadWrite.All",
];

/// The Graph permissions of the investigate-and-respond commands an app gets by default: reading
/// sign-ins (AuditLog.Read.All and Directory.Read.All, both required), revoking sessions, and
/// reading and writing Conditional Access named locations (Policy.Read.All and
/// Policy.ReadWrite.ConditionalAccess, both required to write).
pub const RESPONSE_PERMISSIONS: [&str; 5] = [
    "AuditLog.Read.All",
    "Directory.Read.All",
    "User.RevokeSessions.All",
    "Policy.Read.All",
    "Policy.ReadWrite.ConditionalAccess",
];

/// Everything the emulator knows about its tenant. `TenantConfig::default()` is a ready tenant.
#[derive(Debug, Clone)]
pub struct TenantConfig {
    /// The directory (tenant) id, a GUID.
    pub tenant_id: String,
    /// The initial domain, accepted as the tenant path segment too.
    pub tenant_domain: String,
    /// App registrations that may sign in.
    pub apps: Vec<AppRegistration>,
    /// The user who approves device codes.
    pub user: SignedInUser,
    /// Seconds a device code stays valid (Entra: 900).
    pub device_code_lifetime: u64,
    /// Seconds a client must wait between polls (Entra: 5).
    pub device_code_interval: u64,
    /// Seconds an access token stays valid.
    pub access_token_lifetime: u64,
    /// `false` (Entra's behaviour): a used refresh token stays valid. `true`: it is invalid afterwards.
    pub rotate_refresh_tokens_strictly: bool,
    /// Whether the tenant has Entra ID P2; without it Graph riskyUsers answers 403.
    pub p2_licence: bool,
    /// Whether the tenant has Microsoft Entra Workload ID Premium; without it Graph
    /// riskyServicePrincipals and servicePrincipalRiskDetections answer 403.
    pub workload_id_premium: bool,
    /// Whether the tenant has Entra ID P1 (P2 includes it); without it Graph's sign-in logs
    /// answer 403 `Authentication_RequestFromNonPremiumTenantOrB2CTenant`.
    pub p1_licence: bool,
    /// Graph riskyUser objects, served in this order (unless `shuffle_seed` is set).
    pub risky_users: Vec<Value>,
    /// Graph riskyUserHistoryItem objects of every user (`userId` names the user; `id` is unique).
    pub risky_user_history: Vec<Value>,
    /// Graph riskDetection objects, served in this order (unless `shuffle_seed` is set).
    pub risk_detections: Vec<Value>,
    /// Graph riskyServicePrincipal objects (workload identities), served in this order.
    pub risky_service_principals: Vec<Value>,
    /// Graph riskyServicePrincipalHistoryItem objects (`servicePrincipalId` names the principal).
    pub risky_service_principal_history: Vec<Value>,
    /// Graph servicePrincipalRiskDetection objects, served in this order.
    pub service_principal_risk_detections: Vec<Value>,
    /// Graph signIn objects (beta's shape; v1.0 leaves out beta's properties), newest first as
    /// Graph lists them; each detection's `requestId` names one of them.
    pub sign_ins: Vec<Value>,
    /// Conditional Access named locations (ipNamedLocation, countryNamedLocation objects).
    pub named_locations: Vec<Value>,
    /// Conditional Access policies (conditionalAccessPolicy objects), read only.
    pub conditional_access_policies: Vec<Value>,
    /// The most items one page holds whatever `$top` asks (default 1000: the largest page
    /// Graph serves, the sign-in log's; other lists stop at their own 500).
    pub page_cap: usize,
    /// `Some(seed)`: every list is served in a deterministic shuffled order (stable across the
    /// pages of one listing), to show a client does not rely on Graph's order.
    pub shuffle_seed: Option<u64>,
    /// Where the emulated Azure Arc agent (`/arc/metadata/identity/oauth2/token`) writes the key
    /// its challenge names. `None`: the challenge names a file in the real agent's folder,
    /// [`ARC_TOKENS_FOLDER`], and nothing is written (an emulator never writes there).
    pub arc_key_file: Option<std::path::PathBuf>,
}

/// The Azure Arc agent's key folder on Linux, which the emulated agent's challenge names when
/// [`TenantConfig::arc_key_file`] is not set.
pub const ARC_TOKENS_FOLDER: &str = "/var/opt/azcmagent/tokens";

impl TenantConfig {
    /// The app registration with this client id, if any.
    pub fn app(&self, client_id: &str) -> Option<&AppRegistration> {
        self.apps.iter().find(|app| app.client_id == client_id)
    }

    /// Whether `segment` names this tenant (id or domain, case-insensitive).
    pub fn is_own_tenant(&self, segment: &str) -> bool {
        segment.eq_ignore_ascii_case(&self.tenant_id) || segment.eq_ignore_ascii_case(&self.tenant_domain)
    }
}

/// An app registration in the tenant.
#[derive(Clone)]
pub struct AppRegistration {
    /// Application (client) id.
    pub client_id: String,
    /// The secret value, for confidential apps.
    pub client_secret: Option<String>,
    /// The secret has passed its end date (AADSTS7000222).
    pub secret_expired: bool,
    /// "Allow public client flows"; without it device code and secret-less refresh fail (AADSTS7000218).
    pub public_client_flows: bool,
    /// Admin-consented Graph permissions, e.g. `IdentityRiskyUser.ReadWrite.All`.
    pub permissions: Vec<String>,
    /// Uploaded certificates (DER): client assertions signed with their keys are accepted.
    pub certificates: Vec<Vec<u8>>,
    /// Federated credentials: tokens of another issuer accepted as client assertions.
    pub federated_credentials: Vec<FederatedCredential>,
}

/// A federated identity credential of an app (workload identity federation).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FederatedCredential {
    /// The token's `iss`, e.g. an AKS cluster's OIDC issuer URL.
    pub issuer: String,
    /// The token's `sub`, e.g. `system:serviceaccount:xsoar:engine`.
    pub subject: String,
    /// One of the token's `aud`; Entra's default is `api://AzureADTokenExchange`.
    #[serde(default = "default_federated_audience")]
    pub audience: String,
    /// The issuer's public signing keys (its JWKS `keys`): Entra fetches them from the issuer's
    /// discovery document, which an offline emulator cannot, so the tenant states them. Without
    /// them, the issuer's tokens are refused (AADSTS50166).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub issuer_keys: Vec<super::signing::IssuerKey>,
}

fn default_federated_audience() -> String {
    FEDERATED_AUDIENCE.to_owned()
}

/// The audience Entra expects in federated tokens by default.
pub const FEDERATED_AUDIENCE: &str = "api://AzureADTokenExchange";

/// The default certificate app's federated credential: this issuer and subject.
pub const TEST_FEDERATED_ISSUER: &str = "https://oidc.emulator.invalid/xsoar";
/// See [`TEST_FEDERATED_ISSUER`].
pub const TEST_FEDERATED_SUBJECT: &str = "system:serviceaccount:xsoar:engine";

/// The client id of the managed identity assigned to the emulated engine host: the identity
/// `/metadata/identity/oauth2/token` signs in as, system-assigned or named by this id.
pub const MANAGED_IDENTITY_CLIENT_ID: &str = "9a1d6c3e-5b7f-4e2d-8c0a-1f2e3d4c5b6a";

impl AppRegistration {
    /// A managed identity's service principal with the Identity Protection app roles: no
    /// secret, no public flows; only the managed-identity endpoint issues its tokens.
    pub fn managed_identity(id: &str) -> Self {
        AppRegistration {
            public_client_flows: false,
            ..AppRegistration::public_client(id)
        }
    }

    /// A public client (device code) app with the Identity Protection permissions.
    pub fn public_client(id: &str) -> Self {
        AppRegistration {
            client_id: id.to_owned(),
            client_secret: None,
            secret_expired: false,
            public_client_flows: true,
            permissions: default_permissions(),
            certificates: Vec::new(),
            federated_credentials: Vec::new(),
        }
    }

    /// A confidential app with a certificate (PEM) and no secret.
    pub fn with_certificate(id: &str, certificate_pem: &str) -> Self {
        AppRegistration {
            public_client_flows: false,
            certificates: super::pem::certificates_from_text(certificate_pem).unwrap_or_default(),
            federated_credentials: vec![FederatedCredential {
                issuer: TEST_FEDERATED_ISSUER.to_owned(),
                subject: TEST_FEDERATED_SUBJECT.to_owned(),
                audience: FEDERATED_AUDIENCE.to_owned(),
                issuer_keys: vec![super::signing::test_issuer_key()],
            }],
            ..AppRegistration::public_client(id)
        }
    }

    /// A confidential (client credentials) app with a secret and the Identity Protection permissions.
    pub fn confidential(id: &str, secret: &str) -> Self {
        AppRegistration {
            client_secret: Some(secret.to_owned()),
            public_client_flows: false,
            ..AppRegistration::public_client(id)
        }
    }
}

impl std::fmt::Debug for AppRegistration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppRegistration")
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret.as_ref().map(|_| "[redacted]"))
            .field("secret_expired", &self.secret_expired)
            .field("public_client_flows", &self.public_client_flows)
            .field("permissions", &self.permissions)
            .field("certificates", &self.certificates.len())
            .field("federated_credentials", &self.federated_credentials)
            .finish()
    }
}

fn default_permissions() -> Vec<String> {
    IDENTITY_PROTECTION_PERMISSIONS
        .iter()
        .chain(&RESPONSE_PERMISSIONS)
        .map(|p| p.to_string())
        .collect()
}

/// The default certificate app's id.
pub const CERTIFICATE_APP_ID: &str = "9e2d4c1a-5b6f-4a7e-8c9d-0a1b2c3d4e5f";

/// The default certificate app's certificate: a test-only self-signed RSA certificate whose key
/// (`certs/app-key.pem`) is public, committed for tests (see `certs/make-app-cert.sh`).
pub const TEST_APP_CERTIFICATE: &str = include_str!("certs/app-cert.pem");

/// Its private key (PKCS#8 PEM), public on purpose: it signs in to this emulator and nothing else.
pub const TEST_APP_KEY: &str = include_str!("certs/app-key.pem");

/// The user who signs in on the device-code page.
#[derive(Debug, Clone)]
pub struct SignedInUser {
    /// The user's object id.
    pub object_id: String,
    /// The user principal name, e.g. `analyst@contoso.onmicrosoft.com`.
    pub user_principal_name: String,
    /// The display name.
    pub display_name: String,
}

impl Default for SignedInUser {
    fn default() -> Self {
        SignedInUser {
            object_id: "5b7c9d1e-2f3a-4b5c-8d6e-7f8091a2b3c4".to_owned(),
            user_principal_name: "sam.analyst@contoso.onmicrosoft.com".to_owned(),
            display_name: "Sam Analyst".to_owned(),
        }
    }
}
