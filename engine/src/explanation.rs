//! Why an operation is planned, or a record left out, as data: the records behind it (with
//! the fields that changed, before and after) and the rules that shaped it, plus the same
//! chain in words. Made by the engine with the plan, so it is identical natively, in wasmtime
//! and in the browser, and part of the plan's content id.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::model::{EntityKind, Shared};
use crate::plan::FieldChange;

/// Why one operation is in the plan. Held compactly (a district's first plan has hundreds of
/// thousands): the sentence and each standard cause's words are made when the plan is written
/// out, where they appear as `text` and each cause's `says`.
#[derive(Clone, PartialEq, Debug, Default, Serialize, Deserialize)]
#[serde(into = "ExplanationWire", from = "ExplanationWire")]
pub struct Explanation {
    /// The records behind the operation.
    pub causes: Vec<Cause>,
    /// The rules that applied.
    pub rules: Vec<AppliedRule>,
}

impl Explanation {
    /// Causes and rules.
    pub fn new(causes: Vec<Cause>, rules: Vec<AppliedRule>) -> Explanation {
        Explanation { causes, rules }
    }

    /// The chain in words: "because …; rule: …".
    pub fn text(&self) -> String {
        let mut text = String::new();
        let phrases: Vec<Cow<'_, str>> = self
            .causes
            .iter()
            .map(Cause::says)
            .filter(|s| !s.is_empty())
            .collect();
        if !phrases.is_empty() {
            text.push_str("because ");
            text.push_str(&phrases.join(", and "));
        }
        for rule in &self.rules {
            if !text.is_empty() {
                text.push_str("; ");
            }
            text.push_str("rule: ");
            text.push_str(&rule.says);
        }
        text
    }
}

/// An explanation as it is written out, with its words.
#[derive(Serialize, Deserialize, Clone)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct ExplanationWire {
    /// The chain in words: "because …; rule: …".
    #[serde(default)]
    pub text: String,
    /// The records behind the operation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub causes: Vec<CauseWire>,
    /// The rules that applied.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<AppliedRule>,
}

impl From<Explanation> for ExplanationWire {
    fn from(e: Explanation) -> Self {
        ExplanationWire {
            text: e.text(),
            causes: e
                .causes
                .into_iter()
                .map(|c| CauseWire {
                    says: c.says().into_owned(),
                    collection: c.collection,
                    id: c.id,
                    change: c.change,
                    fields: c.fields,
                })
                .collect(),
            rules: e.rules,
        }
    }
}

impl From<ExplanationWire> for Explanation {
    fn from(w: ExplanationWire) -> Self {
        Explanation {
            causes: w
                .causes
                .into_iter()
                .map(|c| {
                    let mut cause = Cause {
                        collection: c.collection,
                        id: c.id,
                        change: c.change,
                        fields: c.fields,
                        says: None,
                    };
                    // Kept only when it is not the standard sentence.
                    if cause.says() != c.says.as_str() {
                        cause.says = Some(c.says);
                    }
                    cause
                })
                .collect(),
            rules: w.rules,
        }
    }
}

/// A record behind an operation.
#[derive(Clone, PartialEq, Debug)]
pub struct Cause {
    /// The collection it is in, as its service names it: `enrollments`, `users`, `classes`,
    /// `categories`, `academicSessions` (the SIS), `courseWork`, `studentSubmissions`,
    /// `courses` (Classroom).
    pub collection: Shared,
    /// Its id (a SIS record's with the source's prefix).
    pub id: String,
    /// How it changed this run.
    pub change: CauseChange,
    /// The fields behind the operation, with their values before and after.
    pub fields: Vec<FieldChange>,
    /// The cause in words, when it is not the standard sentence for its change (see
    /// [`Cause::says`]).
    pub says: Option<String>,
}

impl Cause {
    /// The cause in words: its own, or for a SIS record "the SIS's enrollment 'e-1' is new",
    /// "… changed (title 'A' → 'B')", "… was removed", "… is unchanged".
    pub fn says(&self) -> Cow<'_, str> {
        if let Some(says) = &self.says {
            return Cow::Borrowed(says);
        }
        let kind = EntityKind::from_collection(&self.collection)
            .map_or(self.collection.as_str(), |(k, _)| k.singular());
        let what = format!("the SIS's {kind} '{}'", self.id);
        Cow::Owned(match self.change {
            CauseChange::New => format!("{what} is new"),
            CauseChange::Changed => format!("{what} changed ({})", fields_words(&self.fields)),
            CauseChange::Removed => format!("{what} was removed"),
            CauseChange::Unchanged => format!("{what} is unchanged"),
        })
    }
}

