//! Records the rules left out of the roster, collected as the stages leave them out and kept
//! in the plan when the decision is news (see [`SkippedRecord`]): a filter that leaves out
//! ten thousand guardians every night lists them once, not every night.

use std::collections::{BTreeMap, BTreeSet};

use crate::explanation::{AppliedRule, RuleKind, SkippedRecord};
use crate::model::{EntityKind, Roster};

/// One record left out, before its person is known.
struct Left {
    entity: EntityKind,
    sourced_id: String,
    /// The user it concerns, by sourcedId (its own for a user, an enrolment's user).
    user: Option<String>,
    rule: AppliedRule,
}

/// What the stages left out, in the order they left it out.
#[derive(Default)]
pub(crate) struct Skips {
    left: Vec<Left>,
}

impl Skips {
    /// `user`: the sourcedId of the user the record concerns, when one.
    pub(crate) fn push(
        &mut self,
        entity: EntityKind,
        sourced_id: &str,
        user: Option<&str>,
        rule: AppliedRule,
    ) {
        self.left.push(Left {
            entity,
            sourced_id: sourced_id.to_string(),
            user: user.map(str::to_string),
            rule,
        });
    }

    /// A filter or requirement rule `rule` (as the config names it) left out a record.
    pub(crate) fn rule(
        &mut self,
        entity: EntityKind,
        sourced_id: &str,
        user: Option<&str>,
        (kind, rule, says): (RuleKind, String, String),
    ) {
        self.push(entity, sourced_id, user, AppliedRule::new(kind, rule, says));
    }

    /// Whether a record was left out this run, and by which rule.
    pub(crate) fn index(&self) -> BTreeMap<(EntityKind, &str), &AppliedRule> {
        self.left
            .iter()
            .map(|l| ((l.entity, l.sourced_id.as_str()), &l.rule))
            .collect()
    }

    /// The decisions that are news: the record was in the last accepted roster (leaving it
    /// out removes it) or in no source's last snapshot (it is new). Each names its person
    /// by email, looked up in this run's sources, then the last accepted roster.
    pub(crate) fn into_news(
        self,
        previous: &Roster,
        previous_sources: &BTreeMap<String, Roster>,
        sources: &BTreeMap<String, Roster>,
    ) -> Vec<SkippedRecord> {
        let news: Vec<Left> = self
            .left
            .into_iter()
            .filter(|l| {
                previous.contains(l.entity, &l.sourced_id)
                    || !previous_sources
                        .values()
                        .any(|s| s.contains(l.entity, &l.sourced_id))
            })
            .collect();
        let wanted: BTreeSet<&str> = news.iter().filter_map(|l| l.user.as_deref()).collect();
        let mut emails: BTreeMap<&str, String> = BTreeMap::new();
        for roster in sources.values().chain([previous]) {
            for id in &wanted {
                if emails.contains_key(id) {
                    continue;
                }
                if let Some(email) = roster
                    .users
                    .get(*id)
                    .and_then(crate::model::User::normalized_email)
                {
                    emails.insert(id, email);
                }
            }
        }
        let mut out: Vec<SkippedRecord> = news
            .iter()
            .map(|l| SkippedRecord {
                entity: l.entity,
                sourced_id: l.sourced_id.clone(),
                person: l.user.as_deref().and_then(|u| emails.get(u).cloned()),
                rule: l.rule.clone(),
            })
            .collect();
        // A record left out by two stages (a school's class, then its enrolments' cascade)
        // is said once, by the first.
        let mut seen = BTreeSet::new();
        out.retain(|s| seen.insert((s.entity, s.sourced_id.clone())));
        out
    }
}
