//! How fast an ingest sends: a window of exchanges in flight that adapts to the API's answers
//! and, while the API pushes back, a pace in requests per second. It slows down only while
//! slowing down helps ([`control`]): refusals that do not become rarer as the pace falls are
//! noise, and the run goes back to the pace that was delivering.
//!
//! Policy (adaptive, the default):
//! - the window starts at [`START_WINDOW`] and grows while sends are accepted fast (within
//!   twice the base latency, the lowest mean of a window's worth of answers, plus 1 ms): by one
//!   per answer until the first cut or slow answer, then by one per window of answers, up to
//!   the maximum (not during the trial of a window cut); a window's worth of answers whose mean
//!   is slower than that narrows it by the ratio (at most by half): a queue of our own;
//! - once an epoch (about a second) is judged, a share of failed exchanges (5xx, no answer)
//!   above its noise floor halves the window, and a share of refused sends (429, or 503 with a
//!   retry instant) above its floor paces the run at 9/10 of what was delivered, each as a
//!   trial that the next epoch keeps (the share fell: pushback) or undoes (it did not: noise);
//! - `X-RateLimit-Remaining` at or under 1/20 of `X-RateLimit-Limit` paces the run at 19/20 of
//!   what was delivered in the last second, at most once a second, before any refusal (the API
//!   says so: no trial);
//! - while paced, the pace rises by 20 % a second up to the rate delivered when the API last
//!   pushed back, and by 6 % a second beyond it (probing);
//! - each refused exchange waits what its `Retry-After` / `X-RateLimit-Retry-After` asks (the
//!   executor's retry floor). When at least as many sends were refused as accepted in the last
//!   second (of at least 10 answers) and that share is above the noise floor (a used-up
//!   window), the whole pool waits
//!   until the instant the server named, at most [`MAX_POOL_PAUSE`];
//! - lookups (reads after an ambiguous failure) are requests like sends: they take a place and
//!   a paced slot, and an answered one counts as accepted.
//!
//! Fixed (`--concurrency N`): at most N in flight, nothing adapts, no pace; the API's waits
//! still bind each refused exchange (the shares are still counted, for the status).
//!
//! The governor also keeps the run's [`Health`]: how many exchanges were answered, and how
//! many in a row were not (what an early warning and `--give-up-after` go by).

pub mod control;
mod state;
#[cfg(test)]
mod tests;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::execute::steps::{Exchanged, StepResult};
use state::State;

/// The window an adaptive run starts with.
pub const START_WINDOW: f64 = 4.0;
/// The longest the whole pool waits for a server's retry instant.
pub const MAX_POOL_PAUSE: Duration = Duration::from_secs(60);

/// How many exchanges may be in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Concurrency {
    /// Exactly this many at most; nothing adapts.
    Fixed(usize),
    /// Adapts between 1 and this many.
    Adaptive {
        /// The most in flight.
        max: usize,
    },
}

impl Concurrency {
    /// The most exchanges in flight it allows.
    pub fn max(self) -> usize {
        match self {
            Concurrency::Fixed(n) | Concurrency::Adaptive { max: n } => n.max(1),
        }
    }
}

/// What an exchange's answer says about the API's capacity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Signal {
    /// A send answered, not a refusal; with the rate-limit headers when present.
    Accepted {
        /// `X-RateLimit-Remaining`.
        remaining: Option<u64>,
        /// `X-RateLimit-Limit`.
        limit: Option<u64>,
    },
    /// 429, or 503 with a retry instant: over the API's rate. The wait the server asked for.
    RateLimited(Option<Duration>),
    /// Another 5xx, or no answer: overloaded or unreachable.
    Overloaded,
}

impl Signal {
    /// The signal of a step's last exchange (`None` when it made none). A lookup is a request
    /// like a send: it takes a place and a paced slot, and an answered one counts as accepted
    /// (a run resuming begun records makes mostly lookups; not counting them would read an
    /// answering API as one that only fails).
    pub fn of(result: &StepResult) -> Option<Signal> {
        let last = result.sent.as_ref().or(result.looked.as_ref())?;
        Some(Self::of_exchange(last))
    }

    fn of_exchange(exchanged: &Exchanged) -> Signal {
        let Ok(answer) = exchanged else {
            return Signal::Overloaded;
        };
        let number = |name: &str| answer.headers.get(name)?.trim().parse::<u64>().ok();
        match answer.status {
            429 => Signal::RateLimited(answer.not_before),
            503 if answer.not_before.is_some() => Signal::RateLimited(answer.not_before),
            500..=599 => Signal::Overloaded,
            _ => Signal::Accepted {
                remaining: number("x-ratelimit-remaining"),
                limit: number("x-ratelimit-limit"),
            },
        }
    }
}

/// Why the run is paced (or not).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PaceReason {
    /// Not paced.
    Open,
    /// Refusals fell as the pace fell: the API's limit; the wait the last refusal asked for.
    RateLimited(Option<Duration>),
    /// `X-RateLimit-Remaining` ran low (its value).
    Remaining(u64),
    /// Beyond the rate at which the API last pushed back, looking for more.
    Probing,
}

