//! Ingest: raw source data -> one canonical roster per source. Bad records become
//! `RecordIssue`s and never stop good ones; a bad record that existed before keeps its
//! previous version, so a typo in the SIS never turns into a deletion.

mod classroom;
mod csv_bundle;
mod delta_touch;
mod fields;
mod json_pages;
mod raw;
mod record;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde_json::{Map, Value};

pub(crate) use classroom::is_timestamp;
// Reachable only through `internals` (feature `internals`).
#[cfg(feature = "internals")]
pub use classroom::read_classroom;
pub(crate) use classroom::{ClassroomReading, read_reading};
pub(crate) use delta_touch::delta_records;
pub(crate) use record::FromRaw;

use crate::config::{AttributeMapping, SourceConfig, SyncConfig};
use crate::input::{CheckOutcome, FetchMode, RemovalCheck, SourceData, SourcePayload};
use crate::model::*;
use crate::plan::{Absence, AbsenceStatus, HoldCode, HoldReason};
use crate::state::SyncState;
use raw::{RawCollection, RawSource};

/// What ingest made of the sources.
#[derive(Default)]
#[cfg_attr(not(feature = "internals"), allow(unreachable_pub))]
pub struct Ingested {
    /// Source id -> its roster as of this run (delta reads already laid over the previous one).
    pub sources: BTreeMap<String, Roster>,
    /// Records that could not be read, or were read with a problem.
    pub issues: Vec<RecordIssue>,
    /// Reasons to hold the run (an empty or shrunken read).
    pub holds: Vec<HoldReason>,
    /// Records a complete read left out, and what became of each.
    pub absences: Vec<Absence>,
}

/// Reads each source into its roster. The data is consumed: a REST source's pages are read one
/// entity at a time and freed once that entity's table is built.
#[cfg_attr(not(feature = "internals"), allow(unreachable_pub))]
pub fn ingest(config: &SyncConfig, data: Vec<SourceData>, previous: &SyncState) -> Ingested {
    let mut out = Ingested::default();
    let mut seen = BTreeSet::new();
    for SourceData {
        source_id,
        payload,
        removal_checks,
    } in data
    {
        let id = source_id.as_str();
        let Some(source) = config.source(id) else {
            out.issues.push(RecordIssue::error(
                id,
                "source",
                None,
                format!("data arrived for source '{id}', which is not configured; it was not used"),
            ));
            continue;
        };
        if !seen.insert(id.to_string()) {
            out.issues.push(RecordIssue::error(
                id,
                "source",
                None,
                "data for this source arrived twice; only the first was used",
            ));
            continue;
        }
        let checks: Checks = removal_checks
            .into_iter()
            .map(|c| ((c.entity, c.sourced_id.clone()), c))
            .collect();
        let (reader, absence) = match payload {
            SourcePayload::Json { collections } => (
                SourceReader::Json(json_pages::by_entity(id, collections, &mut out.issues)),
                AbsenceRule::AskSis(&checks),
            ),
            SourcePayload::Csv { ref files } => (
                SourceReader::Csv(csv_bundle::read(id, files, &mut out.issues)),
                AbsenceRule::BundleIsWhole,
            ),
        };
        let empty = Roster::default();
        let prev = previous.sources.get(id).unwrap_or(&empty);
        let mut ctx = Ctx {
            config,
            source,
            issues: &mut out.issues,
            absence,
            absences: &mut out.absences,
        };
        let (roster, unreadable) = build_source_roster(&mut ctx, reader, prev);
        for (kind, reason) in &unreadable {
            out.holds.push(HoldReason {
                code: HoldCode::UnreadableCollection,
                entity: Some(*kind),
                source: Some(id.to_string()),
                message: format!("{} of source '{id}' could not be read ({reason}); its previous records were kept", kind.collection()),
            });
        }
        out.sources.insert(id.to_string(), roster);
    }
    // A configured source that sent nothing keeps what it had: silence is not deletion.
    for source in &config.sources {
        if !out.sources.contains_key(&source.id)
            && let Some(prev) = previous.sources.get(&source.id)
        {
            out.sources.insert(source.id.clone(), prev.clone());
        }
    }
    out
}

