//! Why a grade write is planned: the Classroom work or submission behind it and the grade
//! mapping rules that made its score (issue 19, "why").

use serde_json::{Value, json};

use super::grades::MappedGrade;
use crate::config::{GradeMapping, RoundingMode, ScoreMode};
use crate::explanation::{AppliedRule, Cause, CauseChange, Explanation, RuleKind};
use crate::model::{CourseWork, Shared, StudentSubmission};
use crate::plan::FieldChange;

fn field(name: &str, after: Value) -> FieldChange {
    FieldChange {
        field: name.into(),
        before: None,
        after: Some(after),
    }
}

fn master_rule() -> AppliedRule {
    AppliedRule::new(
        RuleKind::MasterField,
        "masters",
        "Classroom owns lineItems and results (master fields): its grades are written to the SIS",
    )
}

/// A lineItem's write: the work, new to the SIS or changed since it was last written.
pub(crate) fn line_item(work: &CourseWork, first: bool, rules: &GradeMapping) -> Explanation {
    let max = work.max_points.unwrap_or(0.0);
    let says = if first {
        format!(
            "Classroom's graded work '{}' ({}, {max} points) is not in the SIS yet",
            work.title, work.id
        )
    } else {
        format!(
            "Classroom's graded work '{}' ({}) changed since it was last written to the SIS",
            work.title, work.id
        )
    };
    let scale = match rules.score {
        ScoreMode::Points => "scores are points, so resultValueMax is the work's maxPoints",
        _ => "scores are percentages, so resultValueMax is 100",
    };
    Explanation::new(
        vec![Cause {
            collection: Shared::from("courseWork"),
            id: work.id.clone(),
            change: if first {
                CauseChange::New
            } else {
                CauseChange::Changed
            },
            fields: vec![
                field("title", json!(work.title)),
                field("maxPoints", json!(max)),
            ],
            says: Some(says),
        }],
        vec![
            master_rule(),
            AppliedRule::new(RuleKind::GradeMapping, "grades.score", scale),
        ],
    )
}

/// A result's write: the submission's grade (or its absence) and the rules that mapped it.
pub(crate) fn result(
    work: &CourseWork,
    sub: &StudentSubmission,
    grade: &MappedGrade,
    first: bool,
    rules: &GradeMapping,
) -> Explanation {
    let state = sub.state.as_deref().unwrap_or("NEW");
    let max = work.max_points.unwrap_or(0.0);
    let mut fields = vec![field("state", json!(state))];
    let what = match sub.assigned_grade {
        Some(g) => {
            fields.push(field("assignedGrade", json!(g)));
            format!("has the grade {g} of {max}")
        }
        None if grade.missing => "was not turned in and its work is past due".to_string(),
        None => "was returned without a grade".to_string(),
    };
    if sub.late {
        fields.push(field("late", json!(true)));
    }
    let news = if first {
        "not in the SIS yet"
    } else {
        "changed since it was last written to the SIS"
    };
    let cause = Cause {
        collection: Shared::from("studentSubmissions"),
        id: sub.id.clone(),
        change: if first {
            CauseChange::New
        } else {
            CauseChange::Changed
        },
        fields,
        says: Some(format!(
            "Classroom's submission {} on '{}' {what} ({state}{}), {news}",
            sub.id,
            work.title,
            if sub.late { ", late" } else { "" }
        )),
    };
    let mut applied = vec![master_rule()];
    if sub.assigned_grade.is_some() {
        let how = match rules.score {
            ScoreMode::Points => "scores are exported as points".to_string(),
            ScoreMode::Percent => "scores are exported as a percentage of the work's points".into(),
            _ => format!(
                "scores are exported as a percentage with a letter from the scale{}",
                grade
                    .text_score
                    .as_deref()
                    .map(|l| format!(" (here '{l}')"))
                    .unwrap_or_default()
            ),
        };
        applied.push(AppliedRule::new(
            RuleKind::GradeMapping,
            "grades.score",
            format!(
                "{how}, rounded {} to {} decimal(s)",
                match rules.rounding {
                    RoundingMode::HalfUp => "half up",
                    RoundingMode::HalfEven => "half to even",
                    RoundingMode::Down => "down",
                    RoundingMode::Up => "up",
                },
                rules.decimals
            ),
        ));
        if grade.late {
            applied.push(AppliedRule::new(
                RuleKind::GradeMapping,
                "grades.flagLate",
                "work turned in late is flagged late",
            ));
        }
    } else if grade.missing {
        applied.push(AppliedRule::new(
            RuleKind::GradeMapping,
            "grades.missing",
            format!(
                "work not turned in by its due date is exported as missing{}",
                rules
                    .missing
                    .score
                    .map(|s| format!(" with the score {s}"))
                    .unwrap_or_default()
            ),
        ));
    } else {
        applied.push(AppliedRule::new(
            RuleKind::GradeMapping,
            "grades.returnedWithoutGradeIsExcused",
            "work returned without a grade is excused (exempt)",
        ));
    }
    Explanation::new(vec![cause], applied)
}

/// A lineItem or result deleted because its Classroom work went.
pub(crate) fn vanished(line_item: &str, course_id: &str) -> Explanation {
    Explanation::new(
        vec![Cause {
            collection: Shared::from("courseWork"),
            id: line_item.to_string(),
            change: CauseChange::Removed,
            fields: Vec::new(),
            says: Some(format!(
                "the Classroom work of lineItem '{line_item}' is gone from course {course_id}, or no longer graded"
            )),
        }],
        vec![AppliedRule::new(
            RuleKind::MasterField,
            "masters",
            "Classroom owns lineItems and results: what it no longer grades is deleted from the SIS, results first",
        )],
    )
}
