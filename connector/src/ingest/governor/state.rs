//! The governor's state under its lock: the window, the pace, the answers of the last second
//! and of the current epoch, and the two detectors of [`super::control`].
//!
//! Policy: the module docs of [`super`] (what moves the window and the pace) and of
//! [`super::control`] (when a cut is kept or undone); a fixed window only counts the shares.

use std::time::{Duration, Instant};

use super::control::{Detector, Epoch, Judgement, PACE_CUT};
use super::{Health, MAX_POOL_PAUSE, Next, PaceReason, Signal, Snapshot};

/// How much the pace rises per second while the API has room: below the rate at which it last
/// pushed back, and beyond it (probing).
const PACE_GROWTH_PER_SEC: f64 = 0.20;
const PACE_PROBE_PER_SEC: f64 = 0.06;
/// The pace set when `X-RateLimit-Remaining` runs low, as a share of what was delivered.
const REMAINING_CUT: f64 = 0.95;
/// The fewest answers in the last second that can show a used-up window (one refusal among
/// the first few answers is not one).
const USED_UP_ANSWERS: u32 = 10;
/// The slack over twice the base latency within which an answer counts as fast.
const LATENCY_SLACK: Duration = Duration::from_millis(1);
/// The fewest answers a latency round averages.
const ROUND_ANSWERS: u32 = 4;
/// The last-second clock: ten buckets of 100 ms.
const BUCKETS: usize = 10;
const BUCKET: Duration = Duration::from_millis(100);

/// What a refusal trial restores: the pace, its ceiling and reason.
type PaceBefore = (Option<f64>, f64, PaceReason);

#[derive(Debug)]
pub(super) struct State {
    pub window: f64,
    pub in_flight: usize,
    pub pace: Option<f64>,
    pub health: Health,
    slow_start: bool,
    /// The lowest mean latency of a round (a window's worth of accepted sends): the API's
    /// latency without our queue in it.
    base: Option<Duration>,
    /// The current round: its length (the window when it began), accepted sends and their
    /// summed latency.
    round: (u32, u32, Duration),
    ceiling: f64,
    reason: PaceReason,
    last_wait: Option<Duration>,
    grown_at: Instant,
    remaining_cut_at: Option<Instant>,
    next_slot: Instant,
    paused_until: Option<Instant>,
    /// Accepted sends and refusals per 100 ms bucket, the last second.
    accepted: [u32; BUCKETS],
    refused: [u32; BUCKETS],
    clock: u64,
    origin: Instant,
    epoch: Epoch,
    shares: (f64, f64),
    refusals: Detector<PaceBefore>,
    failures: Detector<f64>,
}

impl State {
    pub fn new(window: f64, now: Instant) -> Self {
        State {
            window,
            in_flight: 0,
            pace: None,
            health: Health::default(),
            slow_start: true,
            base: None,
            round: (ROUND_ANSWERS, 0, Duration::ZERO),
            ceiling: f64::INFINITY,
            reason: PaceReason::Open,
            last_wait: None,
            grown_at: now,
            remaining_cut_at: None,
            next_slot: now,
            paused_until: None,
            accepted: [0; BUCKETS],
            refused: [0; BUCKETS],
            clock: 0,
            origin: now,
            epoch: Epoch::new(now),
            shares: (0.0, 0.0),
            refusals: Detector::new(),
            failures: Detector::new(),
        }
    }

    pub fn snapshot(&self, now: Instant) -> Snapshot {
        let reason = match (self.pace, self.reason) {
            (None, _) => PaceReason::Open,
            (Some(p), PaceReason::RateLimited(_)) if p >= self.ceiling * 0.98 => {
                PaceReason::Probing
            }
            (Some(_), reason) => reason,
        };
        Snapshot {
            window: (self.window as usize).max(1),
            in_flight: self.in_flight,
            pace: self.pace,
            reason,
            paused: self
                .paused_until
                .and_then(|u| u.checked_duration_since(now)),
            refused_share: self.shares.0,
            failed_share: self.shares.1,
            refusal_noise: self.refusals.floor,
        }
    }

