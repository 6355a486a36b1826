//! Which managed courses a run reads from Classroom. Without a change feed, all of them.
//! With one, the courses Classroom's notifications named since a committed run last read
//! them, plus any course whose feed was (re)registered after lapsing; and all of them on
//! the reconciliation cadence, on `sync --full`, and whenever the notifications cannot be
//! trusted (a registration or a pull failed, a message could not be read).

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use tokio::task::JoinSet;

use super::{Host, RunError};
use crate::classroom::change_feed::Feed;
use crate::store::{ClassroomRead, precise_now};

/// What a run read of Classroom, to be recorded once the run commits.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ReadScope {
    /// Every managed course, read after this time.
    All { at: String },
    /// Only these courses (those the state knows, of `noted` and `lapsed`).
    Changed {
        /// Courses named by notifications, as recorded when the run began.
        noted: BTreeSet<String>,
        /// Courses whose feed had lapsed and was registered again.
        lapsed: BTreeSet<String>,
        /// When the notifications were all pulled, just before the courses were read.
        at: String,
    },
}

impl ReadScope {
    /// The known course ids this scope reads.
    pub(crate) fn select(&self, known: Vec<String>) -> Vec<String> {
        match self {
            ReadScope::All { .. } => known,
            ReadScope::Changed { noted, lapsed, .. } => known
                .into_iter()
                .filter(|id| noted.contains(id) || lapsed.contains(id))
                .collect(),
        }
    }
}

/// Whether a full read is due: never done, or done `every` or longer ago.
pub(crate) fn reconciliation_due(
    last: Option<&str>,
    now: DateTime<Utc>,
    every: std::time::Duration,
) -> bool {
    let Some(last) = last.and_then(|t| DateTime::parse_from_rfc3339(t).ok()) else {
        return true;
    };
    let every = chrono::Duration::from_std(every).unwrap_or(chrono::Duration::MAX);
    last.with_timezone(&Utc)
        .checked_add_signed(every)
        .is_none_or(|due| due <= now)
}

/// Whether a registration expiring at `expiry` must be renewed now.
fn renewal_due(expiry: Option<&str>, now: DateTime<Utc>, before: std::time::Duration) -> bool {
    let Some(expiry) = expiry.and_then(|t| DateTime::parse_from_rfc3339(t).ok()) else {
        return true;
    };
    let before = chrono::Duration::from_std(before).unwrap_or(chrono::Duration::MAX);
    expiry
        .with_timezone(&Utc)
        .checked_sub_signed(before)
        .is_none_or(|renew_at| renew_at <= now)
}

/// Pulls at most this many batches a run; what is left waits for the next run.
const MAX_PULLS: usize = 1_000;

