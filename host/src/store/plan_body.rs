//! A plan's stored body, written and read without copying the plan: a district's first plan
//! carries its whole new roster (each source's and the merged) and a change for every record,
//! most of a gigabyte of JSON at 200,000 students.

use classbridge_engine::SyncPlan;
use classbridge_engine::delta::StateDelta;
use classbridge_engine::model::RecordIssue;
use classbridge_engine::plan::{
    Absence, Approval, Drift, HoldReason, PlannedOp, PreviewSummary, RosterChange,
};
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

/// `plan` as its body is stored: every field but its operations (kept in `run_ops`),
/// written as a [`SyncPlan`] reads it, borrowed.
pub(super) struct PlanBody<'a>(pub &'a SyncPlan);

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PlanBodyFields<'a> {
    id: &'a str,
    engine_version: &'a str,
    created_at: &'a str,
    ops: [(); 0],
    holds: &'a [HoldReason],
    preview_required: bool,
    record_issues: &'a [RecordIssue],
    roster_changes: &'a [RosterChange],
    summary: &'a PreviewSummary,
    state_delta: &'a StateDelta,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    absences: &'a [Absence],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    drift: &'a [Drift],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    skipped_records: &'a [classbridge_engine::explanation::SkippedRecord],
    #[serde(skip_serializing_if = "Option::is_none")]
    approval: Option<&'a Approval>,
}

impl Serialize for PlanBody<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // Named field by field (no `..`): a field the plan gains fails to compile here
        // rather than being left out of every stored body.
        let SyncPlan {
            id,
            engine_version,
            created_at,
            ops: _,
            holds,
            preview_required,
            record_issues,
            roster_changes,
            summary,
            state_delta,
            absences,
            drift,
            skipped_records,
            approval,
        } = self.0;
        PlanBodyFields {
            id,
            engine_version,
            created_at,
            ops: [],
            holds,
            preview_required: *preview_required,
            record_issues,
            roster_changes,
            summary,
            state_delta,
            absences,
            drift,
            skipped_records,
            approval: approval.as_ref(),
        }
        .serialize(serializer)
    }
}

/// A stored body read for applying: the roster changes and skipped records (the console's
/// preview, read by it from the body) are passed over, not built.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PlanToApply {
    id: String,
    engine_version: String,
    created_at: String,
    #[serde(default)]
    ops: Vec<PlannedOp>,
    holds: Vec<HoldReason>,
    preview_required: bool,
    record_issues: Vec<RecordIssue>,
    #[serde(default, rename = "rosterChanges")]
    _roster_changes: IgnoredAny,
    summary: PreviewSummary,
    state_delta: StateDelta,
    #[serde(default)]
    absences: Vec<Absence>,
    #[serde(default)]
    drift: Vec<Drift>,
    #[serde(default, rename = "skippedRecords")]
    _skipped_records: IgnoredAny,
    #[serde(default)]
    approval: Option<Approval>,
}

impl PlanToApply {
    /// The plan, with no roster changes or skipped records.
    pub(super) fn into_plan(self) -> SyncPlan {
        SyncPlan {
            id: self.id,
            engine_version: self.engine_version,
            created_at: self.created_at,
            ops: self.ops,
            holds: self.holds,
            preview_required: self.preview_required,
            record_issues: self.record_issues,
            roster_changes: Vec::new(),
            summary: self.summary,
            state_delta: self.state_delta,
            absences: self.absences,
            drift: self.drift,
            skipped_records: Vec::new(),
            approval: self.approval,
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use serde_json::json;

    /// A plan with every field set, the bulky ones included.
    pub(in crate::store) fn full_plan() -> SyncPlan {
        serde_json::from_value(json!({
            "id": "p1", "engineVersion": "t", "createdAt": "2026-12-07T00:00:00Z",
            "ops": [{
                "opId": "a", "key": "a", "entity": "student", "change": "create", "summary": "add",
                "action": {"type": "classroomAddStudent", "alias": "d:c1", "user_id": "x@d.org"},
                "effect": {"type": "memberAdded", "class_id": "c1", "role": "student", "email": "x@d.org"}
            }],
            "holds": [], "previewRequired": true,
            "recordIssues": [{"severity": "warning", "source": "sis", "entity": "users", "sourcedId": "u9", "reason": "no email"}],
            "rosterChanges": [{"entity": "user", "sourcedId": "u1", "change": "create", "fields": []}],
            "summary": classbridge_engine::plan::PreviewSummary::default(),
            "stateDelta": {"baseRevision": 3, "sources": {},
                "roster": {"orgs": {"upsert": {"sch7": {"sourcedId": "sch7", "status": "active", "name": "Lincoln High", "type": "school"}}}}},
            "absences": [{"source": "sis", "entity": "user", "sourcedId": "u2", "remoteId": "u2", "status": "unchecked", "how": "not listed"}],
            "drift": [{"kind": "extraMember", "classId": "c1", "alias": "d:c1", "subject": "y@d.org", "action": "report", "message": "y is in c1"}],
            "skippedRecords": [{"entity": "user", "sourcedId": "u3", "rule": {"kind": "filter", "rule": "filters[0]", "says": "left out"}}],
            "approval": {"rejected": ["b"], "droppedDependants": []}
        }))
        .expect("a plan")
    }

    #[test]
    fn a_body_is_the_plan_without_its_operations_and_reads_back_for_applying_without_the_preview() {
        let plan = full_plan();
        assert!(!plan.roster_changes.is_empty() && !plan.skipped_records.is_empty());
        assert!(!plan.absences.is_empty() && !plan.drift.is_empty());
        let text = serde_json::to_string(&PlanBody(&plan)).expect("writes");
        let read: SyncPlan = serde_json::from_str(&text).expect("reads as a plan");
        assert_eq!(
            read,
            SyncPlan {
                ops: Vec::new(),
                ..plan.clone()
            }
        );

        let to_apply = serde_json::from_str::<PlanToApply>(&text)
            .expect("reads for applying")
            .into_plan();
        assert_eq!(
            to_apply,
            SyncPlan {
                ops: Vec::new(),
                roster_changes: Vec::new(),
                skipped_records: Vec::new(),
                ..plan
            }
        );
    }
}
