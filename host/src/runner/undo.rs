//! `classbridge undo RUN`: the host's part of an undo. It reads what the engine needs — the
//! run's applied plan, its journal (outcomes and the SIS records its writes replaced) and
//! what Classroom holds now of what the run made (teacher work in its courses and topics,
//! work its students turned in) — asks the engine for the inverse plan, and stores it as a
//! pending run, approved and applied like any other.

use std::collections::{BTreeMap, BTreeSet};

use classbridge_engine::abi::Entry;
use classbridge_engine::commit_rows::{UndoPartRequest, ops_part};
use classbridge_engine::plan::Action;
use classbridge_engine::undo::UndoFacts;
use classbridge_engine::{OpOutcome, SyncPlan};

use super::{Host, RunError, RunReport, now_rfc3339, report};
use crate::store::RunStatus;

impl Host {
    /// Plans the undo of applied run `run` and keeps it as a pending run.
    pub async fn undo(&mut self, run: i64) -> Result<RunReport, RunError> {
        let lock = self.take_run_lock("undo")?;
        self.reconcile_interrupted()?;
        let row = self.store.run(run)?;
        if !matches!(row.status, RunStatus::Applied | RunStatus::Partial) {
            return Err(RunError::CannotUndo {
                run,
                why: format!(
                    "it is {}; only an applied (or partly applied) run can be undone",
                    row.status.as_str()
                ),
            });
        }
        let plan = self
            .store
            .run_plan(run)?
            .ok_or_else(|| RunError::CannotUndo {
                run,
                why: "its plan is no longer kept (retention)".into(),
            })?;
        let outcomes: Vec<OpOutcome> = self
            .store
            .journal(run)?
            .into_iter()
            .filter_map(|j| j.outcome)
            .collect();
        let priors = self.store.journal_priors(run)?;
        let facts = self.undo_facts(&plan, &outcomes).await?;
        let (_, revision) = self.store.state_revision()?;
        // The undo is made from the plan's operations alone: the rest of it (a first sync's
        // carries the whole roster) is not sent.
        let request = serde_json::to_vec(&UndoPartRequest {
            run: u64::try_from(run).unwrap_or_default(),
            plan: ops_part(&plan),
            outcomes: &outcomes,
            priors,
            facts,
            base_revision: revision,
            now: now_rfc3339(),
        })
        .map_err(RunError::Encode)?;
        let undo: SyncPlan = self.runtime.call(Entry::Undo, &request)?;
        let undo_run = self.store.start_run(&format!("undo {run}"))?;
        // The undo changes no roster: the state keeps the facts of the plan that made it.
        let facts = self.store.needs_facts()?;
        self.store.save_plan_facts(undo_run, &facts)?;
        let cannot = undo.record_issues.len();
        let message = format!(
            "undo of run {run}: {} operation(s){}; waiting for approval. The next sync plans the same changes again while the SIS still calls for them: pause syncs or fix the SIS first",
            undo.ops.len(),
            if cannot > 0 {
                format!(", {cannot} change(s) that cannot be undone (listed)")
            } else {
                String::new()
            }
        );
        self.store
            .save_plan(undo_run, &undo, RunStatus::Pending, Some(&message))?;
        drop(lock);
        Ok(self.with_estimate(report(
            undo_run,
            RunStatus::Pending,
            &undo,
            format!("{message}. Review it, then run `classbridge approve {undo_run}`"),
            &[],
            &[],
        )))
    }

    /// What Classroom holds now of what the run made: the work in its courses and under its
    /// topics, and the work its students turned in. What cannot be read is left out (the
    /// engine then keeps it, saying why).
    async fn undo_facts(
        &mut self,
        plan: &SyncPlan,
        outcomes: &[OpOutcome],
    ) -> Result<UndoFacts, RunError> {
        let done = classbridge_engine::undo::succeeded(outcomes);
        let succeeded = || {
            plan.ops
                .iter()
                .filter(|o| done.contains_key(o.op_id.as_str()))
        };
        let classroom = self.classroom()?;
        let mut facts = UndoFacts::default();
        // Courses the run made, and the courses of the topics it made: their work.
        let mut courses: BTreeSet<&str> = BTreeSet::new();
        let mut made: BTreeSet<&str> = BTreeSet::new();
        for op in succeeded() {
            match &op.action {
                Action::ClassroomCreateCourse { alias, .. } => {
                    courses.insert(alias);
                    made.insert(alias);
                }
                Action::ClassroomCreateTopic { alias, .. } => {
                    courses.insert(alias);
                }
                _ => {}
            }
        }
        let mut work_by_topic: BTreeMap<String, u64> = BTreeMap::new();
        let mut readable: BTreeSet<&str> = BTreeSet::new();
        for alias in &courses {
            match classroom.course_work_of(alias).await {
                Ok(work) => {
                    readable.insert(alias);
                    if made.contains(alias) {
                        facts
                            .course_work
                            .insert(alias.to_string(), work.len() as u64);
                    }
                    for topic in work.iter().filter_map(|(_, t)| t.as_ref()) {
                        *work_by_topic.entry(topic.clone()).or_default() += 1;
                    }
                }
                Err(e) => tracing::warn!(
                    "could not read the courseWork of {alias}: {}",
                    crate::error::chain(&e)
                ),
            }
        }
        for op in succeeded() {
            if let Action::ClassroomCreateTopic { alias, .. } = &op.action
                && readable.contains(alias.as_ref())
                && let Some(Some(topic)) = done.get(op.op_id.as_str())
            {
                facts.topic_work.insert(
                    topic.to_string(),
                    work_by_topic.get(*topic).copied().unwrap_or(0),
                );
            }
        }
        // Students the run added, unless their course goes whole.
        for op in succeeded() {
            let Action::ClassroomAddStudent { alias, user_id } = &op.action else {
                continue;
            };
            if facts.course_work.get(alias.as_ref()) == Some(&0) {
                continue;
            }
            match classroom.turned_in_by(alias, user_id).await {
                Ok(n) => {
                    facts
                        .submissions
                        .entry(alias.to_string())
                        .or_default()
                        .insert(user_id.to_string(), n);
                }
                Err(e) => tracing::warn!(
                    "could not read {user_id}'s work in {alias}: {}",
                    crate::error::chain(&e)
                ),
            }
        }
        Ok(facts)
    }
}
