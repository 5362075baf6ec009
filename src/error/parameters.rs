//! The names the instance settings show for each parameter, so that a parameter error names the
//! field a person sees, with the key in parentheses.

/// Each parameter of integration.yml with its name in the instance settings: `display`, or
/// `displaypassword` for a credentials field with a hidden user name, or both joined by " / "
/// for a credentials field that shows both. tests/definition.rs checks it against integration.yml.
pub const DISPLAY_NAMES: &[(&str, &str)] = &[
    ("app_id", "Application ID (Client ID for Client credentials mode)"),
    ("subscription_id", "Subscription ID"),
    ("azure_ad_endpoint", "Azure Active Directory endpoint"),
    ("azure_cloud", "Azure cloud"),
    ("graph_endpoint", "Microsoft Graph endpoint"),
    ("api_version", "Microsoft Graph API version"),
    ("client_credentials", "Use Client Credentials Authorization Flow"),
    ("tenant_id", "Tenant ID (required for Client Credentials mode)"),
    ("credentials", "Client Secret (Client Credentials mode with a secret)"),
    ("credentials_certificate", "Certificate Thumbprint / Private Key"),
    (
        "certificate_thumbprint",
        "Certificate Thumbprint, plain text (alternative)",
    ),
    ("private_key", "Private Key PEM, plain text (alternative)"),
    ("certificate", "Certificate and Private Key (PEM bundle)"),
    (
        "federated_token_file",
        "Federated token file (workload identity federation)",
    ),
    ("use_managed_identities", "Use Azure Managed Identities"),
    ("managed_identities_client_id", "Managed Identities Client ID"),
    (
        "engine_identity_to_custom_hosts",
        "Send the engine's identity to custom endpoints (not secure)",
    ),
    ("insecure", "Trust any certificate (not secure)"),
    ("ca_file", "Trusted CA certificates (PEM)"),
    ("proxy", "Use system proxy settings"),
    ("request_timeout", "Request timeout (seconds)"),
    ("isFetch", "Fetch incidents"),
    ("incidentType", "Incident type"),
    ("first_fetch", "First Fetch Time Interval"),
    ("max_fetch", "Maximum number of incidents per fetch"),
    ("fetch_filter_expression", "Fetch filter expression"),
    ("fetch_user_id", "Fetch User ID"),
    ("fetch_user_principal_name", "Fetch User Principal Name"),
    (
        "fetch_service_principal_detections",
        "Fetch service principal (workload identity) risk detections",
    ),
    ("fetch_risky_users", "Fetch risky users"),
    ("mirror_direction", "Incident Mirroring Direction"),
    (
        "close_incident",
        "Close the XSOAR incident when the risk is remediated, dismissed or confirmed safe in Entra",
    ),
    ("close_out", "Act in Entra when the XSOAR incident is closed"),
];

/// How a message names the parameter `key`: "Display name (key)", or the key in backticks for a
/// name integration.yml does not declare.
pub fn parameter_label(key: &str) -> String {
    match DISPLAY_NAMES.iter().find(|(name, _)| *name == key) {
        Some((_, display)) => format!("{display} ({key})"),
        None => format!("`{key}`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_named_as_the_settings_show_them() {
        let cases = [
            ("max_fetch", "Maximum number of incidents per fetch (max_fetch)"),
            (
                "credentials",
                "Client Secret (Client Credentials mode with a secret) (credentials)",
            ),
            ("not_declared", "`not_declared`"),
        ];
        for (key, expected) in cases {
            assert_eq!(parameter_label(key), expected);
        }
    }
}