    /// Takes a place in the window if there is one, the pool is not paused and the paced slot
    /// is due.
    pub fn try_take(&mut self, now: Instant) -> Next {
        if let Some(until) = self.paused_until {
            if until > now {
                return Next::Wait(until - now);
            }
            self.paused_until = None;
        }
        if self.in_flight >= (self.window as usize).max(1) {
            return Next::Full;
        }
        if let Some(rate) = self.pace {
            if self.next_slot > now {
                return Next::Wait(self.next_slot - now);
            }
            // From the slot, not from now: a late wake-up (timers tick in milliseconds) does
            // not slow the pace; at most two intervals are caught up after an idle spell.
            let interval = Duration::from_secs_f64(1.0 / rate);
            self.next_slot = self
                .next_slot
                .max(now.checked_sub(interval * 2).unwrap_or(now))
                + interval;
        }
        self.in_flight += 1;
        Next::Go(now)
    }

    /// Learns from one answer to an exchange started at `taken` (`adapt`: the most in flight
    /// of an adaptive window; `None`: fixed, only the shares are counted); how many places in
    /// the window it opened.
    pub fn learn(
        &mut self,
        taken: Instant,
        now: Instant,
        signal: Signal,
        adapt: Option<usize>,
    ) -> usize {
        let before = (self.window as usize).max(1);
        let Some(max) = adapt else {
            self.tally(signal);
            if self.epoch.ripe(now) {
                let epoch = std::mem::replace(&mut self.epoch, Epoch::new(now));
                let answers = f64::from(epoch.answers().max(1));
                self.shares = (
                    f64::from(epoch.refused) / answers,
                    f64::from(epoch.failed) / answers,
                );
            }
            return 0;
        };
        let latency = now.saturating_duration_since(taken);
        match signal {
            Signal::Accepted { remaining, limit } => {
                self.count(now, true);
                self.tally(signal);
                let fast = self.latency(latency);
                let low = match (remaining, limit) {
                    (Some(r), Some(l)) => r.saturating_mul(20) <= l,
                    (Some(r), None) => r == 0,
                    _ => false,
                };
                if low {
                    let calm = self
                        .remaining_cut_at
                        .is_none_or(|at| now.duration_since(at) >= Duration::from_secs(1));
                    if calm {
                        self.remaining_cut_at = Some(now);
                        self.pace_at(now, REMAINING_CUT);
                        self.reason = PaceReason::Remaining(remaining.unwrap_or(0));
                    }
                } else {
                    if fast && !self.failures.trying() {
                        let step = if self.slow_start {
                            1.0
                        } else {
                            1.0 / self.window
                        };
                        self.window = (self.window + step).min(max as f64);
                    }
                    if !self.refusals.trying() {
                        self.speed_up(now);
                    }
                }
            }
            Signal::RateLimited(wait) => {
                self.count(now, false);
                self.tally(signal);
                self.last_wait = wait.or(self.last_wait);
                let (accepted, refused) = self.last_second(now);
                let share = f64::from(refused) / f64::from(accepted + refused);
                let used_up = refused >= accepted
                    && accepted + refused >= USED_UP_ANSWERS
                    && self.refusals.above_floor(share, accepted + refused);
                if let Some(wait) = wait.filter(|_| used_up) {
                    let until = now + wait.min(MAX_POOL_PAUSE);
                    self.paused_until = Some(self.paused_until.map_or(until, |u| u.max(until)));
                }
            }
            Signal::Overloaded => self.tally(signal),
        }
        if self.epoch.ripe(now) {
            self.judge(now);
        }
        (self.window as usize).max(1).saturating_sub(before)
    }

