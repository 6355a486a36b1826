//! SQLite state: the engine's state (as rows, see `state_rows`), runs, pending approvals and
//! decisions, and the operation journal. WAL mode; every step is one transaction. No secrets are ever written here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

mod change_feed;
mod notifications;
mod op_pack;
mod person_history;
mod plan_body;
mod run_changes;
mod stored_doc;

pub use change_feed::{ClassroomRead, precise_now};
pub use notifications::PendingNotification;
pub use person_history::{PersonChange, PersonSkip};

pub use run_changes::{
    NO_SCHOOL, OpIndexEntry, RunOutline, SchoolCounts, SchoolNames, by_school, plan_without_bulk,
    to_apply,
};

use classbridge_engine::JsonText;
use classbridge_engine::commit_rows::RowKey;
use classbridge_engine::model::Enrollment;
use classbridge_engine::needs::{EnrollmentNeeds, NeedsFacts};
use classbridge_engine::rows::{StateChanges, StatePart};
use classbridge_engine::session::StateRow;
use classbridge_engine::state::{
    EnrollmentSlice, ExportedGradebook, ExportedRecord, LedgerSlice, STATE_VERSION,
};
use classbridge_engine::{OpOutcome, SyncPlan, SyncState};
use plan_body::{PlanBody, PlanToApply};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use stored_doc::StoredDoc;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("state database")]
    Sql(#[from] rusqlite::Error),
    #[error("state database: {what}")]
    Corrupt {
        what: String,
        #[source]
        source: crate::http::BoxError,
    },
    #[error("run {0} does not exist")]
    NoSuchRun(i64),
    /// A stored plan this engine cannot read, typically one made by an older version.
    #[error("run {run}'s plan cannot be read by this engine version")]
    UnreadablePlan {
        run: i64,
        #[source]
        source: serde_json::Error,
    },
    #[error("the stored input of run {run} cannot be read")]
    UnreadableInput {
        run: i64,
        #[source]
        source: serde_json::Error,
    },
}

const MIGRATIONS: &[&str] = &[
    // 1: the first schema.
    "CREATE TABLE engine_state (id INTEGER PRIMARY KEY CHECK (id = 1), revision INTEGER NOT NULL, state TEXT NOT NULL, updated_at TEXT NOT NULL);
     CREATE TABLE runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        trigger TEXT NOT NULL,
        status TEXT NOT NULL,
        message TEXT,
        plan_id TEXT,
        base_revision INTEGER,
        input TEXT,
        plan TEXT,
        summary TEXT,
        outcome_counts TEXT
     );
     CREATE TABLE decisions (run_id INTEGER NOT NULL REFERENCES runs(id), decided_at TEXT NOT NULL, rejected TEXT NOT NULL);
     CREATE TABLE journal (
        run_id INTEGER NOT NULL REFERENCES runs(id),
        op_id TEXT NOT NULL,
        idempotency_key TEXT NOT NULL,
        intent TEXT NOT NULL,
        started_at TEXT NOT NULL,
        outcome TEXT,
        finished_at TEXT,
        PRIMARY KEY (run_id, op_id)
     );
     CREATE TABLE source_cursors (source_id TEXT PRIMARY KEY, read_at TEXT NOT NULL);",
    // 2: who decided, and the operations an approval left out, kept after the plan is replaced
    // by the approved one so a rejection stays visible.
    "ALTER TABLE decisions ADD COLUMN decided_by TEXT NOT NULL DEFAULT 'unknown';
     ALTER TABLE decisions ADD COLUMN left_out TEXT NOT NULL DEFAULT '[]';",
    // 3: digests of compiled engine artefacts, kept apart from the files they vouch for.
    "CREATE TABLE compiled_engine (file TEXT PRIMARY KEY, sha256 TEXT NOT NULL, written_at TEXT NOT NULL);",
    "CREATE TABLE feed_registrations (feed TEXT PRIMARY KEY, registration_id TEXT NOT NULL, expiry_time TEXT NOT NULL);
     CREATE TABLE changed_courses (course_id TEXT PRIMARY KEY, noted_at TEXT NOT NULL);
     CREATE TABLE host_marks (name TEXT PRIMARY KEY, value TEXT NOT NULL);",
    // 5: when each source was last read in full (deletions are found only then, on a cadence),
    // and what a run read of each source, so an approval later records the same.
    "ALTER TABLE source_cursors ADD COLUMN full_read_at TEXT;
     ALTER TABLE runs ADD COLUMN source_reads TEXT;",
    // 6: the engine's state as rows keyed by table and id, each with a digest of its value:
    // a commit writes the rows that changed, not the district. `Store::init` moves a state
    // kept as one document (engine_state) into rows.
    "CREATE TABLE state_rows (
        part TEXT NOT NULL,
        source TEXT NOT NULL,
        tbl TEXT NOT NULL,
        id TEXT NOT NULL,
        digest TEXT NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (part, source, tbl, id)
     ) WITHOUT ROWID;
     CREATE TABLE state_meta (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL, revision INTEGER NOT NULL, updated_at TEXT NOT NULL);",
    // 7: the export ledger's rows by parent (a lineItem's course, a result's lineItem): a run
    // reads the ledger of the courses it reads, not a district's millions of results.
    "CREATE INDEX state_rows_ledger_parent ON state_rows (tbl, json_extract(body, '$.parent')) WHERE part = 'exported';",
    // 8: enrolment rows by class, by person and by date: a run whose SIS reads are deltas
    // reads the enrolments of the classes the engine asks for, not a district's millions.
    // The state remembers the date and rules of the plan that made it, which the engine
    // needs to know what changed since.
    "CREATE INDEX state_rows_enrollment_class ON state_rows (json_extract(body, '$.class')) WHERE tbl = 'enrollments' AND part IN ('sources', 'roster');
     CREATE INDEX state_rows_enrollment_user ON state_rows (json_extract(body, '$.user')) WHERE tbl = 'enrollments' AND part IN ('sources', 'roster');
     CREATE INDEX state_rows_enrollment_begin ON state_rows (json_extract(body, '$.beginDate')) WHERE tbl = 'enrollments' AND part IN ('sources', 'roster');
     CREATE INDEX state_rows_enrollment_end ON state_rows (json_extract(body, '$.endDate')) WHERE tbl = 'enrollments' AND part IN ('sources', 'roster');
     ALTER TABLE state_meta ADD COLUMN planned_on TEXT;
     ALTER TABLE state_meta ADD COLUMN config_digest TEXT;
     ALTER TABLE state_meta ADD COLUMN left_out INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE runs ADD COLUMN planned_on TEXT;
     ALTER TABLE runs ADD COLUMN config_digest TEXT;",
    // 9: a run's changes as the console reads them (`run_changes.rs`): the plan's outline
    // and one row per operation with its search words, so opening a run of 180,000 changes
    // reads a page, not the plan.
    "CREATE TABLE run_ops (
        run INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        op_id TEXT NOT NULL,
        entity TEXT NOT NULL,
        change TEXT NOT NULL,
        school TEXT,
        class_id TEXT,
        person TEXT,
        words TEXT NOT NULL,
        op TEXT NOT NULL
     );
     CREATE UNIQUE INDEX run_ops_seq ON run_ops (run, seq);
     ALTER TABLE runs ADD COLUMN outline TEXT;",
    // 10: a run's input and plan (hundreds of MB at M) in tables of their own. In the runs
    // row they sat before its summary and outline, and SQLite reaches a column after a large
    // value by walking that value's overflow pages: every read of a run's summary walked its
    // plan and input (0.3 s a request at M).
    "CREATE TABLE run_inputs (run INTEGER PRIMARY KEY REFERENCES runs(id), body TEXT NOT NULL);
     CREATE TABLE run_plans (run INTEGER PRIMARY KEY REFERENCES runs(id), body TEXT NOT NULL);
     INSERT INTO run_inputs (run, body) SELECT id, input FROM runs WHERE input IS NOT NULL;
     INSERT INTO run_plans (run, body) SELECT id, plan FROM runs WHERE plan IS NOT NULL;
     ALTER TABLE runs DROP COLUMN input;
     ALTER TABLE runs DROP COLUMN plan;",
    // 11: notifications told and to tell, with when each channel delivered them (`notify`).
    "CREATE TABLE notifications (
        key TEXT PRIMARY KEY,
        event TEXT NOT NULL,
        run INTEGER,
        subject TEXT NOT NULL,
        body TEXT NOT NULL,
        created_at TEXT NOT NULL,
        webhook_at TEXT,
        email_at TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT
     );",
    // 12: why (`explain`): the records each run's rules newly left out, and both those and
    // the operations by person, so `explain --person` reads one person's rows across runs.
    "CREATE TABLE run_skips (
        run INTEGER NOT NULL,
        entity TEXT NOT NULL,
        sourced_id TEXT NOT NULL,
        person TEXT,
        skip TEXT NOT NULL
     );
     CREATE INDEX run_skips_run ON run_skips (run);
     CREATE INDEX run_skips_person ON run_skips (person) WHERE person IS NOT NULL;
     CREATE INDEX run_ops_person ON run_ops (person) WHERE person IS NOT NULL;",
    // 13: undo (`undo.rs`): the SIS record each write replaced, read just before the write.
    "ALTER TABLE journal ADD COLUMN prior TEXT;",
    // 14: what a run read of Classroom, recorded when it commits, even at a later approval.
    "ALTER TABLE runs ADD COLUMN classroom_read TEXT;",
    // 15: an approval beside its plan's body, not written into it: a district's first plan
    // body is most of a gigabyte (its whole new roster), and rewriting it to add the
    // approval held it several times over (L's first approval peaked at 8.7 GB).
    "ALTER TABLE run_plans ADD COLUMN approval TEXT;",
    // 16: the approval in a table of its own: SQLite writes a row whole, so setting the
    // approval beside a plan's body read and wrote the body again (L's part-1 approval grew
    // by 1.2 GB there, and wrote the body to the WAL a second time).
    "CREATE TABLE run_approvals (run INTEGER PRIMARY KEY REFERENCES runs(id), approval TEXT NOT NULL);
     INSERT INTO run_approvals (run, approval) SELECT run, approval FROM run_plans WHERE approval IS NOT NULL;
     ALTER TABLE run_plans DROP COLUMN approval;",
    // 17: how many Classroom classes each person is in (as teacher or student), kept by
    // triggers as the state's member rows change: a delta run reads the members of the
    // classes it plans, and the engine cannot count the classes-per-person limit from those.
    "CREATE TABLE classroom_joins (email TEXT PRIMARY KEY, classes INTEGER NOT NULL) WITHOUT ROWID;
     INSERT INTO classroom_joins (email, classes)
        SELECT j.value, COUNT(*) FROM state_rows AS s, json_each(s.body) AS j
        WHERE s.part = 'classroom' AND s.tbl IN ('teachers', 'students') GROUP BY j.value;
     CREATE TRIGGER classroom_joins_insert AFTER INSERT ON state_rows
        WHEN NEW.part = 'classroom' AND NEW.tbl IN ('teachers', 'students')
     BEGIN
        INSERT INTO classroom_joins (email, classes) SELECT value, 1 FROM json_each(NEW.body) WHERE true
            ON CONFLICT (email) DO UPDATE SET classes = classes + 1;
     END;
     CREATE TRIGGER classroom_joins_delete AFTER DELETE ON state_rows
        WHEN OLD.part = 'classroom' AND OLD.tbl IN ('teachers', 'students')
     BEGIN
        UPDATE classroom_joins SET classes = classes - 1 WHERE email IN (SELECT value FROM json_each(OLD.body));
        DELETE FROM classroom_joins WHERE email IN (SELECT value FROM json_each(OLD.body)) AND classes <= 0;
     END;
     CREATE TRIGGER classroom_joins_update AFTER UPDATE OF body ON state_rows
        WHEN NEW.part = 'classroom' AND NEW.tbl IN ('teachers', 'students')
     BEGIN
        UPDATE classroom_joins SET classes = classes - 1 WHERE email IN (SELECT value FROM json_each(OLD.body));
        DELETE FROM classroom_joins WHERE email IN (SELECT value FROM json_each(OLD.body)) AND classes <= 0;
        INSERT INTO classroom_joins (email, classes) SELECT value, 1 FROM json_each(NEW.body) WHERE true
            ON CONFLICT (email) DO UPDATE SET classes = classes + 1;
     END;",
];