/// A source's removal checks by entity and id.
type Checks = HashMap<(EntityKind, String), RemovalCheck>;

/// What absence from a complete read means for a source.
enum AbsenceRule<'a> {
    /// A REST listing can miss records: absence removes a record only once the SIS
    /// confirms it gone.
    AskSis(&'a Checks),
    /// A CSV bundle is one file read whole: absence from it is the removal.
    BundleIsWhole,
}

/// Where a source's records come from while its tables are built.
enum SourceReader<'a> {
    /// REST pages, still text, by entity: each group is read when its table is built.
    Json(json_pages::EntityPages),
    /// A CSV bundle, read whole (its rows borrow the files' names for locations).
    Csv(RawSource<'a>),
}

fn build_source_roster(
    ctx: &mut Ctx<'_>,
    mut reader: SourceReader<'_>,
    prev: &Roster,
) -> (Roster, BTreeMap<EntityKind, String>) {
    let config = ctx.config;
    let source = ctx.source;
    let mut roster = Roster::default();
    let mut unreadable = match &mut reader {
        SourceReader::Csv(raw) => std::mem::take(&mut raw.unreadable),
        SourceReader::Json(_) => BTreeMap::new(),
    };
    macro_rules! table {
        ($ty:ty, $field:ident) => {{
            let kind = <$ty>::KIND;
            match &mut reader {
                SourceReader::Csv(raw) => {
                    roster.$field = ctx.table::<$ty>(raw.collections.remove(&kind), &prev.$field);
                }
                SourceReader::Json(groups) => {
                    // Owned here: each page is freed once its records are cut from it, and
                    // each record's text once the record is typed.
                    let mut group = groups.remove(&kind);
                    let collection = group.as_deref_mut().and_then(|group| {
                        json_pages::read_entity(&source.id, group, ctx.issues)
                            .map_err(|reason| unreadable.insert(kind, reason))
                            .ok()
                    });
                    roster.$field = ctx.table::<$ty>(collection, &prev.$field);
                }
            }
        }};
    }
    table!(Org, orgs);
    table!(AcademicSession, academic_sessions);
    table!(User, users);
    table!(Course, courses);
    table!(Class, classes);
    table!(Enrollment, enrollments);
    table!(Category, categories);
    table!(LineItem, line_items);
    table!(GradeResult, results);
    // A sliced state's enrolments beyond the slice are still this source's (delta reads
    // only: a full read asks for every enrolment).
    roster.enrollments_outside = prev.enrollments_outside;
    for user in roster.users.values_mut() {
        apply_role_by_email(config, user);
    }
    (roster, unreadable)
}

struct Ctx<'a> {
    config: &'a SyncConfig,
    source: &'a SourceConfig,
    issues: &'a mut Vec<RecordIssue>,
    absence: AbsenceRule<'a>,
    absences: &'a mut Vec<Absence>,
}

