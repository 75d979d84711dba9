//! The governor's decisions: when to narrow the window or pace the run, and when to undo it.
//!
//! Policy (constants below): answers are counted per epoch (at least [`EPOCH`] and
//! [`EPOCH_ANSWERS`] answers, or [`EPOCH_LONGEST`]). At an epoch's end the share of refused
//! sends (429, or 503 with a retry instant) and the share of failed ones (another 5xx, no
//! answer) are each judged by a [`Detector`]:
//! - a share above its noise floor by more than chance explains (twice the binomial standard
//!   error, at least [`MIN_EXCESS`]) is acted on, as a trial: refusals pace the run at 9/10 of
//!   the rate delivered in the epoch (never below half the pace before); failures halve the
//!   window;
//! - the next epoch judges the trial: when the share fell by more than chance explains (three
//!   standard errors of the difference, at least [`MIN_EXCESS`]), slowing down helped
//!   (pushback): the cut stays, and the next epoch may cut again. When it did not fall, the
//!   share is noise (refusals drawn whatever the rate, as an API in an incident gives them): the
//!   floor rises to it and the pace or window returns to what it was before the cut. An epoch in
//!   which nothing was delivered keeps the cut (slowing costs nothing then);
//! - a floor decays by [`FLOOR_DECAY`] per epoch without a trial, so a limit that appears later
//!   is still found;
//! - an epoch of fewer than [`VERDICT_ANSWERS`] answers decides nothing (a trial waits).

use std::time::{Duration, Instant};

/// The shortest epoch.
pub const EPOCH: Duration = Duration::from_secs(1);
/// The answers an epoch needs before it is judged (unless it lasted [`EPOCH_LONGEST`]).
pub const EPOCH_ANSWERS: u32 = 20;
/// An epoch with fewer answers is judged after this long.
pub const EPOCH_LONGEST: Duration = Duration::from_secs(5);
/// The fewest answers an epoch needs for a cut or a verdict (a slow API's long epoch with
/// fewer says nothing).
pub const VERDICT_ANSWERS: u32 = 10;
/// The least excess over the floor that counts as a signal.
pub const MIN_EXCESS: f64 = 0.02;
/// How much a noise floor falls per epoch without a trial.
pub const FLOOR_DECAY: f64 = 0.98;
/// The pace set by a refusal trial, as a share of the rate delivered in the epoch.
pub const PACE_CUT: f64 = 0.9;

/// The answers of one epoch.
#[derive(Debug, Clone, Copy)]
pub(super) struct Epoch {
    pub started: Instant,
    pub accepted: u32,
    pub refused: u32,
    pub failed: u32,
}

impl Epoch {
    pub fn new(now: Instant) -> Self {
        Epoch {
            started: now,
            accepted: 0,
            refused: 0,
            failed: 0,
        }
    }

    pub fn answers(&self) -> u32 {
        self.accepted + self.refused + self.failed
    }

    /// Whether it is long enough to judge.
    pub fn ripe(&self, now: Instant) -> bool {
        let age = now.saturating_duration_since(self.started);
        age >= EPOCH && (self.answers() >= EPOCH_ANSWERS || age >= EPOCH_LONGEST)
    }
}

/// What a detector makes of an epoch's share.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Judgement<T> {
    /// Above the floor: cut now, as a trial (the caller remembers `T` to restore).
    Cut,
    /// The last cut helped: keep it.
    Pushback,
    /// The last cut did not help: restore what it changed.
    Noise(T),
    /// Nothing to do.
    Hold,
}

/// Tells pushback from noise for one kind of trouble.
#[derive(Debug, Clone)]
pub(super) struct Detector<T> {
    /// The share judged noise (decaying).
    pub floor: f64,
    trial: Option<Trial<T>>,
}

#[derive(Debug, Clone)]
struct Trial<T> {
    share: f64,
    answers: u32,
    restore: T,
}

