//! The server's watch over its open connections: a sweep a few times per
//! timeout period cuts those that stayed idle for the header read timeout
//! and those whose requests made no progress for the request timeout; on
//! shutdown every one is drained, and cut if the grace period runs out.
//!
//! hyper can enforce the header read timeout itself, and hyper-util can
//! drain connections on shutdown, but both poll a timer or a channel each
//! time the connection's task wakes, that is on every request (measured
//! with callgrind: ~290 instructions per request, 4 % of all that raw
//! hyper executes for one). Here a request only bumps two counters, and
//! the sweep reads them.
//!
//! The sweeps are paced by a [`Ticker`]: on Linux a timerfd the runtime
//! polls like a socket, not a tokio timer. While any tokio timer is
//! registered, the runtime works out the next deadline each time it parks,
//! that is on every wake-up of a busy server (~120 instructions per
//! request, measured with callgrind); a file descriptor that is not ready
//! costs nothing there. (A thread of its own would cost more: once a
//! process has a second thread, every socket call through glibc takes its
//! multi-threaded path.)

use std::sync::Arc;
use std::time::Duration;

use super::connection::Conn;
use crate::metrics::ServerStats;

/// The accept loop's view of the open connections: it cuts those that
/// stay idle (no request in flight, none begun) for the header read
/// timeout, and those whose requests in flight make no progress (none
/// begins or ends) for the request timeout; it drains them all on shutdown.
pub(super) struct Sweeper {
    open: Vec<Tracked>,
    /// How often [`sweep`](Sweeper::sweep) should run.
    tick: Duration,
    /// Sweeps in a row a connection may stay idle.
    idle_limit: u32,
    /// Sweeps in a row a connection with requests in flight may go
    /// without one beginning or ending.
    stalled_limit: u32,
}

/// One open connection, and what the last sweep saw of it.
struct Tracked {
    conn: Arc<Conn>,
    seen: (u32, u32),
    idle_sweeps: u32,
}

impl Sweeper {
    pub(super) fn new(timeout: Duration, request_timeout: Duration) -> Self {
        // About eight sweeps per period. The first sweep that finds a
        // connection unchanged may come right after its last activity, so
        // one more than a period's worth are needed: it is cut between one
        // and one and a quarter periods after that activity.
        let tick = (timeout / 8).clamp(Duration::from_millis(5), Duration::from_secs(1));
        let sweeps = |period: Duration| {
            u32::try_from(period.as_nanos().div_ceil(tick.as_nanos()) + 1).unwrap_or(u32::MAX)
        };
        Sweeper {
            open: Vec::new(),
            tick,
            idle_limit: sweeps(timeout),
            stalled_limit: sweeps(request_timeout),
        }
    }

    /// What paces the sweeps.
    pub(super) fn ticker(&self) -> Ticker {
        Ticker::new(self.tick)
    }

    pub(super) fn watch(&mut self, conn: Arc<Conn>) {
        self.open.push(Tracked {
            seen: conn.requests(),
            conn,
            idle_sweeps: 0,
        });
    }

    /// Forgets closed connections and cuts idle ones.
    pub(super) fn sweep(&mut self) {
        let (idle_limit, stalled_limit) = (self.idle_limit, self.stalled_limit);
        self.open.retain_mut(|tracked| {
            // Only this list holds it: the connection task has ended.
            if Arc::strong_count(&tracked.conn) == 1 {
                return false;
            }
            let now = tracked.conn.requests();
            if now != tracked.seen {
                tracked.seen = now;
                tracked.idle_sweeps = 0;
                return true;
            }
            tracked.idle_sweeps += 1;
            let in_flight = now.0 != now.1;
            let limit = if in_flight { stalled_limit } else { idle_limit };
            if tracked.idle_sweeps >= limit {
                let stats = tracked.conn.stats();
                ServerStats::count(if in_flight {
                    &stats.cut_stalled
                } else {
                    &stats.cut_idle
                });
                tracked.conn.cut();
                return false;
            }
            true
        });
    }