/// The rosters' enrolment rows, which a run reads by class once the engine says which
/// ([`Store::add_enrollments`]).
const ENROLLMENTS: &str = "tbl = 'enrollments' AND part IN ('sources', 'roster')";

/// Classroom's members and topics of each class, which a run reads with the enrolments, for
/// the same classes ([`Store::add_enrollments`]).
const CLASSROOM_MEMBERS: &str = "part = 'classroom' AND tbl IN ('teachers', 'students', 'topics')";

/// The tables of [`CLASSROOM_MEMBERS`], each a row per class.
const MEMBER_TABLES: [&str; 3] = ["teachers", "students", "topics"];

/// An enrolment's class, found by the row's whole primary key.
const ENROLLMENT_CLASS_BY_ID: &str = "SELECT json_extract(body, '$.class') FROM state_rows WHERE part = ?1 AND source = ?2 AND tbl = 'enrollments' AND id = ?3";

/// The rows a run's state leaves for [`Store::add_ledger_slice`]: the ledger's lineItems and
/// results (those without a parent are read with the rest, see [`Store::state_for_run`]).
const LEDGER_BY_COURSE: &str = "part = 'exported' AND tbl IN ('lineItems', 'results')";

/// What one run read of one SIS source: recorded when the run commits, so the next delta
/// read starts from it, and a full read restarts the full-read cadence.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SourceRead {
    pub source_id: String,
    /// When the read began (the run's time).
    pub read_at: String,
    /// Every record (`true`), or only those changed since the last read.
    pub full: bool,
}

