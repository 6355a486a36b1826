//! A roster: one table per entity, keyed by (prefixed) sourcedId. BTreeMaps keep every
//! iteration ordered, which is what makes plans byte-for-byte reproducible.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::oneroster::*;

/// Every OneRoster record of one source, or of the merged district, by entity.
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", default)]
pub struct Roster {
    /// Schools and districts.
    #[serde(deserialize_with = "super::dense_map::deserialize")]
    pub orgs: BTreeMap<String, Org>,
    /// School years, terms and grading periods.
    #[serde(deserialize_with = "super::dense_map::deserialize")]
    pub academic_sessions: BTreeMap<String, AcademicSession>,
    /// People.
    #[serde(deserialize_with = "super::dense_map::deserialize")]
    pub users: BTreeMap<String, User>,
    /// The course catalogue.
    #[serde(deserialize_with = "super::dense_map::deserialize")]
    pub courses: BTreeMap<String, Course>,
    /// Sections, each a Classroom course.
    #[serde(deserialize_with = "super::dense_map::deserialize")]
    pub classes: BTreeMap<String, Class>,
    /// Users in classes.
    #[serde(deserialize_with = "super::dense_map::deserialize")]
    pub enrollments: BTreeMap<String, Enrollment>,
    /// Gradebook categories (Classroom topics).
    #[serde(deserialize_with = "super::dense_map::deserialize")]
    pub categories: BTreeMap<String, Category>,
    /// The SIS's current gradebook, when it was read; never kept in state.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    #[serde(deserialize_with = "super::dense_map::deserialize")]
    pub line_items: BTreeMap<String, LineItem>,
    /// The SIS's current results, with the lineItems; never kept in state.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    #[serde(deserialize_with = "super::dense_map::deserialize")]
    pub results: BTreeMap<String, GradeResult>,
    /// Enrolments this roster has beyond its `enrollments` table: the rest of the district
    /// when the state carries a slice of them ([`crate::state::EnrollmentSlice`]). Counts
    /// (thresholds, the preview's before and after) include them.
    #[serde(skip)]
    #[cfg_attr(feature = "schema", schemars(skip))]
    pub enrollments_outside: u64,
}

impl Roster {
    /// How many records of this kind the roster holds.
    pub fn count(&self, kind: crate::model::EntityKind) -> usize {
        use crate::model::EntityKind as K;
        match kind {
            K::Org => self.orgs.len(),
            K::AcademicSession => self.academic_sessions.len(),
            K::User => self.users.len(),
            K::Course => self.courses.len(),
            K::Class => self.classes.len(),
            K::Enrollment => self.enrollments.len() + self.enrollments_outside as usize,
            K::Category => self.categories.len(),
            K::LineItem => self.line_items.len(),
            K::Result => self.results.len(),
        }
    }

    /// How many roster records it holds (the gradebook left out).
    pub fn roster_len(&self) -> usize {
        crate::model::EntityKind::ROSTER
            .iter()
            .map(|k| self.count(*k))
            .sum()
    }

    /// Whether a record of this kind and id is in the roster.
    pub fn contains(&self, kind: crate::model::EntityKind, id: &str) -> bool {
        use crate::model::EntityKind as K;
        match kind {
            K::Org => self.orgs.contains_key(id),
            K::AcademicSession => self.academic_sessions.contains_key(id),
            K::User => self.users.contains_key(id),
            K::Course => self.courses.contains_key(id),
            K::Class => self.classes.contains_key(id),
            K::Enrollment => self.enrollments.contains_key(id),
            K::Category => self.categories.contains_key(id),
            K::LineItem => self.line_items.contains_key(id),
            K::Result => self.results.contains_key(id),
        }
    }

    /// The ids of one table, hashed, for scans that look many references up in it.
    pub(crate) fn ids(&self, kind: crate::model::EntityKind) -> rustc_hash::FxHashSet<&str> {
        fn keys<V>(table: &BTreeMap<String, V>) -> rustc_hash::FxHashSet<&str> {
            table.keys().map(String::as_str).collect()
        }
        use crate::model::EntityKind as K;
        match kind {
            K::Org => keys(&self.orgs),
            K::AcademicSession => keys(&self.academic_sessions),
            K::User => keys(&self.users),
            K::Course => keys(&self.courses),
            K::Class => keys(&self.classes),
            K::Enrollment => keys(&self.enrollments),
            K::Category => keys(&self.categories),
            K::LineItem => keys(&self.line_items),
            K::Result => keys(&self.results),
        }
    }

    /// The roster without the SIS gradebook, as it is kept in state.
    /// Moves the gradebook (lineItems and results) out into a roster of its own.
    pub fn take_gradebook(&mut self) -> Roster {
        Roster {
            line_items: std::mem::take(&mut self.line_items),
            results: std::mem::take(&mut self.results),
            ..Roster::default()
        }
    }
}

/// A record type stored in a roster table.
pub trait TableRecord: RosterRecord {
    /// The roster's table of this type.
    fn table(roster: &Roster) -> &BTreeMap<String, Self>;
    /// The roster's table of this type, to change.
    fn table_mut(roster: &mut Roster) -> &mut BTreeMap<String, Self>;
}

macro_rules! table_record {
    ($ty:ty, $field:ident) => {
        impl TableRecord for $ty {
            fn table(roster: &Roster) -> &BTreeMap<String, Self> {
                &roster.$field
            }
            fn table_mut(roster: &mut Roster) -> &mut BTreeMap<String, Self> {
                &mut roster.$field
            }
        }
    };
}

table_record!(Org, orgs);
table_record!(AcademicSession, academic_sessions);
table_record!(User, users);
table_record!(Course, courses);
table_record!(Class, classes);
table_record!(Enrollment, enrollments);
table_record!(Category, categories);
table_record!(LineItem, line_items);
table_record!(GradeResult, results);

/// Calls a generic function once per roster record type, in dependency order:
/// `for_each_roster_kind!(prune::<>(&mut roster))` becomes `prune::<Org>(&mut roster); ...`.
#[macro_export]
macro_rules! for_each_roster_kind {
    ($f:ident ( $($arg:expr),* $(,)? )) => {{
        use $crate::model::oneroster as __or;
        $f::<__or::Org>($($arg),*);
        $f::<__or::AcademicSession>($($arg),*);
        $f::<__or::User>($($arg),*);
        $f::<__or::Course>($($arg),*);
        $f::<__or::Class>($($arg),*);
        $f::<__or::Enrollment>($($arg),*);
        $f::<__or::Category>($($arg),*);
    }};
}

/// Like `for_each_roster_kind!` but also over the gradebook tables.
#[macro_export]
macro_rules! for_each_kind {
    ($f:ident ( $($arg:expr),* $(,)? )) => {{
        use $crate::model::oneroster as __or;
        $crate::for_each_roster_kind!($f($($arg),*));
        $f::<__or::LineItem>($($arg),*);
        $f::<__or::GradeResult>($($arg),*);
    }};
}
