//! What the commands get from the outside world: the clock, sleeping, randomness for jitter,
//! the HTTP transport and stderr. Injected so tests can replace each of them.

use crate::http::{NetSettings, Transport, UreqTransport};
use std::hash::{BuildHasher, RandomState};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The outside world, as the commands see it.
pub trait Runtime {
    /// Now, in epoch seconds.
    fn now(&self) -> u64;
    /// Waits (backoff between retries).
    fn sleep(&self, duration: Duration);
    /// A number in `0.0..1.0` for backoff jitter.
    fn jitter(&self) -> f64;
    /// The HTTP transport for these network settings.
    fn transport(&self, settings: &NetSettings) -> Box<dyn Transport>;
    /// One diagnostic line for stderr (never a secret).
    fn log(&self, line: &str);
}

/// The real clock, network and stderr.
#[derive(Debug, Default, Clone, Copy)]
pub struct System;

impl Runtime for System {
    fn now(&self) -> u64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
    }

    fn sleep(&self, duration: Duration) {
        std::thread::sleep(duration);
    }

    fn jitter(&self) -> f64 {
        // RandomState is seeded per process from the OS; enough for spreading retries.
        let bits = RandomState::new().hash_one(std::time::Instant::now());
        (bits >> 11) as f64 / (1u64 << 53) as f64
    }

    fn transport(&self, settings: &NetSettings) -> Box<dyn Transport> {
        Box::new(UreqTransport::new(settings))
    }

    fn log(&self, line: &str) {
        eprintln!("azure-ad-identity-protection: {line}");
    }
}
