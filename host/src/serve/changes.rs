//! A run's changes as the console pages them: filtered and searched on the host, so the
//! page never holds a district's plan. The plan of the run being looked at is kept parsed
//! between pages (a large one takes seconds to read).

use std::sync::{Arc, Mutex};

use classbridge_engine::SyncPlan;
use classbridge_engine::plan::PlannedOp;
use serde::Deserialize;

/// `?offset=&limit=&q=&entity=&change=`
#[derive(Deserialize, Debug, Default, Clone)]
#[serde(default)]
pub(super) struct ChangeQuery {
    pub offset: usize,
    pub limit: Option<usize>,
    /// Words found in the summary, the person (name and email), the class or the school.
    pub q: String,
    /// `course`, `teacher`, `student`, `topic`, `category`, `lineItem`, `result`.
    pub entity: String,
    /// `create`, `update`, `archive`, `delete`.
    pub change: String,
    /// Only changes in this school (its sourcedId); `-` for changes of no school.
    pub school: String,
    /// Also answer the ids of every match (for "reject all these").
    pub ids: bool,
    /// `person`, `school`, `course`, `change` or `entity`; plan order (the order of
    /// application) when empty.
    pub sort: String,
}

/// A school's share of a run.
#[derive(serde::Serialize, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub(super) struct SchoolCounts {
    /// The school's sourcedId, or `-` for changes of no school (users, categories).
    pub school: String,
    /// Its name, where the roster knows it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub create: usize,
    pub update: usize,
    pub archive: usize,
    pub delete: usize,
    pub total: usize,
}

/// School names by sourcedId, as admins search and read them.
pub(super) type SchoolNames = std::collections::BTreeMap<String, String>;

/// The names of the schools a plan's changes are in: from the plan's own roster change
/// (a first sync's schools are not in the state yet), else from the state.
pub(super) fn school_names(
    plan: &SyncPlan,
    store: &crate::store::Store,
) -> Result<SchoolNames, crate::store::StoreError> {
    let ids: std::collections::BTreeSet<&str> = plan
        .ops
        .iter()
        .filter_map(|o| o.school_id.as_deref())
        .collect();
    let planned = &plan.state_delta.roster.orgs.upsert;
    let mut names: SchoolNames = ids
        .iter()
        .filter_map(|id| planned.get(*id).map(|o| (id.to_string(), o.name.clone())))
        .collect();
    let rest: Vec<&str> = ids
        .into_iter()
        .filter(|id| !names.contains_key(*id))
        .collect();
    names.extend(store.org_names(rest)?);
    Ok(names)
}

/// Every school's counts, most changes first.
pub(super) fn by_school(plan: &SyncPlan, names: &SchoolNames) -> Vec<SchoolCounts> {
    use classbridge_engine::plan::OpChange;
    let mut counts: std::collections::BTreeMap<&str, SchoolCounts> = Default::default();
    for op in &plan.ops {
        let school = op.school_id.as_deref().unwrap_or(NO_SCHOOL);
        let c = counts.entry(school).or_insert_with(|| SchoolCounts {
            school: school.to_string(),
            name: names.get(school).cloned(),
            ..SchoolCounts::default()
        });
        match op.change {
            OpChange::Create => c.create += 1,
            OpChange::Update => c.update += 1,
            OpChange::Archive => c.archive += 1,
            _ => c.delete += 1,
        }
        c.total += 1;
    }
    let mut list: Vec<SchoolCounts> = counts.into_values().collect();
    list.sort_by(|a, b| b.total.cmp(&a.total).then_with(|| a.school.cmp(&b.school)));
    list
}

/// How changes of no school are named in `?school=` and the breakdown.
pub(super) const NO_SCHOOL: &str = "-";

fn in_school(op: &PlannedOp, school: &str) -> bool {
    school.is_empty() || op.school_id.as_deref().unwrap_or(NO_SCHOOL) == school
}

pub(super) const DEFAULT_LIMIT: usize = 100;
pub(super) const MAX_LIMIT: usize = 1000;

fn named(value: impl std::fmt::Debug, wanted: &str) -> bool {
    wanted.is_empty() || format!("{value:?}").eq_ignore_ascii_case(wanted)
}