    /// Tells every open connection to drain.
    pub(super) fn drain_all(&self) {
        for tracked in &self.open {
            tracked.conn.drain();
        }
    }

    /// Closes every open connection now, requests in flight and all.
    pub(super) fn cut_all(&self) {
        for tracked in &self.open {
            tracked.conn.cut();
        }
    }
}

/// A server dropped without its graceful shutdown (its task aborted, the
/// runtime shutting down) takes its connections with it: their tasks are
/// spawned on their own, so they are cut here rather than left serving.
impl Drop for Sweeper {
    fn drop(&mut self) {
        self.cut_all();
    }
}

/// What paces the sweeps: a periodic timerfd on Linux, a tokio interval
/// elsewhere (or where the timerfd cannot be made).
pub(super) enum Ticker {
    #[cfg(target_os = "linux")]
    TimerFd(tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>),
    Interval(tokio::time::Interval),
}

impl Ticker {
    /// Ticks every `period`, the first time one period from now.
    pub(super) fn new(period: Duration) -> Self {
        #[cfg(target_os = "linux")]
        match timer_fd(period) {
            Ok(fd) => return Ticker::TimerFd(fd),
            Err(err) => tracing::debug!(error = %err, "no timerfd; sweeping on a tokio timer"),
        }
        let start = tokio::time::Instant::now() + period;
        let mut interval = tokio::time::interval_at(start, period);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Ticker::Interval(interval)
    }

    /// Completes at the next tick (ticks missed meanwhile count as one).
    pub(super) async fn tick(&mut self) {
        match self {
            #[cfg(target_os = "linux")]
            Ticker::TimerFd(fd) => loop {
                let Ok(mut ready) = fd.readable().await else {
                    // The runtime is shutting down: no tick will come.
                    return std::future::pending().await;
                };
                // The expirations since the last read, which resets them.
                let mut expirations = [0u8; 8];
                match rustix::io::read(ready.get_inner(), &mut expirations) {
                    Ok(_) => return,
                    Err(rustix::io::Errno::AGAIN) => ready.clear_ready(),
                    Err(err) => {
                        tracing::warn!(error = %err, "cannot read the sweeper's timerfd");
                        return std::future::pending().await;
                    }
                }
            },
            Ticker::Interval(interval) => {
                interval.tick().await;
            }
        }
    }
}

/// A non-blocking timerfd on the monotonic clock that expires every `period`.
#[cfg(target_os = "linux")]
fn timer_fd(period: Duration) -> std::io::Result<tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>> {
    use rustix::time::{Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags, Timespec};
    let fd = rustix::time::timerfd_create(
        TimerfdClockId::Monotonic,
        TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
    )?;
    let every = Timespec {
        tv_sec: i64::try_from(period.as_secs()).unwrap_or(i64::MAX),
        tv_nsec: i64::from(period.subsec_nanos()),
    };
    let spec = Itimerspec {
        it_interval: every,
        it_value: every,
    };
    rustix::time::timerfd_settime(&fd, TimerfdTimerFlags::empty(), &spec)?;
    // SAFETY: the `OwnedFd` is a valid, open descriptor that the `AsyncFd`
    // owns from here on, and an `OwnedFd` always reports the same one.
    unsafe { tokio::io::unix::AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }
        .map_err(|err| err.into_parts().1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sweeps keep their pace without a tokio timer: the ticker is a
    /// timerfd on Linux, and it ticks once per period, not at once.
    #[tokio::test]
    async fn the_ticker_ticks_once_per_period() {
        let period = Duration::from_millis(20);
        let mut ticker = Ticker::new(period);
        #[cfg(target_os = "linux")]
        assert!(matches!(ticker, Ticker::TimerFd(_)));
        let started = std::time::Instant::now();
        for _ in 0..3 {
            tokio::time::timeout(Duration::from_secs(5), ticker.tick())
                .await
                .expect("a tick within 5 s");
        }
        assert!(started.elapsed() >= period * 3, "{:?}", started.elapsed());
    }
}
