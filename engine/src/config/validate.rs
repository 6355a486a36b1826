//! Config validation: every error names the field and says how to fix it.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::master::{MasterEntity, is_extension_field, is_never_mastered};
use super::{FilterOp, ScoreMode, SyncConfig};
use crate::model::EntityKind;

#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
/// One problem with a config.
pub struct ConfigError {
    /// Path of the offending setting, e.g. `masterFields[2].field`.
    pub field: String,
    /// What is wrong and how to put it right.
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

fn err(errors: &mut Vec<ConfigError>, field: String, message: impl Into<String>) {
    errors.push(ConfigError {
        field,
        message: message.into(),
    });
}

/// Every name a master rule's entity may take.
fn master_entity_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = EntityKind::ALL.iter().map(|k| k.singular()).collect();
    names.extend([
        "Student",
        "Staff",
        "SchoolAdmin",
        "Contact",
        "Relationships",
        "Calendar",
        "Course",
        "Roster",
    ]);
    names
}

/// "; did you mean 'email'?" for the known names nearest to a misspelt one.
pub(crate) fn nearest(name: &str, known: &[&str]) -> String {
    let name = name.to_ascii_lowercase();
    let mut scored: Vec<(usize, &str)> = known
        .iter()
        .map(|k| (strsim::levenshtein(&name, &k.to_ascii_lowercase()), *k))
        .filter(|(d, k)| *d <= (k.len() / 3).max(2))
        .collect();
    scored.sort();
    scored.dedup_by(|a, b| a.1 == b.1);
    let names: Vec<String> = scored
        .iter()
        .take(3)
        .map(|(_, k)| format!("'{k}'"))
        .collect();
    if names.is_empty() {
        format!("; its fields are {}", known.join(", "))
    } else {
        format!("; did you mean {}?", names.join(" or "))
    }
}

