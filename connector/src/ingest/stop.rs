//! When an ingest stops starting records: once `max_errors` records are invalid or failed, once
//! `give_up_after` records in a row failed for want of an answer (the API down, or throttling
//! past the records' retries), or, while the API has not answered a single exchange of the
//! run, once the tries without an answer reach `give_up_after` or, once the whole input is read,
//! twice the records started (at least [`FEWEST_TRIES`]), whichever is fewer (an address
//! nothing answers at: a small file ends in seconds, not after every record spent its tries). An outage ends a run with a clear error instead of failing
//! every remaining record one by one.
//!
//! Policy: only records that reached the API move the streak. A delivered record, or one the
//! API refused (it answered), ends the streak; a record out of retries, of unknown outcome or
//! told to wait longer than its task allows adds to it; skipped and invalid records leave it
//! as it is. Stopping loses nothing: records not started are not in the journal, and begun ones
//! are resolved by the next run of the same command.

use serde::Serialize;

use super::governor::Answers;
use super::{RecordOutcome, RecordReport};
use crate::execute::ErrorCode;

/// Why a run stopped before the end of its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "reason")]
pub enum Stop {
    /// `max_errors` records were invalid or failed.
    MaxErrors,
    /// This many records in a row failed for want of an answer.
    Unanswered {
        /// The records in a row.
        streak: u64,
    },
    /// The API never answered: this many tries failed.
    Unreachable {
        /// The tries without an answer.
        tries: u64,
    },
}

impl Stop {
    /// Whether it stopped for want of an answer (records in progress are then dropped, as a
    /// `kill -9` would, for the next run to resolve).
    pub fn unanswered(self) -> bool {
        matches!(self, Stop::Unanswered { .. } | Stop::Unreachable { .. })
    }
}

/// Counts records as they finish and says when to stop starting new ones.
#[derive(Debug, Clone, Default)]
pub struct Stopper {
    max_errors: Option<u64>,
    give_up_after: Option<u64>,
    errors: u64,
    streak: u64,
}

impl Stopper {
    /// Stops at `max_errors` invalid or failed records, or at `give_up_after` unanswered
    /// records in a row (`None`: never for that reason).
    pub fn new(max_errors: Option<u64>, give_up_after: Option<u64>) -> Self {
        Stopper {
            max_errors,
            give_up_after,
            ..Stopper::default()
        }
    }

    /// Counts one finished record.
    pub fn note(&mut self, report: &RecordReport) {
        if !report.outcome.delivered() {
            self.errors += 1;
        }
        match report.outcome {
            RecordOutcome::Skipped | RecordOutcome::Invalid => {}
            RecordOutcome::Failed if unanswered(report) => self.streak += 1,
            _ => self.streak = 0,
        }
    }

    /// Whether to stop starting records, and why, given what the run's exchanges met
    /// (`answers`; `None`: not known here, as on Restate, where the service makes them) and,
    /// once the whole input is read, how many records were started.
    pub fn stop(&self, answers: Option<Answers>, all_read: Option<u64>) -> Option<Stop> {
        if self.max_errors.is_some_and(|m| self.errors >= m) {
            Some(Stop::MaxErrors)
        } else {
            self.unanswered(answers, all_read)
        }
    }

    /// [`Stopper::stop`] for want of an answer only (records in progress are then dropped).
    pub fn unanswered(&self, answers: Option<Answers>, all_read: Option<u64>) -> Option<Stop> {
        let n = self.give_up_after?;
        if self.streak >= n {
            return Some(Stop::Unanswered {
                streak: self.streak,
            });
        }
        let a = answers?;
        // Twice the records, for a whole input smaller than the limit; never fewer than
        // [`FEWEST_TRIES`], so one slow record's first failures are not an outage.
        let limit = all_read.map_or(n, |started| {
            n.min(started.saturating_mul(2).max(FEWEST_TRIES))
        });
        (a.answered == 0 && a.unanswered_in_a_row >= limit.max(1)).then_some(Stop::Unreachable {
            tries: a.unanswered_in_a_row,
        })
    }
}

/// The fewest tries without an answer that end a small input's run.
pub const FEWEST_TRIES: u64 = 10;