/// A plan as the console reads it, with what every request needs of it worked out once: the
/// school names, the per-school breakdown and each operation's searchable words. At M
/// (180,000 operations) lowercasing every summary again on each keystroke was most of a
/// search's time.
pub(super) struct PlanView {
    pub plan: SyncPlan,
    pub names: SchoolNames,
    pub by_school: Vec<SchoolCounts>,
    /// Per operation, in plan order: its summary, person, class and school ids and school
    /// name, lowercased, each field ended by a separator no search word contains.
    words: Vec<String>,
}

impl std::ops::Deref for PlanView {
    type Target = SyncPlan;

    fn deref(&self) -> &SyncPlan {
        &self.plan
    }
}

/// Ends each field of an operation's searchable words (a search word is split on whitespace,
/// so it never holds a control character and never matches across two fields).
const FIELD_END: char = '\u{1}';

impl PlanView {
    pub(super) fn new(
        plan: SyncPlan,
        store: &crate::store::Store,
    ) -> Result<PlanView, crate::store::StoreError> {
        let names = school_names(&plan, store)?;
        Ok(PlanView::with_names(plan, names))
    }

    /// The view of `plan` with these school names.
    pub(super) fn with_names(plan: SyncPlan, names: SchoolNames) -> PlanView {
        let by_school = by_school(&plan, &names);
        let words = plan
            .ops
            .iter()
            .map(|op| {
                let school_name = op.school_id.as_deref().and_then(|s| names.get(s));
                let mut text = String::new();
                for field in [
                    Some(op.summary.as_str()),
                    school_name.map(String::as_str),
                    op.class_id.as_deref(),
                    op.school_id.as_deref(),
                    op.person.as_deref(),
                ]
                .into_iter()
                .flatten()
                {
                    text.push_str(&field.to_lowercase());
                    text.push(FIELD_END);
                }
                text
            })
            .collect();
        PlanView {
            plan,
            names,
            by_school,
            words,
        }
    }

    /// Every word is in the summary (which names people, courses with their codes, and
    /// schools), the person, the class or school id, or the school's name.
    fn found(&self, index: usize, words: &[String]) -> bool {
        words.iter().all(|w| self.words[index].contains(w.as_str()))
    }
}

/// The matching operations' count and the requested page of them, in plan order.
pub(super) fn page<'p>(view: &'p PlanView, query: &ChangeQuery) -> (usize, Vec<&'p PlannedOp>) {
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    select(view, query, limit)
}

/// Every matching operation from the query's offset (exports).
pub(super) fn page_all<'p>(view: &'p PlanView, query: &ChangeQuery) -> (usize, Vec<&'p PlannedOp>) {
    select(view, query, usize::MAX)
}

/// Whether a value of a small enum is the one asked for, each value's name worked out once.
struct Named<T> {
    wanted: String,
    seen: Vec<(T, bool)>,
}

impl<T: Copy + PartialEq + std::fmt::Debug> Named<T> {
    fn new(wanted: &str) -> Self {
        Named {
            wanted: wanted.to_string(),
            seen: Vec::new(),
        }
    }

    fn is(&mut self, value: T) -> bool {
        if self.wanted.is_empty() {
            return true;
        }
        if let Some((_, ok)) = self.seen.iter().find(|(v, _)| *v == value) {
            return *ok;
        }
        let ok = named(value, &self.wanted);
        self.seen.push((value, ok));
        ok
    }
}

