//! Grade mapping rules: a Classroom grade to a OneRoster score and scoreStatus.

use crate::config::{GradeMapping, RoundingMode, ScoreMode};
use crate::model::{CourseWork, ScoreStatus, StudentSubmission};

/// A submission's export, before it is addressed to a SIS.
#[derive(Clone, PartialEq, Debug)]
pub(crate) struct MappedGrade {
    pub status: ScoreStatus,
    pub score: Option<f64>,
    pub text_score: Option<String>,
    pub late: bool,
    pub missing: bool,
}

/// Why a submission is not exported.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum NotExported {
    /// No grade yet (a draft grade alone is never exported).
    Ungraded,
    DraftOnly,
}

pub(crate) fn result_value_max(rules: &GradeMapping, max_points: f64) -> f64 {
    match rules.score {
        ScoreMode::Points => max_points,
        ScoreMode::Percent | ScoreMode::Letter => 100.0,
    }
}

pub(crate) fn round(value: f64, mode: RoundingMode, decimals: u32) -> f64 {
    let factor = 10f64.powi(decimals as i32);
    // Scale through a string-free epsilon so 2.675 rounds as a person expects.
    let scaled = value * factor;
    let nudged = (scaled * 1e9).round() / 1e9;
    let rounded = match mode {
        RoundingMode::HalfUp => nudged.round(),
        RoundingMode::HalfEven => {
            let floor = nudged.floor();
            let diff = nudged - floor;
            if (diff - 0.5).abs() < 1e-9 {
                if floor % 2.0 == 0.0 {
                    floor
                } else {
                    floor + 1.0
                }
            } else {
                nudged.round()
            }
        }
        RoundingMode::Down => nudged.floor(),
        RoundingMode::Up => nudged.ceil(),
    };
    rounded / factor
}

pub(crate) fn letter(rules: &GradeMapping, percent: f64) -> Option<String> {
    let mut scale: Vec<_> = rules.letter_scale.iter().collect();
    scale.sort_by(|a, b| {
        b.min_percent
            .partial_cmp(&a.min_percent)
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    scale
        .iter()
        .find(|l| percent >= l.min_percent)
        .map(|l| l.letter.clone())
}

/// Maps one submission. `due_passed` says whether the work's due time is before the run.
pub(crate) fn map_submission(
    rules: &GradeMapping,
    work: &CourseWork,
    sub: &StudentSubmission,
    due_passed: bool,
) -> Result<MappedGrade, NotExported> {
    let max_points = work.max_points.unwrap_or(0.0);
    let state = sub.state.as_deref().unwrap_or("NEW");
    let turned_in = matches!(state, "TURNED_IN" | "RETURNED");
    if let Some(grade) = sub.assigned_grade {
        let percent = if max_points > 0.0 {
            grade * 100.0 / max_points
        } else {
            0.0
        };
        // Extra credit (a score above the maximum) is kept, never clipped.
        let (score, text) = match rules.score {
            ScoreMode::Points => (grade, None),
            ScoreMode::Percent => (percent, None),
            ScoreMode::Letter => (percent, letter(rules, percent)),
        };
        return Ok(MappedGrade {
            status: ScoreStatus::FullyGraded,
            score: Some(round(score, rules.rounding, rules.decimals)),
            text_score: text,
            late: rules.flag_late && sub.late,
            missing: false,
        });
    }
    // Classroom has no excused flag: returning work with no grade at all is how it is excused.
    if state == "RETURNED" && sub.draft_grade.is_none() && rules.returned_without_grade_is_excused {
        return Ok(MappedGrade {
            status: ScoreStatus::Exempt,
            score: None,
            text_score: None,
            late: false,
            missing: false,
        });
    }
    if !turned_in && due_passed && rules.missing.export {
        return Ok(MappedGrade {
            status: ScoreStatus::NotSubmitted,
            score: rules.missing.score,
            text_score: None,
            late: false,
            missing: true,
        });
    }
    if sub.draft_grade.is_some() {
        Err(NotExported::DraftOnly)
    } else {
        Err(NotExported::Ungraded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_modes() {
        assert_eq!(round(2.675, RoundingMode::HalfUp, 2), 2.68);
        assert_eq!(round(2.5, RoundingMode::HalfEven, 0), 2.0);
        assert_eq!(round(3.5, RoundingMode::HalfEven, 0), 4.0);
        assert_eq!(round(8.99, RoundingMode::Down, 1), 8.9);
        assert_eq!(round(8.91, RoundingMode::Up, 1), 9.0);
        assert_eq!(round(16.666_666, RoundingMode::HalfUp, 2), 16.67);
    }

    #[test]
    fn letters_follow_the_scale_in_any_order() {
        let mut rules = GradeMapping::default();
        assert_eq!(letter(&rules, 95.0).as_deref(), Some("A"));
        assert_eq!(letter(&rules, 79.99).as_deref(), Some("C"));
        assert_eq!(letter(&rules, 0.0).as_deref(), Some("F"));
        rules.letter_scale.reverse();
        assert_eq!(letter(&rules, 85.0).as_deref(), Some("B"));
    }

    #[test]
    fn only_the_assigned_grade_counts() {
        let rules = GradeMapping::default();
        let work = CourseWork {
            max_points: Some(10.0),
            ..Default::default()
        };
        let draft = StudentSubmission {
            state: Some("TURNED_IN".into()),
            draft_grade: Some(9.0),
            ..Default::default()
        };
        assert_eq!(
            map_submission(&rules, &work, &draft, true),
            Err(NotExported::DraftOnly)
        );
        let graded = StudentSubmission {
            assigned_grade: Some(7.0),
            draft_grade: Some(9.0),
            late: true,
            ..draft
        };
        let m = map_submission(&rules, &work, &graded, true).unwrap();
        assert_eq!(
            (m.score, m.late, m.status),
            (Some(7.0), true, ScoreStatus::FullyGraded)
        );
    }

    #[test]
    fn not_yet_due_work_is_not_missing() {
        let rules = GradeMapping::default();
        let work = CourseWork {
            max_points: Some(10.0),
            ..Default::default()
        };
        let sub = StudentSubmission {
            state: Some("CREATED".into()),
            ..Default::default()
        };
        assert_eq!(
            map_submission(&rules, &work, &sub, false),
            Err(NotExported::Ungraded)
        );
        assert_eq!(
            map_submission(&rules, &work, &sub, true).unwrap().status,
            ScoreStatus::NotSubmitted
        );
    }
}
