//! One integration-test crate: the compiled binary against the in-process emulator.

mod util;

// The host protocol: envelopes, results, exit codes, bad input of every kind.
mod protocol;
// Device-code sign-in: auth-start, auth-complete in every state, polling.
mod device_code;
// Client credentials: tokens, AADSTS errors, parameter checks.
mod client_credentials;
// Certificate sign-in: signed client assertions the emulator verifies.
mod certificate;
// Managed-identity sign-in: IMDS and the App Service / Arc endpoint.
mod managed_identity;
// The token lifecycle every Graph command uses: cache, refresh, rotation, 401, owners.
mod tokens;
// Retries, throttling, timeouts, broken bodies, redirects, network down.
mod network;
// TLS trust: the ca_file parameter and SSL_CERT_FILE, added to the built-in roots.
mod ca_file;
// Files named by a parameter or variable: FIFOs, devices and folders refused, never waited on.
mod files;
// The Identity Protection commands: lists, paging, filters, actions.
mod graph_commands;
// Workload identities: risky service principals and their risk detections.
mod service_principals;
// Investigating and responding (issue 18): sign-ins, verdicts, sessions, blocked IP addresses.
mod respond;
// fetch-incidents: lossless, duplicate-free, migration-safe.
mod fetch;
// Incidents an analyst can work: risky users fetched, mirror marks, the four mirroring commands.
mod mirror;
// The README's main job: the demo on the built-in emulator.
mod demo;
// The emulator as people run it: serving after an idle spell, and after running out of descriptors.
mod emulator_serving;
// Servers that misbehave on purpose: garbage, floods, bombs, drips.
mod hostile;
// No envelope breaks the binary (property test).
mod property;
// The engine's own identity goes only to national clouds and loopback.
mod engine_identity;
// Redaction where the attack found gaps: keys, incidents, logs, encodings, config errors, markdown.
mod redaction;
// What is written stays bounded: the result cap, a fetch in parts.
mod bounds;
// Planted secrets through every fixture and failure mode.
mod secrets;
// Fixtures replay and integration.yml against the command table.
mod definition;
// Every shell example of README.md and fixtures/README.md, run as written.
mod examples;
// What a person reads: typo suggestions, misplaced arguments, the terminal hint, plain stderr.
mod messages;
// Links and paths in the documents, no document outside the repository, one protocol version.
mod docs;