fn select<'p>(
    view: &'p PlanView,
    query: &ChangeQuery,
    limit: usize,
) -> (usize, Vec<&'p PlannedOp>) {
    let words: Vec<String> = query.q.split_whitespace().map(str::to_lowercase).collect();
    let (mut entity, mut change) = (Named::new(&query.entity), Named::new(&query.change));
    let names = &view.names;
    let matching = view.plan.ops.iter().enumerate().filter_map(|(i, op)| {
        (entity.is(op.entity)
            && change.is(op.change)
            && in_school(op, &query.school)
            && view.found(i, &words))
        .then_some(op)
    });
    if query.sort.is_empty() {
        // Plan order: one pass, keeping only the page.
        let mut total = 0;
        let mut items = Vec::new();
        for op in matching {
            if total >= query.offset && items.len() < limit {
                items.push(op);
            }
            total += 1;
        }
        return (total, items);
    }
    let mut all: Vec<&PlannedOp> = matching.collect();
    // Stable: ties stay in plan order.
    match query.sort.as_str() {
        "person" => all.sort_by_cached_key(|o| o.person.clone().unwrap_or_default()),
        "school" => all.sort_by_cached_key(|o| {
            o.school_id
                .as_deref()
                .map(|s| names.get(s).map_or(s, String::as_str).to_lowercase())
                .unwrap_or_default()
        }),
        "course" => all.sort_by_cached_key(|o| o.class_id.clone().unwrap_or_default()),
        "change" => all.sort_by_key(|o| o.change),
        "entity" => all.sort_by_key(|o| o.entity),
        _ => {}
    }
    let total = all.len();
    let items = all.into_iter().skip(query.offset).take(limit).collect();
    (total, items)
}

/// Whether a run in this status is one an admin reviews (its page is worth preparing).
pub(super) fn awaits_review(status: crate::store::RunStatus) -> bool {
    use crate::store::RunStatus;
    matches!(status, RunStatus::Pending | RunStatus::Planned)
}

/// Indexes run `run`'s plan into `plans` (`plan` when the caller has it, else the stored one)
/// if the run awaits review, so opening it finds it ready. The console's connection is held
/// only to read, never while a district's plan is parsed; a failure is logged, never raised.
pub(super) fn prepare_for_review(
    reader: &std::sync::Mutex<crate::store::Store>,
    plans: &PlanCache,
    run: i64,
    plan: Option<SyncPlan>,
) {
    let store = || {
        reader
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    };
    let prepared = (|| {
        let row = store().run(run)?;
        if !awaits_review(row.status) {
            return Ok(());
        }
        let plan = match plan {
            Some(plan) => plan,
            None => {
                let Some(text) = store().run_plan_text(run)? else {
                    return Ok(());
                };
                crate::store::Store::parse_plan(run, &text)?
            }
        };
        let names = school_names(&plan, &store())?;
        let key = (run, row.plan_id.clone(), row.status.as_str().to_string());
        plans.put(key, Arc::new(PlanView::with_names(plan, names)));
        Ok::<(), crate::store::StoreError>(())
    })();
    if let Err(e) = prepared {
        tracing::warn!(run, error = %e, "run not prepared for review");
    }
}

/// The last plans read, by run and the stored plan's id and status (an approval replaces
/// the stored plan, so a changed row reads it again).
#[derive(Default)]
pub(super) struct PlanCache {
    entries: Mutex<Vec<(CacheKey, Arc<PlanView>)>>,
}

pub(super) type CacheKey = (i64, Option<String>, String);

const KEPT: usize = 2;

