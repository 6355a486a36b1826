//! The state as rows: every entry of every table of [`SyncState`] is one row, keyed by its
//! table and id, with its value as JSON text. A host keeps these rows in its database and
//! writes, after each run, only the rows that changed ([`StateChanges`]); an idle run writes
//! none. The state is read back by nesting the rows as [`StateChanges::nest`] describes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::delta::{Meet, walk_sorted};
use crate::json_text::JsonText;
use crate::model::Roster;
use crate::state::{STATE_VERSION, SyncState};

/// Which part of the state a table belongs to.
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum StatePart {
    /// Each source as last read: `sources.<source>.<table>` (tables as in `roster`).
    Sources,
    /// The merged roster: `orgs`, `academicSessions`, `users`, `courses`, `classes`,
    /// `enrollments`, `categories`.
    Roster,
    /// What exists in Classroom: `courses`, `teachers`, `students`, `topics`, and the
    /// students kept by the removal grace rule, `pendingRemovals`, the invitations sent,
    /// `invitations`, and the guardian invitations sent, `guardians` (by student email).
    Classroom,
    /// Grades written to the SIS: `lineItems`, `results`, `categories`.
    Exported,
    /// Operations that failed, by idempotency key (its table is named `failures`).
    Failures,
}

impl StatePart {
    /// The part's key in the state's JSON.
    pub const fn key(self) -> &'static str {
        match self {
            StatePart::Sources => "sources",
            StatePart::Roster => "roster",
            StatePart::Classroom => "classroom",
            StatePart::Exported => "exported",
            StatePart::Failures => "failures",
        }
    }

    /// The part whose key this is.
    pub fn from_key(key: &str) -> Option<StatePart> {
        [
            StatePart::Sources,
            StatePart::Roster,
            StatePart::Classroom,
            StatePart::Exported,
            StatePart::Failures,
        ]
        .into_iter()
        .find(|p| p.key() == key)
    }
}

/// The rows of one table that a commit adds, changes or removes.
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct TableChange {
    /// The part of the state.
    pub part: StatePart,
    /// For [`StatePart::Sources`], the source's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The table's key in its part's JSON (`users`, `academicSessions`, `failures`, ...).
    pub table: String,
    /// Rows added or changed: id to the whole new value.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub upsert: BTreeMap<String, JsonText>,
    /// Ids of rows removed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove: Vec<String>,
}

/// What a commit changes in the state, row by row (`cb_commit_changes`'s answer).
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct StateChanges {
    /// [`STATE_VERSION`].
    pub version: u32,
    /// The revision of the state the changes apply to.
    pub base_revision: u64,
    /// The revision after them.
    pub revision: u64,
    /// Sources whose every row is removed (they left the config).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removed_sources: Vec<String>,
    /// Tables with rows added, changed or removed; tables without change are left out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tables: Vec<TableChange>,
}

impl StateChanges {
    /// Adds the changes of another part of the same commit ([`crate::commit_rows::commit_parts`]):
    /// the same revisions, rows of their own.
    pub fn absorb(&mut self, other: StateChanges) -> Result<(), String> {
        if (self.version, self.base_revision, self.revision)
            != (other.version, other.base_revision, other.revision)
        {
            return Err(format!(
                "a commit part for revision {} -> {} cannot join one for {} -> {}",
                other.base_revision, other.revision, self.base_revision, self.revision
            ));
        }
        for id in other.removed_sources {
            if !self.removed_sources.contains(&id) {
                self.removed_sources.push(id);
            }
        }
        for table in other.tables {
            match self.tables.iter_mut().find(|t| {
                (t.part, &t.source, &t.table) == (table.part, &table.source, &table.table)
            }) {
                Some(same) => {
                    same.upsert.extend(table.upsert);
                    same.remove.extend(table.remove);
                }
                None => self.tables.push(table),
            }
        }
        Ok(())
    }

