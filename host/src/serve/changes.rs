//! A run's changes as the console pages them: filtered and searched on the host, so the
//! page never holds a district's plan. The store keeps each run's operations as rows with
//! their search words (`store/run_changes.rs`); the console keeps the index of the run being
//! looked at in memory between requests (filtering 180,000 entries there takes milliseconds)
//! and reads from the database only the operations a page shows.

use std::sync::{Arc, Mutex};

use classbridge_engine::plan::{OpChange, OpEntity};
use serde::Deserialize;

pub(super) use crate::store::{NO_SCHOOL, OpIndexEntry, SchoolNames};

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

impl ChangeQuery {
    /// Whether this asks for plan order with no filter: a page the database answers by place,
    /// without the index.
    pub(super) fn is_plain(&self) -> bool {
        self.q.trim().is_empty()
            && self.entity.is_empty()
            && self.change.is_empty()
            && self.school.is_empty()
            && self.sort.is_empty()
            && !self.ids
    }

    pub(super) fn limit(&self) -> usize {
        self.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT)
    }
}

fn in_school(op: &OpIndexEntry, school: &str) -> bool {
    school.is_empty() || op.school.as_deref().unwrap_or(NO_SCHOOL) == school
}

pub(super) const DEFAULT_LIMIT: usize = 100;
pub(super) const MAX_LIMIT: usize = 1000;

fn named(value: impl std::fmt::Debug, wanted: &str) -> bool {
    wanted.is_empty() || format!("{value:?}").eq_ignore_ascii_case(wanted)
}

/// A run's operations as the console filters them, with the school names they are searched
/// and sorted by.
pub(super) struct ChangeIndex {
    pub entries: Vec<OpIndexEntry>,
    pub names: SchoolNames,
}

impl ChangeIndex {
    /// Every word is in the summary (which names people, courses with their codes, and
    /// schools), the person, the class or school id, or the school's name.
    fn found(entry: &OpIndexEntry, words: &[String]) -> bool {
        words.iter().all(|w| entry.words.contains(w.as_str()))
    }
}

/// The matching operations' count and the requested page of them.
pub(super) fn page<'p>(
    index: &'p ChangeIndex,
    query: &ChangeQuery,
) -> (usize, Vec<&'p OpIndexEntry>) {
    select(index, query, query.limit())
}

/// Every matching operation from the query's offset (exports, "reject all these").
pub(super) fn page_all<'p>(
    index: &'p ChangeIndex,
    query: &ChangeQuery,
) -> (usize, Vec<&'p OpIndexEntry>) {
    select(index, query, usize::MAX)
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
    index: &'p ChangeIndex,
    query: &ChangeQuery,
    limit: usize,
) -> (usize, Vec<&'p OpIndexEntry>) {
    let words: Vec<String> = query.q.split_whitespace().map(str::to_lowercase).collect();
    let (mut entity, mut change) = (
        Named::<OpEntity>::new(&query.entity),
        Named::<OpChange>::new(&query.change),
    );
    let names = &index.names;
    let matching = index.entries.iter().filter(|op| {
        entity.is(op.entity)
            && change.is(op.change)
            && in_school(op, &query.school)
            && ChangeIndex::found(op, &words)
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
    let mut all: Vec<&OpIndexEntry> = matching.collect();
    // Stable: ties stay in plan order.
    match query.sort.as_str() {
        "person" => all.sort_by_cached_key(|o| o.person.clone().unwrap_or_default()),
        "school" => all.sort_by_cached_key(|o| {
            o.school
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

/// The index of run `id`'s changes: the cached one, else read from the store (its outline is
/// written first when the run was stored by an older version). `None`: the run keeps no plan.
pub(super) fn cached_index(
    store: &crate::store::Store,
    cache: &IndexCache,
    id: i64,
) -> Result<(crate::store::RunRow, Option<Arc<ChangeIndex>>), crate::store::StoreError> {
    let row = store.run(id)?;
    let key = (id, row.plan_id.clone(), row.status.as_str().to_string());
    if let Some(index) = cache.get(&key) {
        return Ok((row, Some(index)));
    }
    // One read at a time: a search that comes while the index is read in the background
    // waits for it instead of reading a second copy.
    let _reading = cache
        .reading
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(index) = cache.get(&key) {
        return Ok((row, Some(index)));
    }
    let Some(outline) = store.run_outline(id)? else {
        return Ok((row, None));
    };
    let index = Arc::new(ChangeIndex {
        entries: store.run_op_index(id)?,
        names: outline.school_names,
    });
    cache.put(key, Arc::clone(&index));
    Ok((row, Some(index)))
}

/// Reads run `run`'s index into `cache` if the run awaits review, so the first search finds
/// it ready. A failure is logged, never raised.
pub(super) fn prepare_for_review(
    reader: &std::sync::Mutex<crate::store::Store>,
    cache: &IndexCache,
    run: i64,
) {
    let store = reader
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let prepared = (|| {
        if !awaits_review(store.run(run)?.status) {
            return Ok(());
        }
        cached_index(&store, cache, run).map(|_| ())
    })();
    if let Err(e) = prepared {
        tracing::warn!(run, error = %e, "run not prepared for review");
    }
}

/// The last indexes read, by run and the stored plan's id and status (an approval replaces
/// the stored plan, so a changed row reads it again).
#[derive(Default)]
pub(super) struct IndexCache {
    entries: Mutex<Vec<(CacheKey, Arc<ChangeIndex>)>>,
    /// Held while an index is read from the database.
    reading: Mutex<()>,
}

pub(super) type CacheKey = (i64, Option<String>, String);

const KEPT: usize = 2;

impl IndexCache {
    pub(super) fn get(&self, key: &CacheKey) -> Option<Arc<ChangeIndex>> {
        let entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, p)| Arc::clone(p))
    }

    pub(super) fn put(&self, key: CacheKey, index: Arc<ChangeIndex>) {
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        entries.retain(|(k, _)| k.0 != key.0);
        entries.insert(0, (key, index));
        entries.truncate(KEPT);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::store::{SchoolCounts, by_school};
    use classbridge_engine::SyncPlan;

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

    fn index(plan: &SyncPlan, names: SchoolNames) -> ChangeIndex {
        let entries = (0..)
            .zip(&plan.ops)
            .map(|(seq, op)| OpIndexEntry::of(seq, op, &names))
            .collect();
        ChangeIndex { entries, names }
    }

    fn ids(plan: &ChangeIndex, q: &ChangeQuery) -> (usize, Vec<String>) {
        let (total, items) = page(plan, q);
        (total, items.iter().map(|o| o.op_id.clone()).collect())
    }

    #[test]
    fn filters_search_and_pages_on_the_host() {
        let (synced, plan) = (plan(), index(&plan(), names()));
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
        let counts = by_school(&synced.ops, &names());
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
