//! The engine's work for Verify and What-if, run in a Web Worker so the page never freezes:
//! the worker receives a run's stored input for each request (chunk by chunk, as it
//! arrives), plans it under the stored or edited rules, and answers only a digest (plan id,
//! counts, holds), never the plan itself. It keeps only the stored rules' scores between
//! requests, so its memory follows one plan, not a district's JSON besides.
//!
//! The worker's script (`/console/worker.js`) fetches the input and calls these; the page
//! talks to it with messages (see `app::worker_request`).

use std::cell::RefCell;
use std::collections::BTreeMap;

use classbridge_engine::plan::{Action, HoldReason, OpEntity, PreviewSummary};
use classbridge_engine::{SyncConfig, SyncInput, SyncPlan};
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;

/// What the page is shown of a plan the worker made.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub(crate) struct PlanDigest {
    pub id: String,
    pub summary: PreviewSummary,
    pub holds: Vec<HoldReason>,
    pub ops: usize,
    /// Why it would wait for an admin, as the host says it (`SyncPlan::waiting_reason`).
    #[serde(default)]
    pub waiting: Option<String>,
    /// Rules that take no effect on this run, each "where: why".
    #[serde(default)]
    pub notices: Vec<String>,
    /// Grades that export differently under these rules than under the stored ones: the
    /// first [`SHOWN_SCORE_CHANGES`], "who on what: before → after".
    #[serde(default)]
    pub score_changes: Vec<String>,
    #[serde(default)]
    pub score_changes_total: usize,
}

/// How many changed grades a what-if lists.
pub(crate) const SHOWN_SCORE_CHANGES: usize = 50;

/// Each result a plan writes, by sourcedId: who and what it is about, and the score sent.
pub(crate) type Scores = BTreeMap<String, (String, String)>;

thread_local! {
    /// The scores the stored rules export for a run, for what-if to compare with.
    static STORED_SCORES: RefCell<Option<(u32, Scores)>> = const { RefCell::new(None) };
    /// The stored input as it arrives, chunk by chunk, for the next request.
    static RECEIVED: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Whether the stored rules' scores of run `run` are known (a what-if needs them first).
/// (Run ids cross to JavaScript as numbers.)
#[wasm_bindgen(js_name = workerHasScores)]
pub fn worker_has_scores(run: u32) -> bool {
    STORED_SCORES.with(|s| s.borrow().as_ref().is_some_and(|(r, _)| *r == run))
}

/// Starts receiving a run's stored input, `expected` bytes long (0 when unknown). The worker
/// fetches the input for each request and hands it over as it arrives: no JavaScript copy
/// of a district's JSON is made, and between requests the worker holds none.
#[wasm_bindgen(js_name = workerReceive)]
pub fn worker_receive(expected: usize) {
    RECEIVED.with(|r| *r.borrow_mut() = Vec::with_capacity(expected));
}

/// The next chunk of the input being received.
#[wasm_bindgen(js_name = workerAppend)]
pub fn worker_append(chunk: &[u8]) {
    RECEIVED.with(|r| r.borrow_mut().extend_from_slice(chunk));
}

/// The input received, parsed; its bytes are freed before anything is planned, so the peak
/// of a plan holds the parsed input, the engine's work and the plan.
fn received_input() -> Result<SyncInput, String> {
    let bytes = RECEIVED.with(|r| std::mem::take(&mut *r.borrow_mut()));
    serde_json::from_slice(&bytes)
        .map_err(|e| format!("the run's stored input could not be read: {e}"))
}

/// The input's rules as pretty JSON, without the sources (connection settings, not rules to
/// play with).
#[wasm_bindgen(js_name = workerRules)]
pub fn worker_rules() -> Result<String, String> {
    /// Only the rules are read; the rest of the input is skipped over.
    #[derive(Deserialize)]
    struct RulesOnly {
        config: SyncConfig,
    }
    let bytes = RECEIVED.with(|r| std::mem::take(&mut *r.borrow_mut()));
    let only: RulesOnly = serde_json::from_slice(&bytes)
        .map_err(|e| format!("the run's stored input could not be read: {e}"))?;
    rules_text(&only.config)
}

pub(crate) fn rules_text(config: &SyncConfig) -> Result<String, String> {
    let mut rules = serde_json::to_value(config).map_err(|e| e.to_string())?;
    if let Some(o) = rules.as_object_mut() {
        o.remove("sources");
    }
    serde_json::to_string_pretty(&rules).map_err(|e| e.to_string())
}

/// Plans run `run`'s input (as received), under `rules` (JSON, as from [`worker_rules`]) when given, and
/// answers the plan's digest as JSON. Planned under the stored rules, it keeps the scores
/// they export, which a what-if compares with (plan under the stored rules first).
#[wasm_bindgen(js_name = workerPlan)]
pub fn worker_plan(run: u32, rules: Option<String>) -> Result<String, String> {
    let input = received_input()?;
    let digest = match rules {
        None => {
            let plan = plan_under(input, None)?;
            let stored = scores(&plan);
            let digest = digest_of(plan, &stored);
            STORED_SCORES.with(|s| *s.borrow_mut() = Some((run, stored)));
            digest
        }
        Some(rules) => {
            let stored = STORED_SCORES
                .with(|s| {
                    s.borrow()
                        .as_ref()
                        .filter(|(r, _)| *r == run)
                        .map(|(_, scores)| scores.clone())
                })
                .ok_or("plan run under its stored rules before a what-if")?;
            plan_digest(input, Some(&rules), &stored)?
        }
    };
    serde_json::to_string(&digest).map_err(|e| e.to_string())
}

/// `input`'s plan, under edited `rules` when given.
pub(crate) fn plan_under(mut input: SyncInput, rules: Option<&str>) -> Result<SyncPlan, String> {
    if let Some(text) = rules {
        let mut rules: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("the rules are not valid JSON: {e}"))?;
        rules["sources"] =
            serde_json::to_value(&input.config.sources).map_err(|e| e.to_string())?;
        let config: SyncConfig =
            serde_json::from_value(rules).map_err(|e| format!("the rules do not fit: {e}"))?;
        classbridge_engine::validate_config(&config).map_err(|e| e.to_string())?;
        input.config = config;
    }
    classbridge_engine::plan(input).map_err(|e| format!("the engine refused the input: {e}"))
}

