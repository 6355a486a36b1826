//! Approve: an admin accepts a pending plan, whole or with chosen operations rejected. A
//! rejected operation takes everything that depends on it along (a rejected course drops its
//! teachers, students and topics). Only the operations' ids and dependencies decide it, so a
//! host can ask with those alone (`cb_approve_ops`) rather than send every operation whole.

use std::collections::BTreeSet;

use crate::abi::{ApproveOpsRequest, OpLink};
use crate::error::EngineError;
use crate::plan::{Approval, Decisions, SyncPlan};

pub(crate) fn approve(plan: &SyncPlan, decisions: &Decisions) -> Result<SyncPlan, EngineError> {
    let request = ApproveOpsRequest::of(plan, decisions);
    let approval = decide(&plan.id, request.approved, &request.ops, decisions)?;
    let mut approved = plan.clone();
    let left_out = approval.left_out();
    approved
        .ops
        .retain(|o| !left_out.contains(o.op_id.as_str()));
    approved.approval = Some(approval);
    Ok(approved)
}

/// The approval of a plan from its operations' ids and dependencies alone (`cb_approve_ops`):
/// the operations `decisions` rejects, and those dropped with them.
pub(crate) fn decide(
    plan_id: &str,
    already_approved: bool,
    ops: &[OpLink],
    decisions: &Decisions,
) -> Result<Approval, EngineError> {
    if already_approved {
        return Err(EngineError::AlreadyApproved {
            plan_id: plan_id.to_string(),
        });
    }
    let ids: BTreeSet<&str> = ops.iter().map(|o| o.op_id.as_str()).collect();
    let mut rejected: BTreeSet<String> = BTreeSet::new();
    for id in &decisions.reject {
        if !ids.contains(id.as_str()) {
            return Err(EngineError::UnknownOperation { op_id: id.clone() });
        }
        rejected.insert(id.clone());
    }
    // Ops only depend on earlier ops, so one pass in plan order reaches every dependant.
    let mut dropped = BTreeSet::new();
    for op in ops {
        if !rejected.contains(&op.op_id)
            && op
                .depends_on
                .iter()
                .any(|d| rejected.contains(d.as_str()) || dropped.contains(d.as_str()))
        {
            dropped.insert(op.op_id.clone());
        }
    }
    Ok(Approval {
        rejected: rejected.into_iter().collect(),
        dropped_dependants: dropped.into_iter().collect(),
    })
}
