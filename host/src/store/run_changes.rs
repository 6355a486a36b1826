//! A run's changes as the console reads them, written beside the plan whenever a plan is
//! stored: the plan's outline (everything but its operations, roster changes and state
//! delta, with the counts the run's page shows) and one row per operation holding what the
//! console filters, searches and sorts by, and the operation itself as JSON. Opening a run
//! reads its outline and one page of rows: a district's plan is never parsed to be shown (at
//! 180,000 operations, parsing it made opening a run take 2.5 s).

use std::collections::{BTreeMap, BTreeSet};

use classbridge_engine::SyncPlan;
use classbridge_engine::plan::{Action, OpChange, OpEntity, PlannedOp};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::{Store, StoreError, corrupt};

/// School names by sourcedId, as admins search and read them.
pub type SchoolNames = BTreeMap<String, String>;

/// How changes of no school are named in the breakdown and the console's `?school=`.
pub const NO_SCHOOL: &str = "-";

/// Ends each field of an operation's search words: a search word is split on whitespace, so
/// it never holds a control character and never matches across two fields.
const FIELD_END: char = '\u{1}';

/// A school's share of a run.
#[derive(Serialize, Deserialize, Debug, PartialEq, Eq, Default, Clone)]
#[serde(rename_all = "camelCase")]
pub struct SchoolCounts {
    /// The school's sourcedId, or [`NO_SCHOOL`] for changes of no school.
    pub school: String,
    /// Its name, where the roster knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub create: usize,
    pub update: usize,
    pub archive: usize,
    pub delete: usize,
    pub total: usize,
}

/// What a run's page shows before any of its changes: the plan without its operations,
/// roster changes and state delta, and the counts of what was left out.
#[derive(Serialize, Deserialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct RunOutline {
    /// The plan with `ops`, `rosterChanges` and `stateDelta` empty.
    pub plan: SyncPlan,
    /// How many operations the plan has.
    pub ops_total: usize,
    /// How many of them write to the SIS (not under Classroom's quota).
    pub sis_ops: usize,
    /// Every school's counts, most changes first.
    pub by_school: Vec<SchoolCounts>,
    /// The names of the schools the changes are in, as they were when the plan was stored.
    pub school_names: SchoolNames,
}

/// One operation as the console filters, searches and sorts it (its `op` stays in the
/// database until a page shows it).
#[derive(Debug, Clone)]
pub struct OpIndexEntry {
    /// Its place in the plan (the order of application), from 0.
    pub seq: u32,
    pub op_id: String,
    pub entity: OpEntity,
    pub change: OpChange,
    pub school: Option<String>,
    pub class_id: Option<String>,
    pub person: Option<String>,
    /// Its summary, school name, class id, school id and person, lowercased, each ended by
    /// [`FIELD_END`].
    pub words: String,
}

impl OpIndexEntry {
    /// The entry of `op`, the `seq`th operation of its plan.
    pub fn of(seq: u32, op: &PlannedOp, names: &SchoolNames) -> OpIndexEntry {
        OpIndexEntry {
            seq,
            op_id: op.op_id.clone(),
            entity: op.entity,
            change: op.change,
            school: op.school_id.as_deref().map(str::to_string),
            class_id: op.class_id.as_deref().map(str::to_string),
            person: op.person.as_deref().map(str::to_string),
            words: op_words(op, names),
        }
    }
}

/// An operation's search words (see [`OpIndexEntry::words`]).
fn op_words(op: &PlannedOp, names: &SchoolNames) -> String {
    let school_name = op.school_id.as_deref().and_then(|s| names.get(s));
    let mut text = String::new();
    for field in [
        Some(op.summary.as_str()),
        school_name.map(String::as_str),
        op.class_id.as_deref(),
        op.school_id.as_deref(),
        op.person.as_deref(),
    ]
    .into_iter()
    .flatten()
    {
        text.push_str(&field.to_lowercase());
        text.push(FIELD_END);
    }
    text
}

