//! How fast an ingest sends: a window of exchanges in flight that adapts to the API's answers
//! and, once the API says it is rate limited, a pace in requests per second.
//!
//! Policy (adaptive, the default):
//! - the window starts at [`START_WINDOW`] and grows while answers come back fast (within twice
//!   the fastest seen, plus 5 ms) and are not refusals: by one per answer until the first
//!   back-off, then by one per window of answers, up to the maximum;
//! - a 429, a 503 or a lost exchange halves the window, once per round trip (only an exchange
//!   started after the last back-off can cause another);
//! - a 429 (or a 503 carrying a retry instant) also paces the pool at 9/10 of what the API
//!   accepted in the last second; `X-RateLimit-Remaining` at or under 1/20 of
//!   `X-RateLimit-Limit` paces it at 19/20 of that (at most once a second). The pace then
//!   rises by 3 % a second while the API has room;
//! - the refused exchange itself waits what its `Retry-After` / `X-RateLimit-Retry-After` asks
//!   (the executor's retry floor). When a 429 comes for an exchange started after the pool
//!   was already slowed down for a 429 in the last second, slowing down did not help: the whole
//!   pool then waits until the instant the server named.
//!
//! Fixed (`--concurrency N`): at most N in flight, nothing adapts; the API's waits still bind
//! each refused exchange.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::execute::steps::{Exchanged, StepResult};

/// The window an adaptive run starts with.
pub const START_WINDOW: f64 = 4.0;
/// How much the pace rises per second while the API has room, below the pace at which it last
/// said stop, and beyond it.
const PACE_GROWTH_PER_SEC: f64 = 0.10;
const PACE_PROBE_PER_SEC: f64 = 0.03;
/// The accepted-answers clock: ten buckets of 100 ms.
const BUCKETS: usize = 10;
const BUCKET: Duration = Duration::from_millis(100);

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
    /// Answered, not a refusal; with the rate-limit headers when present.
    Accepted {
        /// `X-RateLimit-Remaining`.
        remaining: Option<u64>,
        /// `X-RateLimit-Limit`.
        limit: Option<u64>,
    },
    /// 429, or 503 with a retry instant: over the API's rate. The wait the server asked for.
    RateLimited(Option<Duration>),
    /// 503 without a retry instant, or no answer: overloaded or unreachable.
    Overloaded,
}

impl Signal {
    /// The signal of a step's last exchange (`None` when it made none).
    pub fn of(result: &StepResult) -> Option<Signal> {
        let last = result.sent.as_ref().or(result.looked.as_ref())?;
        Some(Self::of_exchange(last))
    }

    fn of_exchange(exchanged: &Exchanged) -> Signal {
        let answer = match exchanged {
            Ok(a) => a,
            Err(_) => return Signal::Overloaded,
        };
        let number = |name: &str| answer.headers.get(name)?.trim().parse::<u64>().ok();
        match answer.status {
            429 => Signal::RateLimited(answer.not_before),
            503 if answer.not_before.is_some() => Signal::RateLimited(answer.not_before),
            503 => Signal::Overloaded,
            _ => Signal::Accepted {
                remaining: number("x-ratelimit-remaining"),
                limit: number("x-ratelimit-limit"),
            },
        }
    }
}

/// Shared by every record of a run.
#[derive(Debug)]
pub struct Governor {
    concurrency: Concurrency,
    state: Mutex<State>,
    wake: Notify,
}

#[derive(Debug)]
struct State {
    window: f64,
    in_flight: usize,
    slow_start: bool,
    fastest: Option<Duration>,
    backed_off: Instant,
    pace: Option<f64>,
    ceiling: f64,
    paced_at: Option<Instant>,
    grown_at: Instant,
    paced_for_429: bool,
    next_slot: Instant,
    paused_until: Option<Instant>,
    accepted: [u32; BUCKETS],
    clock: u64,
    origin: Instant,
}

/// Leave to send one exchange; give it back with [`Permit::done`] (dropping it gives it back
/// without a signal).
#[derive(Debug)]
pub struct Permit<'g> {
    governor: &'g Governor,
    /// When it was given (what the governor knew then decided its slot).
    taken: Instant,
    /// When its exchange may start (its paced slot).
    started: Instant,
}

