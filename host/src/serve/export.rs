//! A run's record issues, holds, changes and failures as CSV, the way admins keep them (SDS
//! and ClassLink export the same lists). Changes follow the page's filter, so an admin
//! downloads what they are looking at.

use classbridge_engine::SyncPlan;
use classbridge_engine::plan::{OpOutcome, OutcomeResult, PlannedOp};

/// What can be exported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Export {
    Changes,
    Issues,
    Holds,
    Failures,
}

impl Export {
    pub(super) fn parse(name: &str) -> Option<Export> {
        match name.trim_end_matches(".csv") {
            "changes" => Some(Export::Changes),
            "issues" => Some(Export::Issues),
            "holds" => Some(Export::Holds),
            "failures" => Some(Export::Failures),
            _ => None,
        }
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            Export::Changes => "changes",
            Export::Issues => "issues",
            Export::Holds => "holds",
            Export::Failures => "failures",
        }
    }
}

/// A spreadsheet reads a cell starting with `=`, `+`, `-` or `@` as a formula: SIS data must
/// never run as one, so such cells are quoted with a leading apostrophe.
fn cell(value: &str) -> String {
    if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_string()
    }
}

fn words(value: Option<&serde_json::Value>) -> String {
    match value {
        None | Some(serde_json::Value::Null) => String::new(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

fn outcome_words(outcome: Option<&OpOutcome>) -> (&'static str, String) {
    match outcome.map(|o| &o.result) {
        Some(OutcomeResult::Succeeded { .. }) => ("succeeded", String::new()),
        Some(OutcomeResult::Failed { error }) => ("failed", error.clone()),
        Some(OutcomeResult::NotAttempted) => ("not attempted", String::new()),
        _ => ("", String::new()),
    }
}

fn write(rows: impl IntoIterator<Item = Vec<String>>) -> Result<Vec<u8>, csv::Error> {
    let mut out = csv::Writer::from_writer(Vec::new());
    for row in rows {
        out.write_record(row.iter().map(|v| cell(v)))?;
    }
    out.into_inner()
        .map_err(|e| csv::Error::from(e.into_error()))
}

/// The plan's changes (those given), each with its outcome once applied.
pub(super) fn changes(
    ops: &[&PlannedOp],
    school_names: &super::changes::SchoolNames,
    outcome: impl Fn(&str) -> Option<OpOutcome>,
) -> Result<Vec<u8>, csv::Error> {
    let header = [
        "op_id",
        "change",
        "entity",
        "school",
        "class",
        "person",
        "summary",
        "before",
        "after",
        "outcome",
        "error",
        "school_name",
    ]
    .map(str::to_string)
    .to_vec();
    let rows = ops.iter().map(|op| {
        let found = outcome(&op.op_id);
        let (status, error) = outcome_words(found.as_ref());
        vec![
            op.op_id.clone(),
            format!("{:?}", op.change).to_lowercase(),
            format!("{:?}", op.entity).to_lowercase(),
            op.school_id.as_deref().unwrap_or_default().to_string(),
            op.class_id.as_deref().unwrap_or_default().to_string(),
            op.person.as_deref().unwrap_or_default().to_string(),
            op.summary.clone(),
            words(op.before.as_deref()),
            words(op.after.as_deref()),
            status.to_string(),
            error,
            op.school_id
                .as_deref()
                .and_then(|s| school_names.get(s))
                .cloned()
                .unwrap_or_default(),
        ]
    });
    write(std::iter::once(header).chain(rows))
}

pub(super) fn issues(plan: &SyncPlan) -> Result<Vec<u8>, csv::Error> {
    let header = ["severity", "source", "entity", "sourced_id", "reason"]
        .map(str::to_string)
        .to_vec();
    let rows = plan.record_issues.iter().map(|i| {
        vec![
            format!("{:?}", i.severity).to_lowercase(),
            i.source.clone(),
            i.entity.clone(),
            i.sourced_id.clone().unwrap_or_default(),
            i.reason.clone(),
        ]
    });
    write(std::iter::once(header).chain(rows))
}

pub(super) fn holds(plan: &SyncPlan) -> Result<Vec<u8>, csv::Error> {
    let header = ["hold", "entity", "source", "message"]
        .map(str::to_string)
        .to_vec();
    let rows = plan.holds.iter().map(|h| {
        vec![
            format!("{:?}", h.code).to_lowercase(),
            h.entity.map(|e| format!("{e:?}")).unwrap_or_default(),
            h.source.clone().unwrap_or_default(),
            h.message.clone(),
        ]
    });
    write(std::iter::once(header).chain(rows))
}

/// The operations that failed, from the journal.
pub(super) fn failures(
    ops: &[PlannedOp],
    outcome: impl Fn(&str) -> Option<OpOutcome>,
) -> Result<Vec<u8>, csv::Error> {
    let header = ["op_id", "change", "entity", "summary", "error"]
        .map(str::to_string)
        .to_vec();
    let rows = ops.iter().filter_map(|op| {
        let found = outcome(&op.op_id)?;
        let OutcomeResult::Failed { error } = found.result else {
            return None;
        };
        Some(vec![
            op.op_id.clone(),
            format!("{:?}", op.change).to_lowercase(),
            format!("{:?}", op.entity).to_lowercase(),
            op.summary.clone(),
            error,
        ])
    });
    write(std::iter::once(header).chain(rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_like_cells_are_defused_and_others_kept() {
        assert_eq!(cell("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(cell("+1"), "'+1");
        assert_eq!(cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(cell("Maria Lopez"), "Maria Lopez");
        let csv = write(vec![vec!["a,b".into(), "say \"hi\"".into()]]).unwrap();
        assert_eq!(
            String::from_utf8(csv).unwrap(),
            "\"a,b\",\"say \"\"hi\"\"\"\n"
        );
    }
}
