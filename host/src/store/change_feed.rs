//! What the host keeps of Classroom's change feeds: its registrations and their expiry, the
//! courses notifications named that no committed run has read since, and when every course
//! was last read in full.

use std::collections::{BTreeMap, BTreeSet};

use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError, now};

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
        let at = now();
        for c in courses {
            tx.execute(
                "INSERT INTO changed_courses (course_id, noted_at) VALUES (?1, ?2)
                 ON CONFLICT(course_id) DO NOTHING",
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

    /// A committed run read these courses (all of them when `None`, with the time of that
    /// full read): they are no longer owed a read.
    pub fn courses_read(
        &mut self,
        courses: Option<&BTreeSet<String>>,
        full_read_at: Option<&str>,
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        match courses {
            None => {
                tx.execute("DELETE FROM changed_courses", [])?;
            }
            Some(set) => {
                for c in set {
                    tx.execute(
                        "DELETE FROM changed_courses WHERE course_id = ?1",
                        params![c],
                    )?;
                }
            }
        }
        if let Some(at) = full_read_at {
            tx.execute(
                "INSERT INTO host_marks (name, value) VALUES (?1, ?2)
                 ON CONFLICT(name) DO UPDATE SET value = ?2",
                params![LAST_FULL_READ, at],
            )?;
        }
        tx.commit()?;
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
