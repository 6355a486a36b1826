//! What a plan changes in the state besides its operations' effects: the new source snapshots
//! and merged roster, and objects adopted from Classroom or the SIS. A plan carries only the
//! difference from the state it was made from, so an incremental plan is the size of the
//! change, not the size of the district; `commit` lays it over that same state.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::model::Roster;
use crate::model::oneroster::*;
use crate::plan::StateEffect;
use crate::state::{
    AppliedClassroom, AppliedCourse, AppliedGuardian, AppliedInvitation, AppliedTopic,
    STATE_VERSION, SyncState,
};

/// Entries of one keyed table that were added or changed (whole new value) or removed.
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct TableDelta<V> {
    /// Entries added or changed, with their whole new value.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub upsert: BTreeMap<String, V>,
    /// Ids of entries removed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove: Vec<String>,
}

impl<V> Default for TableDelta<V> {
    fn default() -> Self {
        TableDelta {
            upsert: BTreeMap::new(),
            remove: Vec::new(),
        }
    }
}

impl<V> TableDelta<V> {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.upsert.is_empty() && self.remove.is_empty()
    }
}

impl<V: PartialEq> TableDelta<V> {
    /// The delta from `before` to `after`. `after` is consumed so changed values move into the
    /// delta instead of being copied.
    pub fn between(before: &BTreeMap<String, V>, after: BTreeMap<String, V>) -> Self {
        // A first sync's delta is the whole table: moved as it is, not rebuilt.
        if before.is_empty() {
            return TableDelta {
                upsert: after,
                remove: Vec::new(),
            };
        }
        let mut remove = Vec::new();
        let mut upsert = Vec::new();
        walk_sorted(before.iter(), after, |meet| match meet {
            Meet::Before(id, _) => remove.push(id.clone()),
            Meet::After(id, value) => upsert.push((id, value)),
            Meet::Both(was, id, value) => {
                if *was != value {
                    upsert.push((id, value));
                }
            }
        });
        // Built from sorted entries at once, the map's nodes are full; inserted one by one
        // in order, each would be left half empty.
        TableDelta {
            upsert: upsert.into_iter().collect(),
            remove,
        }
    }
}

/// What a walk of two tables in key order meets at each key.
pub(crate) enum Meet<K1, K2, A, B> {
    /// Only in the first table.
    Before(K1, A),
    /// Only in the second.
    After(K2, B),
    /// In both: the first's value, the second's key and value.
    Both(A, K2, B),
}

/// Walks two tables sorted by key side by side (both are B-tree maps, so no lookups), calling
/// `f` once per key. The tables' keys and values may be owned or borrowed.
pub(crate) fn walk_sorted<K1, K2, A, B>(
    before: impl IntoIterator<Item = (K1, A)>,
    after: impl IntoIterator<Item = (K2, B)>,
    mut f: impl FnMut(Meet<K1, K2, A, B>),
) where
    K1: AsRef<str>,
    K2: AsRef<str>,
{
    let mut old = before.into_iter().peekable();
    let mut new = after.into_iter().peekable();
    loop {
        let step = match (old.peek(), new.peek()) {
            (None, None) => break,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some((o, _)), Some((n, _))) => o.as_ref().cmp(n.as_ref()),
        };
        match step {
            Ordering::Less => {
                if let Some((k, a)) = old.next() {
                    f(Meet::Before(k, a));
                }
            }
            Ordering::Greater => {
                if let Some((k, b)) = new.next() {
                    f(Meet::After(k, b));
                }
            }
            Ordering::Equal => {
                if let (Some((_, a)), Some((k, b))) = (old.next(), new.next()) {
                    f(Meet::Both(a, k, b));
                }
            }
        }
    }
}

impl<V: Clone> TableDelta<V> {
    /// Entries upserted and removed.
    pub fn len(&self) -> usize {
        self.upsert.len() + self.remove.len()
    }

    /// Up to `max` of the delta's entries after the first `skip` (upserts in key order, then
    /// removals): one part of a commit made in parts.
    pub fn chunk(&self, skip: usize, max: usize) -> TableDelta<V> {
        let upsert: BTreeMap<String, V> = self
            .upsert
            .iter()
            .skip(skip)
            .take(max)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let room = max - upsert.len();
        let remove = self
            .remove
            .iter()
            .skip(skip.saturating_sub(self.upsert.len()))
            .take(room)
            .cloned()
            .collect();
        TableDelta { upsert, remove }
    }