/// Every school's counts, most changes first.
pub fn by_school(ops: &[PlannedOp], names: &SchoolNames) -> Vec<SchoolCounts> {
    let mut counts: BTreeMap<&str, SchoolCounts> = BTreeMap::new();
    for op in ops {
        let school = op.school_id.as_deref().unwrap_or(NO_SCHOOL);
        let c = counts.entry(school).or_insert_with(|| SchoolCounts {
            school: school.to_string(),
            name: names.get(school).cloned(),
            ..SchoolCounts::default()
        });
        match op.change {
            OpChange::Create => c.create += 1,
            OpChange::Update => c.update += 1,
            OpChange::Archive => c.archive += 1,
            _ => c.delete += 1,
        }
        c.total += 1;
    }
    let mut list: Vec<SchoolCounts> = counts.into_values().collect();
    list.sort_by(|a, b| b.total.cmp(&a.total).then_with(|| a.school.cmp(&b.school)));
    list
}

/// A small enum's serde name (`lineItem`, `create`), as stored.
fn name_of<T: Serialize>(value: T) -> Result<String, StoreError> {
    match serde_json::to_value(value).map_err(|e| corrupt("an operation's kind", e))? {
        serde_json::Value::String(s) => Ok(s),
        other => Ok(other.to_string()),
    }
}

fn parse_name<T: serde::de::DeserializeOwned>(name: String) -> Result<T, StoreError> {
    serde_json::from_value(serde_json::Value::String(name))
        .map_err(|e| corrupt("an operation's kind in run_ops", e))
}

