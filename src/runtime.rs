//! What the commands get from the outside world: the clock, sleeping, randomness for jitter,
//! the HTTP transport and stderr. Injected so tests can replace each of them.

use crate::http::transport::{NetSettings, UreqTransport};
use crate::http::wire::Transport;
pub use formats::printable;
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
        eprintln!("azure-ad-identity-protection: {}", printable(line));
    }
}

/// A scripted runtime for unit tests: a clock that only moves when told (or slept), canned
/// HTTP answers, and a record of what was sent.
#[cfg(test)]
pub mod testing {
    use super::Runtime;
    use crate::http::{Body, HttpRequest, HttpResponse, NetSettings, Transport, TransportError};
    use std::cell::{Cell, RefCell};
    use std::collections::VecDeque;
    use std::rc::Rc;
    use std::time::Duration;

    type Answers = Rc<RefCell<VecDeque<Result<HttpResponse, TransportError>>>>;
    /// URL, form and headers of one request.
    type Sent = (String, Vec<(String, String)>, Vec<(String, String)>);

    /// The fake world.
    #[derive(Default)]
    pub struct Fake {
        pub now: Rc<Cell<u64>>,
        pub slept: RefCell<Vec<Duration>>,
        answers: Answers,
        /// URL, form and headers of every request sent.
        pub sent: Rc<RefCell<Vec<Sent>>>,
    }

    impl Fake {
        /// A world whose clock reads `now`.
        pub fn at(now: u64) -> Fake {
            let fake = Fake::default();
            fake.now.set(now);
            fake
        }

        /// Queues an answer with a JSON body.
        pub fn answer(&self, status: u16, body: &str, headers: &[(&str, &str)]) {
            let headers = headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            self.answers.borrow_mut().push_back(Ok(HttpResponse {
                status,
                headers,
                body: body.to_string(),
            }));
        }

        /// Queues a transport failure.
        pub fn fail(&self, error: TransportError) {
            self.answers.borrow_mut().push_back(Err(error));
        }

        /// How many requests went out.
        pub fn requests(&self) -> usize {
            self.sent.borrow().len()
        }

        /// A header of the n-th request (names compare case-insensitively).
        pub fn header(&self, n: usize, name: &str) -> Option<String> {
            self.sent
                .borrow()
                .get(n)?
                .2
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        }

        /// A form value of the n-th request.
        pub fn form_value(&self, n: usize, key: &str) -> Option<String> {
            self.sent
                .borrow()
                .get(n)?
                .1
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
        }
    }

    impl Runtime for Fake {
        fn now(&self) -> u64 {
            self.now.get()
        }

        fn sleep(&self, duration: Duration) {
            self.slept.borrow_mut().push(duration);
            self.now.set(self.now.get() + duration.as_secs());
        }

        fn jitter(&self) -> f64 {
            0.0
        }

        fn transport(&self, _: &NetSettings) -> Box<dyn Transport> {
            let (answers, sent) = (self.answers.clone(), self.sent.clone());
            Box::new(move |request: &HttpRequest| {
                let form = match &request.body {
                    Body::Form(pairs) => pairs.clone(),
                    _ => Vec::new(),
                };
                sent.borrow_mut()
                    .push((request.url.clone(), form, request.headers.clone()));
                answers
                    .borrow_mut()
                    .pop_front()
                    .unwrap_or(Err(TransportError::Other("no answer scripted".into())))
            })
        }

        fn log(&self, _: &str) {}
    }
}