/// Whether a failed record failed for want of an answer rather than by the API's refusal.
fn unanswered(report: &RecordReport) -> bool {
    report.error.as_ref().is_some_and(|e| {
        matches!(
            e.code,
            ErrorCode::RetriesExhausted | ErrorCode::OutcomeUnknown | ErrorCode::RateLimited
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execute::TaskError;

    fn failed(code: ErrorCode) -> RecordReport {
        RecordReport::bare(1, RecordOutcome::Failed, Some(TaskError::new(code, "x")))
    }

    fn bare(outcome: RecordOutcome) -> RecordReport {
        RecordReport::bare(1, outcome, None)
    }

    fn answered() -> Option<Answers> {
        Some(Answers {
            exchanges: 1,
            answered: 1,
            unanswered_in_a_row: 0,
        })
    }

    #[test]
    fn an_api_that_never_answered_stops_after_twice_the_records_started_in_tries() {
        let s = Stopper::new(None, Some(100));
        let silent = |tries| {
            Some(Answers {
                exchanges: tries,
                answered: 0,
                unanswered_in_a_row: tries,
            })
        };
        assert_eq!(s.stop(silent(99), Some(50)), None);
        assert_eq!(
            s.stop(silent(100), Some(50)),
            Some(Stop::Unreachable { tries: 100 })
        );
        assert_eq!(s.stop(silent(9), Some(3)), None, "at least 10 tries");
        assert_eq!(
            s.stop(silent(10), Some(3)),
            Some(Stop::Unreachable { tries: 10 }),
            "a small file"
        );
        assert_eq!(
            s.stop(silent(99), Some(1000)),
            None,
            "at most --give-up-after tries"
        );
        assert_eq!(
            s.stop(silent(99), None),
            None,
            "still reading: --give-up-after tries"
        );
        assert_eq!(
            s.stop(silent(100), None),
            Some(Stop::Unreachable { tries: 100 })
        );
        let once = Some(Answers {
            answered: 1,
            ..silent(500).unwrap()
        });
        assert_eq!(
            s.stop(once, Some(1000)),
            None,
            "it answered once: records in a row decide"
        );
        assert_eq!(s.stop(None, Some(10)), None, "exchanges not known here");
        assert_eq!(
            Stopper::new(None, None).stop(silent(500), Some(10)),
            None,
            "0: never"
        );
    }

    #[test]
    fn a_streak_of_unanswered_records_stops_and_an_answer_ends_it() {
        let mut s = Stopper::new(None, Some(3));
        s.note(&failed(ErrorCode::RetriesExhausted));
        s.note(&failed(ErrorCode::OutcomeUnknown));
        // Records that never reached the API neither add to nor end the streak.
        s.note(&bare(RecordOutcome::Skipped));
        s.note(&bare(RecordOutcome::Invalid));
        assert_eq!(s.stop(answered(), None), None);
        // A refusal is an answer: the API is up.
        s.note(&failed(ErrorCode::HttpError));
        s.note(&failed(ErrorCode::RateLimited));
        s.note(&failed(ErrorCode::RetriesExhausted));
        assert_eq!(s.stop(answered(), None), None);
        s.note(&failed(ErrorCode::RetriesExhausted));
        assert_eq!(
            s.stop(answered(), None),
            Some(Stop::Unanswered { streak: 3 })
        );
        s.note(&bare(RecordOutcome::Created));
        assert_eq!(s.stop(answered(), None), None);
    }

    #[test]
    fn max_errors_counts_every_invalid_or_failed_record_and_comes_first() {
        let mut s = Stopper::new(Some(3), Some(2));
        s.note(&bare(RecordOutcome::Invalid));
        s.note(&failed(ErrorCode::HttpError));
        s.note(&bare(RecordOutcome::Created));
        assert_eq!(s.stop(answered(), None), None);
        s.note(&failed(ErrorCode::RetriesExhausted));
        assert_eq!(s.stop(answered(), None), Some(Stop::MaxErrors));
        let never = Stopper::new(None, None);
        assert_eq!(never.stop(answered(), None), None);
    }
}
