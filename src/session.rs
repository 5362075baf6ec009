//! One command's working state: the configuration, the HTTP client and the context being built.

use crate::config::Config;
use crate::http::{Client, Destinations, NetSettings};
use crate::runtime::Runtime;
use serde_json::{Map, Value};

/// What a command works with. `context` starts as the host's and is changed only with state that
/// must survive, so on failure it can be returned as it stands.
pub struct Session<'a> {
    pub config: Config,
    pub http: Client<'a>,
    pub context: Map<String, Value>,
    /// fetch-incidents' cursor as the host persisted it.
    pub last_run: Option<Map<String, Value>>,
    /// The host's name for this instance (`instance_name` in the envelope).
    pub instance_name: Option<String>,
    /// Graph refused a token once and it was renewed: a command renews at most once.
    pub renewed_after_refusal: bool,
}

impl<'a> Session<'a> {
    /// A session whose HTTP client sends tokens only to the Graph root and secrets only to the
    /// login host's OAuth endpoints.
    pub fn new(config: Config, context: Map<String, Value>, runtime: &'a dyn Runtime) -> Self {
        let settings = NetSettings {
            timeout_secs: config.timeout_secs,
            insecure: config.insecure,
            extra_roots: config.extra_roots.clone(),
            proxy: config.proxy,
        };
        let mut destinations = Destinations::new(&config.login_endpoints(), &config.graph_root());
        if let Some(identity) = &config.managed_identity {
            destinations = destinations.with_managed_identity(&identity.endpoint.token_url());
        }
        let http = Client::new(runtime, &settings, destinations);
        Session {
            config,
            http,
            context,
            last_run: None,
            instance_name: None,
            renewed_after_refusal: false,
        }
    }

    /// Now, in epoch seconds.
    pub fn now(&self) -> u64 {
        self.http.runtime().now()
    }
}
