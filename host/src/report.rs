//! Human-readable output of plans, runs and history.

use std::fmt::Write as _;

use classbridge_engine::SyncPlan;
use classbridge_engine::plan::Action;

use crate::runner::RunReport;
use crate::store::{Decision, JournalRow, RunRow};

/// How long applying `plan` takes at Classroom's quota, in words: "9,000 operations, about 8
/// minutes at 1,200 requests/minute". Each Classroom operation is one request; SIS writes
/// are not under Classroom's quota and are counted apart. `None` for a plan with nothing to do.
pub fn apply_estimate(plan: &SyncPlan, quota_per_minute: u32) -> Option<String> {
    let sis = plan
        .ops
        .iter()
        .filter(|o| {
            matches!(
                o.action,
                Action::OneRosterPut { .. } | Action::OneRosterDelete { .. }
            )
        })
        .count();
    apply_estimate_of(plan.ops.len(), sis, quota_per_minute)
}

/// [`apply_estimate`] from the counts: `total` operations of which `sis` write to the SIS.
pub fn apply_estimate_of(total: usize, sis: usize, quota_per_minute: u32) -> Option<String> {
    if total == 0 {
        return None;
    }
    let classroom = total.saturating_sub(sis);
    let quota = quota_per_minute.max(1) as usize;
    let minutes = classroom.div_ceil(quota);
    let time = match minutes {
        0 => "nothing in Classroom".to_string(),
        1 => format!("under a minute at {} requests/minute", thousands(quota)),
        n => format!("about {n} minutes at {} requests/minute", thousands(quota)),
    };
    let mut words = format!("{} operations, {time}", thousands(total));
    if sis > 0 && classroom > 0 {
        let _ = write!(
            words,
            " ({} of them SIS writes, not under that quota)",
            thousands(sis)
        );
    } else if sis > 0 {
        let _ = write!(words, " (SIS writes only)");
    }
    Some(words)
}

/// 1234567 as "1,234,567".
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn preview(plan: &SyncPlan) -> String {
    let mut out = String::new();
    let s = &plan.summary;
    let _ = writeln!(out, "Plan {}", &plan.id[..12.min(plan.id.len())]);
    let _ = writeln!(
        out,
        "\nRoster changes (SIS, against the last accepted state):"
    );
    let _ = writeln!(
        out,
        "  {:<18} {:>8} {:>8} {:>8} {:>8} {:>8}",
        "entity", "before", "after", "create", "update", "delete"
    );
    for (kind, c) in &s.roster {
        if c.before + c.after + c.create + c.update + c.delete == 0 {
            continue;
        }
        let _ = writeln!(
            out,
            "  {:<18} {:>8} {:>8} {:>8} {:>8} {:>8}",
            format!("{kind:?}"),
            c.before,
            c.after,
            c.create,
            c.update,
            c.delete
        );
    }
    let _ = writeln!(out, "\nOperations:");
    if s.operations.is_empty() {
        let _ = writeln!(out, "  none");
    }
    for (entity, changes) in &s.operations {
        let parts: Vec<String> = changes
            .iter()
            .map(|(c, n)| format!("{n} {c:?}").to_lowercase())
            .collect();
        let _ = writeln!(
            out,
            "  {:<10} {}",
            format!("{entity:?}").to_lowercase(),
            parts.join(", ")
        );
    }
    if !s.skipped.is_empty() {
        let _ = writeln!(out, "\nLeft out on purpose:");
        for (why, n) in &s.skipped {
            let _ = writeln!(out, "  {n:>6}  {why}");
        }
    }
    if !plan.holds.is_empty() {
        let _ = writeln!(out, "\nHolds (nothing applies until approved):");
        for h in &plan.holds {
            let _ = writeln!(out, "  - {:?}: {}", h.code, h.message);
        }
    }
    if !plan.absences.is_empty() {
        absences(&mut out, plan);
    }
    capped_list(
        &mut out,
        "Drift (Classroom changed by hand away from the SIS; rules.drift decides):",
        &plan.drift,
        20,
        |d| d.message.clone(),
    );
    // Work and grades that will be shortened, placed or not exported, said before any
    // write reaches the SIS; the roster's issues follow on their own.
    let (grade_checks, roster_issues): (Vec<_>, Vec<_>) = plan
        .record_issues
        .iter()
        .partition(|i| i.is_grade_export_check());
    capped_list(
        &mut out,
        &format!(
            "Grade export check ({}; nothing below is sent to be refused):",
            grade_checks.len()
        ),
        &grade_checks,
        20,
        |i| {
            format!(
                "{} {}: {}",
                i.entity,
                i.sourced_id.as_deref().unwrap_or("-"),
                i.reason
            )
        },
    );
    capped_list(
        &mut out,
        &format!("Record issues ({}):", roster_issues.len()),
        &roster_issues,
        15,
        |i| {
            format!(
                "[{:?}] {} {} {}: {}",
                i.severity,
                i.source,
                i.entity,
                i.sourced_id.as_deref().unwrap_or("-"),
                i.reason
            )
        },
    );
    if !s.samples.is_empty() {
        let _ = writeln!(out, "\nSamples:");
        for c in s.samples.iter().take(12) {
            let _ = writeln!(out, "  {:?} {:?} {}", c.change, c.entity, c.sourced_id);
            for f in c.fields.iter().take(4) {
                let show = |v: &Option<serde_json::Value>| {
                    v.as_ref()
                        .map_or("—".to_string(), std::string::ToString::to_string)
                };
                let _ = writeln!(
                    out,
                    "      {}: {} -> {}",
                    f.field,
                    show(&f.before),
                    show(&f.after)
                );
            }
        }
    }
    out
}

