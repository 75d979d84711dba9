//! What an ingest shows while it runs, beside the record counts: why it goes at the speed it
//! does (the governor's window, pace and reason, the refusal share), and an early warning when
//! the API has not answered a single try.
//!
//! Policy: the status is read once a second; whether the API answers, four times a second. The
//! warning comes once, when no try was answered and 8 failed, or failures alone lasted a
//! second (so within about a second of the first failure), naming the server, the error, the
//! tries so far and what the run will do next; when answers come after it, one line says so.

use std::sync::Arc;
use std::time::Duration;

use usage_connector::ingest::governor::{Governor, PaceReason, Snapshot};

use crate::cli::shared::progress::Progress;

/// Tries without an answer (and none answered) that bring the warning at once; fewer wait a
/// second (one lost answer among the first tries is not an outage).
const WARN_AFTER_TRIES: u64 = 8;

/// What the warning tells about the run's plan.
pub struct Plan {
    /// Where the records go.
    pub server: String,
    /// Tries per record.
    pub tries: u32,
    /// `--give-up-after` (`None`: never).
    pub give_up_after: Option<u64>,
}

/// Watches `governor` until aborted: the status on `progress` every second, the warning once.
pub async fn watch(governor: Arc<Governor>, progress: Arc<Progress>, plan: Plan) {
    let (mut warned, mut silent_since) = (false, None);
    for tick in 1u64.. {
        tokio::time::sleep(Duration::from_millis(250)).await;
        if tick % 4 == 0 {
            progress.set_status(status(&governor.snapshot()));
        }
        let health = governor.health();
        let a = health.answers;
        let silent = a.answered == 0 && a.unanswered_in_a_row > 0;
        let since = *silent_since.get_or_insert(tick);
        if !silent {
            silent_since = None;
        }
        // Not for one lost answer among the first tries: several, or a second of silence.
        let sure = a.unanswered_in_a_row >= WARN_AFTER_TRIES || tick >= since + 4;
        if !warned && silent && sure {
            warned = true;
            let next = match plan.give_up_after {
                Some(n) => format!(
                    "it stops once {n} tries (or twice the records started, if fewer) go unanswered (--give-up-after); run the same command once the API answers"
                ),
                None => "it goes on (--give-up-after 0)".into(),
            };
            progress.println(&format!(
                "ingest: no answer from {} yet: {} tries failed, the last: {}; each record is tried up to {} times, backing off; {next}",
                plan.server,
                a.unanswered_in_a_row,
                health.last_failure.as_deref().unwrap_or("no answer"),
                plan.tries,
            ));
        } else if warned && a.answered > 0 {
            warned = false;
            progress.println(&format!("ingest: {} answers now", plan.server));
        }
    }
}

/// `window 64, pace 290/s (429 Retry-After 1 s), refused 9.8 %`.
pub fn status(s: &Snapshot) -> String {
    let pace = match (s.pace, s.reason) {
        (None, _) | (_, PaceReason::Open) => "pace open".to_owned(),
        (Some(p), reason) => {
            let why = match reason {
                PaceReason::RateLimited(Some(wait)) => {
                    format!("429 Retry-After {}", seconds(wait))
                }
                PaceReason::RateLimited(None) => "429".into(),
                PaceReason::Remaining(n) => format!("X-RateLimit-Remaining {n}"),
                PaceReason::Probing => "probing".into(),
                PaceReason::Open => unreachable!("matched above"),
            };
            format!("pace {p:.0}/s ({why})")
        }
    };
    let mut text = format!("window {}, {pace}", s.window);
    if let Some(paused) = s.paused {
        text.push_str(&format!(", paused {} for the server", seconds(paused)));
    }
    text.push_str(&format!(", refused {:.1} %", s.refused_share * 100.0));
    if s.refusal_noise >= 0.005 && s.refused_share > 0.0 {
        text.push_str(&format!(
            " (~{:.0} % at random: not slowing for it)",
            s.refusal_noise * 100.0
        ));
    }
    if s.failed_share > 0.0 {
        text.push_str(&format!(", failed {:.1} %", s.failed_share * 100.0));
    }
    text
}

fn seconds(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 10.0 || s.fract() < 0.05 {
        format!("{s:.0} s")
    } else {
        format!("{s:.1} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_says_why_the_run_goes_at_its_pace() {
        let base = Snapshot {
            window: 64,
            in_flight: 3,
            pace: None,
            reason: PaceReason::Open,
            paused: None,
            refused_share: 0.0,
            failed_share: 0.0,
            refusal_noise: 0.0,
        };
        assert_eq!(status(&base), "window 64, pace open, refused 0.0 %");
        let limited = Snapshot {
            pace: Some(290.4),
            reason: PaceReason::RateLimited(Some(Duration::from_secs(1))),
            refused_share: 0.031,
            ..base
        };
        assert_eq!(
            status(&limited),
            "window 64, pace 290/s (429 Retry-After 1 s), refused 3.1 %"
        );
        let noisy = Snapshot {
            refused_share: 0.098,
            refusal_noise: 0.1,
            failed_share: 0.2,
            ..base
        };
        assert_eq!(
            status(&noisy),
            "window 64, pace open, refused 9.8 % (~10 % at random: not slowing for it), failed 20.0 %"
        );
        let low = Snapshot {
            pace: Some(40.0),
            reason: PaceReason::Remaining(3),
            ..base
        };
        assert!(status(&low).contains("pace 40/s (X-RateLimit-Remaining 3)"));
    }
}
