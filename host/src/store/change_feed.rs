//! What the host keeps of Classroom's change feeds: its registrations and their expiry, the
//! courses notifications named that no committed run has read since, and when every course
//! was last read in full.

use std::collections::{BTreeMap, BTreeSet};

use rusqlite::{OptionalExtension, Transaction, params};
use serde::{Deserialize, Serialize};

use super::{Store, StoreError};

/// What a run read of Classroom, kept with the run and recorded when it commits (which, in
/// preview mode or after a hold, is at its approval).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ClassroomRead {
    /// When the run's notifications were all pulled (millisecond precision): a course noted
    /// after it was noted by a later pull, for a change this run may not have seen.
    pub read_at: String,
    /// The notified courses it read; absent: every managed course.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub courses: Option<BTreeSet<String>>,
}

/// Now, to the millisecond: notes and reads in the same second are told apart.
pub fn precise_now() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// A committed run read what `read` says: the courses it covers are owed no read for what
/// was noted before it (in the committing transaction).
pub(crate) fn record_read(tx: &Transaction<'_>, read: &ClassroomRead) -> Result<(), StoreError> {
    match &read.courses {
        None => {
            tx.execute(
                "DELETE FROM changed_courses WHERE noted_at <= ?1",
                params![read.read_at],
            )?;
            tx.execute(
                "INSERT INTO host_marks (name, value) VALUES (?1, ?2)
                 ON CONFLICT(name) DO UPDATE SET value = ?2",
                params![LAST_FULL_READ, read.read_at],
            )?;
        }
        Some(set) => {
            for c in set {
                tx.execute(
                    "DELETE FROM changed_courses WHERE course_id = ?1 AND noted_at <= ?2",
                    params![c, read.read_at],
                )?;
            }
        }
    }
    Ok(())
}

const LAST_FULL_READ: &str = "classroom.lastFullRead";

impl Store {
    /// Feed key -> (registration id, expiry time).
    pub fn feed_registrations(&self) -> Result<BTreeMap<String, (String, String)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT feed, registration_id, expiry_time FROM feed_registrations")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn save_feed_registration(
        &self,
        feed: &str,
        registration_id: &str,
        expiry_time: &str,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO feed_registrations (feed, registration_id, expiry_time) VALUES (?1, ?2, ?3)
             ON CONFLICT(feed) DO UPDATE SET registration_id = ?2, expiry_time = ?3",
            params![feed, registration_id, expiry_time],
        )?;
        Ok(())
    }

    /// Records courses named by notifications, before the notifications are acknowledged: a
    /// course stays noted until a run that read it commits.
    pub fn note_changed_courses(&mut self, courses: &BTreeSet<String>) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        // The latest note wins: a run that read the course before it leaves it owed.
        let at = precise_now();
        for c in courses {
            tx.execute(
                "INSERT INTO changed_courses (course_id, noted_at) VALUES (?1, ?2)
                 ON CONFLICT(course_id) DO UPDATE SET noted_at = ?2",
                params![c, at],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    pub fn changed_courses(&self) -> Result<BTreeSet<String>, StoreError> {
        let mut stmt = self.conn.prepare("SELECT course_id FROM changed_courses")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Records what a run read of Classroom, for its commit (which may come at approval).
    pub fn save_classroom_read(&self, run: i64, read: &ClassroomRead) -> Result<(), StoreError> {
        let text = serde_json::to_string(read)
            .map_err(|e| super::corrupt("unreadable Classroom read", e))?;
        self.conn.execute(
            "UPDATE runs SET classroom_read = ?1 WHERE id = ?2",
            params![text, run],
        )?;
        Ok(())
    }

    /// When every managed course was last read by a committed run.
    pub fn last_full_classroom_read(&self) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT value FROM host_marks WHERE name = ?1",
                params![LAST_FULL_READ],
                |r| r.get(0),
            )
            .optional()?)
    }
}
