//! An operation as the mapping stages draft it, before ordering and ids are assigned.

use serde_json::Value;

use crate::plan::{Action, OpChange, OpEntity, StateEffect};

/// Order of application: courses exist before their members, members are added before
/// anyone is removed, gradebook lineItems before their results, deletions last.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub(crate) enum Phase {
    CourseCreate,
    TeacherAdd,
    CoursePatch,
    StudentAdd,
    Topic,
    StudentRemove,
    TeacherRemove,
    CourseArchive,
    LineItemPut,
    ResultPut,
    ResultDelete,
    LineItemDelete,
}

pub(crate) struct OpDraft {
    pub phase: Phase,
    pub key: String,
    pub entity: OpEntity,
    pub change: OpChange,
    /// Keys of operations this one needs first (kept only when they are in the plan).
    pub depends_on: Vec<String>,
    pub class_id: Option<String>,
    pub school_id: Option<String>,
    pub person: Option<String>,
    pub summary: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub action: Action,
    pub effect: StateEffect,
}
