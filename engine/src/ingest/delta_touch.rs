//! What a run's delta reads name, read before planning: the ids of every record a source
//! sent (read, marked `tobedeleted`, or unreadable) and the records themselves, so the
//! engine can say which classes' enrolments the run needs ([`crate::needs`]).

use std::collections::{BTreeMap, BTreeSet};

use super::json_pages;
use super::{AbsenceRule, Checks, Ctx, FromRaw};
use crate::config::SyncConfig;
use crate::input::{FetchMode, SourceData, SourcePayload};
use crate::model::*;

/// The records a run's delta reads sent, every source together.
#[derive(Default)]
pub(crate) struct DeltaRecords {
    /// Every id a source sent, by kind: records read, marked `tobedeleted`, or unreadable.
    pub ids: BTreeMap<EntityKind, BTreeSet<String>>,
    /// The records read (tobedeleted ones too), ids and references prefixed as ingest does.
    pub records: Roster,
}

/// The records of every source's delta reads, or why the run reads more than deltas (a
/// CSV bundle, a full read): then every enrolment is needed.
pub(crate) fn delta_records(
    config: &SyncConfig,
    data: &[SourceData],
) -> Result<DeltaRecords, String> {
    let mut out = DeltaRecords::default();
    let mut issues = Vec::new();
    let mut absences = Vec::new();
    let checks = Checks::new();
    for source_data in data {
        let id = source_data.source_id.as_str();
        let Some(source) = config.source(id) else {
            continue;
        };
        let collections = match &source_data.payload {
            SourcePayload::Csv { .. } => {
                return Err(format!("source '{id}' is a CSV bundle, read whole"));
            }
            SourcePayload::Json { collections } => collections,
        };
        if let Some((name, _)) = collections.iter().find(|(_, c)| c.mode == FetchMode::Full) {
            return Err(format!("source '{id}' read its {name} whole"));
        }
        let mut groups = json_pages::by_entity(id, collections.clone(), &mut issues);
        let ctx = Ctx {
            config,
            source,
            issues: &mut issues,
            absence: AbsenceRule::AskSis(&checks),
            absences: &mut absences,
        };
        macro_rules! kind {
            ($ty:ty, $field:ident) => {{
                let kind = <$ty>::KIND;
                if let Some(mut group) = groups.remove(&kind) {
                    let collection =
                        json_pages::read_entity(id, &mut group, ctx.issues).map_err(|reason| {
                            format!("source '{id}' {}: {reason}", kind.collection())
                        })?;
                    let ids = out.ids.entry(kind).or_default();
                    for raw in collection.records {
                        let Ok(mut obj) = raw.obj.into_tree() else {
                            continue;
                        };
                        ctx.map_attributes(kind, &mut obj);
                        if let Some(raw_id) =
                            obj.get("sourcedId").and_then(serde_json::Value::as_str)
                        {
                            ids.insert(ctx.prefixed(raw_id.trim()));
                        }
                        if let Ok(mut record) = <$ty>::from_raw(&obj, &mut Vec::new()) {
                            ctx.prefix(&mut record);
                            ids.insert(record.sourced_id().to_string());
                            out.records
                                .$field
                                .insert(record.sourced_id().to_string(), record);
                        }
                    }
                }
            }};
        }
        kind!(Org, orgs);
        kind!(AcademicSession, academic_sessions);
        kind!(User, users);
        kind!(Course, courses);
        kind!(Class, classes);
        kind!(Enrollment, enrollments);
        kind!(Category, categories);
    }
    // Only the records matter here; what ingest says of them, it says when planning.
    Ok(out)
}