/// Writes run `run`'s outline and operation rows for `plan`, replacing any it had.
pub(super) fn write_index(
    conn: &Connection,
    run: i64,
    plan: &SyncPlan,
    names: SchoolNames,
) -> Result<(), StoreError> {
    conn.execute("DELETE FROM run_ops WHERE run = ?1", params![run])?;
    conn.execute("DELETE FROM run_skips WHERE run = ?1", params![run])?;
    let mut skip = conn.prepare_cached(
        "INSERT INTO run_skips (run, entity, sourced_id, person, skip) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for s in &plan.skipped_records {
        skip.execute(params![
            run,
            name_of(s.entity)?,
            s.sourced_id,
            s.person,
            serde_json::to_string(s).map_err(|e| corrupt("a skipped record", e))?,
        ])?;
    }
    let mut insert = conn.prepare_cached(
        "INSERT INTO run_ops (run, seq, op_id, entity, change, school, class_id, person, words, op)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?;
    for (seq, op) in plan.ops.iter().enumerate() {
        let entry = OpIndexEntry::of(
            u32::try_from(seq).map_err(|e| corrupt("a plan's length", e))?,
            op,
            &names,
        );
        insert.execute(params![
            run,
            i64::from(entry.seq),
            entry.op_id,
            name_of(entry.entity)?,
            name_of(entry.change)?,
            entry.school,
            entry.class_id,
            entry.person,
            entry.words,
            pack_op(&serde_json::to_string(op).map_err(|e| corrupt("an operation", e))?)?,
        ])?;
    }
    write_outline(conn, run, plan, names)
}

/// After an approval: the run's operation rows are the pending plan's, so those the approval
/// left out are deleted and the rest renumbered, and each keeps its explanation and request
/// as planned (the approved plan a host applies need not carry them: a grade export's are
/// most of its memory). False, with nothing changed, when the rows are not the plan's
/// operations and those left out (a run stored before `run_ops`): write them anew.
pub(super) fn keep_ops(
    conn: &Connection,
    run: i64,
    plan: &SyncPlan,
    names: SchoolNames,
) -> Result<bool, StoreError> {
    let stored: Vec<(i64, String)> = {
        let mut stmt =
            conn.prepare_cached("SELECT seq, op_id FROM run_ops WHERE run = ?1 ORDER BY seq")?;
        stmt.query_map(params![run], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?
    };
    let mut planned = plan.ops.iter().map(|o| o.op_id.as_str()).peekable();
    let mut left_out = Vec::new();
    let mut kept = Vec::with_capacity(plan.ops.len());
    for (seq, op_id) in &stored {
        if planned.peek() == Some(&op_id.as_str()) {
            planned.next();
            kept.push(*seq);
        } else {
            left_out.push(*seq);
        }
    }
    if stored.is_empty() || planned.next().is_some() {
        return Ok(false);
    }
    let mut delete = conn.prepare_cached("DELETE FROM run_ops WHERE run = ?1 AND seq = ?2")?;
    for seq in left_out {
        delete.execute(params![run, seq])?;
    }
    // Renumbered through negative places, which no kept row holds, so no two rows ever
    // share one (the index is unique).
    let mut moved = false;
    let mut place =
        conn.prepare_cached("UPDATE run_ops SET seq = ?3 WHERE run = ?1 AND seq = ?2")?;
    for (new, old) in (0_i64..).zip(kept) {
        if new != old {
            place.execute(params![run, old, -1 - new])?;
            moved = true;
        }
    }
    if moved {
        conn.execute(
            "UPDATE run_ops SET seq = -1 - seq WHERE run = ?1 AND seq < 0",
            params![run],
        )?;
    }
    write_outline(conn, run, plan, names)?;
    Ok(true)
}

/// Writes run `run`'s outline: the plan's small fields and its counts.
fn write_outline(
    conn: &Connection,
    run: i64,
    plan: &SyncPlan,
    names: SchoolNames,
) -> Result<(), StoreError> {
    let sis_ops = plan
        .ops
        .iter()
        .filter(|op| {
            matches!(
                op.action,
                Action::OneRosterPut { .. } | Action::OneRosterDelete { .. }
            )
        })
        .count();
    let outline = RunOutline {
        plan: plan_without_bulk(plan),
        ops_total: plan.ops.len(),
        sis_ops,
        by_school: by_school(&plan.ops, &names),
        school_names: names,
    };
    conn.execute(
        "UPDATE runs SET outline = ?1 WHERE id = ?2",
        params![
            serde_json::to_string(&outline).map_err(|e| corrupt("a run's outline", e))?,
            run
        ],
    )?;
    Ok(())
}

/// The plan's small fields, copied (the operations, roster changes and state delta are not).
pub fn plan_without_bulk(plan: &SyncPlan) -> SyncPlan {
    SyncPlan {
        id: plan.id.clone(),
        engine_version: plan.engine_version.clone(),
        created_at: plan.created_at.clone(),
        ops: Vec::new(),
        holds: plan.holds.clone(),
        preview_required: plan.preview_required,
        record_issues: plan.record_issues.clone(),
        roster_changes: Vec::new(),
        summary: plan.summary.clone(),
        state_delta: Default::default(),
        absences: plan.absences.clone(),
        drift: plan.drift.clone(),
        // In `run_skips`, by person.
        skipped_records: Vec::new(),
        approval: plan.approval.clone(),
    }
}

/// `op` as applying and committing it need it: without its explanation and before/after
/// values (the console reads those from the stored rows).
pub fn to_apply(op: &mut PlannedOp) {
    op.why = None;
    op.before = None;
    op.after = None;
}

/// A stored operation's JSON, packed (`op_pack`): an operation with its explanation is about
/// 1.5 KB of repetitive JSON, and a first grade export stores hundreds of thousands of them.
pub(super) fn pack_op(json: &str) -> Result<Vec<u8>, StoreError> {
    super::op_pack::pack(json).map_err(|e| corrupt("an operation, packing it", e))
}

/// Reads a stored operation's JSON at column `idx`: packed (a blob), or as text, as runs
/// stored before packing keep it.
pub(super) fn stored_op(row: &rusqlite::Row<'_>, idx: usize) -> rusqlite::Result<String> {
    use rusqlite::types::ValueRef;
    match row.get_ref(idx)? {
        ValueRef::Blob(packed) => super::op_pack::unpack(packed).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Blob, Box::new(e))
        }),
        _ => row.get(idx),
    }
}