impl Host {
    /// Keeps the registrations alive, records and acknowledges pending notifications, and
    /// decides what this run reads. `known` are the course ids the state holds.
    pub(crate) async fn classroom_read_scope(
        &mut self,
        known: &[String],
        two_way: bool,
    ) -> Result<ReadScope, RunError> {
        let now = Utc::now();
        let Some(feed) = self.config.classroom.change_feed.clone() else {
            return Ok(ReadScope::All { at: precise_now() });
        };
        let renew_before = feed.renew_before()?;
        let every = feed.reconcile_every()?;
        let classroom = self.classroom()?;
        let mut trusted = true;

        // Registrations: the domain's roster feed, and each managed course's work feed.
        let stored = self.store.feed_registrations()?;
        let mut feeds = vec![Feed::DomainRoster];
        if two_way {
            feeds.extend(known.iter().cloned().map(Feed::CourseWork));
        }
        let mut due = JoinSet::new();
        let mut lapsed = BTreeSet::new();
        for f in feeds {
            let expiry = stored.get(&f.key()).map(|(_, e)| e.as_str());
            if !renewal_due(expiry, now, renew_before) {
                continue;
            }
            // Never registered, or expired: changes may have gone unnotified.
            let gone = expiry
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .is_none_or(|e| e.with_timezone(&Utc) <= now);
            if gone {
                match &f {
                    Feed::DomainRoster => trusted = false,
                    Feed::CourseWork(id) => {
                        lapsed.insert(id.clone());
                    }
                }
            }
            let client = std::sync::Arc::clone(&classroom);
            let topic = feed.topic.clone();
            due.spawn(async move {
                let answer = client.register(&f, &topic).await;
                (f, answer)
            });
        }
        let mut failed = 0usize;
        while let Some(joined) = due.join_next().await {
            let (f, answer) = joined.map_err(|source| RunError::Task {
                what: "a registration",
                source,
            })?;
            match answer {
                Ok(r) => {
                    self.store.save_feed_registration(
                        &f.key(),
                        &r.registration_id,
                        &r.expiry_time,
                    )?;
                }
                Err(e) => {
                    failed += 1;
                    if failed == 1 {
                        tracing::warn!(feed = %f.key(), error = %crate::error::chain(&e), "a change-feed registration failed; this run reads every course");
                    }
                    trusted = false;
                }
            }
        }

        // Notifications: recorded before they are acknowledged, so a crash loses none.
        let pubsub = classroom.pubsub(&feed.pubsub_base_url);
        for _ in 0..MAX_PULLS {
            let pulled = match pubsub.pull(&feed.subscription, 1_000).await {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(error = %crate::error::chain(&e), "the change-feed subscription could not be read; this run reads every course");
                    trusted = false;
                    break;
                }
            };
            if pulled.ack_ids.is_empty() {
                break;
            }
            if pulled.unreadable > 0 {
                tracing::warn!(
                    messages = pulled.unreadable,
                    "notifications without a course; this run reads every course"
                );
                trusted = false;
            }
            self.store.note_changed_courses(&pulled.courses)?;
            if let Err(e) = pubsub
                .acknowledge(&feed.subscription, &pulled.ack_ids)
                .await
            {
                // They come back and are recorded again: no harm.
                tracing::warn!(error = %crate::error::chain(&e), "notifications could not be acknowledged");
            }
        }

        // Every note recorded by now is covered by the reads that follow.
        let at = precise_now();
        let last = self.store.last_full_classroom_read()?;
        if self.full_reconciliation || !trusted || reconciliation_due(last.as_deref(), now, every) {
            return Ok(ReadScope::All { at });
        }
        Ok(ReadScope::Changed {
            noted: self.store.changed_courses()?,
            lapsed,
            at,
        })
    }
}

impl ReadScope {
    /// What the run read, kept with it until it commits: the notified courses it read (a
    /// lapsed course's read settles no notification), or every course.
    pub(crate) fn read(&self) -> ClassroomRead {
        match self {
            ReadScope::All { at } => ClassroomRead {
                read_at: at.clone(),
                courses: None,
            },
            ReadScope::Changed { noted, at, .. } => ClassroomRead {
                read_at: at.clone(),
                courses: Some(noted.clone()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(t)
            .expect("a time")
            .with_timezone(&Utc)
    }

    const WEEK: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

    #[test]
    fn a_full_read_is_due_first_and_then_once_a_period() {
        let now = at("2026-12-10T06:00:00Z");
        assert!(reconciliation_due(None, now, WEEK));
        assert!(!reconciliation_due(Some("2026-12-04T06:00:01Z"), now, WEEK));
        assert!(reconciliation_due(Some("2026-12-03T06:00:00Z"), now, WEEK));
        assert!(reconciliation_due(Some("not a time"), now, WEEK));
    }

    #[test]
    fn a_registration_is_renewed_before_it_expires() {
        let now = at("2026-12-10T06:00:00Z");
        let day = std::time::Duration::from_secs(24 * 3600);
        assert!(!renewal_due(Some("2026-12-12T06:00:00Z"), now, day));
        assert!(renewal_due(Some("2026-12-11T05:00:00Z"), now, day));
        assert!(renewal_due(Some("2026-12-01T00:00:00Z"), now, day));
        assert!(renewal_due(None, now, day));
    }

    #[test]
    fn a_changed_scope_reads_only_known_courses_it_names() {
        let scope = ReadScope::Changed {
            noted: ["2".to_string(), "99".to_string()].into(),
            lapsed: ["3".to_string()].into(),
            at: String::new(),
        };
        let known = vec!["1".to_string(), "2".to_string(), "3".to_string()];
        assert_eq!(scope.select(known.clone()), vec!["2", "3"]);
        assert_eq!(
            ReadScope::All { at: String::new() }.select(known.clone()),
            known
        );
    }
}
