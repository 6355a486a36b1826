//! Removal grace (`classroom.removalGraceDays`): a student the SIS no longer has in a class
//! stays in its course for that many days before the removal is applied. Schedule changes
//! often undo themselves within days, and a removal hides the student's work from them. The
//! day the SIS first no longer had them is kept in the state (`pendingRemovals`) until the
//! removal succeeds; a student enrolled again meanwhile is dropped from it, never removed.

use std::collections::{BTreeMap, BTreeSet};

use crate::model::RecordIssue;
use crate::state::AppliedClassroom;

/// What the rule decided for the students leaving one class.
#[derive(Default)]
pub(super) struct GraceDecision {
    /// Students kept in the course this run.
    pub kept: BTreeSet<String>,
    /// Students whose grace is over, removed this run, with the day they left the SIS's class.
    pub ended: BTreeMap<String, String>,
}

/// The run's date and the rule.
pub(super) struct Grace<'a> {
    pub days: u32,
    pub today: &'a str,
}

impl Grace<'_> {
    /// Decides for the students of `class_id` in the course (`have`) but not wanted, and
    /// rewrites the class's pending entries in `known`: a student wanted again, or no longer
    /// in the course, leaves them; one whose removal is still to be applied stays until it
    /// succeeds (a failed removal is retried with its grace still over).
    pub(super) fn decide(
        &self,
        class_id: &str,
        course_name: &str,
        wanted: &BTreeSet<String>,
        known: &mut AppliedClassroom,
        issues: &mut Vec<RecordIssue>,
        skipped: &mut BTreeMap<String, u64>,
    ) -> GraceDecision {
        let mut decision = GraceDecision::default();
        let empty = BTreeSet::new();
        let have = known.students.get(class_id).unwrap_or(&empty);
        let before = known.pending_removals.get(class_id);
        let mut pending = BTreeMap::new();
        if self.days > 0 {
            for email in have.difference(wanted) {
                let since = before
                    .and_then(|p| p.get(email))
                    .cloned()
                    .unwrap_or_else(|| self.today.to_string());
                match add_days(&since, self.days) {
                    Some(until) if until.as_str() > self.today => {
                        issues.push(RecordIssue::warning(
                            "roster",
                            "classes",
                            Some(class_id),
                            format!(
                                "student {email} stays in '{course_name}' until {until}: not in the SIS's class since {since} (removal grace of {} days)",
                                self.days
                            ),
                        ));
                        *skipped.entry("student.removalGrace".into()).or_default() += 1;
                        decision.kept.insert(email.clone());
                    }
                    // Over, or a day that cannot be read: the removal is applied.
                    _ => {
                        decision.ended.insert(email.clone(), since.clone());
                    }
                }
                pending.insert(email.clone(), since);
            }
        }
        if pending.is_empty() {
            known.pending_removals.remove(class_id);
        } else {
            known.pending_removals.insert(class_id.to_string(), pending);
        }
        decision
    }
}

/// `date` (`YYYY-MM-DD`) plus `days`, or `None` when `date` is not a date.
fn add_days(date: &str, days: u32) -> Option<String> {
    let year: i64 = date.get(0..4)?.parse().ok()?;
    let month: u32 = date.get(5..7)?.parse().ok()?;
    let day: u32 = date.get(8..10)?.parse().ok()?;
    if date.len() != 10 || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let (y, m, d) = civil_from_days(days_from_civil(year, month, day) + i64::from(days));
    Some(format!("{y:04}-{m:02}-{d:02}"))
}

// Days since 1970-01-01 in the proleptic Gregorian calendar, and back (Howard Hinnant's
// algorithms; the engine has no clock and no date crate, and needs nothing more).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = (if mp < 10 { mp + 3 } else { mp - 9 }) as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_added_across_months_years_and_leap_days() {
        assert_eq!(add_days("2026-11-28", 7).as_deref(), Some("2026-12-05"));
        assert_eq!(add_days("2026-12-30", 3).as_deref(), Some("2027-01-02"));
        assert_eq!(add_days("2028-02-27", 2).as_deref(), Some("2028-02-29"));
        assert_eq!(add_days("2027-02-28", 1).as_deref(), Some("2027-03-01"));
        assert_eq!(add_days("2026-01-01", 366).as_deref(), Some("2027-01-02"));
        assert_eq!(add_days("2026-05-05", 0).as_deref(), Some("2026-05-05"));
        for bad in ["", "2026-13-01", "2026-1-1", "soon", "2026-11-05T06:00:00Z"] {
            assert_eq!(add_days(bad, 1), None, "{bad}");
        }
    }

    #[test]
    fn every_day_of_four_centuries_round_trips() {
        let start = days_from_civil(1900, 1, 1);
        for n in 0..(400 * 366) {
            let (y, m, d) = civil_from_days(start + n);
            assert_eq!(days_from_civil(y, m, d), start + n);
        }
    }
}