impl Ctx<'_> {
    fn table<R: RosterRecord + FromRaw>(
        &mut self,
        collection: Option<RawCollection<'_>>,
        prev: &BTreeMap<String, R>,
    ) -> BTreeMap<String, R> {
        let gradebook = matches!(R::KIND, EntityKind::LineItem | EntityKind::Result);
        let Some(collection) = collection else {
            // Not read this time: keep what we had (the SIS gradebook is never kept).
            return if gradebook {
                BTreeMap::new()
            } else {
                prev.clone()
            };
        };
        let absence_deletes = collection.mode == FetchMode::Full && self.source.bulk_upload;
        let starts_empty = absence_deletes || gradebook;
        // Records read this time and ids marked tobedeleted; laid over the starting table at
        // the end, because building a map from sorted records beats inserting one by one.
        let mut fresh: Vec<(String, R)> = Vec::with_capacity(collection.records.len());
        let mut deleted: Vec<String> = Vec::new();
        // Membership only, never iterated: hashing keeps the output order-independent.
        let mut seen: HashSet<String> = HashSet::with_capacity(collection.records.len());
        let source_id = self.source.id.clone();
        let entity = R::KIND.collection();
        for raw in collection.records {
            let mut obj = match raw.obj.into_tree() {
                Ok(obj) => obj,
                Err(reason) => {
                    self.issues.push(RecordIssue::error(
                        &source_id,
                        entity,
                        None,
                        format!("{} {reason}", raw.location),
                    ));
                    continue;
                }
            };
            self.map_attributes(R::KIND, &mut obj);
            let obj = &obj;
            let raw_id = obj
                .get("sourcedId")
                .and_then(Value::as_str)
                .map(|s| self.prefixed(s.trim()));
            let mut notes = Vec::new();
            let parsed = R::from_raw(obj, &mut notes).map(|mut r| {
                self.prefix(&mut r);
                r
            });
            if parsed.is_ok() {
                for note in notes {
                    self.issues.push(RecordIssue::warning(
                        &source_id,
                        entity,
                        raw_id.as_deref(),
                        format!("{}: {note}", raw.location),
                    ));
                }
            }
            match parsed {
                Ok(record) => {
                    let id = record.sourced_id().to_string();
                    if !seen.insert(id.clone()) {
                        self.issues.push(RecordIssue::error(
                            &source_id,
                            entity,
                            Some(&id),
                            format!(
                                "{}: duplicate sourcedId; the first record with this id was used",
                                raw.location
                            ),
                        ));
                        continue;
                    }
                    if record.status() == Status::ToBeDeleted {
                        deleted.push(id);
                        continue;
                    }
                    fresh.push((id, record));
                }
                Err(reason) => {
                    let kept = raw_id.as_ref().and_then(|id| prev.get(id).map(|p| (id, p)));
                    let note = if kept.is_some() {
                        "; its previous version was kept"
                    } else {
                        ""
                    };
                    self.issues.push(RecordIssue::error(
                        &source_id,
                        entity,
                        raw_id.as_deref(),
                        format!("{}: {reason}{note}", raw.location),
                    ));
                    if let Some((id, previous)) = kept
                        && seen.insert(id.clone())
                    {
                        fresh.push((id.clone(), previous.clone()));
                    }
                }
            }
        }
        if absence_deletes && !gradebook {
            self.settle_absences(prev, &seen, &mut fresh);
        }
        // Ids are unique here (`seen`), so the order of `fresh` does not matter.
        if starts_empty || prev.is_empty() {
            return sorted_table(fresh);
        }
        let mut table = prev.clone();
        for id in &deleted {
            table.remove(id);
        }
        table.extend(fresh);
        table
    }

    /// Records of `prev` this complete read did not list: each is removed only when its
    /// absence is confirmed, else kept (pushed onto `fresh`) and reported.
    fn settle_absences<R: RosterRecord>(
        &mut self,
        prev: &BTreeMap<String, R>,
        seen: &HashSet<String>,
        fresh: &mut Vec<(String, R)>,
    ) {
        let source_id = self.source.id.as_str();
        let entity = R::KIND.collection();
        for (id, record) in prev.iter().filter(|(id, _)| !seen.contains(*id)) {
            let (status, how) = match &self.absence {
                AbsenceRule::BundleIsWhole => (
                    AbsenceStatus::Confirmed,
                    format!("not in the CSV bundle's {entity}.csv, which is read whole"),
                ),
                AbsenceRule::AskSis(checks) => match checks.get(&(R::KIND, id.clone())) {
                    None => (
                        AbsenceStatus::Unchecked,
                        "not in the listing; the SIS has not been asked for it yet".to_string(),
                    ),
                    Some(check) => (
                        match check.outcome {
                            CheckOutcome::Gone => AbsenceStatus::Confirmed,
                            CheckOutcome::Present => AbsenceStatus::StillThere,
                            CheckOutcome::Unknown => AbsenceStatus::Unconfirmed,
                        },
                        check.detail.clone(),
                    ),
                },
            };
            let kept = match status {
                AbsenceStatus::Confirmed => false,
                AbsenceStatus::StillThere => {
                    self.issues.push(RecordIssue::warning(source_id, entity, Some(id), format!("missing from the {entity} listing, but the SIS still has it ({how}); kept: a listing that misses a record is never a removal")));
                    true
                }
                AbsenceStatus::Unchecked | AbsenceStatus::Unconfirmed => {
                    self.issues.push(RecordIssue::warning(source_id, entity, Some(id), format!("missing from the {entity} listing and not confirmed gone ({how}); kept until the SIS confirms it")));
                    true
                }
            };
            if kept {
                fresh.push((id.clone(), record.clone()));
            }
            let remote_id = id
                .strip_prefix(self.source.sis_id_prefix.as_str())
                .unwrap_or(id)
                .to_string();
            self.absences.push(Absence {
                source: source_id.to_string(),
                entity: R::KIND,
                sourced_id: id.clone(),
                remote_id,
                status,
                how,
            });
        }
    }

    fn prefixed(&self, id: &str) -> String {
        format!("{}{id}", self.source.sis_id_prefix)
    }

    fn prefix<R: RosterRecord>(&self, record: &mut R) {
        let prefix = &self.source.sis_id_prefix;
        if prefix.is_empty() {
            return;
        }
        let id = record.sourced_id_mut();
        *id = format!("{prefix}{id}");
        for (_, reference) in record.references_mut() {
            if !reference.is_empty() {
                *reference = format!("{prefix}{reference}").into();
            }
        }
    }

    fn map_attributes(&self, kind: EntityKind, obj: &mut Map<String, Value>) {
        let rules = self
            .config
            .attributes
            .iter()
            .filter(|a: &&AttributeMapping| {
                a.entity == kind && a.source.as_deref().is_none_or(|s| s == self.source.id)
            });
        for rule in rules {
            if let Some(value) = lookup(obj, &rule.from).filter(|v| !v.is_null()).cloned() {
                obj.insert(rule.to.clone(), value);
            }
        }
    }
}

