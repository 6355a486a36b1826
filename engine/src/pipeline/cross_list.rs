//! Cross-listed and merged sections (`classroom.crossList`): several SIS classes taught as
//! one Classroom course. The group's course belongs to one class of it, its *primary*: the
//! one whose course exists already (so a group that grows never moves its course), else
//! the one with the smallest sourcedId. The course takes every class's people and
//! categories; grades go back to each class's own lineItem for its own students.

use std::collections::BTreeMap;

use crate::config::{ClassField, CrossListRule};
use crate::model::Class;

/// Which classes are merged, and into which.
#[derive(Default)]
pub(crate) struct CrossListing {
    /// class -> its group's primary, for every class of a group (the primary included).
    primary_of: BTreeMap<String, String>,
    /// primary -> every class of its group, the primary first.
    groups: BTreeMap<String, Vec<String>>,
}

impl CrossListing {
    /// The groups the rules make of `classes`; `has_course` says which class has a course.
    pub(crate) fn new<'a>(
        rules: &[CrossListRule],
        classes: impl IntoIterator<Item = &'a Class> + Clone,
        has_course: impl Fn(&str) -> bool,
    ) -> Self {
        let mut out = CrossListing::default();
        if rules.is_empty() {
            return out;
        }
        for rule in rules {
            let mut found: BTreeMap<Vec<String>, Vec<&str>> = BTreeMap::new();
            for class in classes.clone() {
                if out.primary_of.contains_key(&class.sourced_id) {
                    continue; // An earlier rule merged it already.
                }
                let key = if rule.classes.is_empty() {
                    match key_of(class, &rule.same) {
                        Some(key) => key,
                        None => continue,
                    }
                } else if rule.classes.contains(&class.sourced_id) {
                    Vec::new()
                } else {
                    continue;
                };
                found.entry(key).or_default().push(&class.sourced_id);
            }
            for (_, mut group) in found {
                if group.len() < 2 {
                    continue;
                }
                group.sort_unstable();
                let primary = group
                    .iter()
                    .copied()
                    .find(|c| has_course(c))
                    .unwrap_or(group[0]);
                let mut members = vec![primary.to_string()];
                members.extend(
                    group
                        .iter()
                        .filter(|c| **c != primary)
                        .map(ToString::to_string),
                );
                for class in &members {
                    out.primary_of.insert(class.clone(), primary.to_string());
                }
                out.groups.insert(primary.to_string(), members);
            }
        }
        out
    }

    /// The class whose course `class_id` is taught in: its group's primary, or itself.
    pub(crate) fn primary<'a>(&'a self, class_id: &'a str) -> &'a str {
        self.primary_of
            .get(class_id)
            .map_or(class_id, String::as_str)
    }

    /// The classes taught in `primary`'s course, itself first (just itself when not merged).
    pub(crate) fn classes_of<'a>(&'a self, primary: &'a str) -> Vec<&'a str> {
        match self.groups.get(primary) {
            Some(members) => members.iter().map(String::as_str).collect(),
            None => vec![primary],
        }
    }
}

/// The values a `same` rule compares, or `None` when one of them is empty.
fn key_of(class: &Class, fields: &[ClassField]) -> Option<Vec<String>> {
    let join = |values: &[crate::model::Shared]| -> Option<String> {
        let mut v: Vec<&str> = values.iter().map(crate::model::Shared::as_str).collect();
        v.sort_unstable();
        (!v.is_empty()).then(|| v.join("\u{1f}"))
    };
    fields
        .iter()
        .map(|field| match field {
            ClassField::ClassCode => class.class_code.clone().filter(|c| !c.trim().is_empty()),
            ClassField::Periods => join(&class.periods),
            ClassField::School => Some(class.school.to_string()).filter(|s| !s.is_empty()),
            ClassField::Course => Some(class.course.to_string()).filter(|s| !s.is_empty()),
            ClassField::Terms => join(&class.terms),
            ClassField::Title => Some(class.title.clone()).filter(|t| !t.trim().is_empty()),
        })
        .collect()
}