/// The governor now, for a progress line or a gauge.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Snapshot {
    /// Exchanges allowed in flight.
    pub window: usize,
    /// Exchanges in flight.
    pub in_flight: usize,
    /// Requests per second, when paced.
    pub pace: Option<f64>,
    /// Why it is paced.
    pub reason: PaceReason,
    /// How long the whole pool still waits for a server's instant.
    pub paused: Option<Duration>,
    /// Refused sends (429) among the last epoch's answers.
    pub refused_share: f64,
    /// Failed exchanges (5xx, no answer) among the last epoch's answers.
    pub failed_share: f64,
    /// The refusal share judged noise (not slowed down for).
    pub refusal_noise: f64,
}

/// Whether the API answers at all: the counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Answers {
    /// Exchanges made (sends and lookups).
    pub exchanges: u64,
    /// Exchanges answered (any status).
    pub answered: u64,
    /// Exchanges in a row without an answer, up to now.
    pub unanswered_in_a_row: u64,
}

/// Whether the API answers at all, and how the last unanswered exchange failed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Health {
    /// The counts.
    pub answers: Answers,
    /// How the last unanswered exchange failed.
    pub last_failure: Option<String>,
}

/// Shared by every record of a run.
#[derive(Debug)]
pub struct Governor {
    concurrency: Concurrency,
    state: Mutex<State>,
    wake: Notify,
}

/// Leave to make one exchange; give it back with [`Permit::done`] (dropping it gives it back
/// without a signal).
#[derive(Debug)]
pub struct Permit<'g> {
    governor: &'g Governor,
    /// When it was given (and its exchange started).
    taken: Instant,
}

impl Governor {
    /// A governor of `concurrency`.
    pub fn new(concurrency: Concurrency) -> Self {
        let window = match concurrency {
            Concurrency::Fixed(n) => n.max(1) as f64,
            Concurrency::Adaptive { max } => START_WINDOW.min(max.max(1) as f64),
        };
        Governor {
            concurrency,
            state: Mutex::new(State::new(window, Instant::now())),
            wake: Notify::new(),
        }
    }

    /// What it was made with.
    pub fn concurrency(&self) -> Concurrency {
        self.concurrency
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The window now (exchanges allowed in flight) and the pace (requests per second), if any.
    pub fn current(&self) -> (usize, Option<f64>) {
        let s = self.state();
        (s.window as usize, s.pace)
    }

    /// The window, pace, reason and shares now.
    pub fn snapshot(&self) -> Snapshot {
        self.state().snapshot(Instant::now())
    }

    /// Whether the API answers, with the last failure.
    pub fn health(&self) -> Health {
        self.state().health.clone()
    }

    /// Whether the API answers: the counts alone (cheap).
    pub fn answers(&self) -> Answers {
        self.state().health.answers
    }

    /// Waits for room in the window, the end of a pool pause and the next paced slot; the
    /// permit is given when the exchange may start.
    pub async fn acquire(&self) -> Permit<'_> {
        loop {
            let notified = self.wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let next = self.state().try_take(Instant::now());
            match next {
                Next::Go(taken) => {
                    return Permit {
                        governor: self,
                        taken,
                    };
                }
                Next::Wait(pause) => tokio::time::sleep(pause).await,
                Next::Full => notified.await,
            }
        }
    }
}

pub(super) enum Next {
    Go(Instant),
    Wait(Duration),
    Full,
}

impl Permit<'_> {
    /// Gives the permit back with what the step's exchanges said.
    pub fn done(self, result: &StepResult) {
        {
            let mut s = self.governor.state();
            for exchanged in [&result.looked, &result.sent].into_iter().flatten() {
                s.health.note(exchanged);
            }
        }
        self.signal(Signal::of(result));
    }

    /// Gives the permit back with `signal` alone.
    pub fn signal(self, signal: Option<Signal>) {
        let Some(signal) = signal else { return };
        // A fixed window is not adapted, but its shares are still counted for the status.
        let adapt = match self.governor.concurrency {
            Concurrency::Adaptive { max } => Some(max),
            Concurrency::Fixed(_) => None,
        };
        let opened = self
            .governor
            .state()
            .learn(self.taken, Instant::now(), signal, adapt);
        match opened {
            0 => {}
            1 => self.governor.wake.notify_one(),
            _ => self.governor.wake.notify_waiters(),
        }
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.governor.state().in_flight -= 1;
        self.governor.wake.notify_one();
    }
}

impl Health {
    fn note(&mut self, exchanged: &Exchanged) {
        let a = &mut self.answers;
        a.exchanges += 1;
        match exchanged {
            Ok(_) => {
                a.answered += 1;
                a.unanswered_in_a_row = 0;
            }
            Err((_, why)) => {
                a.unanswered_in_a_row += 1;
                self.last_failure = Some(why.clone());
            }
        }
    }
}
