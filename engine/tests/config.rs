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
    assert!(c.holds.thresholds.is_empty() && c.holds.defaults);
    assert_eq!(
        c.holds.effective_thresholds().len(),
        2,
        "10% deletes, 75% updates"
    );
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

#[test]
fn forbidden_master_fields_are_refused_however_they_are_spelt() {
    for (entity, field) in [
        ("course", "schoolId"),
        ("COURSE", "SCHOOLID"),
        ("student", "enrollment"),
        ("roster", "students"),
    ] {
        let errs = errors(
            json!({"masterFields": [{"entity": entity, "field": field, "master": "north"}]}),
        );
        assert_eq!(errs.len(), 1, "{entity}.{field}: {errs:?}");
        assert!(errs[0].1.contains("may never have a master"), "{errs:?}");
    }
}

#[test]
fn an_unknown_field_is_refused_naming_the_entity_the_field_and_the_nearest_names() {
    let errs = errors(
        json!({"masterFields": [{"entity": "user", "field": "enrollment", "master": "north"}]}),
    );
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].0, "masterFields[0].field");
    assert!(
        errs[0].1.contains("'user' has no field 'enrollment'"),
        "{errs:?}"
    );
    let errs =
        errors(json!({"masterFields": [{"entity": "user", "field": "emial", "master": "north"}]}));
    assert!(errs[0].1.contains("did you mean 'email'"), "{errs:?}");
    let errs = errors(
        json!({"masterFields": [{"entity": "studnt", "field": "email", "master": "north"}]}),
    );
    assert!(
        errs[0].1.contains("unknown entity 'studnt'") && errs[0].1.contains("studnt.email"),
        "the field is named too: {errs:?}"
    );
}

#[test]
fn entities_and_fields_match_case_insensitively_and_resolve_the_same() {
    let c = config(json!({"masterFields": [
        {"entity": "CLASS", "field": "Title", "master": "none"},
        {"entity": "user", "field": "metadata.stateId", "master": "south"}]}));
    assert!(validate(&c).is_ok(), "{:?}", validate(&c));
    assert_eq!(
        resolve_master(&c, EntityKind::Class, None, "title"),
        FieldMaster::Nobody
    );
}

#[test]
fn effective_rules_fill_in_defaults_and_mark_what_was_configured() {
    let configured = json!({"preview": true, "holds": {"thresholds": [
        {"entity": "enrollment", "change": "delete", "maxCount": 2}]}});
    let c = config(configured.clone());
    let rules = classbridge_engine::config::effective_rules(&c, &configured);
    let find = |path: &str| {
        rules
            .iter()
            .find(|r| r.path == path)
            .unwrap_or_else(|| panic!("{path} in {rules:?}"))
    };
    use classbridge_engine::config::RuleOrigin;
    assert_eq!(find("preview").origin, RuleOrigin::Configured);
    assert_eq!(find("preview").value, json!(true));
    assert_eq!(find("mode").origin, RuleOrigin::Default);
    assert_eq!(find("holds.minChangesForPercent").value, json!(5));
    assert_eq!(find("drift.extraMember").value, json!("report"));
    // The thresholds in force: the built-in ones and the configured one.
    assert_eq!(
        find("holds.thresholds (built-in) [0]").origin,
        RuleOrigin::Default
    );
    assert_eq!(find("holds.thresholds[0]").value["maxCount"], json!(2));
    assert!(!rules.iter().any(|r| r.path.starts_with("sources")));
}

#[test]
fn rules_a_oneroster_1_1_source_cannot_carry_are_named() {
    let c = config(json!({"grades": {"score": "letter", "flagLate": true,
        "letterScale": [{"letter": "A", "minPercent": 90}]}}));
    let warnings = classbridge_engine::config::rules_without_effect(&c);
    let fields: Vec<&str> = warnings.iter().map(|w| w.field.as_str()).collect();
    // Both sources of the fixture speak 1.1.
    assert_eq!(
        fields,
        vec![
            "grades.score",
            "grades.flagLate",
            "grades.score",
            "grades.flagLate"
        ]
    );
    assert!(warnings[0].message.contains("'north'"));
    let mut v12 = c.clone();
    for s in &mut v12.sources {
        s.version = classbridge_engine::config::OneRosterVersion::V1_2;
    }
    assert!(classbridge_engine::config::rules_without_effect(&v12).is_empty());
}

#[test]
fn a_hold_control_with_no_threshold_to_qualify_is_named() {
    let c = config(
        json!({"holds": {"defaults": false, "minChangesForPercent": 50,
        "thresholds": [{"change": "delete", "maxCount": 100}]}}),
    );
    let holds = |c| {
        classbridge_engine::config::rules_without_effect(c)
            .into_iter()
            .filter(|w| w.field.starts_with("holds"))
            .collect::<Vec<_>>()
    };
    let warnings = holds(&c);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0].field, "holds.minChangesForPercent");
    // With a percentage threshold in force (the defaults), it qualifies them.
    let with_defaults = config(json!({"holds": {"minChangesForPercent": 50}}));
    assert!(holds(&with_defaults).is_empty());
}