/// Records missing from a read, grouped by what became of them: which removals were
/// confirmed, and how.
/// A titled list of at most `shown` lines, then how many more there are; nothing when empty.
fn capped_list<T>(
    out: &mut String,
    title: &str,
    items: &[T],
    shown: usize,
    line: impl Fn(&T) -> String,
) {
    if items.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n{title}");
    for item in items.iter().take(shown) {
        let _ = writeln!(out, "  - {}", line(item));
    }
    if items.len() > shown {
        let _ = writeln!(
            out,
            "  ... and {} more (--json for all)",
            items.len() - shown
        );
    }
}

fn absences(out: &mut String, plan: &SyncPlan) {
    use classbridge_engine::plan::AbsenceStatus;
    let _ = writeln!(out, "\nRecords missing from this read:");
    for status in AbsenceStatus::ALL {
        let title = status.describe();
        let group: Vec<_> = plan
            .absences
            .iter()
            .filter(|a| a.status == status)
            .collect();
        if group.is_empty() {
            continue;
        }
        let _ = writeln!(out, "  {} {title}:", group.len());
        for a in group.iter().take(10) {
            let _ = writeln!(
                out,
                "    {} {} ({}): {}",
                a.entity.singular(),
                a.sourced_id,
                a.source,
                a.how
            );
        }
        if group.len() > 10 {
            let _ = writeln!(
                out,
                "    ... and {} more (--json for all)",
                group.len() - 10
            );
        }
    }
}

/// The rules in force, as `classbridge check` prints them: every value, each marked as
/// configured under `[rules]` or a default, then the rules that cannot take effect.
pub fn effective_rules(
    rules: &[classbridge_engine::config::EffectiveRule],
    warnings: &[classbridge_engine::ConfigError],
) -> String {
    use classbridge_engine::config::RuleOrigin;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nRules in force (configured = set under [rules]; default = built in):"
    );
    for r in rules {
        let origin = match r.origin {
            RuleOrigin::Configured => "configured",
            RuleOrigin::Default => "default",
        };
        let _ = writeln!(out, "  {origin:<10}  {} = {}", r.path, r.value);
    }
    if !warnings.is_empty() {
        let _ = writeln!(out, "\nRules that cannot take effect:");
        for w in warnings {
            let _ = writeln!(out, "  ! {}: {}", w.field, w.message);
        }
    }
    out
}

pub fn run_report(r: &RunReport) -> String {
    let mut out = String::new();
    if let Some(plan) = &r.plan {
        out.push_str(&preview(plan));
        out.push('\n');
    }
    if let Some(estimate) = &r.apply_estimate {
        let _ = writeln!(out, "Applying it: {estimate}.");
    }
    let _ = writeln!(out, "Run {}: {} — {}", r.run, r.status.as_str(), r.message);
    if r.succeeded + r.failed + r.not_attempted > 0 {
        let _ = writeln!(
            out,
            "  {} succeeded, {} failed, {} not attempted",
            r.succeeded, r.failed, r.not_attempted
        );
    }
    if r.rejected > 0 {
        let _ = writeln!(out, "  {} rejected by the admin", r.rejected);
    }
    for f in r.failures.iter().take(20) {
        let _ = writeln!(out, "  ✗ {} {}: {}", f.op_id, f.summary, f.error);
    }
    out
}

pub fn runs_table(runs: &[RunRow]) -> String {
    let mut out = String::new();
    if runs.is_empty() {
        return "No runs yet. Start with `classbridge plan` or `classbridge sync`.\n".into();
    }
    let _ = writeln!(
        out,
        "{:>5}  {:<20}  {:<11}  {:<9}  message",
        "run", "started", "status", "trigger"
    );
    for r in runs {
        let _ = writeln!(
            out,
            "{:>5}  {:<20}  {:<11}  {:<9}  {}",
            r.id,
            r.started_at,
            r.status.as_str(),
            r.trigger,
            r.message.as_deref().unwrap_or("")
        );
    }
    out
}

