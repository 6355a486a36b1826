//! People outside the domain. Classroom refuses to add them to a course directly (403
//! `@CannotDirectAddUser`), so they are invited (`invitations.create`) and join on accepting.
//! Who is outside: an address whose domain is not one of `classroom.domains` (when they are
//! listed), or one whose direct add Classroom already refused. An invitation is tracked in
//! the state until its person shows up in the course's member listing (accepted: a member
//! from then on) or the SIS no longer has them in the class (withdrawn).

use std::collections::{BTreeMap, BTreeSet};

use crate::model::ClassroomSnapshot;
use crate::plan::MemberRole;
use crate::state::{AppliedClassroom, OpFailure};

/// Decides who is invited rather than added.
pub(super) struct Outsiders<'a> {
    pub domains: &'a [String],
    pub failures: &'a BTreeMap<String, OpFailure>,
}

impl Outsiders<'_> {
    /// Whether `email` is invited to the course `alias` as `noun` (`teacher`, `student`)
    /// instead of added.
    pub(super) fn must_invite(&self, noun: &str, alias: &str, email: &str) -> bool {
        let outside = !self.domains.is_empty() && !in_domains(email, self.domains);
        let refused = self
            .failures
            .get(&format!("{noun}.add:{alias}:{email}"))
            .is_some_and(|f| f.error.contains("CannotDirectAddUser"));
        outside || refused
    }
}

/// Whether the address's domain is one of `domains` (compared without case).
fn in_domains(email: &str, domains: &[String]) -> bool {
    let Some((_, domain)) = email.rsplit_once('@') else {
        return false;
    };
    domains
        .iter()
        .any(|d| d.trim_start_matches('@').eq_ignore_ascii_case(domain))
}

/// Invitations whose person now shows in their course's member listing, read completely,
/// were accepted: the person is a member the state knows, and the invitation is done.
pub(super) fn settle_accepted(
    known: &mut AppliedClassroom,
    snapshot: &ClassroomSnapshot,
    members_complete: &BTreeSet<String>,
) {
    if known.invitations.is_empty() {
        return;
    }
    // Found by alias, as drift finds them: the listing's course, whatever id the state has.
    let by_alias: BTreeMap<&str, &str> = snapshot
        .courses
        .values()
        .flat_map(|c| c.aliases.iter().map(move |a| (a.as_str(), c.id.as_str())))
        .collect();
    let mut accepted: Vec<(String, String, MemberRole)> = Vec::new();
    for (class_id, sent) in &known.invitations {
        let Some(course_id) = known
            .courses
            .get(class_id)
            .and_then(|c| by_alias.get(c.alias.as_str()))
            .copied()
        else {
            continue;
        };
        if !members_complete.contains(course_id) {
            continue;
        }
        for (email, invitation) in sent {
            let listing = match invitation.role {
                MemberRole::Teacher => &snapshot.teachers,
                MemberRole::Student => &snapshot.students,
            };
            let joined = listing
                .get(course_id)
                .into_iter()
                .flatten()
                .filter_map(crate::model::CourseMember::email)
                .any(|m| m == *email);
            if joined {
                accepted.push((class_id.clone(), email.clone(), invitation.role));
            }
        }
    }
    for (class_id, email, role) in accepted {
        if let Some(sent) = known.invitations.get_mut(&class_id) {
            sent.remove(&email);
            if sent.is_empty() {
                known.invitations.remove(&class_id);
            }
        }
        let members = match role {
            MemberRole::Teacher => &mut known.teachers,
            MemberRole::Student => &mut known.students,
        };
        members.entry(class_id).or_default().insert(email);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_match_whole_and_without_case() {
        let domains = [
            "district.org".to_string(),
            "@students.district.org".to_string(),
        ];
        assert!(in_domains("a@district.org", &domains));
        assert!(in_domains("b@Students.District.org", &domains));
        assert!(!in_domains("c@gmail.com", &domains));
        assert!(!in_domains("d@notdistrict.org", &domains));
        assert!(!in_domains("no-at-sign", &domains));
    }
}
