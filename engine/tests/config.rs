//! SyncConfig validation and master-field resolution.

use classbridge_engine::config::{
    FieldMaster, NEVER_MASTERED, SyncConfig, resolve_master, validate,
};
use classbridge_engine::model::EntityKind;
use serde_json::json;

fn config(extra: serde_json::Value) -> SyncConfig {
    let mut base = json!({"sources": [{"id": "north"}, {"id": "south", "sisIdPrefix": "s-"}]});
    for (k, v) in extra.as_object().unwrap() {
        base[k] = v.clone();
    }
    serde_json::from_value(base).expect("config parses")
}

fn errors(extra: serde_json::Value) -> Vec<(String, String)> {
    validate(&config(extra))
        .err()
        .unwrap_or_default()
        .into_iter()
        .map(|e| (e.field, e.message))
        .collect()
}

#[test]
fn a_plain_config_is_valid_and_follows_the_incumbents_defaults() {
    let c = config(json!({}));
    assert!(validate(&c).is_ok());
    assert!(
        c.sources.iter().all(|s| s.bulk_upload),
        "full reads detect deletions"
    );
    assert_eq!(c.holds.thresholds.len(), 2, "10% deletes, 75% updates");
    assert_eq!(c.uniqueness[0].fields, vec!["email"]);
}

#[test]
fn every_field_that_may_never_have_a_master_is_rejected_by_name() {
    let mut count = 0;
    for (entity, fields) in NEVER_MASTERED {
        for field in *fields {
            let errs = errors(
                json!({"masterFields": [{"entity": entity, "field": field, "master": "north"}]}),
            );
            assert_eq!(errs.len(), 1, "{entity}.{field}: {errs:?}");
            assert_eq!(errs[0].0, "masterFields[0].field");
            assert!(
                errs[0]
                    .1
                    .contains(&format!("{entity}.{field} may never have a master")),
                "{errs:?}"
            );
            count += 1;
        }
    }
    assert_eq!(count, 25);
}

#[test]
fn allowed_master_fields_pass() {
    let errs = errors(json!({"masterFields": [
        {"entity": "Student", "field": "email", "master": "south"},
        {"entity": "Roster", "field": "title", "master": "classroom"},
        {"entity": "lineItem", "field": "title", "master": "sis"},
        {"entity": "user", "field": "middleName", "master": "none"}]}));
    assert!(errs.is_empty(), "{errs:?}");
}

#[test]
fn unknown_masters_and_entities_are_rejected() {
    let errs =
        errors(json!({"masterFields": [{"entity": "Wizard", "field": "x", "master": "east"}]}));
    let fields: Vec<&str> = errs.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(
        fields,
        vec!["masterFields[0].entity", "masterFields[0].master"]
    );
    assert!(errs[1].1.contains("'east' is not"));
}

#[test]
fn source_ids_must_be_unique_non_empty_and_not_reserved() {
    let c: SyncConfig = serde_json::from_value(
        json!({"sources": [{"id": "a"}, {"id": "a"}, {"id": ""}, {"id": "classroom"}]}),
    )
    .unwrap();
    let errs = validate(&c).unwrap_err();
    let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        vec!["sources[1].id", "sources[2].id", "sources[3].id"]
    );
}

#[test]
fn no_source_at_all_is_an_error() {
    let errs = validate(&SyncConfig::default()).unwrap_err();
    assert_eq!(errs[0].field, "sources");
}

#[test]
fn overlapping_prefixes_are_rejected() {
    let c: SyncConfig = serde_json::from_value(
        json!({"sources": [{"id": "a", "sisIdPrefix": "n-"}, {"id": "b", "sisIdPrefix": "n-1"}]}),
    )
    .unwrap();
    let errs = validate(&c).unwrap_err();
    assert_eq!(errs[0].field, "sources[1].sisIdPrefix");
}

#[test]
fn thresholds_filters_and_other_rules_are_checked() {
    let errs = errors(json!({
        "holds": {"thresholds": [{"change": "delete"}, {"change": "update", "maxPercent": 150}]},
        "filters": [{"entity": "user", "field": "grades", "op": "in", "value": "09"}, {"entity": "user", "field": "email", "op": "equals"}],
        "attributes": [{"source": "nowhere", "entity": "user", "from": "a", "to": "b.c"}],
        "roleByEmail": [{"emailSuffix": "students", "role": "student"}],
        "classroom": {"newCourseState": "ARCHIVED"},
        "grades": {"decimals": 9}}));
    let fields: Vec<&str> = errs.iter().map(|e| e.0.as_str()).collect();
    for want in [
        "holds.thresholds[0]",
        "holds.thresholds[1].maxPercent",
        "filters[0].value",
        "filters[1].value",
        "attributes[0].source",
        "attributes[0].to",
        "roleByEmail[0].emailSuffix",
        "classroom.newCourseState",
        "grades.decimals",
    ] {
        assert!(fields.contains(&want), "{want} missing from {fields:?}");
    }
}

#[test]
fn unknown_config_keys_are_refused_by_name() {
    let err =
        serde_json::from_value::<SyncConfig>(json!({"sources": [], "holdz": {}})).unwrap_err();
    assert!(err.to_string().contains("holdz"), "{err}");
}

#[test]
fn default_masters_roster_sis_gradebook_classroom_categories_sis() {
    let c = config(json!({}));
    assert_eq!(
        resolve_master(&c, EntityKind::User, Some("student"), "email"),
        FieldMaster::Sis
    );
    assert_eq!(
        resolve_master(&c, EntityKind::Class, None, "title"),
        FieldMaster::Sis
    );
    assert_eq!(
        resolve_master(&c, EntityKind::Category, None, "title"),
        FieldMaster::Sis
    );
    assert_eq!(
        resolve_master(&c, EntityKind::LineItem, None, "title"),
        FieldMaster::Classroom
    );
    assert_eq!(
        resolve_master(&c, EntityKind::Result, None, "score"),
        FieldMaster::Classroom
    );
}

#[test]
fn role_views_apply_only_to_their_roles_and_later_rules_win() {
    let c = config(json!({"masterFields": [
        {"entity": "user", "field": "email", "master": "north"},
        {"entity": "Student", "field": "email", "master": "south"}]}));
    assert_eq!(
        resolve_master(&c, EntityKind::User, Some("student"), "email"),
        FieldMaster::Source("south".into())
    );
    assert_eq!(
        resolve_master(&c, EntityKind::User, Some("teacher"), "email"),
        FieldMaster::Source("north".into())
    );
}
