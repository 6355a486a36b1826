//! Operations in an admin's words: people by name, courses by title, code and school.
//! "add student Maria Lopez (maria.lopez@lincoln.org) to 'Algebra 1' (ALG1-P2, Lincoln High)".

use std::collections::{BTreeMap, BTreeSet};

use super::ops::OpDraft;
use crate::model::{Class, Roster, User};
use crate::plan::{Action, OpChange, OpEntity};

/// A class as admins name it: its title, then its code and school where known.
pub(crate) fn class_words(roster: &Roster, class: &Class) -> String {
    let school = roster
        .orgs
        .get(class.school.as_str())
        .map(|o| o.name.as_str())
        .filter(|n| !n.is_empty());
    let context: Vec<&str> = class
        .class_code
        .as_deref()
        .filter(|c| !c.is_empty() && *c != class.title)
        .into_iter()
        .chain(school)
        .collect();
    if context.is_empty() {
        format!("'{}'", class.title)
    } else {
        format!("'{}' ({})", class.title, context.join(", "))
    }
}

/// A user by name, with the id that tells two namesakes apart.
pub(crate) fn user_words(user: &User, id: &str) -> String {
    let name = user.display_name();
    if name.trim().is_empty() {
        id.to_string()
    } else {
        format!("{} ({id})", name.trim())
    }
}

/// Rewrites member and course-create summaries with the people's names. Only the people the
/// plan names are looked up, in one pass over each roster's users: this run's first, then
/// the last accepted one (a student who left the SIS is still named in their removal).
pub(crate) fn name_people(rosters: &[&Roster], ops: &mut [OpDraft]) {
    let wanted: BTreeSet<&str> = ops
        .iter()
        .filter(|o| names_person(o))
        .filter_map(|o| o.person.as_deref())
        .collect();
    if wanted.is_empty() {
        return;
    }
    let mut people: BTreeMap<String, &User> = BTreeMap::new();
    for roster in rosters {
        for user in roster.users.values() {
            if let Some(email) = user.normalized_email()
                && wanted.contains(email.as_str())
            {
                people.entry(email).or_insert(user);
            }
        }
    }
    for op in ops.iter_mut().filter(|o| names_person(o)) {
        let class = op.class_id.as_deref().and_then(|c| {
            rosters
                .iter()
                .find_map(|r| r.classes.get(c).map(|class| (*r, class)))
        });
        let (Some(email), Some((roster, class))) = (op.person.as_deref(), class) else {
            continue;
        };
        let who = people
            .get(email)
            .map_or_else(|| email.to_string(), |u| user_words(u, email));
        let course = class_words(roster, class);
        let noun = if op.entity == OpEntity::Teacher {
            "teacher"
        } else {
            "student"
        };
        // Why a drift repair, or a removal after its grace, happens stays said after the names.
        let why = [
            " (drift",
            " (repairs drift",
            " (not in the SIS's class since",
        ]
        .iter()
        .filter_map(|mark| op.summary.find(mark))
        .min()
        .map(|at| op.summary[at..].to_string())
        .unwrap_or_default();
        op.summary = match (op.entity, op.change, &op.action) {
            (OpEntity::Course, _, _) => format!("create course {course} owned by {who}{why}"),
            (_, _, Action::ClassroomInvite { .. }) => format!(
                "invite {noun} {who} to {course} (outside the domain: joins on accepting){why}"
            ),
            (_, _, Action::ClassroomDeleteInvitation { .. }) => {
                format!("withdraw the invitation of {noun} {who} to {course}{why}")
            }
            (_, OpChange::Create, _) => format!("add {noun} {who} to {course}{why}"),
            _ => format!("remove {noun} {who} from {course}{why}"),
        };
    }
}

fn names_person(op: &OpDraft) -> bool {
    match op.entity {
        OpEntity::Teacher | OpEntity::Student => {
            matches!(op.change, OpChange::Create | OpChange::Delete)
        }
        OpEntity::Course => op.change == OpChange::Create,
        _ => false,
    }
}