impl Governor {
    /// A governor of `concurrency`.
    pub fn new(concurrency: Concurrency) -> Self {
        let now = Instant::now();
        let window = match concurrency {
            Concurrency::Fixed(n) => n.max(1) as f64,
            Concurrency::Adaptive { max } => START_WINDOW.min(max.max(1) as f64),
        };
        Governor {
            concurrency,
            state: Mutex::new(State {
                window,
                in_flight: 0,
                slow_start: true,
                fastest: None,
                backed_off: now,
                pace: None,
                ceiling: f64::INFINITY,
                paced_at: None,
                grown_at: now,
                paced_for_429: false,
                next_slot: now,
                paused_until: None,
                accepted: [0; BUCKETS],
                clock: 0,
                origin: now,
            }),
            wake: Notify::new(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The window now (exchanges allowed in flight) and the pace (requests per second), if any.
    pub fn current(&self) -> (usize, Option<f64>) {
        let s = self.state();
        (s.window as usize, s.pace)
    }

    /// Waits for room in the window, the end of a pool pause and the next paced slot.
    pub async fn acquire(&self) -> Permit<'_> {
        loop {
            let notified = self.wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let now = Instant::now();
            let next = self.try_take(now);
            match next {
                Next::Go(slot) => {
                    let permit = Permit {
                        governor: self,
                        taken: now,
                        started: slot,
                    };
                    tokio::time::sleep_until(slot.into()).await;
                    return permit;
                }
                Next::Pause(pause) => tokio::time::sleep(pause).await,
                Next::Full => notified.await,
            }
        }
    }

    /// Takes a place in the window (and a paced slot) if there is one.
    fn try_take(&self, now: Instant) -> Next {
        let mut s = self.state();
        match s.paused_until {
            Some(until) if until > now => return Next::Pause(until - now),
            _ if s.in_flight >= (s.window as usize).max(1) => return Next::Full,
            _ => {}
        }
        s.paused_until = None;
        s.in_flight += 1;
        match s.pace {
            Some(rate) => {
                let slot = s.next_slot.max(now);
                s.next_slot = slot + Duration::from_secs_f64(1.0 / rate);
                Next::Go(slot)
            }
            None => Next::Go(now),
        }
    }
}

enum Next {
    Go(Instant),
    Pause(Duration),
    Full,
}

impl Permit<'_> {
    /// Gives the permit back with what the exchange's answer said.
    pub fn done(self, signal: Option<Signal>) {
        if let Some(signal) = signal {
            self.governor.learn(self.taken, self.started, signal);
        }
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.governor.state().in_flight -= 1;
        self.governor.wake.notify_waiters();
    }
}

impl Governor {
    fn learn(&self, taken: Instant, started: Instant, signal: Signal) {
        let Concurrency::Adaptive { max } = self.concurrency else {
            return;
        };
        let now = Instant::now();
        let latency = now.saturating_duration_since(started);
        let mut s = self.state();
        // Given after the last back-off: the back-off did not prevent this answer.
        let fresh = taken > s.backed_off;
        match signal {
            Signal::Accepted { remaining, limit } => {
                s.count_accepted(now);
                let fastest = *s.fastest.get_or_insert(latency);
                s.fastest = Some(fastest.min(latency));
                let low = match (remaining, limit) {
                    (Some(r), Some(l)) => r.saturating_mul(20) <= l,
                    (Some(r), None) => r == 0,
                    _ => false,
                };
                if low {
                    let calm = s
                        .paced_at
                        .is_none_or(|at| now.duration_since(at) >= Duration::from_secs(1));
                    if fresh && calm {
                        s.slow_down(now, 0.95, false);
                    }
                } else {
                    if latency <= fastest * 2 + Duration::from_millis(5) {
                        let step = if s.slow_start { 1.0 } else { 1.0 / s.window };
                        s.window = (s.window + step).min(max as f64);
                    }
                    s.speed_up(now);
                }
            }
            Signal::RateLimited(wait) => {
                if fresh {
                    let persisting = s.paced_for_429
                        && s.paced_at
                            .is_some_and(|at| now.duration_since(at) < Duration::from_secs(1));
                    s.back_off(now);
                    s.slow_down(now, 0.9, true);
                    if let (true, Some(wait)) = (persisting, wait) {
                        s.paused_until = Some(now + wait);
                    }
                }
            }
            Signal::Overloaded => {
                if fresh {
                    s.back_off(now);
                }
            }
        }
    }
}

impl State {
    fn back_off(&mut self, now: Instant) {
        self.window = (self.window / 2.0).max(1.0);
        self.slow_start = false;
        self.backed_off = now;
    }

    /// Paces at `factor` × the lesser of the pace and what was accepted in the last second.
    fn slow_down(&mut self, now: Instant, factor: f64, for_429: bool) {
        self.advance(now);
        let accepted = f64::from(self.accepted.iter().sum::<u32>());
        let base = self.pace.map_or(accepted, |p| p.min(accepted));
        self.ceiling = base;
        self.pace = Some((base * factor).max(1.0));
        self.paced_at = Some(now);
        self.grown_at = now;
        self.paced_for_429 = for_429;
        self.backed_off = self.backed_off.max(now);
    }