/// A map from records with unique ids. Records are large, so sort their positions and move
/// each record once, rather than letting a sort shuffle the records themselves.
fn sorted_table<R>(records: Vec<(String, R)>) -> BTreeMap<String, R> {
    let mut order: Vec<usize> = (0..records.len()).collect();
    order.sort_unstable_by(|&a, &b| records[a].0.cmp(&records[b].0));
    let mut slots: Vec<Option<(String, R)>> = records.into_iter().map(Some).collect();
    // Moved out in key order into a vector of exactly the room needed (a filtered
    // collection would grow by doubling, and a district's enrolments are tens of MB), and
    // the slots freed before the map is built. Already sorted, building the map is linear
    // and fills its nodes.
    let mut sorted: Vec<(String, R)> = Vec::with_capacity(order.len());
    sorted.extend(order.into_iter().filter_map(|i| slots[i].take()));
    drop(slots);
    sorted.into_iter().collect()
}

/// The first rule whose suffix matches sets the role (or fills a missing one).
pub(crate) fn apply_role_by_email(config: &SyncConfig, user: &mut User) {
    let Some(email) = user.normalized_email() else {
        return;
    };
    let Some(rule) = config
        .role_by_email
        .iter()
        .find(|r| email.ends_with(&r.email_suffix.to_ascii_lowercase()))
    else {
        return;
    };
    if user.roles.is_empty() {
        let org = user.primary_org.clone().unwrap_or_default();
        user.roles.push(UserRole {
            role_type: "primary".into(),
            role: Shared::from(rule.role.as_str()),
            org,
        });
    } else if rule.overwrite {
        for role in &mut user.roles {
            role.role = Shared::from(rule.role.as_str());
        }
    }
}

/// A dotted path into a JSON object: `metadata.stateId`.
pub(crate) fn lookup<'v>(obj: &'v Map<String, Value>, path: &str) -> Option<&'v Value> {
    let mut parts = path.split('.');
    let mut current = obj.get(parts.next()?)?;
    for part in parts {
        current = current.as_object()?.get(part)?;
    }
    Some(current)
}
