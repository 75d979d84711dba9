//! When an ingest stops starting records: once `max_errors` records are invalid or failed, or
//! once `give_up_after` records in a row failed for want of an answer (the API down, or
//! throttling past the records' retries), so that an API outage ends a long run with a clear
//! error instead of failing every remaining record one by one.
//!
//! Policy: only records that reached the API move the streak. A delivered record, or one the
//! API refused (it answered), ends the streak; a record out of retries, of unknown outcome or
//! told to wait longer than its task allows adds to it; skipped and invalid records leave it
//! as it is. Stopping loses nothing: records not started are not in the journal, and begun ones
//! are resolved by the next run of the same command.

use serde::Serialize;

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

    /// Whether to stop starting records, and why.
    pub fn stop(&self) -> Option<Stop> {
        if self.max_errors.is_some_and(|m| self.errors >= m) {
            Some(Stop::MaxErrors)
        } else if self.give_up_after.is_some_and(|n| self.streak >= n) {
            Some(Stop::Unanswered {
                streak: self.streak,
            })
        } else {
            None
        }
    }
}

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

    #[test]
    fn a_streak_of_unanswered_records_stops_and_an_answer_ends_it() {
        let mut s = Stopper::new(None, Some(3));
        s.note(&failed(ErrorCode::RetriesExhausted));
        s.note(&failed(ErrorCode::OutcomeUnknown));
        // Records that never reached the API neither add to nor end the streak.
        s.note(&bare(RecordOutcome::Skipped));
        s.note(&bare(RecordOutcome::Invalid));
        assert_eq!(s.stop(), None);
        // A refusal is an answer: the API is up.
        s.note(&failed(ErrorCode::HttpError));
        s.note(&failed(ErrorCode::RateLimited));
        s.note(&failed(ErrorCode::RetriesExhausted));
        assert_eq!(s.stop(), None);
        s.note(&failed(ErrorCode::RetriesExhausted));
        assert_eq!(s.stop(), Some(Stop::Unanswered { streak: 3 }));
        s.note(&bare(RecordOutcome::Created));
        assert_eq!(s.stop(), None);
    }

    #[test]
    fn max_errors_counts_every_invalid_or_failed_record_and_comes_first() {
        let mut s = Stopper::new(Some(3), Some(2));
        s.note(&bare(RecordOutcome::Invalid));
        s.note(&failed(ErrorCode::HttpError));
        s.note(&bare(RecordOutcome::Created));
        assert_eq!(s.stop(), None);
        s.note(&failed(ErrorCode::RetriesExhausted));
        assert_eq!(s.stop(), Some(Stop::MaxErrors));
        let never = Stopper::new(None, None);
        assert_eq!(never.stop(), None);
    }
}