impl Store {
    /// The names of the schools a plan's changes are in: from the plan's own roster change
    /// (a first sync's schools are not in the state yet), else from the state.
    pub fn school_names(&self, plan: &SyncPlan) -> Result<SchoolNames, StoreError> {
        let ids: BTreeSet<&str> = plan
            .ops
            .iter()
            .filter_map(|o| o.school_id.as_deref())
            .collect();
        let planned = &plan.state_delta.roster.orgs.upsert;
        let mut names: SchoolNames = ids
            .iter()
            .filter_map(|id| planned.get(*id).map(|o| (id.to_string(), o.name.clone())))
            .collect();
        let rest: Vec<&str> = ids
            .into_iter()
            .filter(|id| !names.contains_key(*id))
            .collect();
        names.extend(self.org_names(rest)?);
        Ok(names)
    }

    /// Run `run`'s outline, written when its plan was stored (for a run stored by an older
    /// version, written now from its plan). `None`: the run has no plan (kept no longer).
    pub fn run_outline(&self, run: i64) -> Result<Option<RunOutline>, StoreError> {
        let row: Option<(Option<String>, bool)> = self
            .conn
            .query_row(
                "SELECT outline, EXISTS (SELECT 1 FROM run_plans WHERE run = runs.id) FROM runs WHERE id = ?1",
                params![run],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((outline, has_plan)) = row else {
            return Err(StoreError::NoSuchRun(run));
        };
        let text = match (outline, has_plan) {
            (_, false) => return Ok(None),
            (Some(text), true) => text,
            (None, true) => {
                let Some(plan) = self.run_plan(run)? else {
                    return Ok(None);
                };
                let names = self.school_names(&plan)?;
                let tx = self.conn.unchecked_transaction()?;
                write_index(&tx, run, &plan, names)?;
                tx.commit()?;
                return self.run_outline(run);
            }
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| corrupt("a run's outline", e))
    }

    /// How many operations run `run`'s plan has, without reading its outline whole (a page
    /// turn asks; the outline carries every record issue). `None`: the run keeps no plan.
    pub fn run_ops_total(&self, run: i64) -> Result<Option<usize>, StoreError> {
        let stored: Option<Option<i64>> = self
            .conn
            .query_row(
                "SELECT json_extract(outline, '$.opsTotal') FROM runs WHERE id = ?1",
                params![run],
                |r| r.get(0),
            )
            .optional()?;
        match stored {
            None => Err(StoreError::NoSuchRun(run)),
            Some(Some(total)) => Ok(Some(
                usize::try_from(total).map_err(|e| corrupt("a run's outline", e))?,
            )),
            // No outline yet (an older run) or none kept: the outline says which.
            Some(None) => Ok(self.run_outline(run)?.map(|o| o.ops_total)),
        }
    }

    /// Every operation of run `run` as the console filters them, in plan order.
    pub fn run_op_index(&self, run: i64) -> Result<Vec<OpIndexEntry>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT seq, op_id, entity, change, school, class_id, person, words FROM run_ops
             WHERE run = ?1 ORDER BY seq",
        )?;
        let rows = stmt.query_map(params![run], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, Option<String>>(5)?,
                r.get::<_, Option<String>>(6)?,
                r.get::<_, String>(7)?,
            ))
        })?;
        let mut entries = Vec::new();
        for row in rows {
            let (seq, op_id, entity, change, school, class_id, person, words) = row?;
            entries.push(OpIndexEntry {
                seq: u32::try_from(seq).map_err(|e| corrupt("an operation's place", e))?,
                op_id,
                entity: parse_name(entity)?,
                change: parse_name(change)?,
                school,
                class_id,
                person,
                words,
            });
        }
        Ok(entries)
    }

    /// The operations (as stored JSON) of run `run` at these places, in the order given.
    pub fn run_ops_at(&self, run: i64, seqs: &[u32]) -> Result<Vec<String>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT op FROM run_ops WHERE run = ?1 AND seq = ?2")?;
        seqs.iter()
            .map(|seq| {
                stmt.query_row(params![run, i64::from(*seq)], |r| stored_op(r, 0))
                    .map_err(StoreError::from)
            })
            .collect()
    }

    /// Every operation of run `run`, read, in plan order.
    pub fn run_ops_all(&self, run: i64) -> Result<Vec<PlannedOp>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT op FROM run_ops WHERE run = ?1 ORDER BY seq")?;
        let rows = stmt.query_map(params![run], |r| stored_op(r, 0))?;
        rows.map(|text| serde_json::from_str(&text?).map_err(|e| corrupt("a stored operation", e)))
            .collect()
    }

    /// Run `run`'s operations in plan order, each as applying needs it ([`to_apply`]).
    pub fn run_ops_to_apply(&self, run: i64) -> Result<Vec<PlannedOp>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT op FROM run_ops WHERE run = ?1 ORDER BY seq")?;
        let rows = stmt.query_map(params![run], |r| stored_op(r, 0))?;
        rows.map(|text| {
            let mut op: PlannedOp =
                serde_json::from_str(&text?).map_err(|e| corrupt("a stored operation", e))?;
            to_apply(&mut op);
            Ok(op)
        })
        .collect()
    }

    /// Run `run`'s operations at these places, read.
    pub fn run_ops_parsed(&self, run: i64, seqs: &[u32]) -> Result<Vec<PlannedOp>, StoreError> {
        self.run_ops_at(run, seqs)?
            .iter()
            .map(|text| serde_json::from_str(text).map_err(|e| corrupt("a stored operation", e)))
            .collect()
    }

    /// A page of run `run`'s operations (as stored JSON) in plan order, with their ids.
    pub fn run_ops_page(
        &self,
        run: i64,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT op_id, op FROM run_ops WHERE run = ?1 AND seq >= ?2 ORDER BY seq LIMIT ?3",
        )?;
        let rows = stmt.query_map(
            params![
                run,
                i64::try_from(offset).unwrap_or(i64::MAX),
                i64::try_from(limit).unwrap_or(i64::MAX)
            ],
            |r| Ok((r.get(0)?, stored_op(r, 1)?)),
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::RunStatus;

    fn plan(ops: &[(&str, &str, &str)]) -> SyncPlan {
        let ops: Vec<serde_json::Value> = ops
            .iter()
            .map(|(id, change, summary)| {
                serde_json::json!({
                    "opId": id, "key": id, "entity": "student", "change": change,
                    "summary": summary, "person": "Maria Lopez <mlopez@d.org>", "schoolId": "sch7",
                    "action": {"type": "classroomAddStudent", "alias": "d:c1", "user_id": "x@d.org"},
                    "effect": {"type": "memberAdded", "class_id": "c1", "role": "student", "email": "x@d.org"}
                })
            })
            .collect();
        serde_json::from_value(serde_json::json!({
            "id": format!("p{}", ops.len()), "engineVersion": "t", "createdAt": "2026-12-04T00:00:00Z",
            "ops": ops,
            "holds": [], "previewRequired": true,
            "recordIssues": [{"severity": "warning", "source": "sis", "entity": "users", "sourcedId": "u9", "reason": "no email"}],
            "rosterChanges": [],
            "summary": classbridge_engine::plan::PreviewSummary::default(),
            "stateDelta": {"baseRevision": 0, "sources": {},
                "roster": {"orgs": {"upsert": {"sch7": {"sourcedId": "sch7", "status": "active", "name": "Lincoln High", "type": "school"}}}}},
        }))
        .unwrap()
    }

    fn count(store: &Store, run: i64) -> i64 {
        store
            .conn
            .query_row("SELECT COUNT(*) FROM run_ops WHERE run = ?1", [run], |r| {
                r.get(0)
            })
            .unwrap()
    }

    #[test]
    fn a_run_opens_from_its_outline_and_pages_by_place() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("s.db")).unwrap();
        let run = store.start_run("test").unwrap();
        let three = plan(&[
            ("a", "create", "add Maria Lopez to Algebra 1"),
            ("b", "delete", "remove Sam Lee from Algebra 1"),
            ("c", "create", "add Ana Ruiz to Biology"),
        ]);
        store
            .save_plan(run, &three, RunStatus::Pending, None)
            .unwrap();

        let outline = store.run_outline(run).unwrap().expect("outline");
        assert_eq!((outline.ops_total, outline.sis_ops), (3, 0));
        assert_eq!(store.run_ops_total(run).unwrap(), Some(3));
        assert!(outline.plan.ops.is_empty() && outline.plan.roster_changes.is_empty());
        assert_eq!(outline.plan.record_issues.len(), 1);
        assert_eq!(outline.plan.id, three.id);
        // The school's name comes from the plan itself: a first sync's schools are not in the
        // state yet.
        assert_eq!(outline.school_names["sch7"], "Lincoln High");
        assert_eq!(
            (outline.by_school[0].create, outline.by_school[0].delete),
            (2, 1)
        );

        let page = store.run_ops_page(run, 1, 5).unwrap();
        let ids: Vec<&str> = page.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ids, ["b", "c"]);
        let op: PlannedOp = serde_json::from_str(&page[0].1).unwrap();
        assert_eq!(op, three.ops[1]);

        let index = store.run_op_index(run).unwrap();
        assert_eq!(index.len(), 3);
        assert_eq!(index[2].change, OpChange::Create);
        assert!(
            index[1].words.contains("lincoln high"),
            "{}",
            index[1].words
        );
        assert!(index[1].words.contains("sam lee"));
        let at: Vec<PlannedOp> = store
            .run_ops_at(run, &[2, 0])
            .unwrap()
            .iter()
            .map(|t| serde_json::from_str(t).unwrap())
            .collect();
        assert_eq!(at, vec![three.ops[2].clone(), three.ops[0].clone()]);
    }

    #[test]
    fn a_plan_is_stored_once_its_operations_in_their_rows_and_read_back_whole() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("s.db")).unwrap();
        let run = store.start_run("test").unwrap();
        let three = plan(&[
            ("a", "create", "add"),
            ("b", "create", "add"),
            ("c", "delete", "x"),
        ]);
        store
            .save_plan(run, &three, RunStatus::Pending, None)
            .unwrap();
        let body = store.run_plan_text(run).unwrap().unwrap();
        let stored: SyncPlan = serde_json::from_str(&body).unwrap();
        assert!(stored.ops.is_empty(), "the body holds no operation: {body}");
        assert_eq!(store.run_plan(run).unwrap(), Some(three.clone()));
        // Each operation's row is deflated, and read back as the JSON it was.
        let kinds: Vec<String> = store
            .conn
            .prepare("SELECT typeof(op) FROM run_ops WHERE run = ?1")
            .unwrap()
            .query_map([run], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(kinds, ["blob", "blob", "blob"]);
        let page = store.run_ops_page(run, 0, 10).unwrap();
        assert_eq!(page[1].1, serde_json::to_string(&three.ops[1]).unwrap());
        // A row stored as text before packing still reads.
        store
            .conn
            .execute(
                "UPDATE run_ops SET op = ?1 WHERE run = ?2 AND seq = 2",
                params![serde_json::to_string(&three.ops[2]).unwrap(), run],
            )
            .unwrap();
        assert_eq!(store.run_plan(run).unwrap(), Some(three));
    }

    #[test]
    fn an_approval_keeps_the_planned_rows_with_their_explanations_less_those_left_out() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("s.db")).unwrap();
        let run = store.start_run("test").unwrap();
        let mut four = plan(&[
            ("a", "create", "add"),
            ("b", "create", "add"),
            ("c", "delete", "remove"),
            ("d", "create", "add"),
        ]);
        for op in &mut four.ops {
            op.why = serde_json::from_value(serde_json::json!({
                "text": format!("because of {}", op.op_id)
            }))
            .unwrap();
        }
        store
            .save_plan(run, &four, RunStatus::Pending, None)
            .unwrap();
        // The approval left out b; the plan applied carries no explanations.
        let mut approved = four.clone();
        approved.ops.remove(1);
        approved.ops.iter_mut().for_each(to_apply);
        assert!(approved.ops.iter().all(|o| o.why.is_none()));
        approved.approval = Some(
            serde_json::from_value(serde_json::json!({"rejected": ["b"], "droppedDependants": []}))
                .unwrap(),
        );
        let body = store.run_plan_text(run).unwrap();
        store.begin_apply(run, &approved, None).unwrap();
        // The body is not written again (a first sync's is most of a gigabyte): the approval
        // is kept beside it, and read with it.
        assert_eq!(store.run_plan_text(run).unwrap(), body);
        assert_eq!(
            store.run_plan(run).unwrap().unwrap().approval,
            approved.approval
        );

        assert_eq!(count(&store, run), 3);
        let page = store.run_ops_page(run, 0, 10).unwrap();
        let ids: Vec<&str> = page.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ids, ["a", "c", "d"]);
        // Renumbered from 0 with no gap: the console pages by place.
        let from_two = store.run_ops_page(run, 2, 10).unwrap();
        assert_eq!(from_two.len(), 1);
        assert_eq!(from_two[0].0, "d");
        let kept: Vec<PlannedOp> = store.run_plan(run).unwrap().unwrap().ops;
        let expected: Vec<PlannedOp> = [0, 2, 3].iter().map(|&i| four.ops[i].clone()).collect();
        assert_eq!(kept, expected, "each keeps its explanation");
        let outline = store.run_outline(run).unwrap().unwrap();
        assert_eq!(outline.ops_total, 3);
        assert_eq!(
            (outline.by_school[0].create, outline.by_school[0].delete),
            (2, 1)
        );
        // Read for applying: the same operations without explanations.
        assert_eq!(
            store.run_plan_to_apply(run).unwrap().unwrap().ops,
            approved.ops
        );

        // Rows that are not the plan's (a run stored before run_ops) are written anew.
        let other = plan(&[("z", "create", "add")]);
        store.begin_apply(run, &other, None).unwrap();
        let page = store.run_ops_page(run, 0, 10).unwrap();
        let ids: Vec<&str> = page.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ids, ["z"]);
    }

    #[test]
    fn an_approval_rewrites_the_rows_and_retention_drops_them() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("s.db")).unwrap();
        let run = store.start_run("test").unwrap();
        let two = plan(&[("a", "create", "add"), ("b", "create", "add")]);
        store
            .save_plan(run, &two, RunStatus::Pending, None)
            .unwrap();
        assert_eq!(count(&store, run), 2);
        let approved = plan(&[("a", "create", "add")]);
        store.begin_apply(run, &approved, None).unwrap();
        assert_eq!(count(&store, run), 1);
        assert_eq!(store.run_outline(run).unwrap().unwrap().ops_total, 1);

        // A run stored before outlines existed (its whole plan, operations and all, in
        // run_plans) gets its outline and rows when first opened.
        store
            .conn
            .execute("UPDATE runs SET outline = NULL", [])
            .unwrap();
        store.conn.execute("DELETE FROM run_ops", []).unwrap();
        store
            .conn
            .execute(
                "UPDATE run_plans SET body = ?1",
                [serde_json::to_string(&approved).unwrap()],
            )
            .unwrap();
        assert_eq!(store.run_outline(run).unwrap().unwrap().ops_total, 1);
        assert_eq!(count(&store, run), 1);

        store.set_status(run, RunStatus::Applied, None).unwrap();
        for _ in 0..2 {
            let newer = store.start_run("test").unwrap();
            store
                .save_plan(newer, &two, RunStatus::Applied, None)
                .unwrap();
        }
        store.prune(1).unwrap();
        assert_eq!(count(&store, run), 0, "a thinned run keeps no rows");
        assert!(store.run_outline(run).unwrap().is_none());
    }
}