impl PlanCache {
    pub(super) fn get(&self, key: &CacheKey) -> Option<Arc<PlanView>> {
        let entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, p)| Arc::clone(p))
    }

    pub(super) fn put(&self, key: CacheKey, plan: Arc<PlanView>) {
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        entries.retain(|(k, _)| k.0 != key.0);
        entries.insert(0, (key, plan));
        entries.truncate(KEPT);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> SyncPlan {
        let op = |id: &str, entity: &str, change: &str, summary: &str, person: Option<&str>| {
            serde_json::json!({
                "opId": id, "key": id, "entity": entity, "change": change,
                "summary": summary, "person": person, "schoolId": "sch7",
                "action": {"type": "classroomAddStudent", "alias": "d:c1", "user_id": "x@d.org"},
                "effect": {"type": "memberAdded", "class_id": "c1", "role": "student", "email": "x@d.org"}
            })
        };
        serde_json::from_value(serde_json::json!({
            "id": "p", "engineVersion": "t", "createdAt": "2026-12-04T00:00:00Z",
            "ops": [
                op("a", "student", "create", "add Maria Lopez to Algebra 1", Some("Maria Lopez <mlopez@d.org>")),
                op("b", "student", "delete", "remove Sam Lee from Algebra 1", Some("Sam Lee <slee@d.org>")),
                op("c", "teacher", "create", "add Ana Ruiz to Biology", Some("Ana Ruiz <aruiz@d.org>")),
                op("d", "student", "create", "add Maria Chen to Biology", Some("Maria Chen <mchen@d.org>")),
            ],
            "holds": [], "previewRequired": false, "recordIssues": [], "rosterChanges": [],
            "summary": classbridge_engine::plan::PreviewSummary::default(),
            "stateDelta": classbridge_engine::delta::StateDelta::default(),
        }))
        .unwrap()
    }

    fn names() -> SchoolNames {
        [("sch7".to_string(), "Lincoln High".to_string())].into()
    }

    fn ids(plan: &PlanView, q: &ChangeQuery) -> (usize, Vec<String>) {
        let (total, items) = page(plan, q);
        (total, items.iter().map(|o| o.op_id.clone()).collect())
    }

    #[test]
    fn filters_search_and_pages_on_the_host() {
        let plan = PlanView::with_names(plan(), names());
        let all = ChangeQuery::default();
        assert_eq!(ids(&plan, &all).0, 4);
        let students = ChangeQuery {
            entity: "student".into(),
            ..all.clone()
        };
        assert_eq!(
            ids(&plan, &students),
            (3, vec!["a".into(), "b".into(), "d".into()])
        );
        let maria = ChangeQuery {
            q: "maria".into(),
            ..all.clone()
        };
        assert_eq!(ids(&plan, &maria), (2, vec!["a".into(), "d".into()]));
        // Every word must be found; emails and schools are searched too.
        let maria_bio = ChangeQuery {
            q: "Maria biology".into(),
            ..all.clone()
        };
        assert_eq!(ids(&plan, &maria_bio), (1, vec!["d".into()]));
        let email = ChangeQuery {
            q: "slee@d.org".into(),
            ..all.clone()
        };
        assert_eq!(ids(&plan, &email).1, vec!["b".to_string()]);
        // A school by its name, which no summary here carries.
        let school = ChangeQuery {
            q: "lincoln high".into(),
            ..all.clone()
        };
        assert_eq!(ids(&plan, &school).0, 4);
        let nowhere = ChangeQuery {
            q: "washington".into(),
            ..all.clone()
        };
        assert_eq!(ids(&plan, &nowhere).0, 0);
        let deletes = ChangeQuery {
            change: "DELETE".into(),
            ..all.clone()
        };
        assert_eq!(ids(&plan, &deletes).1, vec!["b".to_string()]);
        let second_page = ChangeQuery {
            offset: 2,
            limit: Some(1),
            ..all.clone()
        };
        assert_eq!(ids(&plan, &second_page), (4, vec!["c".into()]));
        let lincoln = ChangeQuery {
            school: "sch7".into(),
            ..all.clone()
        };
        assert_eq!(ids(&plan, &lincoln).0, 4);
        let elsewhere = ChangeQuery {
            school: "sch-other".into(),
            ..all.clone()
        };
        assert_eq!(ids(&plan, &elsewhere).0, 0);
        let counts = by_school(&plan, &names());
        assert_eq!(
            counts,
            vec![SchoolCounts {
                school: "sch7".into(),
                name: Some("Lincoln High".into()),
                create: 3,
                delete: 1,
                total: 4,
                ..SchoolCounts::default()
            }]
        );
        // Sorted by person, then paged.
        let by_person = ChangeQuery {
            sort: "person".into(),
            ..all.clone()
        };
        assert_eq!(
            ids(&plan, &by_person).1,
            vec!["c".to_string(), "d".into(), "a".into(), "b".into()]
        );
        let by_change = ChangeQuery {
            sort: "change".into(),
            offset: 3,
            ..all.clone()
        };
        assert_eq!(ids(&plan, &by_change), (4, vec!["b".into()]));
        let past_the_end = ChangeQuery { offset: 9, ..all };
        assert_eq!(ids(&plan, &past_the_end), (4, vec![]));
    }
}