    /// Learns an accepted send's latency; whether it was fast (within twice the base latency
    /// plus [`LATENCY_SLACK`]). A slow answer ends the slow start; a round whose mean is slow
    /// (our own queue at the API or on this machine) narrows the window by the ratio of the
    /// fast bound to that mean, at most by half.
    fn latency(&mut self, latency: Duration) -> bool {
        let bound = |base: Duration| base * 2 + LATENCY_SLACK;
        let fast = self.base.is_none_or(|b| latency <= bound(b));
        if !fast {
            self.slow_start = false;
        }
        let (length, answers, sum) = &mut self.round;
        *answers += 1;
        *sum += latency;
        if *answers >= *length {
            let mean = *sum / *answers;
            self.round = (ROUND_ANSWERS.max(self.window as u32), 0, Duration::ZERO);
            let base = self.base.map_or(mean, |b| b.min(mean));
            self.base = Some(base);
            if mean > bound(base) {
                let ratio = (bound(base).as_secs_f64() / mean.as_secs_f64()).max(0.5);
                self.window = (self.window * ratio).max(1.0);
            }
        }
        fast
    }

    /// Counts `signal` in the epoch alone.
    fn tally(&mut self, signal: Signal) {
        match signal {
            Signal::Accepted { .. } => self.epoch.accepted += 1,
            Signal::RateLimited(_) => self.epoch.refused += 1,
            Signal::Overloaded => self.epoch.failed += 1,
        }
    }

    /// Ends the epoch: each detector judges its share.
    fn judge(&mut self, now: Instant) {
        let epoch = std::mem::replace(&mut self.epoch, Epoch::new(now));
        let answers = epoch.answers();
        let secs = now
            .saturating_duration_since(epoch.started)
            .as_secs_f64()
            .max(1e-3);
        let delivered = f64::from(epoch.accepted) / secs;
        let refused = f64::from(epoch.refused) / f64::from(answers);
        let failed = f64::from(epoch.failed) / f64::from(answers);
        self.shares = (refused, failed);
        let something = epoch.accepted > 0;
        match self.refusals.judge(refused, answers, something) {
            Judgement::Cut if something => {
                let before = (self.pace, self.ceiling, self.reason);
                self.refusals.cut(refused, answers, before);
                let pace = match self.pace {
                    None => delivered * PACE_CUT,
                    Some(p) => (p.min(delivered) * PACE_CUT).max(p * 0.5),
                };
                self.set_pace(now, pace, delivered);
                self.reason = PaceReason::RateLimited(self.last_wait);
            }
            Judgement::Noise((pace, ceiling, reason)) => {
                self.pace = pace;
                self.ceiling = ceiling;
                self.reason = reason;
                self.grown_at = now;
            }
            Judgement::Cut | Judgement::Pushback | Judgement::Hold => {}
        }
        match self.failures.judge(failed, answers, something) {
            Judgement::Cut => {
                self.failures.cut(failed, answers, self.window);
                self.window = (self.window / 2.0).max(1.0);
                self.slow_start = false;
            }
            Judgement::Noise(window) => self.window = self.window.max(window),
            Judgement::Pushback | Judgement::Hold => {}
        }
    }

    /// Paces at `factor` × what was accepted in the last second (never below half the pace
    /// before); nothing accepted and not paced yet: nothing to go by, no pace.
    fn pace_at(&mut self, now: Instant, factor: f64) {
        let (accepted, _) = self.last_second(now);
        let accepted = f64::from(accepted);
        let pace = match self.pace {
            None if accepted < 1.0 => return,
            None => accepted * factor,
            Some(p) => (p.min(accepted) * factor).max(p * 0.5),
        };
        self.set_pace(now, pace, pace / factor);
    }

    fn set_pace(&mut self, now: Instant, pace: f64, ceiling: f64) {
        self.ceiling = ceiling;
        self.pace = Some(pace.max(1.0));
        self.grown_at = now;
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

    /// Moves the last-second clock to `now`, emptying the buckets it passes.
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