    /// The rows that differ between two states (`after`'s revision and version are taken).
    pub fn between(
        before: &SyncState,
        after: &SyncState,
    ) -> Result<StateChanges, serde_json::Error> {
        let mut tables = Vec::new();
        for (id, roster) in &after.sources {
            let empty = Roster::default();
            let was = before.sources.get(id).unwrap_or(&empty);
            roster_changes(StatePart::Sources, Some(id), was, roster, &mut tables)?;
        }
        let removed_sources = before
            .sources
            .keys()
            .filter(|id| !after.sources.contains_key(*id))
            .cloned()
            .collect();
        roster_changes(
            StatePart::Roster,
            None,
            &before.roster,
            &after.roster,
            &mut tables,
        )?;
        let (b, a) = (&before.classroom, &after.classroom);
        let classroom = StatePart::Classroom;
        push(
            &mut tables,
            classroom,
            None,
            "courses",
            &b.courses,
            &a.courses,
        )?;
        push(
            &mut tables,
            classroom,
            None,
            "teachers",
            &b.teachers,
            &a.teachers,
        )?;
        push(
            &mut tables,
            classroom,
            None,
            "students",
            &b.students,
            &a.students,
        )?;
        push(&mut tables, classroom, None, "topics", &b.topics, &a.topics)?;
        push(
            &mut tables,
            classroom,
            None,
            "pendingRemovals",
            &b.pending_removals,
            &a.pending_removals,
        )?;
        push(
            &mut tables,
            classroom,
            None,
            "invitations",
            &b.invitations,
            &a.invitations,
        )?;
        push(
            &mut tables,
            classroom,
            None,
            "guardians",
            &b.guardians,
            &a.guardians,
        )?;
        let (b, a) = (&before.exported, &after.exported);
        let exported = StatePart::Exported;
        push(
            &mut tables,
            exported,
            None,
            "lineItems",
            &b.line_items,
            &a.line_items,
        )?;
        push(
            &mut tables,
            exported,
            None,
            "results",
            &b.results,
            &a.results,
        )?;
        push(
            &mut tables,
            exported,
            None,
            "categories",
            &b.categories,
            &a.categories,
        )?;
        let failures = StatePart::Failures;
        push(
            &mut tables,
            failures,
            None,
            "failures",
            &before.failures,
            &after.failures,
        )?;
        Ok(StateChanges {
            version: STATE_VERSION,
            base_revision: before.revision,
            revision: after.revision,
            removed_sources,
            tables,
        })
    }

    /// Every row of a state, as changes from an empty one (to store a state whole).
    pub fn whole(state: &SyncState) -> Result<StateChanges, serde_json::Error> {
        // From the empty state, so its base revision is 0.
        StateChanges::between(&SyncState::default(), state)
    }

    /// Whether no row changes (the revision may still move).
    pub fn is_empty(&self) -> bool {
        self.removed_sources.is_empty() && self.tables.is_empty()
    }

    /// How many rows are written or removed.
    pub fn row_count(&self) -> usize {
        self.tables
            .iter()
            .map(|t| t.upsert.len() + t.remove.len())
            .sum()
    }

    /// The JSON of a [`SyncState`] from its rows, given in `(part, source, table, id)` order
    /// with their JSON text: `{"version":…,"revision":…,"sources":{<source>:{<table>:{<id>:
    /// <row>}}},"roster":{<table>:{…}},"classroom":{…},"exported":{…},"failures":{<id>:<row>}}`.
    /// This is how a host that keeps rows hands the state back without knowing its types.
    pub fn nest<'a>(
        version: u32,
        revision: u64,
        rows: impl IntoIterator<Item = (StatePart, &'a str, &'a str, &'a str, &'a str)>,
    ) -> String {
        let mut out = Nester {
            out: format!("{{\"version\":{version},\"revision\":{revision}"),
            // The root object, which already has members.
            empty: vec![false],
        };
        let mut open: Option<(StatePart, &str, &str)> = None;
        for (part, source, table, id, json) in rows {
            let source = if part == StatePart::Sources {
                source
            } else {
                ""
            };
            let table = if part == StatePart::Failures {
                ""
            } else {
                table
            };
            if open != Some((part, source, table)) {
                let same_part = open.is_some_and(|(p, _, _)| p == part);
                let same_source = same_part && open.is_some_and(|(_, s, _)| s == source);
                // Close down to what the new row shares with the last: root 1, part 2,
                // source 3 (sources only); the table is closed whenever it changes.
                let keep = match (same_part, same_source, part) {
                    (false, _, _) => 1,
                    (true, false, StatePart::Sources) => 2,
                    (true, true, StatePart::Sources) => 3,
                    (true, _, _) => 2,
                };
                out.close_to(keep);
                if !same_part {
                    out.open(part.key());
                }
                if part == StatePart::Sources && !same_source {
                    out.open(source);
                }
                if part != StatePart::Failures {
                    out.open(table);
                }
                open = Some((part, source, table));
            }
            out.member(id);
            out.out.push_str(json);
        }
        out.close_to(0);
        out.out
    }
}