pub fn run_detail(
    row: &RunRow,
    plan: Option<&SyncPlan>,
    journal: &[JournalRow],
    decision: Option<&Decision>,
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Run {} ({})", row.id, row.trigger);
    let _ = writeln!(out, "  status:   {}", row.status.as_str());
    let _ = writeln!(out, "  started:  {}", row.started_at);
    let _ = writeln!(
        out,
        "  finished: {}",
        row.finished_at.as_deref().unwrap_or("-")
    );
    if let Some(m) = &row.message {
        let _ = writeln!(out, "  message:  {m}");
    }
    if let Some(c) = &row.outcome_counts {
        let _ = writeln!(out, "  outcomes: {c}");
    }
    if let Some(d) = decision {
        let _ = writeln!(
            out,
            "  decided:  {} by {}, {} operation(s) rejected",
            d.decided_at,
            d.decided_by,
            d.left_out.len()
        );
        if !d.left_out.is_empty() {
            let _ = writeln!(out, "\nRejected (not applied):");
            for o in &d.left_out {
                let why = if o.why == "rejected" {
                    "rejected"
                } else {
                    "rejected with what it depends on"
                };
                let _ = writeln!(out, "  ⊘ {}  {}  ({why})", o.op_id, o.summary);
            }
        }
    }
    if let Some(plan) = plan {
        out.push('\n');
        out.push_str(&preview(plan));
        let failed: Vec<_> = journal
            .iter()
            .filter_map(|j| match j.outcome.as_ref().map(|o| &o.result) {
                Some(classbridge_engine::plan::OutcomeResult::Failed { error }) => Some((j, error)),
                _ => None,
            })
            .collect();
        if !failed.is_empty() {
            let _ = writeln!(out, "\nFailed operations:");
            for (j, error) in failed {
                let summary = plan
                    .ops
                    .iter()
                    .find(|o| o.op_id == j.op_id)
                    .map_or("", |o| o.summary.as_str());
                let _ = writeln!(out, "  ✗ {} {summary}: {error}", j.op_id);
            }
        }
        if row.status == crate::store::RunStatus::Pending {
            let _ = writeln!(
                out,
                "\nOperations awaiting approval (reject with --reject OP_ID):"
            );
            for op in plan.ops.iter().take(50) {
                let _ = writeln!(out, "  {}  {}", op.op_id, op.summary);
            }
            if plan.ops.len() > 50 {
                let _ = writeln!(
                    out,
                    "  ... and {} more (--json for all)",
                    plan.ops.len() - 50
                );
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fixture district's first plan with its operations replaced by `classroom` member
    /// additions and `sis` result deletions.
    fn plan_with(classroom: usize, sis: usize) -> SyncPlan {
        let input: classbridge_engine::SyncInput =
            serde_json::from_str(include_str!("../../tests/fixtures/district-day1.json"))
                .expect("fixture");
        let mut plan = classbridge_engine::plan(input).expect("plan");
        let add = plan
            .ops
            .iter()
            .find(|o| matches!(o.action, Action::ClassroomAddStudent { .. }))
            .expect("a student added")
            .clone();
        let mut delete = add.clone();
        delete.action = Action::OneRosterDelete {
            source_id: "s".into(),
            collection: "results".into(),
            sourced_id: "r".into(),
        };
        plan.ops = std::iter::repeat_n(add, classroom)
            .chain(std::iter::repeat_n(delete, sis))
            .collect();
        plan
    }

    #[test]
    fn the_apply_estimate_is_in_words_at_the_quota() {
        assert_eq!(apply_estimate(&plan_with(0, 0), 1200), None);
        assert_eq!(
            apply_estimate(&plan_with(9000, 0), 1200).as_deref(),
            Some("9,000 operations, about 8 minutes at 1,200 requests/minute")
        );
        assert_eq!(
            apply_estimate(&plan_with(30, 0), 1200).as_deref(),
            Some("30 operations, under a minute at 1,200 requests/minute")
        );
        assert_eq!(
            apply_estimate(&plan_with(2400, 300), 1200).as_deref(),
            Some(
                "2,700 operations, about 2 minutes at 1,200 requests/minute (300 of them SIS writes, not under that quota)"
            )
        );
        assert_eq!(
            apply_estimate(&plan_with(0, 5), 1200).as_deref(),
            Some("5 operations, nothing in Classroom (SIS writes only)")
        );
    }
}
