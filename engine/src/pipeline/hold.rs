//! Hold: large changes wait for approval. Thresholds per entity and kind of change (count and
//! percent of the previous roster); an emptied or sharply shrunken source is always held.

use std::collections::BTreeMap;

use crate::config::{ChangeKind, SyncConfig};
use crate::model::{EntityKind, Roster};
use crate::plan::{HoldCode, HoldReason, RosterChange};

pub(crate) fn evaluate(
    config: &SyncConfig,
    previous: &Roster,
    changes: &[RosterChange],
    previous_sources: &BTreeMap<String, Roster>,
    sources: &BTreeMap<String, Roster>,
) -> Vec<HoldReason> {
    let mut holds = Vec::new();
    let mut counts: BTreeMap<(EntityKind, ChangeKind), u64> = BTreeMap::new();
    for c in changes {
        *counts.entry((c.entity, c.change)).or_default() += 1;
    }
    let policy = &config.holds;
    for threshold in &policy.effective_thresholds() {
        for kind in EntityKind::ROSTER {
            if threshold.entity.is_some_and(|e| e != kind) {
                continue;
            }
            let n = counts.get(&(kind, threshold.change)).copied().unwrap_or(0);
            if n == 0 {
                continue;
            }
            let before = previous.count(kind) as u64;
            let verb = match threshold.change {
                ChangeKind::Create => "created",
                ChangeKind::Update => "updated",
                ChangeKind::Delete => "deleted",
            };
            if let Some(max) = threshold.max_count
                && n > max
            {
                holds.push(hold(
                    HoldCode::Threshold,
                    kind,
                    None,
                    format!(
                        "{n} {} would be {verb} (more than {max})",
                        kind.collection()
                    ),
                ));
                continue;
            }
            if let Some(max) = threshold.max_percent
                && before > 0
                && n >= policy.min_changes_for_percent
            {
                let percent = n as f64 * 100.0 / before as f64;
                if percent > max {
                    holds.push(hold(
                        HoldCode::Threshold,
                        kind,
                        None,
                        format!("{n} of {before} {} ({percent:.1}%) would be {verb}, over the {max}% threshold", kind.collection()),
                    ));
                }
            }
        }
    }
    for (source, now) in sources {
        let Some(before) = previous_sources.get(source) else {
            continue;
        };
        if before.roster_len() > 0 && now.roster_len() == 0 {
            holds.push(HoldReason {
                code: HoldCode::EmptySource,
                entity: None,
                source: Some(source.clone()),
                message: format!("source '{source}' sent no records at all (it had {} before); nothing is deleted until approved", before.roster_len()),
            });
            continue;
        }
        for kind in EntityKind::ROSTER {
            let (b, a) = (before.count(kind), now.count(kind));
            if b == 0 || a >= b {
                continue;
            }
            if a == 0 {
                holds.push(hold(HoldCode::EmptySource, kind, Some(source), format!("source '{source}' sent no {} (it had {b}); nothing is deleted until approved", kind.collection())));
            } else {
                let shrink = (b - a) as f64 * 100.0 / b as f64;
                if shrink > policy.max_shrink_percent {
                    holds.push(hold(
                        HoldCode::SourceShrank,
                        kind,
                        Some(source),
                        format!(
                            "source '{source}' shrank from {b} to {a} {} ({shrink:.1}% fewer)",
                            kind.collection()
                        ),
                    ));
                }
            }
        }
    }
    holds
}

fn hold(code: HoldCode, entity: EntityKind, source: Option<&str>, message: String) -> HoldReason {
    HoldReason {
        code,
        entity: Some(entity),
        source: source.map(str::to_string),
        message,
    }
}