    fn speed_up(&mut self, now: Instant) {
        if let Some(pace) = self.pace.as_mut() {
            // Compounded per answer over the time since the last growth.
            let since = now.saturating_duration_since(self.grown_at).as_secs_f64();
            let growth = if *pace < self.ceiling * 0.98 {
                PACE_GROWTH_PER_SEC
            } else {
                PACE_PROBE_PER_SEC
            };
            *pace *= 1.0 + growth * since.min(1.0);
            self.grown_at = now;
        }
    }

    fn count_accepted(&mut self, now: Instant) {
        self.advance(now);
        self.accepted[(self.clock as usize) % BUCKETS] += 1;
    }

    /// Moves the accepted-answers clock to `now`, emptying the buckets it passes.
    fn advance(&mut self, now: Instant) {
        let tick =
            (now.saturating_duration_since(self.origin).as_millis() / BUCKET.as_millis()) as u64;
        let passed = tick.saturating_sub(self.clock).min(BUCKETS as u64);
        for i in 1..=passed {
            self.accepted[((self.clock + i) as usize) % BUCKETS] = 0;
        }
        self.clock = self.clock.max(tick);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepted() -> Signal {
        Signal::Accepted {
            remaining: None,
            limit: None,
        }
    }

    async fn answer(g: &Governor, signal: Signal) {
        g.acquire().await.done(Some(signal));
    }

    #[tokio::test]
    async fn the_window_grows_while_answers_are_accepted_and_halves_on_a_refusal() {
        let g = Governor::new(Concurrency::Adaptive { max: 64 });
        assert_eq!(g.current(), (4, None));
        for _ in 0..20 {
            answer(&g, accepted()).await;
        }
        assert_eq!(
            g.current().0,
            24,
            "slow start: one more per accepted answer"
        );
        answer(&g, Signal::Overloaded).await;
        assert_eq!(g.current(), (12, None), "a 503 halves the window, no pace");
        for _ in 0..100 {
            answer(&g, accepted()).await;
        }
        let (window, _) = g.current();
        assert!((13..=21).contains(&window), "then one per window: {window}");
        for _ in 0..3000 {
            answer(&g, accepted()).await;
        }
        assert_eq!(g.current().0, 64, "never past the maximum");
    }

    #[tokio::test]
    async fn a_429_paces_the_pool_below_what_was_accepted_and_only_once_per_round() {
        let g = Governor::new(Concurrency::Adaptive { max: 64 });
        for _ in 0..100 {
            answer(&g, accepted()).await;
        }
        // Two exchanges in flight when the first refusal comes back: the second answer was
        // given before the back-off, so it does not halve again.
        let (first, second) = (g.acquire().await, g.acquire().await);
        first.done(Some(Signal::RateLimited(Some(Duration::from_secs(1)))));
        let (window, pace) = g.current();
        assert_eq!(window, 32);
        let pace = pace.expect("paced after a 429");
        assert!(
            (89.0..=90.1).contains(&pace),
            "9/10 of the 100 accepted: {pace}"
        );
        second.done(Some(Signal::RateLimited(Some(Duration::from_secs(1)))));
        assert_eq!(g.current().0, 32);
    }

    #[tokio::test]
    async fn a_rate_limit_nearly_used_up_paces_the_pool_before_any_refusal() {
        let g = Governor::new(Concurrency::Adaptive { max: 64 });
        for remaining in (20..60).rev() {
            let signal = Signal::Accepted {
                remaining: Some(remaining),
                limit: Some(300),
            };
            answer(&g, signal).await;
            assert_eq!(g.current().1, None, "room left: {remaining}");
        }
        let low = Signal::Accepted {
            remaining: Some(15),
            limit: Some(300),
        };
        answer(&g, low).await;
        let pace = g.current().1.expect("paced at 1/20 of the limit left");
        assert!(
            (38.9..=39.0).contains(&pace),
            "19/20 of the 41 accepted: {pace}"
        );
    }

    #[tokio::test]
    async fn a_fixed_concurrency_never_adapts_and_never_admits_more() {
        let g = Governor::new(Concurrency::Fixed(2));
        answer(&g, Signal::RateLimited(None)).await;
        answer(&g, Signal::Overloaded).await;
        assert_eq!(g.current(), (2, None));
        let (_a, _b) = (g.acquire().await, g.acquire().await);
        let third = tokio::time::timeout(Duration::from_millis(50), g.acquire()).await;
        assert!(third.is_err(), "a third waits while two are in flight");
        drop(_a);
        let third = tokio::time::timeout(Duration::from_millis(50), g.acquire()).await;
        assert!(third.is_ok(), "and goes when one is given back");
    }
}