/// The digest of `input`'s plan under edited `rules` when given, its grades compared with
/// `stored` (the scores under the stored rules).
pub(crate) fn plan_digest(
    input: SyncInput,
    rules: Option<&str>,
    stored: &Scores,
) -> Result<PlanDigest, String> {
    Ok(digest_of(plan_under(input, rules)?, stored))
}

/// What the page is shown of `plan`, its grades compared with `stored`.
fn digest_of(plan: SyncPlan, stored: &Scores) -> PlanDigest {
    let now = scores(&plan);
    let changed = score_changes(stored, &now);
    PlanDigest {
        ops: plan.ops.len(),
        waiting: plan.waiting_reason(),
        notices: plan
            .record_issues
            .iter()
            .filter(|i| i.source == "rules")
            .map(|i| format!("{}: {}", i.entity, i.reason))
            .collect(),
        score_changes_total: changed.len(),
        score_changes: changed.into_iter().take(SHOWN_SCORE_CHANGES).collect(),
        id: plan.id,
        summary: plan.summary,
        holds: plan.holds,
    }
}

/// The results a plan writes, with their score in words ("17 (fully graded)").
pub(crate) fn scores(plan: &SyncPlan) -> Scores {
    plan.ops
        .iter()
        .filter(|o| o.entity == OpEntity::Result)
        .filter_map(|o| {
            let Action::OneRosterPut {
                sourced_id, body, ..
            } = &o.action
            else {
                return None;
            };
            let result = body.to_value().ok()?.get("result")?.clone();
            let score = match result.get("score").filter(|v| !v.is_null()) {
                Some(score) => score.to_string(),
                None => "no score".to_string(),
            };
            let status = result["scoreStatus"].as_str().unwrap_or_default();
            // The summary names the student, the assignment and the course after " for ".
            let about = o
                .summary
                .split_once(" for ")
                .map_or(o.summary.as_str(), |(_, rest)| rest);
            let about = about.rsplit_once(", source '").map_or(about, |(a, _)| a);
            Some((
                sourced_id.clone(),
                (about.to_string(), format!("{score} ({status})")),
            ))
        })
        .collect()
}