    /// Lays the change over a table.
    pub fn apply_to(&self, table: &mut BTreeMap<String, V>) {
        for id in &self.remove {
            table.remove(id);
        }
        for (id, value) in &self.upsert {
            table.insert(id.clone(), value.clone());
        }
    }
}

macro_rules! roster_delta {
    ($($field:ident: $ty:ty),* $(,)?) => {
        /// The change to a roster's tables (the SIS gradebook is never kept in state).
        #[derive(Serialize, Deserialize, Clone, PartialEq, Debug, Default)]
        #[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
        #[serde(rename_all = "camelCase", default)]
        pub struct RosterDelta {
            $(
                /// The change to this table.
                #[serde(skip_serializing_if = "TableDelta::is_empty")]
                pub $field: TableDelta<$ty>,
            )*
        }

        impl RosterDelta {
            /// The change from one roster to the next.
            pub fn between(before: &Roster, after: Roster) -> Self {
                RosterDelta {
                    $($field: TableDelta::between(&before.$field, after.$field),)*
                }
            }

            /// Lays the change over a roster.
            pub fn apply_to(&self, roster: &mut Roster) {
                $(self.$field.apply_to(&mut roster.$field);)*
            }

            /// Whether nothing changed.
            pub fn is_empty(&self) -> bool {
                true $(&& self.$field.is_empty())*
            }

            /// Each table's name and how many entries its change has.
            pub fn table_sizes(&self) -> Vec<(&'static str, usize)> {
                vec![$((stringify!($field), self.$field.len()),)*]
            }

            /// Only `table`'s entries `skip..skip + max` (see [`TableDelta::chunk`]).
            pub fn chunk(&self, table: &str, skip: usize, max: usize) -> RosterDelta {
                let mut part = RosterDelta::default();
                $(
                    if table == stringify!($field) {
                        part.$field = self.$field.chunk(skip, max);
                    }
                )*
                part
            }
        }
    };
}

roster_delta!(
    orgs: Org,
    academic_sessions: AcademicSession,
    users: User,
    courses: Course,
    classes: Class,
    enrollments: Enrollment,
    categories: Category,
);

/// Courses, members and topics adopted from Classroom while planning.
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", default)]
pub struct ClassroomDelta {
    /// Courses, by class sourcedId.
    #[serde(skip_serializing_if = "TableDelta::is_empty")]
    pub courses: TableDelta<AppliedCourse>,
    /// Teachers' emails, by class sourcedId.
    #[serde(skip_serializing_if = "TableDelta::is_empty")]
    pub teachers: TableDelta<BTreeSet<String>>,
    /// Students' emails, by class sourcedId.
    #[serde(skip_serializing_if = "TableDelta::is_empty")]
    pub students: TableDelta<BTreeSet<String>>,
    /// Topics, by class sourcedId then category sourcedId.
    #[serde(skip_serializing_if = "TableDelta::is_empty")]
    pub topics: TableDelta<BTreeMap<String, AppliedTopic>>,
    /// Students kept by the removal grace rule, by class sourcedId.
    #[serde(skip_serializing_if = "TableDelta::is_empty")]
    pub pending_removals: TableDelta<BTreeMap<String, String>>,
    /// Invitations sent and not yet accepted, by class sourcedId.
    #[serde(skip_serializing_if = "TableDelta::is_empty")]
    pub invitations: TableDelta<BTreeMap<String, AppliedInvitation>>,
    /// Guardian invitations sent, by student email.
    #[serde(skip_serializing_if = "TableDelta::is_empty")]
    pub guardians: TableDelta<BTreeMap<String, AppliedGuardian>>,
}

impl ClassroomDelta {
    /// The change from one record of Classroom to the next.
    pub fn between(before: &AppliedClassroom, after: AppliedClassroom) -> Self {
        ClassroomDelta {
            courses: TableDelta::between(&before.courses, after.courses),
            teachers: TableDelta::between(&before.teachers, after.teachers),
            students: TableDelta::between(&before.students, after.students),
            topics: TableDelta::between(&before.topics, after.topics),
            pending_removals: TableDelta::between(&before.pending_removals, after.pending_removals),
            invitations: TableDelta::between(&before.invitations, after.invitations),
            guardians: TableDelta::between(&before.guardians, after.guardians),
        }
    }

