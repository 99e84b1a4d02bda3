//! A circuit breaker for connecting: after N failures in a row, refuse at
//! once for a cool-down, then let one attempt through.

use std::sync::Mutex;
use std::time::{Duration, Instant};

pub(super) struct Breaker {
    threshold: u32,
    cooldown: Duration,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    failures: u32,
    open_until: Option<Instant>,
}

impl Breaker {
    pub(super) fn new(threshold: u32, cooldown: Duration) -> Self {
        Breaker {
            threshold,
            cooldown,
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether a connect may be tried now. Past the cool-down one attempt
    /// goes through (half-open); its outcome closes or re-opens the circuit.
    pub(super) fn allow(&self) -> bool {
        let mut state = self.lock();
        match state.open_until {
            Some(until) if Instant::now() < until => false,
            Some(_) => {
                // Half-open: re-arm so that concurrent callers keep failing
                // fast while this one probes.
                state.open_until = Some(Instant::now() + self.cooldown);
                true
            }
            None => true,
        }
    }

    pub(super) fn success(&self) {
        *self.lock() = State::default();
    }

    pub(super) fn failure(&self) {
        let mut state = self.lock();
        state.failures += 1;
        if state.failures >= self.threshold {
            state.open_until = Some(Instant::now() + self.cooldown);
        }
    }
}
