//! Approve: an admin accepts a pending plan, whole or with chosen operations rejected. A
//! rejected operation takes everything that depends on it along (a rejected course drops its
//! teachers, students and topics).

use std::collections::BTreeSet;

use crate::error::EngineError;
use crate::plan::{Approval, Decisions, SyncPlan};

pub(crate) fn approve(plan: &SyncPlan, decisions: &Decisions) -> Result<SyncPlan, EngineError> {
    if plan.approval.is_some() {
        return Err(EngineError::AlreadyApproved {
            plan_id: plan.id.clone(),
        });
    }
    let ids: BTreeSet<&str> = plan.ops.iter().map(|o| o.op_id.as_str()).collect();
    let mut rejected: BTreeSet<String> = BTreeSet::new();
    for id in &decisions.reject {
        if !ids.contains(id.as_str()) {
            return Err(EngineError::UnknownOperation { op_id: id.clone() });
        }
        rejected.insert(id.clone());
    }
    // Ops only depend on earlier ops, so one pass in plan order reaches every dependant.
    let mut dropped = BTreeSet::new();
    for op in &plan.ops {
        if !rejected.contains(&op.op_id)
            && op
                .depends_on
                .iter()
                .any(|d| rejected.contains(d.as_str()) || dropped.contains(d.as_str()))
        {
            dropped.insert(op.op_id.clone());
        }
    }
    let mut approved = plan.clone();
    approved
        .ops
        .retain(|o| !rejected.contains(&o.op_id) && !dropped.contains(&o.op_id));
    approved.approval = Some(Approval {
        rejected: rejected.into_iter().collect(),
        dropped_dependants: dropped.into_iter().collect(),
    });
    Ok(approved)
}