    /// Lays the change over the record of Classroom.
    pub fn apply_to(&self, classroom: &mut AppliedClassroom) {
        self.courses.apply_to(&mut classroom.courses);
        self.teachers.apply_to(&mut classroom.teachers);
        self.students.apply_to(&mut classroom.students);
        self.topics.apply_to(&mut classroom.topics);
        self.pending_removals
            .apply_to(&mut classroom.pending_removals);
        self.invitations.apply_to(&mut classroom.invitations);
        self.guardians.apply_to(&mut classroom.guardians);
    }
}

/// Everything a plan changes in the state apart from its operations' effects.
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct StateDelta {
    /// The revision of the state the plan was made from; commit refuses any other.
    pub base_revision: u64,
    /// Each source read this run, as a change to its last snapshot (empty when unchanged).
    pub sources: BTreeMap<String, RosterDelta>,
    /// Sources in the state that this run no longer has.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removed_sources: Vec<String>,
    /// The change to the merged roster.
    pub roster: RosterDelta,
    /// Courses, members and topics adopted from Classroom.
    #[serde(default)]
    pub classroom: ClassroomDelta,
    /// Grades the SIS already holds exactly as we would write them: recorded, never written.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub adopted: Vec<StateEffect>,
}

impl StateDelta {
    /// Whether the delta was made from the state at `revision`: a plan made from an older
    /// state (another run committed since) must not be approved or committed.
    pub fn check_base_revision(&self, revision: u64) -> Result<(), crate::EngineError> {
        if revision == self.base_revision {
            Ok(())
        } else {
            Err(crate::EngineError::StalePlan {
                plan_revision: self.base_revision,
                state_revision: revision,
            })
        }
    }

    /// `state` with this delta laid over it. The caller checks the revision.
    pub fn apply_to(&self, state: &mut SyncState) {
        state.version = STATE_VERSION;
        for id in &self.removed_sources {
            state.sources.remove(id);
        }
        for (id, delta) in &self.sources {
            delta.apply_to(state.sources.entry(id.clone()).or_default());
        }
        self.roster.apply_to(&mut state.roster);
        self.classroom.apply_to(&mut state.classroom);
        for effect in &self.adopted {
            crate::commit::apply_effect(state, effect, None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(entries: &[(&str, u32)]) -> BTreeMap<String, u32> {
        entries.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn a_table_delta_holds_only_what_changed_and_rebuilds_the_new_table() {
        let before = table(&[("a", 1), ("b", 2), ("c", 3), ("e", 5)]);
        let after = table(&[("b", 2), ("c", 30), ("d", 4), ("e", 5), ("f", 6)]);
        let delta = TableDelta::between(&before, after.clone());
        assert_eq!(delta.remove, vec!["a".to_string()]);
        assert_eq!(delta.upsert, table(&[("c", 30), ("d", 4), ("f", 6)]));
        let mut rebuilt = before.clone();
        delta.apply_to(&mut rebuilt);
        assert_eq!(rebuilt, after);
    }

    #[test]
    fn equal_tables_give_an_empty_delta() {
        let t = table(&[("a", 1), ("b", 2)]);
        assert!(TableDelta::between(&t, t.clone()).is_empty());
        assert!(TableDelta::between(&BTreeMap::<String, u32>::new(), BTreeMap::new()).is_empty());
    }
}

#[cfg(test)]
mod properties {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::TableDelta;

    proptest! {
        #[test]
        fn applying_the_delta_to_the_old_table_gives_the_new_one(
            before in proptest::collection::btree_map("[a-f]{1,2}", 0u8..4, 0..20),
            after in proptest::collection::btree_map("[a-f]{1,2}", 0u8..4, 0..20),
        ) {
            let delta = TableDelta::between(&before, after.clone());
            let unchanged = delta.upsert.iter().filter(|(k, v)| before.get(*k) == Some(*v)).count();
            prop_assert_eq!(unchanged, 0, "an unchanged entry is never in the delta");
            let mut rebuilt: BTreeMap<String, u8> = before;
            delta.apply_to(&mut rebuilt);
            prop_assert_eq!(rebuilt, after);
        }
    }
}