/// Writes nested JSON objects, knowing at each level whether a member came before.
struct Nester {
    out: String,
    empty: Vec<bool>,
}

impl Nester {
    fn member(&mut self, key: &str) {
        if let Some(empty) = self.empty.last_mut() {
            if !*empty {
                self.out.push(',');
            }
            *empty = false;
        }
        self.out.push_str(&quoted(key));
        self.out.push(':');
    }

    fn open(&mut self, key: &str) {
        self.member(key);
        self.out.push('{');
        self.empty.push(true);
    }

    fn close_to(&mut self, depth: usize) {
        while self.empty.len() > depth {
            self.empty.pop();
            self.out.push('}');
        }
    }
}

fn quoted(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

fn roster_changes(
    part: StatePart,
    source: Option<&String>,
    before: &Roster,
    after: &Roster,
    out: &mut Vec<TableChange>,
) -> Result<(), serde_json::Error> {
    push(out, part, source, "orgs", &before.orgs, &after.orgs)?;
    push(
        out,
        part,
        source,
        "academicSessions",
        &before.academic_sessions,
        &after.academic_sessions,
    )?;
    push(out, part, source, "users", &before.users, &after.users)?;
    push(
        out,
        part,
        source,
        "courses",
        &before.courses,
        &after.courses,
    )?;
    push(
        out,
        part,
        source,
        "classes",
        &before.classes,
        &after.classes,
    )?;
    push(
        out,
        part,
        source,
        "enrollments",
        &before.enrollments,
        &after.enrollments,
    )?;
    push(
        out,
        part,
        source,
        "categories",
        &before.categories,
        &after.categories,
    )?;
    Ok(())
}

/// Adds the change between two versions of one table, walking both in key order.
fn push<V: Serialize + PartialEq>(
    out: &mut Vec<TableChange>,
    part: StatePart,
    source: Option<&String>,
    table: &str,
    before: &BTreeMap<String, V>,
    after: &BTreeMap<String, V>,
) -> Result<(), serde_json::Error> {
    let mut change = TableChange {
        part,
        source: source.cloned(),
        table: table.to_string(),
        upsert: BTreeMap::new(),
        remove: Vec::new(),
    };
    let mut failed = None;
    walk_sorted(before, after, |meet| {
        let (id, value) = match meet {
            Meet::Before(id, _) => return change.remove.push(id.clone()),
            Meet::After(id, value) => (id, value),
            Meet::Both(was, id, value) if was != value => (id, value),
            Meet::Both(..) => return,
        };
        match row(value) {
            Ok(json) => {
                change.upsert.insert(id.clone(), json);
            }
            Err(e) => failed = Some(e),
        }
    });
    if let Some(e) = failed {
        return Err(e);
    }
    if !change.upsert.is_empty() || !change.remove.is_empty() {
        out.push(change);
    }
    Ok(())
}

fn row<V: Serialize>(value: &V) -> Result<JsonText, serde_json::Error> {
    serde_json::value::to_raw_value(value).map(JsonText::from_raw)
}
