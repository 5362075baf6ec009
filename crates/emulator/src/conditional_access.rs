//! The default tenant's Conditional Access: two named locations and two policies that use them,
//! in Graph's shapes (ipNamedLocation, countryNamedLocation, conditionalAccessPolicy), so lists
//! are not empty and sign-ins can name the policies applied to them. The integration's own
//! location ("SOAR blocked IP addresses") is deliberately absent: blocking creates it.

use serde_json::{Value, json};

/// `(id, displayName)` of the policy that blocks sign-ins from the blocked countries.
pub(crate) const BLOCK_POLICY: (&str, &str) = (
    "6a1c8f0e-3b2d-4c5e-9f70-8a9b0c1d2e3f",
    "Block sign-ins from blocked countries",
);
/// `(id, displayName)` of the policy that asks for MFA outside the corporate network.
pub(crate) const MFA_POLICY: (&str, &str) = (
    "7b2d9f1a-4c3e-4d6f-8a81-9bac1d2e3f40",
    "Require MFA outside the corporate network",
);
/// `(id, displayName)` of the trusted IP location of the offices.
pub(crate) const CORPORATE_NETWORK: (&str, &str) = ("3e8a2b1c-5d4f-4a6b-9c7d-0e1f2a3b4c5d", "Corporate network");
/// `(id, displayName)` of the country location the block policy names.
pub(crate) const BLOCKED_COUNTRIES: (&str, &str) = ("4f9b3c2d-6e5a-4b7c-8d9e-1f2a3b4c5d6e", "Blocked countries");
/// When the seeded objects were created and last changed.
const SEEDED_AT: &str = "2024-01-15T09:30:00.0000000Z";

/// The seeded named locations: the trusted corporate network and the blocked countries.
pub(crate) fn named_locations() -> Vec<Value> {
    vec![
        json!({
            "@odata.type": "#microsoft.graph.ipNamedLocation",
            "id": CORPORATE_NETWORK.0,
            "displayName": CORPORATE_NETWORK.1,
            "modifiedDateTime": SEEDED_AT,
            "createdDateTime": SEEDED_AT,
            "isTrusted": true,
            "ipRanges": [
                {"@odata.type": "#microsoft.graph.iPv4CidrRange", "cidrAddress": "203.0.113.0/26"},
                {"@odata.type": "#microsoft.graph.iPv6CidrRange", "cidrAddress": "2001:db8:c0::/48"},
            ],
        }),
        json!({
            "@odata.type": "#microsoft.graph.countryNamedLocation",
            "id": BLOCKED_COUNTRIES.0,
            "displayName": BLOCKED_COUNTRIES.1,
            "modifiedDateTime": SEEDED_AT,
            "createdDateTime": SEEDED_AT,
            "countriesAndRegions": ["KP", "IR"],
            "includeUnknownCountriesAndRegions": false,
            "countryLookupMethod": "clientIpAddress",
        }),
    ]
}

/// The seeded policies: block the blocked countries; MFA everywhere but the corporate network.
/// Both exclude the break-glass account, as Microsoft recommends for every policy.
pub(crate) fn policies() -> Vec<Value> {
    vec![
        policy(BLOCK_POLICY, (&[BLOCKED_COUNTRIES.0], &[]), "block"),
        policy(MFA_POLICY, (&["All"], &[CORPORATE_NETWORK.0]), "mfa"),
    ]
}

/// An enabled policy for all users and apps at `(include, exclude)` locations granting `control`.
fn policy((id, name): (&str, &str), (include, exclude): (&[&str], &[&str]), control: &str) -> Value {
    json!({
        "id": id,
        "templateId": null,
        "displayName": name,
        "createdDateTime": SEEDED_AT,
        "modifiedDateTime": SEEDED_AT,
        "state": "enabled",
        "sessionControls": null,
        "conditions": {
            "userRiskLevels": [],
            "signInRiskLevels": [],
            "clientAppTypes": ["all"],
            "platforms": null,
            "locations": {"includeLocations": include, "excludeLocations": exclude},
            "applications": {
                "includeApplications": ["All"],
                "excludeApplications": [],
                "includeUserActions": [],
                "includeAuthenticationContextClassReferences": [],
            },
            "users": {
                "includeUsers": ["All"],
                "excludeUsers": [BREAK_GLASS_ACCOUNT],
                "includeGroups": [],
                "excludeGroups": [],
                "includeRoles": [],
                "excludeRoles": [],
            },
        },
        "grantControls": {
            "operator": "OR",
            "builtInControls": [control],
            "customAuthenticationFactors": [],
            "termsOfUse": [],
        },
    })
}

/// The object id of the tenant's emergency-access (break-glass) account.
const BREAK_GLASS_ACCOUNT: &str = "0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e";

/// Whether a policy names the location `id` among its included or excluded locations.
pub(crate) fn references(policy: &Value, id: &str) -> bool {
    let locations = &policy["conditions"]["locations"];
    ["includeLocations", "excludeLocations"]
        .iter()
        .filter_map(|key| locations[key].as_array())
        .flatten()
        .any(|l| l.as_str().is_some_and(|l| l.eq_ignore_ascii_case(id)))
}