/// The variance of a share `p` measured over `n`.
fn variance(p: f64, n: u32) -> f64 {
    p * (1.0 - p) / f64::from(n.max(1))
}

impl<T: Copy> Detector<T> {
    pub fn new() -> Self {
        Detector {
            floor: 0.0,
            trial: None,
        }
    }

    /// Whether a trial is under way (the caller holds its growth still meanwhile).
    pub fn trying(&self) -> bool {
        self.trial.is_some()
    }

    /// Judges `share` of `answers`; `delivered`: something got through. After a [`Judgement::Cut`]
    /// the caller calls [`Detector::cut`] with what to restore.
    pub fn judge(&mut self, share: f64, answers: u32, delivered: bool) -> Judgement<T> {
        if answers < VERDICT_ANSWERS {
            // Too few to tell anything: a trial waits for the next epoch.
            return Judgement::Hold;
        }
        if let Some(trial) = self.trial.take() {
            let chance =
                3.0 * (variance(trial.share, trial.answers) + variance(share, answers)).sqrt();
            if trial.share - share > chance.max(MIN_EXCESS) || !delivered {
                return Judgement::Pushback;
            }
            self.floor = ((trial.share + share) / 2.0).clamp(self.floor, 1.0);
            return Judgement::Noise(trial.restore);
        }
        if self.above_floor(share, answers) {
            Judgement::Cut
        } else {
            self.floor *= FLOOR_DECAY;
            Judgement::Hold
        }
    }

    /// Starts the trial of a cut made at `share`, remembering `restore`.
    pub fn cut(&mut self, share: f64, answers: u32, restore: T) {
        self.trial = Some(Trial {
            share,
            answers,
            restore,
        });
    }

    /// Whether `share` (of `answers`) is above the floor by more than chance.
    pub fn above_floor(&self, share: f64, answers: u32) -> bool {
        let chance = 2.0 * variance(self.floor, answers).sqrt();
        share > self.floor + chance.max(MIN_EXCESS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_share_that_falls_with_the_cut_is_pushback_and_one_that_stays_is_noise() {
        let mut d: Detector<u32> = Detector::new();
        assert_eq!(d.judge(0.01, 100, true), Judgement::Hold);
        assert_eq!(d.judge(0.30, 100, true), Judgement::Cut);
        d.cut(0.30, 100, 7);
        assert!(d.trying());
        assert_eq!(
            d.judge(0.05, 100, true),
            Judgement::Pushback,
            "fell by more than chance"
        );
        assert_eq!(d.floor, 0.0);
        assert_eq!(d.judge(0.10, 100, true), Judgement::Cut);
        d.cut(0.10, 100, 9);
        assert_eq!(
            d.judge(0.09, 100, true),
            Judgement::Noise(9),
            "did not fall"
        );
        assert!((d.floor - 0.095).abs() < 1e-9, "{}", d.floor);
        // At the floor, within chance: no more cuts.
        for share in [0.12, 0.08, 0.11, 0.13] {
            assert_eq!(d.judge(share, 100, true), Judgement::Hold, "{share}");
        }
        // A limit on top of the noise is found.
        assert_eq!(d.judge(0.40, 100, true), Judgement::Cut);
        d.cut(0.40, 100, 1);
        assert_eq!(d.judge(0.12, 100, true), Judgement::Pushback);
    }

    #[test]
    fn nothing_delivered_keeps_the_cut_and_the_floor_decays() {
        let mut d: Detector<()> = Detector::new();
        assert_eq!(d.judge(1.0, 50, false), Judgement::Cut);
        d.cut(1.0, 50, ());
        assert_eq!(d.judge(1.0, 50, false), Judgement::Pushback);
        d.floor = 0.5;
        for _ in 0..10 {
            d.judge(0.0, 50, true);
        }
        assert!((d.floor - 0.5 * FLOOR_DECAY.powi(10)).abs() < 1e-9);
    }
}
