//! How fast an ingest sends: a window of exchanges in flight that adapts to the API's answers
//! and, once the API says it is rate limited, a pace in requests per second.
//!
//! Policy (adaptive, the default):
//! - the window starts at [`START_WINDOW`] and grows while sends are accepted fast (within
//!   twice the fastest answer seen, plus 5 ms): by one per answer until the first back-off,
//!   then by one per window of answers, up to the maximum;
//! - a 429, a 5xx or a failed exchange halves the window, at most once a second and once per
//!   round trip (only an exchange given leave after the last back-off can cause another), so
//!   scattered refusals do not shrink it to nothing;
//! - a 429 (or a 503 carrying a retry instant) also paces the pool, at most once a second, at
//!   9/10 of what the API accepted in the last second (never below half the pace before);
//!   `X-RateLimit-Remaining` at or under 1/20 of `X-RateLimit-Limit` paces it at 19/20 the same
//!   way before any refusal. The pace then rises by 20 % a second up to the rate at which the
//!   API last pushed back, and by 6 % a second beyond it (probing);
//! - the refused exchange itself waits what its `Retry-After` / `X-RateLimit-Retry-After` asks
//!   (the executor's retry floor). When at least half the sends answered in the last second
//!   were refused, slowing down is not enough (a used-up window): the whole pool waits until
//!   the instant the server named, at most [`MAX_POOL_PAUSE`];
//! - lookups (reads after an ambiguous failure) take a place but do not count as accepted
//!   writes.
//!
//! Fixed (`--concurrency N`): at most N in flight, nothing adapts, no pace; the API's waits
//! still bind each refused exchange.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::execute::steps::{Exchanged, StepResult};

