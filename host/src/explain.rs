//! `classbridge explain`: why an operation was planned, and everything planned for one person
//! across runs, in words. The explanations are the engine's (part of each plan); this only
//! reads them back and lays them out.

use std::fmt::Write as _;

use classbridge_engine::OpOutcome;
use classbridge_engine::explanation::{CauseChange, Explanation};
use classbridge_engine::plan::{OutcomeResult, PlannedOp};
use serde_json::Value;

use crate::store::{PersonChange, PersonSkip, RunRow};

/// What became of an operation, in words.
pub fn outcome_words(outcome: Option<&OpOutcome>, run_status: &str) -> String {
    match outcome.map(|o| &o.result) {
        Some(OutcomeResult::Succeeded { .. }) => "applied".into(),
        Some(OutcomeResult::Failed { error }) => format!("failed: {error}"),
        Some(OutcomeResult::NotAttempted) => "not attempted".into(),
        None => match run_status {
            "pending" => "waiting for approval".into(),
            "planned" => "planned only (classbridge plan)".into(),
            "applying" | "planning" => "not applied yet".into(),
            _ => "not applied".into(),
        },
    }
}

fn value_words(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "unset".into(),
        Some(Value::String(s)) => format!("'{s}'"),
        Some(other) => other.to_string(),
    }
}

/// An explanation as a short chain: the sentence, then each record and rule on its own line.
pub fn explanation_lines(why: &Explanation, indent: &str) -> String {
    let mut out = String::new();
    if !why.text().is_empty() {
        let _ = writeln!(out, "{indent}{}", why.text());
    }
    for cause in &why.causes {
        let change = match cause.change {
            CauseChange::New => "new",
            CauseChange::Changed => "changed",
            CauseChange::Removed => "removed",
            CauseChange::Unchanged => "unchanged",
        };
        let _ = writeln!(
            out,
            "{indent}  record: {} {} ({change})",
            cause.collection, cause.id
        );
        for f in &cause.fields {
            let _ = writeln!(
                out,
                "{indent}    {}: {} → {}",
                f.field,
                value_words(f.before.as_ref()),
                value_words(f.after.as_ref())
            );
        }
    }
    for rule in &why.rules {
        let _ = writeln!(out, "{indent}  rule: {} ({})", rule.rule, rule.says);
    }
    out
}

/// `classbridge explain RUN OP_ID`.
pub fn op_report(run: &RunRow, op: &PlannedOp, outcome: Option<&OpOutcome>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Run {}, operation {} ({})",
        run.id,
        op.op_id,
        outcome_words(outcome, run.status.as_str())
    );
    let _ = writeln!(out, "  {}", op.summary);
    match &op.why {
        Some(why) => out.push_str(&explanation_lines(why, "  ")),
        None => {
            let _ = writeln!(
                out,
                "  (no explanation: the plan was made by an engine older than explanations)"
            );
        }
    }
    out
}

/// `classbridge explain --person EMAIL`.
pub fn person_report(email: &str, changes: &[PersonChange], skips: &[PersonSkip]) -> String {
    let mut out = String::new();
    if changes.is_empty() && skips.is_empty() {
        let _ = writeln!(
            out,
            "No change was planned for {email} in any run kept, and no rule left their records out."
        );
        return out;
    }
    let _ = writeln!(out, "Changes for {email}, oldest first:");
    let mut runs: Vec<i64> = changes
        .iter()
        .map(|c| c.run)
        .chain(skips.iter().map(|s| s.run))
        .collect();
    runs.sort_unstable();
    runs.dedup();
    for run in runs {
        let started = changes
            .iter()
            .find(|c| c.run == run)
            .map(|c| c.started_at.as_str())
            .or_else(|| {
                skips
                    .iter()
                    .find(|s| s.run == run)
                    .map(|s| s.started_at.as_str())
            })
            .unwrap_or_default();
        let _ = writeln!(out, "\nRun {run} ({started}):");
        for c in changes.iter().filter(|c| c.run == run) {
            let _ = writeln!(
                out,
                "  {}  {}  [{}]",
                c.op.op_id,
                c.op.summary,
                outcome_words(c.outcome.as_ref(), c.status.as_str())
            );
            if let Some(why) = &c.op.why {
                out.push_str(&explanation_lines(why, "    "));
            }
        }
        for s in skips.iter().filter(|s| s.run == run) {
            let _ = writeln!(
                out,
                "  left out: {} {} (rule {}: {})",
                s.skip.entity, s.skip.sourced_id, s.skip.rule.rule, s.skip.rule.says
            );
        }
    }
    out
}
