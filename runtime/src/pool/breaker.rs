//! A circuit breaker for connecting: after N failures in a row, refuse at
//! once for a cool-down, then let one attempt through.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub(super) struct Breaker {
    threshold: u32,
    cooldown: Duration,
    state: Mutex<State>,
    /// Times the circuit opened, ever.
    trips: AtomicU64,
}

/// Where a pool's circuit breaker stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    /// Connecting is allowed.
    Closed,
    /// Connecting is refused until the cool-down ends.
    Open,
    /// The cool-down ended: the next attempt decides.
    HalfOpen,
}

impl BreakerState {
    /// The state's name, as metrics and reports spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }
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
            trips: AtomicU64::new(0),
        }
    }

    /// The state now, and how many times the circuit opened.
    pub(super) fn state(&self) -> (BreakerState, u64) {
        let state = match self.lock().open_until {
            None => BreakerState::Closed,
            Some(until) if Instant::now() < until => BreakerState::Open,
            Some(_) => BreakerState::HalfOpen,
        };
        (state, self.trips.load(Ordering::Relaxed))
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
            self.trips.fetch_add(1, Ordering::Relaxed);
        }
    }
}