/// "who on what: before → after" for each result written differently; a result one plan
/// does not write stays as last exported.
fn score_changes(stored: &Scores, edited: &Scores) -> Vec<String> {
    const UNCHANGED: &str = "as last exported";
    let mut ids: Vec<&String> = stored.keys().chain(edited.keys()).collect();
    ids.sort();
    ids.dedup();
    ids.into_iter()
        .filter_map(|id| {
            let before = stored.get(id);
            let after = edited.get(id);
            let score =
                |v: Option<&(String, String)>| v.map_or(UNCHANGED, |(_, s)| s.as_str()).to_string();
            if score(before) == score(after) {
                return None;
            }
            let about = before.or(after).map_or(id.as_str(), |(a, _)| a.as_str());
            Some(format!("{about}: {} → {}", score(before), score(after)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> SyncInput {
        serde_json::from_str(include_str!("../../tests/fixtures/district-day1.json"))
            .expect("fixture")
    }

    #[test]
    fn the_worker_plans_what_the_engine_plans_and_applies_edited_rules() {
        let input = input();
        let plan = classbridge_engine::plan(input.clone()).expect("plan");
        let stored = scores(&plan);
        let digest = plan_digest(input.clone(), None, &stored).expect("digest");
        assert_eq!(
            digest.id, plan.id,
            "Verify compares the same id the host stored"
        );
        assert_eq!(digest.ops, plan.ops.len());
        assert_eq!(digest.summary, plan.summary);

        // The rules as the page shows them carry no sources, and planning under them
        // unchanged gives the same plan.
        let rules = rules_text(&input.config).expect("rules");
        assert!(!rules.contains("\"sources\""), "{rules}");
        assert_eq!(
            plan_digest(input.clone(), Some(&rules), &stored)
                .unwrap()
                .id,
            plan.id
        );

        // An edit that leaves out every class changes the counts.
        let mut edited: serde_json::Value = serde_json::from_str(&rules).unwrap();
        edited["filters"] = serde_json::json!([{
            "entity": "class", "field": "title", "op": "contains", "value": "", "action": "exclude"
        }]);
        let what_if =
            plan_digest(input.clone(), Some(&edited.to_string()), &stored).expect("what-if");
        assert_ne!(what_if.id, plan.id);
        assert!(
            what_if.ops < plan.ops.len(),
            "{} vs {}",
            what_if.ops,
            plan.ops.len()
        );

        let broken = plan_digest(input.clone(), Some("{ not json"), &stored).unwrap_err();
        assert!(broken.contains("not valid JSON"), "{broken}");
    }

    /// Day 1 applied (courses as the graded fixture numbers them), then graded in Classroom.
    fn graded() -> SyncInput {
        use classbridge_engine::plan::{OpOutcome, OutcomeResult};
        let day1 = input();
        let plan = classbridge_engine::plan(day1.clone()).expect("plan");
        let outcomes: Vec<OpOutcome> = plan
            .ops
            .iter()
            .map(|op| OpOutcome {
                op_id: op.op_id.clone(),
                result: OutcomeResult::Succeeded {
                    remote_id: match &op.action {
                        Action::ClassroomCreateCourse { alias, .. } => {
                            Some(alias.replace("d:cl", "500"))
                        }
                        _ => None,
                    },
                },
            })
            .collect();
        let state =
            classbridge_engine::commit(&day1.previous_state, &plan, &outcomes).expect("commit");
        let mut v = serde_json::to_value(&day1).expect("input");
        v["previousState"] = serde_json::to_value(&state).expect("state");
        v["now"] = serde_json::json!("2026-10-01T06:00:00Z");
        v["classroom"] =
            serde_json::from_str(include_str!("../../tests/fixtures/classroom-graded.json"))
                .expect("classroom fixture");
        serde_json::from_value(v).expect("graded input")
    }

    #[test]
    fn what_if_names_the_grades_an_edit_changes_and_says_when_nothing_changes() {
        let input = graded();
        let plan = classbridge_engine::plan(input.clone()).expect("plan");
        let stored = scores(&plan);
        assert!(!stored.is_empty(), "the fixture exports grades");
        let rules = rules_text(&input.config).expect("rules");
        let same = plan_digest(input.clone(), Some(&rules), &stored).expect("same");
        assert_eq!(same.id, plan.id);
        assert!(same.score_changes.is_empty(), "{:?}", same.score_changes);

        let mut edited: serde_json::Value = serde_json::from_str(&rules).unwrap();
        edited["grades"]["score"] = serde_json::json!("percent");
        let percent =
            plan_digest(input.clone(), Some(&edited.to_string()), &stored).expect("what-if");
        assert!(percent.score_changes_total > 0);
        let line = &percent.score_changes[0];
        assert!(line.contains(" on '") && line.contains(" → "), "{line}");

        // A filter on a field no record has is named, not silently ignored.
        edited["filters"] = serde_json::json!([{
            "entity": "user", "field": "gradeLevl", "op": "equals", "value": "9"
        }]);
        let filtered =
            plan_digest(input.clone(), Some(&edited.to_string()), &stored).expect("what-if");
        assert!(
            filtered
                .notices
                .iter()
                .any(|n| n.starts_with("filters[0]: has no effect")),
            "{:?}",
            filtered.notices
        );
    }
}