/// The window an adaptive run starts with.
pub const START_WINDOW: f64 = 4.0;
/// The longest the whole pool waits for a server's retry instant.
pub const MAX_POOL_PAUSE: Duration = Duration::from_secs(60);
/// How much the pace rises per second while the API has room: below the rate at which it last
/// pushed back, and beyond it (probing).
const PACE_GROWTH_PER_SEC: f64 = 0.20;
const PACE_PROBE_PER_SEC: f64 = 0.06;
/// The answers clock: ten buckets of 100 ms.
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
    /// The signal of a step's last exchange (`None` when it made none, or when it was a
    /// lookup that was answered: a read says nothing about the write rate).
    pub fn of(result: &StepResult, lookup: bool) -> Option<Signal> {
        let last = result.sent.as_ref().or(result.looked.as_ref())?;
        match Self::of_exchange(last) {
            Signal::Accepted { .. } if lookup || result.sent.is_none() => None,
            signal => Some(signal),
        }
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
    halved_at: Option<Instant>,
    pace: Option<f64>,
    ceiling: f64,
    paced_at: Option<Instant>,
    grown_at: Instant,
    next_slot: Instant,
    paused_until: Option<Instant>,
    /// Accepted sends and refusals per 100 ms bucket, the last second.
    accepted: [u32; BUCKETS],
    refused: [u32; BUCKETS],
    clock: u64,
    origin: Instant,
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
                halved_at: None,
                pace: None,
                ceiling: f64::INFINITY,
                paced_at: None,
                grown_at: now,
                next_slot: now,
                paused_until: None,
                accepted: [0; BUCKETS],
                refused: [0; BUCKETS],
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

    /// Waits for room in the window, the end of a pool pause and the next paced slot; the
    /// permit is given when the exchange may start.
    pub async fn acquire(&self) -> Permit<'_> {
        loop {
            let notified = self.wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            match self.try_take(Instant::now()) {
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

    /// Takes a place in the window if there is one, the pool is not paused and the paced slot
    /// is due.
    fn try_take(&self, now: Instant) -> Next {
        let mut s = self.state();
        if let Some(until) = s.paused_until {
            if until > now {
                return Next::Wait(until - now);
            }
            s.paused_until = None;
        }
        if s.in_flight >= (s.window as usize).max(1) {
            return Next::Full;
        }
        if let Some(rate) = s.pace {
            if s.next_slot > now {
                return Next::Wait(s.next_slot - now);
            }
            // From the slot, not from now: a late wake-up (timers tick in milliseconds) does
            // not slow the pace; at most two intervals are caught up after an idle spell.
            let interval = Duration::from_secs_f64(1.0 / rate);
            s.next_slot = s
                .next_slot
                .max(now.checked_sub(interval * 2).unwrap_or(now))
                + interval;
        }
        s.in_flight += 1;
        Next::Go(now)
    }
}

enum Next {
    Go(Instant),
    Wait(Duration),
    Full,
}

impl Permit<'_> {
    /// Gives the permit back with what the exchange's answer said.
    pub fn done(self, signal: Option<Signal>) {
        if let Some(signal) = signal {
            self.governor.learn(self.taken, signal);
        }
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.governor.state().in_flight -= 1;
        self.governor.wake.notify_one();
    }
}

impl Governor {
    fn learn(&self, taken: Instant, signal: Signal) {
        let Concurrency::Adaptive { max } = self.concurrency else {
            return;
        };
        let now = Instant::now();
        let latency = now.saturating_duration_since(taken);
        let mut s = self.state();
        // Given after the last back-off: the back-off did not prevent this answer.
        let fresh = taken > s.backed_off;
        let calm = s
            .paced_at
            .is_none_or(|at| now.duration_since(at) >= Duration::from_secs(1));
        match signal {
            Signal::Accepted { remaining, limit } => {
                s.count(now, true);
                let fastest = *s.fastest.get_or_insert(latency);
                s.fastest = Some(fastest.min(latency));
                let low = match (remaining, limit) {
                    (Some(r), Some(l)) => r.saturating_mul(20) <= l,
                    (Some(r), None) => r == 0,
                    _ => false,
                };
                if low {
                    if fresh && calm {
                        s.slow_down(now, 0.95);
                    }
                } else {
                    if latency <= fastest * 2 + Duration::from_millis(5) {
                        let before = s.window as usize;
                        let step = if s.slow_start { 1.0 } else { 1.0 / s.window };
                        s.window = (s.window + step).min(max as f64);
                        if s.window as usize > before {
                            self.wake.notify_one();
                        }
                    }
                    s.speed_up(now);
                }
            }
            Signal::RateLimited(wait) => {
                s.count(now, false);
                if fresh {
                    s.back_off(now);
                }
                if fresh && calm {
                    s.slow_down(now, 0.9);
                }
                let (accepted, refused) = s.last_second(now);
                if let Some(wait) = wait.filter(|_| refused >= accepted.max(1)) {
                    let until = now + wait.min(MAX_POOL_PAUSE);
                    s.paused_until = Some(s.paused_until.map_or(until, |u| u.max(until)));
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
        if self
            .halved_at
            .is_some_and(|at| now.duration_since(at) < Duration::from_secs(1))
        {
            return;
        }
        self.window = (self.window / 2.0).max(1.0);
        self.slow_start = false;
        self.backed_off = now;
        self.halved_at = Some(now);
    }

    /// Paces at `factor` × what was accepted in the last second (never below half the pace
    /// before); nothing accepted and not paced yet: nothing to go by, no pace.
    fn slow_down(&mut self, now: Instant, factor: f64) {
        let (accepted, _) = self.last_second(now);
        let accepted = f64::from(accepted);
        let pace = match self.pace {
            None if accepted < 1.0 => return,
            None => accepted * factor,
            Some(p) => (p.min(accepted) * factor).max(p * 0.5),
        };
        self.ceiling = pace / factor;
        self.pace = Some(pace.max(1.0));
        self.paced_at = Some(now);
        self.grown_at = now;
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
            *pace = (*pace * (1.0 + growth * since.min(1.0))).min(1e9);
            self.grown_at = now;
        }
    }

    fn count(&mut self, now: Instant, accepted: bool) {
        self.advance(now);
        let i = (self.clock as usize) % BUCKETS;
        if accepted {
            self.accepted[i] += 1;
        } else {
            self.refused[i] += 1;
        }
    }

    /// Accepted sends and refusals in the last second.
    fn last_second(&mut self, now: Instant) -> (u32, u32) {
        self.advance(now);
        (self.accepted.iter().sum(), self.refused.iter().sum())
    }

    /// Moves the answers clock to `now`, emptying the buckets it passes.
    fn advance(&mut self, now: Instant) {
        let tick =
            (now.saturating_duration_since(self.origin).as_millis() / BUCKET.as_millis()) as u64;
        let passed = tick.saturating_sub(self.clock).min(BUCKETS as u64);
        for i in 1..=passed {
            let b = ((self.clock + i) as usize) % BUCKETS;
            self.accepted[b] = 0;
            self.refused[b] = 0;
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

    fn refused() -> Signal {
        Signal::RateLimited(Some(Duration::from_secs(1)))
    }

    #[tokio::test]
    async fn the_window_grows_while_sends_are_accepted_and_halves_on_a_refusal() {
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
        answer(&g, Signal::Overloaded).await;
        assert_eq!(g.current().0, 12, "not twice within a second");
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
        // Two exchanges in flight when the first refusal comes back: the second was given
        // leave before the back-off, so it does not halve again.
        let (first, second) = (g.acquire().await, g.acquire().await);
        first.done(Some(refused()));
        let (window, pace) = g.current();
        assert_eq!(window, 32);
        let pace = pace.expect("paced after a 429");
        assert!(
            (89.0..=90.1).contains(&pace),
            "9/10 of the 100 accepted: {pace}"
        );
        second.done(Some(refused()));
        assert_eq!(g.current(), (32, Some(pace)));
    }

    #[tokio::test]
    async fn refusals_that_keep_coming_cut_the_pace_at_most_by_half_once_a_second() {
        let g = Governor::new(Concurrency::Adaptive { max: 64 });
        for _ in 0..200 {
            answer(&g, accepted()).await;
        }
        answer(&g, refused()).await;
        let first = g.current().1.expect("paced");
        // More refusals within the second, with nothing accepted since: no further cut, and
        // the paced slots stay one pace interval apart.
        for _ in 0..5 {
            answer(&g, refused()).await;
        }
        assert_eq!(g.current().1, Some(first));
        let g = Governor::new(Concurrency::Adaptive { max: 64 });
        answer(&g, accepted()).await;
        {
            let mut s = g.state();
            s.pace = Some(1000.0);
            s.paced_at = Some(Instant::now() - Duration::from_secs(2));
        }
        answer(&g, refused()).await;
        assert_eq!(
            g.current().1,
            Some(500.0),
            "one accepted in the last second: cut to half the pace, not to 1/s"
        );
    }

    #[tokio::test]
    async fn a_used_up_window_pauses_the_whole_pool_until_the_server_says() {
        let g = Governor::new(Concurrency::Adaptive { max: 64 });
        answer(&g, accepted()).await;
        answer(&g, Signal::RateLimited(Some(Duration::from_millis(300)))).await;
        let started = Instant::now();
        drop(g.acquire().await);
        assert!(
            started.elapsed() >= Duration::from_millis(250),
            "as many refused as accepted in the last second: the pool waited"
        );
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

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_fixed_concurrency_never_adapts_and_a_waiter_goes_when_a_place_is_freed() {
        let g = std::sync::Arc::new(Governor::new(Concurrency::Fixed(2)));
        answer(&g, refused()).await;
        answer(&g, Signal::Overloaded).await;
        assert_eq!(g.current(), (2, None));
        let (a, _b) = (g.acquire().await, g.acquire().await);
        let waiter = tokio::spawn({
            let g = g.clone();
            async move { drop(g.acquire().await) }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            !waiter.is_finished(),
            "a third waits while two are in flight"
        );
        drop(a);
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("woken when a place is freed")
            .unwrap();
    }

    #[tokio::test]
    async fn a_cancelled_wait_or_exchange_gives_its_place_back() {
        let g = Governor::new(Concurrency::Fixed(1));
        let held = g.acquire().await;
        assert!(
            tokio::time::timeout(Duration::from_millis(20), g.acquire())
                .await
                .is_err()
        );
        drop(held);
        let again = tokio::time::timeout(Duration::from_millis(500), g.acquire()).await;
        assert!(again.is_ok(), "the place came back");
    }
}
