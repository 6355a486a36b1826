//! An operation as the mapping stages draft it, before ordering and ids are assigned.

use std::ops::{Deref, DerefMut};

use crate::plan::PlannedOp;

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

/// A planned operation before ordering: its `op_id` is blank and its `depends_on` holds the
/// *keys* of the operations it needs (ids are given once the plan's operations are known).
/// The operation is drafted whole, so ordering turns drafts into operations in place: a
/// district's first plan is never held twice.
pub(crate) struct OpDraft {
    pub phase: Phase,
    pub op: PlannedOp,
}

impl Deref for OpDraft {
    type Target = PlannedOp;
    fn deref(&self) -> &PlannedOp {
        &self.op
    }
}

impl DerefMut for OpDraft {
    fn deref_mut(&mut self) -> &mut PlannedOp {
        &mut self.op
    }
}