/// An admin's decision on a pending run, as stored.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Decision {
    pub decided_at: String,
    /// `console` or `cli:<user>`.
    pub decided_by: String,
    /// The operation ids the admin rejected.
    pub rejected: Vec<String>,
    /// Every operation the approval left out: the rejected ones and their dependants.
    pub left_out: Vec<LeftOutOp>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LeftOutOp {
    pub op_id: String,
    pub summary: String,
    /// `rejected`, or `dependsOnRejected` for an operation dropped with what it needs.
    pub why: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RunRow {
    pub id: i64,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub trigger: String,
    pub status: RunStatus,
    pub message: Option<String>,
    pub plan_id: Option<String>,
    pub summary: Option<Value>,
    pub outcome_counts: Option<Value>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum RunStatus {
    /// Fetching and planning.
    Planning,
    /// Plan printed, nothing to apply (`classbridge plan`).
    Planned,
    /// Waiting for an admin: preview mode or a hold.
    Pending,
    Applying,
    /// Every approved operation succeeded.
    Applied,
    /// Some operations failed; they are retried next run.
    Partial,
    /// Nothing to do.
    NoChanges,
    Failed,
    Rejected,
    /// Killed mid-apply; reconciled by the next run.
    Interrupted,
    /// A newer run replaced this pending plan.
    Superseded,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Planning => "planning",
            RunStatus::Planned => "planned",
            RunStatus::Pending => "pending",
            RunStatus::Applying => "applying",
            RunStatus::Applied => "applied",
            RunStatus::Partial => "partial",
            RunStatus::NoChanges => "noChanges",
            RunStatus::Failed => "failed",
            RunStatus::Rejected => "rejected",
            RunStatus::Interrupted => "interrupted",
            RunStatus::Superseded => "superseded",
        }
    }

    fn parse(s: &str) -> RunStatus {
        serde_json::from_value(Value::String(s.to_string())).unwrap_or(RunStatus::Failed)
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct JournalRow {
    pub op_id: String,
    pub key: String,
    pub intent: Value,
    pub outcome: Option<OpOutcome>,
}

pub struct Store {
    conn: Connection,
}

/// Creates `path` as an empty 0600 file if missing, else sets it to 0600.
#[cfg(unix)]
fn private_file(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
}

#[cfg(not(unix))]
fn private_file(_path: &Path) -> std::io::Result<()> {
    Ok(())
}

/// `what` names the record ("unreadable plan", ...); the error that broke it is the cause.
/// A row's digest: the first 16 bytes of the SHA-256 of its JSON, in hex.
fn digest(body: &str) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(body.as_bytes())[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn corrupt(what: &str, e: impl Into<crate::http::BoxError>) -> StoreError {
    StoreError::Corrupt {
        what: what.to_string(),
        source: e.into(),
    }
}

/// Stores (or replaces) a run's plan, in its own table, without its operations: those are
/// the run's `run_ops` rows (written with it), and keeping them twice made a run's stored
/// plan cost about twice its operations.
fn save_plan_body(conn: &Connection, run: i64, plan: &SyncPlan) -> Result<(), StoreError> {
    // A new body has no approval yet (a plan body written whole carries its own).
    conn.execute("DELETE FROM run_approvals WHERE run = ?1", params![run])?;
    conn.execute(
        "INSERT INTO run_plans (run, body) VALUES (?1, ?2)
         ON CONFLICT(run) DO UPDATE SET body = ?2",
        params![
            run,
            stored_doc::compress(&PlanBody(plan)).map_err(|e| corrupt("unreadable plan", e))?
        ],
    )?;
    Ok(())
}

pub(crate) fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

impl Store {
    /// Opens (or creates) the state database, private to this user: it holds minors' data.
    /// The file is created 0600 before SQLite touches it, and SQLite gives its `-wal` and
    /// `-shm` files the database file's mode; an existing database is made 0600 as well.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        private_file(path).map_err(|e| corrupt("its file permissions could not be set", e))?;
        let conn = Connection::open(path)?;
        let store = Self::init(conn)?;
        for suffix in ["-wal", "-shm"] {
            let side = path.with_file_name(format!(
                "{}{suffix}",
                path.file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or("classbridge.db")
            ));
            if side.exists() {
                private_file(&side)
                    .map_err(|e| corrupt("its file permissions could not be set", e))?;
            }
        }
        Ok(store)
    }

    pub fn in_memory() -> Result<Store, StoreError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(mut conn: Connection) -> Result<Store, StoreError> {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let tx = conn.transaction()?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)?;
            tx.commit()?;
        }
        let mut store = Store { conn };
        store.move_document_state_to_rows()?;
        Ok(store)
    }

    /// The engine's state, read from its rows.
    pub fn state(&self) -> Result<SyncState, StoreError> {
        self.state_where("1")
    }

    /// The state a run starts from: whole but for the export ledger's lineItems and results,
    /// which the run reads by course once it knows which courses it reads
    /// ([`Store::add_ledger_slice`]), and the enrolments and Classroom's members and topics,
    /// which it reads by class once the engine says which ([`Store::add_enrollments`]); the
    /// ledger's sizes are kept, for deletion thresholds. Records without a parent (written
    /// before lineItems named their course) are read here.
    pub fn state_for_run(&self) -> Result<SyncState, StoreError> {
        let mut state = self.state_where(&format!(
            "NOT ({LEDGER_BY_COURSE}) AND NOT ({ENROLLMENTS}) AND NOT ({CLASSROOM_MEMBERS})"
        ))?;
        let count = |tbl: &str| -> Result<u64, StoreError> {
            Ok(self.conn.query_row(
                "SELECT COUNT(*) FROM state_rows WHERE part = 'exported' AND tbl = ?1",
                [tbl],
                |r| r.get::<_, i64>(0),
            )? as u64)
        };
        let (line_items, results) = (count("lineItems")?, count("results")?);
        let exported = &mut state.exported;
        let parentless: Vec<String> =
            self.ledger_rows("lineItems", None, &mut exported.line_items)?;
        for line_item in parentless {
            self.ledger_rows("results", Some(&line_item), &mut exported.results)?;
        }
        self.ledger_rows("results", None, &mut exported.results)?;
        exported.slice = Some(LedgerSlice {
            courses: BTreeSet::new(),
            line_items,
            results,
        });
        Ok(state)
    }

    /// What the engine needs to know of the stored state to ask for its enrolments: the
    /// date and the rules of the plan that made it (unknown before the first commit, and
    /// for a state committed by an older version).
    pub fn needs_facts(&self) -> Result<NeedsFacts, StoreError> {
        let row: Option<(Option<String>, Option<String>, i64)> = self
            .conn
            .query_row(
                "SELECT planned_on, config_digest, left_out FROM state_meta WHERE id = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let (planned_on, config_digest, left_out) = row.unwrap_or_default();
        Ok(NeedsFacts {
            planned_on,
            config_digest,
            left_out: left_out != 0,
            at_class_limit: None,
        })
    }

    /// The people (emails) in at least `max` Classroom classes as the state knows them,
    /// counted by the triggers on its member rows: what the engine cannot count when a run
    /// reads the members of some classes only.
    pub fn people_at_class_limit(&self, max: u32) -> Result<BTreeSet<String>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT email FROM classroom_joins WHERE classes >= ?1")?;
        let people = stmt
            .query_map([i64::from(max)], |r| r.get::<_, String>(0))?
            .collect::<Result<BTreeSet<_>, _>>()?;
        Ok(people)
    }

    /// Records the date and rules a run's plan is made with; its commit gives them to the
    /// state.
    pub fn save_plan_facts(&mut self, run: i64, facts: &NeedsFacts) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE runs SET planned_on = ?1, config_digest = ?2 WHERE id = ?3",
            params![facts.planned_on, facts.config_digest, run],
        )?;
        Ok(())
    }

    /// Adds to a run's state the enrolments the engine asked for, and Classroom's members
    /// and topics of the same classes: all of them, or those of the classes it named and of
    /// the classes of the people, enrolments and dates it named, each class whole, with the
    /// slice that says so. Answers how many enrolment rows were read.
    pub fn add_enrollments(
        &self,
        state: &mut SyncState,
        needs: &EnrollmentNeeds,
        facts: &NeedsFacts,
    ) -> Result<u64, StoreError> {
        let ask = match needs {
            EnrollmentNeeds::All { .. } => {
                self.member_rows(state, CLASSROOM_MEMBERS, [])?;
                return self.enrollment_rows(state, ENROLLMENTS, []);
            }
            EnrollmentNeeds::Slice(ask) => ask,
        };
        let mut classes = ask.classes.clone();
        // By the whole primary key, each source's and the merged roster's: with `part IN
        // (...)` and no source, SQLite searched the key by part alone and scanned every
        // row of it per enrolment asked (L's 16,000 dropped enrolments: hours).
        let parts: Vec<(&str, &str)> = std::iter::once(("roster", ""))
            .chain(state.sources.keys().map(|s| ("sources", s.as_str())))
            .collect();
        let mut stmt = self.conn.prepare_cached(ENROLLMENT_CLASS_BY_ID)?;
        for enrollment in &ask.enrollments {
            for (part, source) in &parts {
                let found: Option<Option<String>> = stmt
                    .query_row(params![part, source, enrollment], |r| r.get(0))
                    .optional()?;
                classes.extend(found.flatten());
            }
        }
        drop(stmt);
        let mut classes_of = |sql: &str, values: &mut dyn Iterator<Item = (&str, &str)>| {
            let mut stmt = self.conn.prepare_cached(sql)?;
            for (a, b) in values {
                let found = stmt
                    .query_map(params![a, b], |r| r.get::<_, Option<String>>(0))?
                    .collect::<Result<Vec<_>, _>>()?;
                classes.extend(found.into_iter().flatten());
            }
            Ok::<(), StoreError>(())
        };
        classes_of(
            &format!(
                "SELECT DISTINCT json_extract(body, '$.class') FROM state_rows WHERE {ENROLLMENTS} AND json_extract(body, '$.user') = ?1 AND ?2 = ''"
            ),
            &mut ask.users.iter().map(|u| (u.as_str(), "")),
        )?;
        if let Some(window) = &ask.dates {
            // Dates compared by their day: a value starting with day D is >= D and < D||'~'.
            let after = window.after.as_str();
            let through = window.through.as_str();
            let ended = format!(
                "SELECT DISTINCT json_extract(body, '$.class') FROM state_rows WHERE {ENROLLMENTS} AND json_extract(body, '$.endDate') >= ?1 AND json_extract(body, '$.endDate') < ?2"
            );
            let began = format!(
                "SELECT DISTINCT json_extract(body, '$.class') FROM state_rows WHERE {ENROLLMENTS} AND json_extract(body, '$.beginDate') > ?1 || '~' AND json_extract(body, '$.beginDate') < ?2 || '~'"
            );
            classes_of(&ended, &mut std::iter::once((after, through)))?;
            classes_of(&began, &mut std::iter::once((after, through)))?;
        }
        let sql = format!("{ENROLLMENTS} AND json_extract(body, '$.class') = ?1");
        let mut read = 0;
        for class in &classes {
            read += self.enrollment_rows(state, &sql, [class.as_str()])?;
            for table in MEMBER_TABLES {
                self.member_rows(
                    state,
                    "part = 'classroom' AND source = '' AND tbl = ?1 AND id = ?2",
                    [table, class.as_str()],
                )?;
            }
        }
        let count = |extra: &str, source: &str| -> Result<u64, StoreError> {
            Ok(self.conn.query_row(
                &format!("SELECT COUNT(*) FROM state_rows WHERE {ENROLLMENTS} AND {extra}"),
                [source],
                |r| r.get::<_, i64>(0),
            )? as u64)
        };
        let roster = count("part = 'roster' AND ?1 = ''", "")?;
        let mut sources = BTreeMap::new();
        for id in state.sources.keys() {
            sources.insert(id.clone(), count("part = 'sources' AND source = ?1", id)?);
        }
        state.enrollment_slice = Some(EnrollmentSlice {
            classes,
            roster,
            sources,
            facts: facts.clone(),
        });
        Ok(read)
    }

    /// Reads the enrolment rows matching `condition` into the state's rosters.
    fn enrollment_rows<const N: usize>(
        &self,
        state: &mut SyncState,
        condition: &str,
        values: [&str; N],
    ) -> Result<u64, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT part, source, id, body FROM state_rows WHERE {condition}"
        ))?;
        let mut rows = stmt.query(rusqlite::params_from_iter(values))?;
        let mut read = 0;
        while let Some(row) = rows.next()? {
            let part: String = row.get(0)?;
            let source: String = row.get(1)?;
            let id: String = row.get(2)?;
            let body: String = row.get(3)?;
            let enrollment: Enrollment = serde_json::from_str(&body)
                .map_err(|e| corrupt("unreadable enrolment", format!("{id}: {e}")))?;
            let roster = if part == "roster" {
                &mut state.roster
            } else {
                state.sources.entry(source).or_default()
            };
            roster.enrollments.insert(id, enrollment);
            read += 1;
        }
        Ok(read)
    }

    /// Reads the Classroom member and topic rows matching `condition` into the state.
    fn member_rows<const N: usize>(
        &self,
        state: &mut SyncState,
        condition: &str,
        values: [&str; N],
    ) -> Result<(), StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT tbl, id, body FROM state_rows WHERE {condition}"
        ))?;
        let mut rows = stmt.query(rusqlite::params_from_iter(values))?;
        let known = &mut state.classroom;
        while let Some(row) = rows.next()? {
            let table: String = row.get(0)?;
            let class: String = row.get(1)?;
            let body: String = row.get(2)?;
            let unreadable = |e: serde_json::Error| {
                corrupt(
                    "unreadable Classroom members",
                    format!("{table} of {class}: {e}"),
                )
            };
            match table.as_str() {
                "teachers" => {
                    let emails = serde_json::from_str(&body).map_err(unreadable)?;
                    known.teachers.insert(class, emails);
                }
                "students" => {
                    let emails = serde_json::from_str(&body).map_err(unreadable)?;
                    known.students.insert(class, emails);
                }
                _ => {
                    let topics = serde_json::from_str(&body).map_err(unreadable)?;
                    known.topics.insert(class, topics);
                }
            }
        }
        Ok(())
    }

    /// Adds to a run's ledger slice the lineItems of these Classroom courses and their
    /// results, read by parent. A whole ledger (no slice) is left as it is.
    pub fn add_ledger_slice<'a>(
        &self,
        exported: &mut ExportedGradebook,
        courses: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), StoreError> {
        let Some(slice) = exported.slice.as_mut() else {
            return Ok(());
        };
        for course in courses {
            if !slice.courses.insert(course.to_string()) {
                continue;
            }
            let line_items =
                self.ledger_rows("lineItems", Some(course), &mut exported.line_items)?;
            for line_item in line_items {
                self.ledger_rows("results", Some(&line_item), &mut exported.results)?;
            }
        }
        Ok(())
    }

    /// Reads the ledger rows of `tbl` whose parent is `parent` (`None`: those without one)
    /// into `into`; answers their ids.
    fn ledger_rows(
        &self,
        tbl: &str,
        parent: Option<&str>,
        into: &mut BTreeMap<String, ExportedRecord>,
    ) -> Result<Vec<String>, StoreError> {
        let sql = if parent.is_some() {
            "SELECT id, body FROM state_rows WHERE part = 'exported' AND tbl = ?1 AND json_extract(body, '$.parent') = ?2"
        } else {
            "SELECT id, body FROM state_rows WHERE part = 'exported' AND tbl = ?1 AND json_extract(body, '$.parent') IS NULL AND ?2 IS NULL"
        };
        let mut stmt = self.conn.prepare_cached(sql)?;
        let rows = stmt
            .query_map(params![tbl, parent], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let mut ids = Vec::with_capacity(rows.len());
        for (id, body) in rows {
            let record: ExportedRecord = serde_json::from_str(&body)
                .map_err(|e| corrupt("unreadable export ledger", format!("{tbl} {id}: {e}")))?;
            into.insert(id.clone(), record);
            ids.push(id);
        }
        Ok(ids)
    }

    /// The state from the rows matching an SQL condition.
    fn state_where(&self, condition: &str) -> Result<SyncState, StoreError> {
        let (version, revision) = self.state_revision()?;
        let mut stmt = self.conn.prepare(&format!(
            "SELECT part, source, tbl, id, body FROM state_rows WHERE {condition} ORDER BY part, source, tbl, id"
        ))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let mut typed = Vec::with_capacity(rows.len());
        for (part, source, table, id, body) in &rows {
            let part = StatePart::from_key(part).ok_or_else(|| {
                corrupt("unreadable engine state", format!("unknown part '{part}'"))
            })?;
            typed.push((
                part,
                source.as_str(),
                table.as_str(),
                id.as_str(),
                body.as_str(),
            ));
        }
        let text = StateChanges::nest(version, revision, typed);
        drop(rows);
        serde_json::from_str(&text).map_err(|e| corrupt("unreadable engine state", e))
    }

    /// The stored state's layout version and revision (1 and 0 before the first commit).
    pub fn state_revision(&self) -> Result<(u32, u64), StoreError> {
        let row: Option<(i64, i64)> = self
            .conn
            .query_row(
                "SELECT version, revision FROM state_meta WHERE id = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        Ok(row.map_or((STATE_VERSION, 0), |(v, r)| (v as u32, r as u64)))
    }

    /// The rows with these keys that the state has, for a commit (`cb_commit_needs` names
    /// them): a run reads what it touches, not the district.
    pub fn state_rows_for(&self, keys: &[RowKey]) -> Result<Vec<StateRow>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT body FROM state_rows WHERE part = ?1 AND source = ?2 AND tbl = ?3 AND id = ?4",
        )?;
        let mut rows = Vec::new();
        for RowKey(part, source, table, id) in keys {
            let body: Option<String> = stmt
                .query_row(params![part.key(), source, table, id], |r| r.get(0))
                .optional()?;
            if let Some(body) = body {
                let value =
                    JsonText::from_text(body).map_err(|e| corrupt("unreadable engine state", e))?;
                rows.push(StateRow(
                    *part,
                    source.clone(),
                    table.clone(),
                    id.clone(),
                    value,
                ));
            }
        }
        Ok(rows)
    }

    /// The names of these orgs in the merged roster as last accepted; ids it does not know
    /// are left out.
    pub fn org_names<'a>(
        &self,
        ids: impl IntoIterator<Item = &'a str>,
    ) -> Result<BTreeMap<String, String>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT json_extract(body, '$.name') FROM state_rows WHERE part = 'roster' AND source = '' AND tbl = 'orgs' AND id = ?1",
        )?;
        let mut names = BTreeMap::new();
        for id in ids {
            let name: Option<Option<String>> = stmt.query_row([id], |r| r.get(0)).optional()?;
            if let Some(Some(name)) = name {
                names.insert(id.to_string(), name);
            }
        }
        Ok(names)
    }

    /// Whether a table of the state has any row.
    pub fn has_state_rows(&self, part: StatePart, table: &str) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT 1 FROM state_rows WHERE part = ?1 AND tbl = ?2 LIMIT 1",
                params![part.key(), table],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    /// How many rows the state has, and their total size in bytes.
    pub fn state_size(&self) -> Result<(u64, u64), StoreError> {
        Ok(self.conn.query_row(
            "SELECT COUNT(*), COALESCE(SUM(length(body)), 0) FROM state_rows",
            [],
            |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
        )?)
    }

    /// Writes the rows a commit changed, onto the revision they were made from.
    fn put_changes(
        tx: &rusqlite::Transaction<'_>,
        changes: &StateChanges,
    ) -> Result<(), StoreError> {
        let stored: i64 = tx
            .query_row("SELECT revision FROM state_meta WHERE id = 1", [], |r| {
                r.get(0)
            })
            .optional()?
            .unwrap_or(0);
        if stored as u64 != changes.base_revision {
            return Err(corrupt(
                "engine state",
                format!(
                    "the changes were made from revision {} but the stored state is at {stored}",
                    changes.base_revision
                ),
            ));
        }
        for source in &changes.removed_sources {
            tx.execute(
                "DELETE FROM state_rows WHERE part = 'sources' AND source = ?1",
                params![source],
            )?;
        }
        let mut remove = tx.prepare_cached(
            "DELETE FROM state_rows WHERE part = ?1 AND source = ?2 AND tbl = ?3 AND id = ?4",
        )?;
        let mut upsert = tx.prepare_cached(
            "INSERT INTO state_rows (part, source, tbl, id, digest, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT(part, source, tbl, id) DO UPDATE SET digest = ?5, body = ?6",
        )?;
        for table in &changes.tables {
            let part = table.part.key();
            let source = table.source.as_deref().unwrap_or("");
            for id in &table.remove {
                remove.execute(params![part, source, table.table, id])?;
            }
            for (id, value) in &table.upsert {
                let body = value.json();
                upsert.execute(params![part, source, table.table, id, digest(body), body])?;
            }
        }
        tx.execute(
            "INSERT INTO state_meta (id, version, revision, updated_at) VALUES (1, ?1, ?2, ?3)
             ON CONFLICT(id) DO UPDATE SET version = ?1, revision = ?2, updated_at = ?3",
            params![changes.version, changes.revision as i64, now()],
        )?;
        Ok(())
    }

    /// A state kept as one document by an older version becomes rows, once.
    fn move_document_state_to_rows(&mut self) -> Result<(), StoreError> {
        let text: Option<String> = self
            .conn
            .query_row("SELECT state FROM engine_state WHERE id = 1", [], |r| {
                r.get(0)
            })
            .optional()?;
        let Some(text) = text else {
            return Ok(());
        };
        let state: SyncState =
            serde_json::from_str(&text).map_err(|e| corrupt("unreadable engine state", e))?;
        let changes =
            StateChanges::whole(&state).map_err(|e| corrupt("unreadable engine state", e))?;
        let tx = self.conn.transaction()?;
        tx.execute("DELETE FROM state_rows", [])?;
        tx.execute("DELETE FROM state_meta", [])?;
        Self::put_changes(&tx, &changes)?;
        tx.execute("DELETE FROM engine_state", [])?;
        tx.commit()?;
        tracing::info!(
            rows = changes.row_count(),
            "the engine state now lives as rows"
        );
        Ok(())
    }

    pub fn start_run(&mut self, trigger: &str) -> Result<i64, StoreError> {
        self.conn.execute(
            "INSERT INTO runs (started_at, trigger, status) VALUES (?1, ?2, 'planning')",
            params![now(), trigger],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Stores the engine input a run is planned from, as the JSON text the engine is given,
    /// so the console can plan from the same bytes. Stored before planning, so the host need
    /// not hold its copy while the engine runs.
    pub fn save_input<T: Serialize + ?Sized>(
        &mut self,
        run: i64,
        input: &T,
    ) -> Result<(), StoreError> {
        let stored = stored_doc::compress(input).map_err(|e| corrupt("unwritable input", e))?;
        self.conn.execute(
            "INSERT INTO run_inputs (run, body) VALUES (?1, ?2)
             ON CONFLICT(run) DO UPDATE SET body = ?2",
            params![run, stored],
        )?;
        Ok(())
    }

    /// Stores the run's plan and status (one transaction).
    pub fn save_plan(
        &mut self,
        run: i64,
        plan: &SyncPlan,
        status: RunStatus,
        message: Option<&str>,
    ) -> Result<(), StoreError> {
        let names = self.school_names(plan)?;
        let tx = self.conn.transaction()?;
        if status == RunStatus::Pending {
            // Only the newest pending plan can be approved; older ones are built on old data.
            tx.execute(
                "DELETE FROM run_inputs WHERE run IN (SELECT id FROM runs WHERE status = 'pending' AND id != ?1)",
                params![run],
            )?;
            tx.execute(
                "UPDATE runs SET status = 'superseded', finished_at = ?1 WHERE status = 'pending' AND id != ?2",
                params![now(), run],
            )?;
        }
        tx.execute(
            "UPDATE runs SET status = ?1, message = ?2, plan_id = ?3, base_revision = ?4, summary = ?5,
             finished_at = CASE WHEN ?1 IN ('pending','applying') THEN NULL ELSE ?6 END WHERE id = ?7",
            params![
                status.as_str(),
                message,
                plan.id,
                plan.state_delta.base_revision as i64,
                serde_json::to_string(&plan.summary).map_err(|e| corrupt("unreadable summary", e))?,
                now(),
                run
            ],
        )?;
        save_plan_body(&tx, run, plan)?;
        run_changes::write_index(&tx, run, plan, names)?;
        tx.commit()?;
        Ok(())
    }

    pub fn set_status(
        &mut self,
        run: i64,
        status: RunStatus,
        message: Option<&str>,
    ) -> Result<(), StoreError> {
        let finished = !matches!(
            status,
            RunStatus::Pending | RunStatus::Applying | RunStatus::Planning
        );
        // A finished run keeps its plan (what changed), not its input (what exists).
        let tx = self.conn.transaction()?;
        tx.execute(
            "UPDATE runs SET status = ?1, message = COALESCE(?2, message), finished_at = CASE WHEN ?3 THEN ?4 ELSE finished_at END
             WHERE id = ?5",
            params![status.as_str(), message, finished, now(), run],
        )?;
        if finished {
            tx.execute("DELETE FROM run_inputs WHERE run = ?1", params![run])?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Replaces the plan of a run (after approval) and marks it applying; an approval's
    /// decision is recorded in the same transaction. The operations' rows are kept as they
    /// were stored with the plan, less those the approval left out: `plan` may be one read
    /// for applying ([`Store::run_plan_to_apply`]), without explanations.
    pub fn begin_apply(
        &mut self,
        run: i64,
        plan: &SyncPlan,
        decision: Option<&Decision>,
    ) -> Result<(), StoreError> {
        let names = self.school_names(plan)?;
        let tx = self.conn.transaction()?;
        tx.execute(
            "UPDATE runs SET status = 'applying', finished_at = NULL WHERE id = ?1",
            params![run],
        )?;
        if run_changes::keep_ops(&tx, run, plan, names.clone())? {
            // The body is the one stored with the plan; only the approval is new.
            if let Some(approval) = &plan.approval {
                tx.execute(
                    "INSERT INTO run_approvals (run, approval) VALUES (?1, ?2)
                     ON CONFLICT(run) DO UPDATE SET approval = ?2",
                    params![
                        run,
                        serde_json::to_string(approval)
                            .map_err(|e| corrupt("unreadable approval", e))?
                    ],
                )?;
            }
        } else {
            save_plan_body(&tx, run, plan)?;
            run_changes::write_index(&tx, run, plan, names)?;
        }
        if let Some(d) = decision {
            tx.execute(
                "INSERT INTO decisions (run_id, decided_at, rejected, decided_by, left_out) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    run,
                    d.decided_at,
                    serde_json::to_string(&d.rejected).map_err(|e| corrupt("unreadable decision", e))?,
                    d.decided_by,
                    serde_json::to_string(&d.left_out).map_err(|e| corrupt("unreadable decision", e))?,
                ],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Written before the remote call.
    pub fn journal_intent(
        &self,
        run: i64,
        op_id: &str,
        key: &str,
        intent: &Value,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO journal (run_id, op_id, idempotency_key, intent, started_at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(run_id, op_id) DO UPDATE SET started_at = ?5, outcome = NULL, finished_at = NULL",
            params![run, op_id, key, intent.to_string(), now()],
        )?;
        Ok(())
    }

    /// Written after the remote call.
    pub fn journal_outcome(&self, run: i64, outcome: &OpOutcome) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE journal SET outcome = ?1, finished_at = ?2 WHERE run_id = ?3 AND op_id = ?4",
            params![
                serde_json::to_string(outcome).map_err(|e| corrupt("unreadable outcome", e))?,
                now(),
                run,
                outcome.op_id
            ],
        )?;
        Ok(())
    }

    /// Keeps the SIS record operation `op_id` of `run` replaced (read just before the write),
    /// for an undo.
    pub fn journal_prior(
        &self,
        run: i64,
        op_id: &str,
        prior: &classbridge_engine::undo::PriorRecord,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE journal SET prior = ?1 WHERE run_id = ?2 AND op_id = ?3",
            params![
                serde_json::to_string(prior).map_err(|e| corrupt("a prior record", e))?,
                run,
                op_id
            ],
        )?;
        Ok(())
    }

    /// The SIS records `run`'s writes replaced, by operation id (writes whose prior value
    /// could not be read are left out).
    pub fn journal_priors(
        &self,
        run: i64,
    ) -> Result<BTreeMap<String, classbridge_engine::undo::PriorRecord>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT op_id, prior FROM journal WHERE run_id = ?1 AND prior IS NOT NULL")?;
        let rows = stmt.query_map(params![run], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?;
        let mut out = BTreeMap::new();
        for row in rows {
            let (op_id, prior) = row?;
            out.insert(
                op_id,
                serde_json::from_str(&prior).map_err(|e| corrupt("a prior record", e))?,
            );
        }
        Ok(out)
    }

    /// The outcomes recorded for these operations of `run` (those with none are left out).
    pub fn outcomes_for(
        &self,
        run: i64,
        op_ids: &[&str],
    ) -> Result<std::collections::HashMap<String, OpOutcome>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT outcome FROM journal WHERE run_id = ?1 AND op_id = ?2")?;
        let mut out = std::collections::HashMap::new();
        for id in op_ids {
            let outcome: Option<Option<String>> =
                stmt.query_row(params![run, id], |r| r.get(0)).optional()?;
            if let Some(Some(text)) = outcome {
                let outcome: OpOutcome = serde_json::from_str(&text)
                    .map_err(|e| corrupt("unreadable journal outcome", e))?;
                out.insert((*id).to_string(), outcome);
            }
        }
        Ok(out)
    }

    pub fn journal(&self, run: i64) -> Result<Vec<JournalRow>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT op_id, idempotency_key, intent, outcome FROM journal WHERE run_id = ?1 ORDER BY started_at, op_id",
        )?;
        let rows = stmt.query_map(params![run], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (op_id, key, intent, outcome) = row?;
            out.push(JournalRow {
                op_id,
                key,
                intent: serde_json::from_str(&intent)
                    .map_err(|e| corrupt("unreadable journal intent", e))?,
                outcome: outcome
                    .map(|o| serde_json::from_str(&o))
                    .transpose()
                    .map_err(|e| corrupt("unreadable journal outcome", e))?,
            });
        }
        Ok(out)
    }

    /// The state after the run, and the run's end, in one transaction.
    pub fn finish_apply(
        &mut self,
        run: i64,
        changes: &StateChanges,
        status: RunStatus,
        counts: &Value,
        message: Option<&str>,
        source_reads: &[SourceRead],
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        Self::put_changes(&tx, changes)?;
        // The state now is what this run's plan made: its date and rules go with it, and
        // whether it left operations unapplied (rejected by an approval, or not attempted
        // when the run stopped): those are planned again wherever their class is, so the
        // next run needs every enrolment.
        let not_attempted = counts["notAttempted"].as_u64().unwrap_or(0) > 0;
        tx.execute(
            "UPDATE state_meta SET planned_on = (SELECT planned_on FROM runs WHERE id = ?1),
             config_digest = (SELECT config_digest FROM runs WHERE id = ?1),
             left_out = ?2 OR EXISTS (SELECT 1 FROM decisions WHERE run_id = ?1 AND left_out NOT IN ('', '[]'))
             WHERE id = 1",
            params![run, not_attempted],
        )?;
        for read in source_reads {
            let full_at = read.full.then_some(read.read_at.as_str());
            tx.execute(
                "INSERT INTO source_cursors (source_id, read_at, full_read_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT(source_id) DO UPDATE SET read_at = ?2, full_read_at = COALESCE(?3, full_read_at)",
                params![read.source_id, read.read_at, full_at],
            )?;
        }
        let classroom_read: Option<String> = tx
            .query_row(
                "SELECT classroom_read FROM runs WHERE id = ?1",
                params![run],
                |r| r.get(0),
            )
            .optional()?
            .flatten();
        if let Some(text) = classroom_read {
            let read =
                serde_json::from_str(&text).map_err(|e| corrupt("unreadable Classroom read", e))?;
            change_feed::record_read(&tx, &read)?;
        }
        tx.execute(
            "UPDATE runs SET status = ?1, outcome_counts = ?2, message = COALESCE(?3, message), finished_at = ?4 WHERE id = ?5",
            params![status.as_str(), counts.to_string(), message, now(), run],
        )?;
        tx.execute("DELETE FROM run_inputs WHERE run = ?1", params![run])?;
        tx.commit()?;
        Ok(())
    }

    pub fn source_cursor(&self, source: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT read_at FROM source_cursors WHERE source_id = ?1",
                params![source],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// When the source was last read in full by a committed run.
    pub fn source_full_read(&self, source: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT full_read_at FROM source_cursors WHERE source_id = ?1",
                params![source],
                |r| r.get(0),
            )
            .optional()?
            .flatten())
    }

    /// Records what a run read of each source, for its commit (which may come at approval).
    pub fn save_source_reads(&self, run: i64, reads: &[SourceRead]) -> Result<(), StoreError> {
        let text =
            serde_json::to_string(reads).map_err(|e| corrupt("unreadable source reads", e))?;
        self.conn.execute(
            "UPDATE runs SET source_reads = ?1 WHERE id = ?2",
            params![text, run],
        )?;
        Ok(())
    }

    /// What a run read of each source (empty for a run stored before this was recorded).
    pub fn source_reads(&self, run: i64) -> Result<Vec<SourceRead>, StoreError> {
        let text: Option<String> = self
            .conn
            .query_row(
                "SELECT source_reads FROM runs WHERE id = ?1",
                params![run],
                |r| r.get(0),
            )
            .optional()?
            .flatten();
        match text {
            Some(t) => serde_json::from_str(&t).map_err(|e| corrupt("unreadable source reads", e)),
            None => Ok(Vec::new()),
        }
    }

    fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RunRow> {
        let json = |s: Option<String>| s.and_then(|t| serde_json::from_str(&t).ok());
        Ok(RunRow {
            id: r.get(0)?,
            started_at: r.get(1)?,
            finished_at: r.get(2)?,
            trigger: r.get(3)?,
            status: RunStatus::parse(&r.get::<_, String>(4)?),
            message: r.get(5)?,
            plan_id: r.get(6)?,
            summary: json(r.get(7)?),
            outcome_counts: json(r.get(8)?),
        })
    }

    const RUN_COLUMNS: &'static str =
        "id, started_at, finished_at, trigger, status, message, plan_id, summary, outcome_counts";

    pub fn runs(&self, limit: usize) -> Result<Vec<RunRow>, StoreError> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {} FROM runs ORDER BY id DESC LIMIT ?1",
            Self::RUN_COLUMNS
        ))?;
        let rows = stmt.query_map(params![limit as i64], Self::row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn run(&self, id: i64) -> Result<RunRow, StoreError> {
        self.conn
            .query_row(
                &format!("SELECT {} FROM runs WHERE id = ?1", Self::RUN_COLUMNS),
                params![id],
                Self::row,
            )
            .optional()?
            .ok_or(StoreError::NoSuchRun(id))
    }

    /// Run `id`'s plan: its stored body, its approval and, in order, its operations.
    pub fn run_plan(&self, id: i64) -> Result<Option<SyncPlan>, StoreError> {
        let Some((body, approval)) = self.run_plan_row(id)? else {
            return Ok(None);
        };
        let mut plan: SyncPlan = body
            .parse()
            .map_err(|source| StoreError::UnreadablePlan { run: id, source })?;
        drop(body);
        Self::lay_approval(id, &mut plan, approval)?;
        // Plans stored before the operations moved out still carry them.
        if plan.ops.is_empty() {
            plan.ops = self.run_ops_all(id)?;
        }
        Ok(Some(plan))
    }

    /// Run `id`'s plan as applying and committing it need it: without its roster changes
    /// and skipped records (the console's, read from the stored body), and each operation
    /// without its explanation and before/after values (read from `run_ops`). A district's
    /// first plan carries a change for every record; a grade export, 330,000 explanations.
    pub fn run_plan_to_apply(&self, id: i64) -> Result<Option<SyncPlan>, StoreError> {
        let Some((body, approval)) = self.run_plan_row(id)? else {
            return Ok(None);
        };
        let mut plan = body
            .parse::<PlanToApply>()
            .map(PlanToApply::into_plan)
            .map_err(|source| StoreError::UnreadablePlan { run: id, source })?;
        drop(body);
        Self::lay_approval(id, &mut plan, approval)?;
        if plan.ops.is_empty() {
            plan.ops = self.run_ops_to_apply(id)?;
        } else {
            plan.ops.iter_mut().for_each(to_apply);
        }
        Ok(Some(plan))
    }

    /// The approval kept beside a plan's body (see migrations 15, 16), laid on the plan read
    /// from it.
    fn lay_approval(
        id: i64,
        plan: &mut SyncPlan,
        approval: Option<String>,
    ) -> Result<(), StoreError> {
        if let Some(text) = approval {
            plan.approval = Some(
                serde_json::from_str(&text)
                    .map_err(|source| StoreError::UnreadablePlan { run: id, source })?,
            );
        }
        Ok(())
    }

    /// Run `id`'s plan body and the approval kept beside it; `None` when it keeps no plan.
    fn run_plan_row(&self, id: i64) -> Result<Option<(StoredDoc, Option<String>)>, StoreError> {
        let row: Option<Option<(StoredDoc, Option<String>)>> = self
            .conn
            .query_row(
                "SELECT p.body, a.approval FROM runs LEFT JOIN run_plans p ON p.run = runs.id
                 LEFT JOIN run_approvals a ON a.run = runs.id WHERE runs.id = ?1",
                params![id],
                |r| {
                    let body: Option<StoredDoc> = r.get(0)?;
                    let approval: Option<String> = r.get(1)?;
                    Ok(body.map(|b| (b, approval)))
                },
            )
            .optional()?;
        row.ok_or(StoreError::NoSuchRun(id))
    }

    /// Run `id`'s stored plan body as text: the plan without its operations (in `run_ops`)
    /// or a later approval (kept beside it); [`Store::run_plan`] puts both back.
    pub fn run_plan_text(&self, id: i64) -> Result<Option<String>, StoreError> {
        self.run_plan_row(id)?
            .map(|(body, _)| body.into_text())
            .transpose()
            .map_err(|e| corrupt("unreadable plan", e))
    }

    /// The stored input as the engine was given it.
    pub fn run_input_text(&self, id: i64) -> Result<Option<String>, StoreError> {
        self.run_input_doc(id)?
            .map(StoredDoc::into_text)
            .transpose()
            .map_err(|e| corrupt("unreadable input", e))
    }

    /// The stored input, parsed as `T` (a `SyncInput` to plan again, a `Value` to look at).
    pub fn run_input<T: serde::de::DeserializeOwned>(
        &self,
        id: i64,
    ) -> Result<Option<T>, StoreError> {
        self.run_input_doc(id)?
            .map(|d| {
                d.parse()
                    .map_err(|source| StoreError::UnreadableInput { run: id, source })
            })
            .transpose()
    }

    fn run_input_doc(&self, id: i64) -> Result<Option<StoredDoc>, StoreError> {
        let doc: Option<Option<StoredDoc>> = self
            .conn
            .query_row(
                "SELECT (SELECT body FROM run_inputs WHERE run = runs.id) FROM runs WHERE id = ?1",
                params![id],
                |r| r.get(0),
            )
            .optional()?;
        doc.ok_or(StoreError::NoSuchRun(id))
    }

    pub fn runs_with_status(&self, status: RunStatus) -> Result<Vec<i64>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT id FROM runs WHERE status = ?1 ORDER BY id")?;
        let rows = stmt.query_map(params![status.as_str()], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Retention: a run's input and plan (the bulk of the database: a copy of the district)
    /// are kept for the newest `keep` runs that have them, and never for a run that changed
    /// nothing. Summaries, counts, decisions and the journal are kept for good. A pending or
    /// applying run always keeps its plan. Returns how many runs were thinned.
    pub fn prune(&mut self, keep: usize) -> Result<usize, StoreError> {
        let tx = self.conn.transaction()?;
        tx.execute_batch(
            "CREATE TEMP TABLE IF NOT EXISTS thinned (id INTEGER PRIMARY KEY); DELETE FROM thinned;",
        )?;
        tx.execute(
            "WITH kept_data AS (SELECT run AS id FROM run_inputs UNION SELECT run FROM run_plans)
             INSERT INTO thinned (id)
             SELECT id FROM runs
             WHERE id IN kept_data
               AND status NOT IN ('pending', 'applying', 'planning')
               AND (status = 'noChanges' OR id NOT IN (
                    SELECT id FROM runs WHERE id IN kept_data
                      AND status NOT IN ('noChanges', 'pending', 'applying', 'planning')
                    ORDER BY id DESC LIMIT ?1))",
            params![keep as i64],
        )?;
        let n = tx.query_row("SELECT COUNT(*) FROM thinned", [], |r| r.get::<_, i64>(0))? as usize;
        tx.execute_batch(
            "DELETE FROM run_inputs WHERE run IN (SELECT id FROM thinned);
             DELETE FROM run_plans WHERE run IN (SELECT id FROM thinned);
             DELETE FROM run_approvals WHERE run IN (SELECT id FROM thinned);
             DELETE FROM run_ops WHERE run IN (SELECT id FROM thinned);
             DELETE FROM run_skips WHERE run IN (SELECT id FROM thinned);
             UPDATE runs SET outline = NULL WHERE id IN (SELECT id FROM thinned);
             DELETE FROM thinned;",
        )?;
        tx.commit()?;
        Ok(n)
    }

    /// Closes runs a stopped process left in `planning` (call only while holding the run lock,
    /// so none of them is live).
    pub fn close_abandoned_planning(&mut self) -> Result<usize, StoreError> {
        Ok(self.conn.execute(
            "UPDATE runs SET status = 'failed', finished_at = ?1,
             message = 'the process planning this run stopped before it finished; nothing was applied'
             WHERE status = 'planning'",
            params![now()],
        )?)
    }

    /// The digest recorded for a compiled engine artefact.
    pub fn engine_digest(&self, file: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT sha256 FROM compiled_engine WHERE file = ?1",
                params![file],
                |r| r.get(0),
            )
            .optional()?)
    }

    pub fn set_engine_digest(&self, file: &str, sha256: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO compiled_engine (file, sha256, written_at) VALUES (?1, ?2, ?3)
             ON CONFLICT(file) DO UPDATE SET sha256 = ?2, written_at = ?3",
            params![file, sha256, now()],
        )?;
        Ok(())
    }

    /// The decision an admin made on a run, if any.
    pub fn decision(&self, run: i64) -> Result<Option<Decision>, StoreError> {
        let row: Option<(String, String, String, String)> = self
            .conn
            .query_row(
                "SELECT decided_at, decided_by, rejected, left_out FROM decisions WHERE run_id = ?1 ORDER BY rowid DESC LIMIT 1",
                params![run],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        row.map(|(decided_at, decided_by, rejected, left_out)| {
            Ok(Decision {
                decided_at,
                decided_by,
                rejected: serde_json::from_str(&rejected)
                    .map_err(|e| corrupt("unreadable decision", e))?,
                left_out: serde_json::from_str(&left_out)
                    .map_err(|e| corrupt("unreadable decision", e))?,
            })
        })
        .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A delta run asks for the classes of the enrolments that changed, one by one: each
    /// must be a lookup by the row's whole key, not a scan of every row of its part (a
    /// district has millions; L's 16,000 dropped enrolments took hours that way).
    #[test]
    fn an_enrolment_is_found_by_its_whole_key() {
        let dir = tempfile_dir("key");
        let store = Store::open(&dir.path().join("s.db")).unwrap();
        let plan: Vec<String> = store
            .conn
            .prepare(&format!("EXPLAIN QUERY PLAN {ENROLLMENT_CLASS_BY_ID}"))
            .unwrap()
            .query_map(params!["sources", "sis", "e1"], |r| r.get(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            plan,
            ["SEARCH state_rows USING PRIMARY KEY (part=? AND source=? AND tbl=? AND id=?)"]
        );
    }

    /// A delta run reads Classroom's members and topics of the classes it plans, and the
    /// triggers keep each person's count of classes, which the engine cannot count from a
    /// slice, equal to a count from scratch through inserts, updates, upserts and deletes.
    #[test]
    fn classroom_members_are_read_by_class_and_counted_for_the_class_limit() {
        use classbridge_engine::needs::EnrollmentAsk;
        use classbridge_engine::state::AppliedTopic;
        let dir = tempfile_dir("members");
        let path = dir.path().join("s.db");
        let emails = |list: &[&str]| list.iter().map(|e| (*e).to_string()).collect();
        let mut state = SyncState {
            revision: 3,
            ..SyncState::default()
        };
        let known = &mut state.classroom;
        known.teachers.insert("cl1".into(), emails(&["t@x.org"]));
        known.teachers.insert("cl2".into(), emails(&["t@x.org"]));
        known
            .students
            .insert("cl1".into(), emails(&["a@x.org", "b@x.org"]));
        known.students.insert("cl2".into(), emails(&["a@x.org"]));
        known.students.insert("cl3".into(), emails(&["a@x.org"]));
        let topic = AppliedTopic {
            topic_id: Some("77".into()),
            name: "Homework".into(),
        };
        known
            .topics
            .insert("cl1".into(), BTreeMap::from([("cat".into(), topic)]));
        let store = open_with_document_state(&path, &state);
        let counts = |store: &Store, sql: &str| -> BTreeMap<String, i64> {
            let mut stmt = store.conn.prepare(sql).unwrap();
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
        };
        // What the triggers keep, and the same counted from scratch.
        let counted = |store: &Store| counts(store, "SELECT email, classes FROM classroom_joins");
        let recounted = |store: &Store| {
            counts(
                store,
                "SELECT j.value, COUNT(*) FROM state_rows AS s, json_each(s.body) AS j WHERE s.part = 'classroom' AND s.tbl IN ('teachers', 'students') GROUP BY j.value",
            )
        };
        let names = |set: BTreeSet<String>| set.into_iter().collect::<Vec<_>>();
        assert_eq!(counted(&store)["a@x.org"], 3);
        assert_eq!(counted(&store), recounted(&store));
        assert_eq!(names(store.people_at_class_limit(3).unwrap()), ["a@x.org"]);
        assert_eq!(
            names(store.people_at_class_limit(2).unwrap()),
            ["a@x.org", "t@x.org"]
        );

        // A run's state leaves the members out; a slice reads those of its classes, whole.
        let mut run = store.state_for_run().unwrap();
        assert!(run.classroom.teachers.is_empty() && run.classroom.students.is_empty());
        assert!(run.classroom.topics.is_empty());
        let ask = EnrollmentAsk {
            classes: BTreeSet::from(["cl1".to_string()]),
            ..EnrollmentAsk::default()
        };
        store
            .add_enrollments(
                &mut run,
                &EnrollmentNeeds::Slice(ask),
                &NeedsFacts::default(),
            )
            .unwrap();
        let keys = |m: &BTreeMap<String, BTreeSet<String>>| m.keys().cloned().collect::<Vec<_>>();
        assert_eq!(keys(&run.classroom.teachers), ["cl1"]);
        assert_eq!(keys(&run.classroom.students), ["cl1"]);
        assert_eq!(
            run.classroom.students["cl1"],
            state.classroom.students["cl1"]
        );
        assert_eq!(run.classroom.topics, state.classroom.topics);
        // Every class when the engine asks for every enrolment.
        let mut all = store.state_for_run().unwrap();
        let every = EnrollmentNeeds::All {
            reason: "test".into(),
        };
        store
            .add_enrollments(&mut all, &every, &NeedsFacts::default())
            .unwrap();
        assert_eq!(all.classroom, state.classroom);

        // The counts follow every kind of write a commit makes.
        let upsert = "INSERT INTO state_rows (part, source, tbl, id, digest, body) VALUES ('classroom', '', ?1, ?2, 'd', ?3)
             ON CONFLICT(part, source, tbl, id) DO UPDATE SET digest = 'd', body = ?3";
        let writes: [(&str, &str, Option<&str>); 5] = [
            ("students", "cl2", Some(r#"["b@x.org","c@x.org"]"#)),
            ("students", "cl4", Some(r#"["a@x.org"]"#)),
            ("students", "cl3", None),
            ("teachers", "cl2", None),
            ("topics", "cl1", Some(r#"{"cat":{"name":"Quizzes"}}"#)),
        ];
        for (table, class, body) in writes {
            match body {
                Some(body) => store.conn.execute(upsert, params![table, class, body]),
                None => store.conn.execute(
                    "DELETE FROM state_rows WHERE part = 'classroom' AND source = '' AND tbl = ?1 AND id = ?2",
                    params![table, class],
                ),
            }
            .unwrap();
            assert_eq!(counted(&store), recounted(&store), "after {table} {class}");
        }
        assert_eq!(
            counted(&store),
            BTreeMap::from([
                ("a@x.org".to_string(), 2),
                ("b@x.org".to_string(), 2),
                ("c@x.org".to_string(), 1),
                ("t@x.org".to_string(), 1),
            ])
        );
    }

    #[test]
    fn migrations_run_once_and_state_round_trips() {
        let dir = tempfile_dir("state");
        let path = dir.path().join("s.db");
        let _ = std::fs::remove_file(&path);
        let mut store = Store::open(&path).unwrap();
        assert_eq!(store.state().unwrap(), SyncState::default());
        let run = store.start_run("test").unwrap();
        let state = SyncState {
            revision: 7,
            ..SyncState::default()
        };
        let state = StateChanges::between(&SyncState::default(), &state).unwrap();
        store
            .finish_apply(
                run,
                &state,
                RunStatus::Applied,
                &Value::Null,
                None,
                &[SourceRead {
                    source_id: "sis".into(),
                    read_at: "2026-01-01T00:00:00Z".into(),
                    full: true,
                }],
            )
            .unwrap();
        let run = store.start_run("test").unwrap();
        let idle = StateChanges {
            version: STATE_VERSION,
            base_revision: 7,
            revision: 8,
            ..StateChanges::default()
        };
        assert!(
            store
                .finish_apply(run, &state, RunStatus::Applied, &Value::Null, None, &[])
                .is_err(),
            "changes made from another revision are refused"
        );
        store
            .finish_apply(
                run,
                &idle,
                RunStatus::Applied,
                &Value::Null,
                None,
                &[SourceRead {
                    source_id: "sis".into(),
                    read_at: "2026-01-02T00:00:00Z".into(),
                    full: false,
                }],
            )
            .unwrap();
        drop(store);
        let store = Store::open(&path).unwrap();
        assert_eq!(store.state().unwrap().revision, 8);
        assert_eq!(store.run(run).unwrap().status, RunStatus::Applied);
        assert_eq!(
            store.source_cursor("sis").unwrap().as_deref(),
            Some("2026-01-02T00:00:00Z"),
            "a delta read moves the cursor"
        );
        assert_eq!(
            store.source_full_read("sis").unwrap().as_deref(),
            Some("2026-01-01T00:00:00Z"),
            "only a full read restarts the full-read cadence"
        );
        assert!(matches!(store.run(99), Err(StoreError::NoSuchRun(99))));
    }

    #[test]
    fn a_run_reads_the_export_ledger_of_the_courses_it_reads() {
        let dir = tempfile_dir("ledger");
        let path = dir.path().join("s.db");
        let record = |parent: Option<&str>| ExportedRecord {
            source_id: "sis".into(),
            parent: parent.map(Into::into),
            digest: "d".into(),
        };
        let mut state = SyncState {
            revision: 2,
            ..SyncState::default()
        };
        let exported = &mut state.exported;
        exported
            .line_items
            .insert("li-a".into(), record(Some("5001")));
        exported
            .line_items
            .insert("li-b".into(), record(Some("6001")));
        exported.line_items.insert("li-old".into(), record(None));
        exported.results.insert("r-a1".into(), record(Some("li-a")));
        exported.results.insert("r-a2".into(), record(Some("li-a")));
        exported.results.insert("r-b1".into(), record(Some("li-b")));
        exported
            .results
            .insert("r-old".into(), record(Some("li-old")));
        exported.results.insert("r-orphan".into(), record(None));
        exported.categories.insert("cat".into(), record(None));
        let store = open_with_document_state(&path, &state);
        let keys = |m: &BTreeMap<String, ExportedRecord>| m.keys().cloned().collect::<Vec<_>>();

        let mut run = store.state_for_run().unwrap();
        assert_eq!(keys(&run.exported.line_items), ["li-old"]);
        assert_eq!(keys(&run.exported.results), ["r-old", "r-orphan"]);
        assert_eq!(keys(&run.exported.categories), ["cat"]);
        assert_eq!(run.exported.totals(), (3, 5), "the whole ledger's sizes");

        store
            .add_ledger_slice(&mut run.exported, ["5001", "5001"])
            .unwrap();
        assert_eq!(keys(&run.exported.line_items), ["li-a", "li-old"]);
        assert_eq!(
            keys(&run.exported.results),
            ["r-a1", "r-a2", "r-old", "r-orphan"]
        );
        assert!(run.exported.covers_course("5001") && !run.exported.covers_course("6001"));

        // Every course read: the whole ledger.
        store.add_ledger_slice(&mut run.exported, ["6001"]).unwrap();
        run.exported.slice = None;
        assert_eq!(run, store.state().unwrap());

        // Read by parent through the index, not by scanning the district's results.
        let plan: String = store
            .conn
            .query_row(
                "EXPLAIN QUERY PLAN SELECT id, body FROM state_rows WHERE part = 'exported' AND tbl = 'results' AND json_extract(body, '$.parent') = 'li-a'",
                [],
                |r| r.get(3),
            )
            .unwrap();
        assert!(plan.contains("state_rows_ledger_parent"), "{plan}");
    }

    #[cfg(unix)]
    #[test]
    fn a_state_kept_as_one_document_moves_into_rows_and_reads_back_the_same() {
        use classbridge_engine::state::{AppliedCourse, OpFailure};
        let dir = tempfile_dir("rows");
        let path = dir.path().join("s.db");
        let mut state = SyncState {
            revision: 3,
            ..SyncState::default()
        };
        state.classroom.courses.insert(
            "cl1".into(),
            AppliedCourse {
                alias: "d:cl1".into(),
                course_id: Some("5001".into()),
                name: "Algebra \"I\", P1".into(),
                owner: "ada@district.org".into(),
                course_state: "ACTIVE".into(),
                ..AppliedCourse::default()
            },
        );
        state.classroom.students.insert(
            "cl1".into(),
            ["a@s.org".to_string(), "b@s.org".to_string()].into(),
        );
        state.failures.insert(
            "student.add:d:cl1:c@s.org".into(),
            OpFailure {
                error: "503".into(),
                attempts: 2,
                last_plan: "p1".into(),
            },
        );
        // And a district's roster and sources, as a first sync of the fixture leaves them.
        let input: classbridge_engine::SyncInput =
            serde_json::from_str(include_str!("../../tests/fixtures/district-day1.json")).unwrap();
        let plan = classbridge_engine::plan(input).unwrap();
        let synced = classbridge_engine::commit(&SyncState::default(), &plan, &[]).unwrap();
        state.sources = synced.sources;
        state.roster = synced.roster;
        let store = open_with_document_state(&path, &state);
        assert_eq!(store.state().unwrap(), state);
        let left: i64 = store
            .conn
            .query_row("SELECT COUNT(*) FROM engine_state", [], |r| r.get(0))
            .unwrap();
        assert_eq!(left, 0, "the document is gone");
        let (rows, _) = store.state_size().unwrap();
        let expected = StateChanges::whole(&state).unwrap().row_count() as u64;
        assert!(rows > 40, "{rows} rows");
        assert_eq!(rows, expected, "one row per entry of every table");
        // A commit reads only the rows it names; one the state lacks is simply not there.
        let named = [
            RowKey(
                StatePart::Classroom,
                String::new(),
                "courses".into(),
                "cl1".into(),
            ),
            RowKey(
                StatePart::Classroom,
                String::new(),
                "courses".into(),
                "cl9".into(),
            ),
            RowKey(
                StatePart::Failures,
                String::new(),
                "failures".into(),
                "student.add:d:cl1:c@s.org".into(),
            ),
        ];
        let got = store.state_rows_for(&named).unwrap();
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[0].3, "cl1");
        assert!(got[0].4.json().contains("5001"));
        assert!(
            store
                .has_state_rows(StatePart::Classroom, "courses")
                .unwrap()
        );
        assert!(
            !store
                .has_state_rows(StatePart::Classroom, "topics")
                .unwrap()
        );
    }

    #[test]
    fn the_database_and_its_side_files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile_dir("perm");
        let path = dir.path().join("s.db");
        let mut store = Store::open(&path).unwrap();
        store.start_run("t").unwrap();
        for name in ["s.db", "s.db-wal", "s.db-shm"] {
            let mode = std::fs::metadata(dir.path().join(name))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{name}");
        }
        // An old world-readable database is made private when opened.
        drop(store);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let _store = Store::open(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn finished_runs_drop_their_inputs_and_keep_their_history() {
        let mut store = Store::in_memory().unwrap();
        let mut ids = Vec::new();
        for i in 0..6 {
            let run = store.start_run("t").unwrap();
            store
                .save_input(run, &serde_json::json!({"big": 1}))
                .unwrap();
            let status = if i % 2 == 0 {
                RunStatus::NoChanges
            } else {
                RunStatus::Applied
            };
            store.set_status(run, status, Some("done")).unwrap();
            ids.push(run);
        }
        let pending = store.start_run("t").unwrap();
        store.save_input(pending, &serde_json::json!({})).unwrap();
        store.set_status(pending, RunStatus::Pending, None).unwrap();
        store.prune(2).unwrap();
        let kept: Vec<i64> = ids
            .iter()
            .copied()
            .filter(|&id| store.run_input::<Value>(id).unwrap().is_some())
            .collect();
        assert_eq!(kept, Vec::<i64>::new(), "a finished run keeps no input");
        assert!(
            store.run_input::<Value>(pending).unwrap().is_some(),
            "a pending run keeps its input"
        );
        assert_eq!(
            store.runs(100).unwrap().len(),
            7,
            "every run stays in the history"
        );
        assert_eq!(store.run(ids[0]).unwrap().message.as_deref(), Some("done"));
    }

    #[test]
    fn a_run_s_input_and_plan_body_are_stored_compressed_and_read_back_whole() {
        let mut store = Store::in_memory().unwrap();
        let run = store.start_run("t").unwrap();
        let input = serde_json::json!({"pages": vec!["{\"users\":[{\"sourcedId\":\"u1\"}]}"; 200]});
        store.save_input(run, &input).unwrap();
        let plan = plan_body::tests::full_plan();
        store
            .save_plan(run, &plan, RunStatus::Pending, None)
            .unwrap();
        let (input_type, input_bytes, plan_type): (String, i64, String) = store
            .conn
            .query_row(
                "SELECT typeof(i.body), length(i.body), typeof(p.body) FROM run_inputs i JOIN run_plans p ON p.run = i.run WHERE i.run = ?1",
                [run],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!((input_type.as_str(), plan_type.as_str()), ("blob", "blob"));
        let text = store.run_input_text(run).unwrap().unwrap();
        assert_eq!(text, input.to_string());
        assert!(
            input_bytes * 10 < text.len() as i64,
            "{input_bytes} of {}",
            text.len()
        );
        assert_eq!(store.run_input::<Value>(run).unwrap(), Some(input));
        let read = store.run_plan(run).unwrap().unwrap();
        assert_eq!(
            (&read.roster_changes, &read.ops),
            (&plan.roster_changes, &plan.ops)
        );
        assert_eq!(read.state_delta, plan.state_delta);
        let to_apply = store.run_plan_to_apply(run).unwrap().unwrap();
        assert!(to_apply.roster_changes.is_empty() && to_apply.skipped_records.is_empty());
        assert_eq!(to_apply.state_delta, plan.state_delta);
        let body: Value =
            serde_json::from_str(&store.run_plan_text(run).unwrap().unwrap()).unwrap();
        assert_eq!(body["stateDelta"]["baseRevision"], 3, "{body}");
    }

    #[test]
    fn an_input_over_sqlite_s_length_limit_as_text_is_stored_compressed() {
        // L's full-read input passed SQLite's 1 GB limit as text ("string or blob too big"
        // ended the run); here the limit is lowered to the same effect.
        let mut store = Store::in_memory().unwrap();
        store
            .conn
            .set_limit(rusqlite::limits::Limit::SQLITE_LIMIT_LENGTH, 64 << 10)
            .unwrap();
        let run = store.start_run("t").unwrap();
        let pages: Vec<String> = (0..4_000)
            .map(|i| format!("{{\"users\":[{{\"sourcedId\":\"u{i}\",\"status\":\"active\"}}]}}"))
            .collect();
        let input = serde_json::json!({ "pages": pages });
        assert!(input.to_string().len() > 64 << 10);
        assert!(
            store
                .conn
                .execute(
                    "INSERT INTO run_inputs (run, body) VALUES (?1, ?2)",
                    params![run, input.to_string()],
                )
                .is_err(),
            "the text alone is over the limit"
        );
        store.save_input(run, &input).unwrap();
        assert_eq!(store.run_input::<Value>(run).unwrap(), Some(input));
    }

    /// A database as migration `version` left it.
    fn database_at(version: usize) -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        for sql in &MIGRATIONS[..version] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", version as i64)
            .unwrap();
        conn
    }

    fn columns(store: &Store, table: &str) -> Vec<String> {
        store
            .conn
            .prepare("SELECT name FROM pragma_table_info(?1)")
            .unwrap()
            .query_map([table], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn an_approval_kept_beside_its_plan_body_moves_to_its_own_table() {
        // A database as version 15 left it: the approval in the plan's row.
        let conn = database_at(15);
        let plan =
            serde_json::to_string(&plan_body::PlanBody(&plan_body::tests::full_plan())).unwrap();
        conn.execute(
            "INSERT INTO runs (started_at, trigger, status, summary) VALUES ('2026-12-01T00:00:00Z', 'test', 'applying', '{}')",
            [],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO run_plans (run, body, approval) VALUES (1, ?1, '{\"rejected\":[\"z\"],\"droppedDependants\":[]}')",
            [plan],
        )
        .unwrap();
        let store = Store::init(conn).unwrap();
        let approval = store.run_plan(1).unwrap().unwrap().approval.unwrap();
        assert_eq!(approval.rejected, vec!["z".to_string()]);
        assert_eq!(columns(&store, "run_plans"), ["run", "body"]);
    }

    #[test]
    fn a_run_s_input_and_plan_move_out_of_its_row() {
        // A database as version 9 left it: the input and plan in the runs row.
        let conn = database_at(9);
        conn.execute(
            "INSERT INTO runs (started_at, trigger, status, input, plan, summary)
             VALUES ('2026-12-01T00:00:00Z', 'test', 'pending', '{\"i\":1}', '{\"p\":1}', '{}')",
            [],
        )
        .unwrap();
        let store = Store::init(conn).unwrap();
        assert_eq!(
            store.run_input_text(1).unwrap().as_deref(),
            Some("{\"i\":1}")
        );
        assert_eq!(
            store.run_plan_text(1).unwrap().as_deref(),
            Some("{\"p\":1}")
        );
        let columns = columns(&store, "runs");
        assert!(
            !columns.iter().any(|c| c == "input" || c == "plan"),
            "{columns:?}"
        );
        assert!(matches!(
            store.run_plan_text(2),
            Err(StoreError::NoSuchRun(2))
        ));
    }

    /// A database whose state an older version kept as one document (`engine_state`),
    /// opened again: the open moves it into rows.
    fn open_with_document_state(path: &Path, state: &SyncState) -> Store {
        {
            let store = Store::open(path).unwrap();
            store
                .conn
                .execute(
                    "INSERT INTO engine_state (id, revision, state, updated_at) VALUES (1, ?1, ?2, 'then')",
                    params![state.revision as i64, serde_json::to_string(state).unwrap()],
                )
                .unwrap();
        }
        Store::open(path).unwrap()
    }

    /// A directory of the test's own, removed when the test ends (passed or not).
    fn tempfile_dir(tag: &str) -> tempfile::TempDir {
        tempfile::Builder::new()
            .prefix(&format!("cb-store-{tag}-"))
            .tempdir()
            .unwrap()
    }
}
