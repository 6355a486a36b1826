//! One operation, or one person's changes and skips across runs, with their explanations, as
//! `classbridge explain` and the console's person search read them: from the rows written
//! beside each plan (`run_ops`, `run_skips`, indexed by person) and the journal, never by
//! parsing a plan.

use classbridge_engine::OpOutcome;
use classbridge_engine::explanation::SkippedRecord;
use classbridge_engine::plan::PlannedOp;
use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::{RunStatus, Store, StoreError, corrupt};

/// An operation planned for a person, with what became of it.
#[derive(Serialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct PersonChange {
    pub run: i64,
    /// When the run started.
    pub started_at: String,
    /// The run's status.
    pub status: RunStatus,
    pub op: PlannedOp,
    /// What happened when it was applied; none when it was not (yet).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<OpOutcome>,
}

/// A record of a person's that a run's rules left out.
#[derive(Serialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct PersonSkip {
    pub run: i64,
    pub started_at: String,
    pub skip: SkippedRecord,
}

fn parse_op(text: &str) -> Result<PlannedOp, StoreError> {
    serde_json::from_str(text).map_err(|e| corrupt("an operation in run_ops", e))
}

fn parse_outcome(text: Option<String>) -> Result<Option<OpOutcome>, StoreError> {
    text.map(|t| serde_json::from_str(&t).map_err(|e| corrupt("an outcome in the journal", e)))
        .transpose()
}

impl Store {
    /// Operation `op_id` of run `run`, with its outcome; `None` when the run has no such
    /// operation (the run itself missing is [`StoreError::NoSuchRun`]).
    pub fn run_op(
        &self,
        run: i64,
        op_id: &str,
    ) -> Result<Option<(PlannedOp, Option<OpOutcome>)>, StoreError> {
        self.run(run)?;
        let row: Option<(String, Option<String>)> = self
            .conn
            .query_row(
                "SELECT o.op, j.outcome FROM run_ops o
                 LEFT JOIN journal j ON j.run_id = o.run AND j.op_id = o.op_id
                 WHERE o.run = ?1 AND o.op_id = ?2",
                params![run, op_id],
                |r| Ok((super::run_changes::stored_op(r, 0)?, r.get(1)?)),
            )
            .optional()?;
        row.map(|(op, outcome)| Ok((parse_op(&op)?, parse_outcome(outcome)?)))
            .transpose()
    }

    /// Every operation planned for `email` (its address, any case), oldest run first.
    pub fn person_changes(&self, email: &str) -> Result<Vec<PersonChange>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT o.run, r.started_at, r.status, o.op, j.outcome FROM run_ops o
             JOIN runs r ON r.id = o.run
             LEFT JOIN journal j ON j.run_id = o.run AND j.op_id = o.op_id
             WHERE o.person = ?1 ORDER BY o.run, o.seq",
        )?;
        let rows = stmt.query_map(params![email.trim().to_lowercase()], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                super::run_changes::stored_op(r, 3)?,
                r.get::<_, Option<String>>(4)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (run, started_at, status, op, outcome) = row?;
            out.push(PersonChange {
                run,
                started_at,
                status: RunStatus::parse(&status),
                op: parse_op(&op)?,
                outcome: parse_outcome(outcome)?,
            });
        }
        Ok(out)
    }

    /// Every record of `email`'s that a run's rules left out, oldest run first.
    pub fn person_skips(&self, email: &str) -> Result<Vec<PersonSkip>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT s.run, r.started_at, s.skip FROM run_skips s JOIN runs r ON r.id = s.run
             WHERE s.person = ?1 ORDER BY s.run, s.rowid",
        )?;
        let rows = stmt.query_map(params![email.trim().to_lowercase()], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (run, started_at, skip) = row?;
            out.push(PersonSkip {
                run,
                started_at,
                skip: serde_json::from_str(&skip)
                    .map_err(|e| corrupt("a skipped record in run_skips", e))?,
            });
        }
        Ok(out)
    }
}