/// `title 'A' → 'B', location unset → '12'`.
pub fn fields_words(fields: &[FieldChange]) -> String {
    let value = |v: &Option<serde_json::Value>| match v {
        None | Some(serde_json::Value::Null) => "unset".to_string(),
        Some(serde_json::Value::String(s)) => format!("'{s}'"),
        Some(other) => other.to_string(),
    };
    fields
        .iter()
        .map(|f| format!("{} {} → {}", f.field, value(&f.before), value(&f.after)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A cause as it is written out, with its words.
#[derive(Serialize, Deserialize, Clone)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct CauseWire {
    /// The collection it is in, as its service names it: `enrollments`, `users`, `classes`,
    /// `categories`, `academicSessions` (the SIS), `courseWork`, `studentSubmissions`,
    /// `courses` (Classroom).
    pub collection: Shared,
    /// Its id (a SIS record's with the source's prefix).
    pub id: String,
    /// How it changed this run.
    pub change: CauseChange,
    /// The fields behind the operation, with their values before and after.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldChange>,
    /// The cause in words.
    #[serde(default)]
    pub says: String,
}

/// How a record behind an operation changed this run.
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub enum CauseChange {
    /// It is new.
    New,
    /// Some of its fields changed (listed).
    Changed,
    /// It is gone (or left out this run).
    Removed,
    /// It did not change; what it says (listed fields) still calls for the operation.
    Unchanged,
}

/// A rule that shaped an operation or left a record out.
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct AppliedRule {
    /// Which kind of rule.
    pub kind: RuleKind,
    /// Where it is set, as the config names it (`filters[0]`, `classroom.removalGraceDays`),
    /// or the built-in behaviour's name.
    pub rule: Shared,
    /// The rule in words (shared: most rules say the same for many operations).
    pub says: Shared,
}

impl AppliedRule {
    pub(crate) fn new(kind: RuleKind, rule: impl Into<Shared>, says: impl Into<Shared>) -> Self {
        AppliedRule {
            kind,
            rule: rule.into(),
            says: says.into(),
        }
    }
}

/// The kinds of rule an explanation names.
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum RuleKind {
    /// Which source owns a field.
    MasterField,
    /// A filter rule.
    Filter,
    /// The schools mapping.
    SchoolMapping,
    /// A data requirement.
    Requirement,
    /// A domain of uniqueness.
    Uniqueness,
    /// A record removed with the record it depends on.
    Cascade,
    /// A removal confirmed with the SIS before it is made.
    ConfirmedAbsence,
    /// Enrolments count between their begin and end dates.
    EnrollmentDates,
    /// A disabled user is in no course.
    UserDisabled,
    /// A course is archived when its term ends.
    TermEnd,
    /// Students dropped by the SIS stay a while.
    RemovalGrace,
    /// Classes merged into one course.
    CrossList,
    /// A change made by hand in Classroom, and what the rules do about it.
    Drift,
    /// People outside the domain are invited.
    Invitation,
    /// Guardians are invited.
    Guardian,
    /// Classroom's limits.
    ClassroomLimit,
    /// How a Classroom grade becomes a OneRoster result.
    GradeMapping,
    /// A failed operation is tried again.
    Retry,
    /// An admin asked to take back an applied run.
    Undo,
}

/// A record left out of this run's roster, and the rule that left it out. Listed when the
/// decision is news: the record is new to the SIS's snapshot, or was in the last accepted
/// roster (leaving it out removes it). A record left out the same way run after run is
/// listed by the run that first left it out.
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct SkippedRecord {
    /// Its entity type.
    pub entity: EntityKind,
    /// Its id, with the source's prefix.
    pub sourced_id: String,
    /// The email of the person it concerns (a user, an enrolment's user), for searching.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person: Option<String>,
    /// The rule that left it out.
    pub rule: AppliedRule,
}