/// Every problem in the config at once, so an admin fixes them in one pass.
pub fn validate(config: &SyncConfig) -> Result<(), Vec<ConfigError>> {
    let mut errors = Vec::new();
    let mut ids = BTreeSet::new();
    if config.sources.is_empty() {
        err(
            &mut errors,
            "sources".into(),
            "at least one SIS source is needed",
        );
    }
    for (i, source) in config.sources.iter().enumerate() {
        if source.id.trim().is_empty() {
            err(
                &mut errors,
                format!("sources[{i}].id"),
                "a source needs a non-empty id",
            );
        } else if matches!(source.id.as_str(), "sis" | "classroom" | "none") {
            err(
                &mut errors,
                format!("sources[{i}].id"),
                format!(
                    "'{}' is reserved for master fields; choose another id",
                    source.id
                ),
            );
        } else if !ids.insert(source.id.as_str()) {
            err(
                &mut errors,
                format!("sources[{i}].id"),
                format!(
                    "source id '{}' is used twice; ids must be unique",
                    source.id
                ),
            );
        }
        if source.limits.line_item_title_max == Some(0) {
            err(
                &mut errors,
                format!("sources[{i}].limits.lineItemTitleMax"),
                "must be at least 1 (or unset for no limit)",
            );
        }
    }
    let prefixes: Vec<&str> = config
        .sources
        .iter()
        .map(|s| s.sis_id_prefix.as_str())
        .collect();
    for (i, p) in prefixes.iter().enumerate() {
        for (j, q) in prefixes.iter().enumerate().skip(i + 1) {
            if !p.is_empty() && !q.is_empty() && (p.starts_with(q) || q.starts_with(p)) {
                err(
                    &mut errors,
                    format!("sources[{j}].sisIdPrefix"),
                    format!("prefix '{q}' overlaps '{p}' of sources[{i}]; ids could collide"),
                );
            }
        }
    }
    for (i, rule) in config.master_fields.iter().enumerate() {
        let at = format!("masterFields[{i}]");
        if is_never_mastered(&rule.entity, &rule.field) {
            err(
                &mut errors,
                format!("{at}.field"),
                format!(
                    "{}.{} may never have a master: it is derived from other records; remove this rule",
                    rule.entity, rule.field
                ),
            );
            continue;
        }
        let field = rule.field.trim();
        match MasterEntity::parse(&rule.entity) {
            None => err(
                &mut errors,
                format!("{at}.entity"),
                format!(
                    "unknown entity '{}' (in the rule for '{}.{field}'); known: {}",
                    rule.entity,
                    rule.entity,
                    master_entity_names().join(", ")
                ),
            ),
            Some(_) if field.is_empty() => err(
                &mut errors,
                format!("{at}.field"),
                "field must not be empty",
            ),
            Some(entity) => {
                let known = entity.known_fields();
                if !is_extension_field(field)
                    && !known.iter().any(|k| k.eq_ignore_ascii_case(field))
                {
                    err(
                        &mut errors,
                        format!("{at}.field"),
                        format!(
                            "'{}' has no field '{field}'{}",
                            rule.entity,
                            nearest(field, &known)
                        ),
                    );
                }
            }
        }
        let known = matches!(rule.master.as_str(), "sis" | "classroom" | "none")
            || ids.contains(rule.master.as_str());
        if !known {
            err(
                &mut errors,
                format!("{at}.master"),
                format!(
                    "'{}' is not 'sis', 'classroom', 'none' or a configured source id",
                    rule.master
                ),
            );
        }
    }
    for (i, filter) in config.filters.iter().enumerate() {
        let needs_value = !matches!(filter.op, FilterOp::Exists | FilterOp::Missing);
        if needs_value && filter.value.is_null() {
            err(
                &mut errors,
                format!("filters[{i}].value"),
                format!("operator {:?} needs a value", filter.op),
            );
        }
        if filter.op == FilterOp::In && !filter.value.is_array() {
            err(
                &mut errors,
                format!("filters[{i}].value"),
                "operator 'in' needs a list of values",
            );
        }
    }
    for (i, a) in config.attributes.iter().enumerate() {
        if let Some(s) = &a.source
            && !ids.contains(s.as_str())
        {
            err(
                &mut errors,
                format!("attributes[{i}].source"),
                format!("no source with id '{s}'"),
            );
        }
        if a.to.contains('.') || a.to.is_empty() || a.to == "sourcedId" {
            err(
                &mut errors,
                format!("attributes[{i}].to"),
                "must be a top-level field other than sourcedId",
            );
        }
    }
    for (i, d) in config.uniqueness.iter().enumerate() {
        if d.fields.is_empty() {
            err(
                &mut errors,
                format!("uniqueness[{i}].fields"),
                "a domain of uniqueness needs at least one field",
            );
        }
    }
    for (i, t) in config.holds.thresholds.iter().enumerate() {
        if t.max_count.is_none() && t.max_percent.is_none() {
            err(
                &mut errors,
                format!("holds.thresholds[{i}]"),
                "set maxCount, maxPercent or both",
            );
        }
        if let Some(p) = t.max_percent
            && !(0.0..=100.0).contains(&p)
        {
            err(
                &mut errors,
                format!("holds.thresholds[{i}].maxPercent"),
                "must be between 0 and 100",
            );
        }
    }
    for (i, window) in config.pause.iter().enumerate() {
        let shape = |d: &str| match d.len() {
            5 => is_month_day(d).then_some("MM-DD"),
            10 => (d.is_ascii()
                && d[..4].bytes().all(|b| b.is_ascii_digit())
                && d.as_bytes()[4] == b'-'
                && is_month_day(&d[5..]))
            .then_some("YYYY-MM-DD"),
            _ => None,
        };
        match (shape(&window.from), shape(&window.to)) {
            (Some(a), Some(b)) if a == b => {
                if a == "YYYY-MM-DD" && window.from > window.to {
                    err(
                        &mut errors,
                        format!("pause[{i}].to"),
                        format!("{} is before from {}", window.to, window.from),
                    );
                }
            }
            (Some(_), Some(_)) => err(
                &mut errors,
                format!("pause[{i}]"),
                "from and to must both be MM-DD (every year) or both YYYY-MM-DD",
            ),
            (from, _) => err(
                &mut errors,
                format!("pause[{i}].{}", if from.is_none() { "from" } else { "to" }),
                "must be a date as MM-DD (every year) or YYYY-MM-DD",
            ),
        }
    }
    let limits = &config.classroom.limits;
    for (name, value) in [
        ("membersPerClass", limits.members_per_class),
        ("teachersPerClass", limits.teachers_per_class),
        ("classesPerUser", limits.classes_per_user),
    ] {
        if value == 0 {
            err(
                &mut errors,
                format!("classroom.limits.{name}"),
                "must be at least 1 (Classroom's own limit is the sensible value)",
            );
        }
    }
    if limits.teachers_per_class > limits.members_per_class {
        err(
            &mut errors,
            "classroom.limits.teachersPerClass".into(),
            "cannot be more than membersPerClass (teachers are members)",
        );
    }
    for (i, rule) in config.classroom.cross_list.iter().enumerate() {
        let field = format!("classroom.crossList[{i}]");
        match (rule.classes.len(), rule.same.is_empty()) {
            (0, true) => err(
                &mut errors,
                field,
                "name the classes to merge (classes) or the fields they share (same)",
            ),
            (n, false) if n > 0 => err(
                &mut errors,
                field,
                "use classes or same, not both (make two rules)",
            ),
            (1, true) => err(
                &mut errors,
                format!("{field}.classes"),
                "merging needs at least two classes",
            ),
            _ => {}
        }
    }
    // A year is the longest grace that makes sense: past it a removal would wait for a
    // student who has long since moved on (and the day arithmetic stays far from overflow).
    if config.classroom.removal_grace_days > 366 {
        err(
            &mut errors,
            "classroom.removalGraceDays".into(),
            "must be at most 366 (days; 0 applies removals at once)",
        );
    }
    if config.classroom.new_courses_per_run == Some(0) {
        err(
            &mut errors,
            "classroom.newCoursesPerRun".into(),
            "must be at least 1 (no course would ever be made); leave it out for no limit",
        );
    }
    if !(0.0..=100.0).contains(&config.holds.max_shrink_percent) {
        err(
            &mut errors,
            "holds.maxShrinkPercent".into(),
            "must be between 0 and 100",
        );
    }
    for (i, r) in config.role_by_email.iter().enumerate() {
        if !r.email_suffix.contains('@') && !r.email_suffix.starts_with('.') {
            err(
                &mut errors,
                format!("roleByEmail[{i}].emailSuffix"),
                "use a suffix such as '@students.district.org'",
            );
        }
    }
    if !matches!(
        config.classroom.new_course_state.as_str(),
        "ACTIVE" | "PROVISIONED"
    ) {
        err(
            &mut errors,
            "classroom.newCourseState".into(),
            "must be ACTIVE or PROVISIONED",
        );
    }
    if config.grades.decimals > 6 {
        err(&mut errors, "grades.decimals".into(), "at most 6 decimals");
    }
    if config.grades.score == ScoreMode::Letter && config.grades.letter_scale.is_empty() {
        err(
            &mut errors,
            "grades.letterScale".into(),
            "letter scores need a letter scale",
        );
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// `MM-DD` with a real month and a day that month can have (29 February allowed).
fn is_month_day(d: &str) -> bool {
    let (Some(m), Some(day)) = (d.get(0..2), d.get(3..5)) else {
        return false;
    };
    let (Ok(m), Ok(day)) = (m.parse::<u32>(), day.parse::<u32>()) else {
        return false;
    };
    let max = match m {
        2 => 29,
        4 | 6 | 9 | 11 => 30,
        1..=12 => 31,
        _ => return false,
    };
    d.len() == 5
        && d.is_ascii()
        && d.as_bytes()[2] == b'-'
        && d[..2]
            .bytes()
            .chain(d[3..].bytes())
            .all(|b| b.is_ascii_digit())
        && (1..=max).contains(&day)
}
