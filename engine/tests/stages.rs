//! The rule stages on the fixture district: filter, schools mapping, requirements, dedup,
//! merge of several sources, integrity and holds.

mod common;

use classbridge_engine::config::ChangeKind;
use classbridge_engine::model::EntityKind;
use classbridge_engine::plan::HoldCode;
use common::*;
use serde_json::{Value, json};

fn users_after(v: &Value, p: &classbridge_engine::SyncPlan) -> Vec<String> {
    base(v, p).roster.users.keys().cloned().collect()
}

#[test]
fn an_exclude_filter_removes_records_and_what_depends_on_them() {
    let mut v = day1();
    v["config"]["filters"] =
        json!([{"entity": "class", "field": "classCode", "op": "startsWith", "value": "geo"}]);
    let p = plan(&v);
    assert!(!base(&v, &p).roster.classes.contains_key("cl3"));
    assert!(
        !base(&v, &p).roster.enrollments.contains_key("e-s2b"),
        "enrollments of a filtered class go too"
    );
    assert_eq!(p.summary.skipped["class.filtered"], 1);
    assert_eq!(p.summary.skipped["enrollment.dependsOnFiltered"], 3);
    assert!(!has_key(&p, "course.create:d:cl3"));
}

#[test]
fn include_filters_keep_only_matches_and_can_name_the_users_role() {
    let mut v = day1();
    v["config"]["filters"] = json!([
        {"entity": "user", "field": "role", "op": "in", "value": ["teacher", "student"], "action": "include"},
        {"entity": "user", "field": "grades", "op": "equals", "value": "10", "action": "exclude"}]);
    let p = plan(&v);
    let users = users_after(&v, &p);
    assert!(!users.contains(&"u-a1".to_string()) && !users.contains(&"u-p1".to_string()));
    assert!(
        !users.contains(&"u-s3".to_string()) && !users.contains(&"u-s4".to_string()),
        "grade 10 excluded"
    );
    assert!(users.contains(&"u-t1".to_string()) && users.contains(&"u-s1".to_string()));
}

#[test]
fn filters_on_missing_fields_and_dates() {
    let mut v = day1();
    v["config"]["filters"] = json!([
        {"entity": "class", "field": "location", "op": "missing", "action": "exclude"},
        {"entity": "enrollment", "field": "beginDate", "op": "greaterThan", "value": "2026-09-01", "action": "exclude"}]);
    edit(&mut v, "enrollments", "e-s4", |e| {
        e["beginDate"] = json!("2026-10-01");
    });
    let p = plan(&v);
    assert!(
        !base(&v, &p).roster.classes.contains_key("cl3"),
        "no location"
    );
    assert!(!base(&v, &p).roster.enrollments.contains_key("e-s4"));
}

#[test]
fn skipping_a_school_removes_its_classes_courses_and_only_users() {
    let mut v = day1();
    v["config"]["schools"] = json!({"schools": [{"school": "s2", "action": "skip"}]});
    let p = plan(&v);
    let r = &base(&v, &p).roster;
    assert!(
        !r.orgs.contains_key("s2")
            && !r.classes.contains_key("cl2")
            && !r.courses.contains_key("c2")
    );
    assert!(!r.users.contains_key("u-t2") && !r.users.contains_key("u-s7"));
    assert!(r.users.contains_key("u-a1"), "district staff stay");
    assert!(!has_key(&p, "course.create:d:cl2"));
}

#[test]
fn only_mapped_schools_sync_when_unmapped_are_skipped() {
    let mut v = day1();
    v["config"]["schools"] =
        json!({"unmapped": "skip", "schools": [{"school": "s2", "action": "sync"}]});
    let p = plan(&v);
    assert!(!base(&v, &p).roster.classes.contains_key("cl1"));
    assert!(base(&v, &p).roster.classes.contains_key("cl2"));
    assert!(
        base(&v, &p).roster.orgs.contains_key("d1"),
        "the district itself is never skipped"
    );
}

#[test]
fn a_school_can_be_folded_into_another() {
    let mut v = day1();
    v["config"]["schools"] =
        json!({"schools": [{"school": "s2", "action": "sync", "mapTo": "s1"}]});
    let p = plan(&v);
    let r = &base(&v, &p).roster;
    assert!(!r.orgs.contains_key("s2"));
    assert_eq!(r.classes["cl2"].school, "s1");
    assert_eq!(r.enrollments["e-s7"].school, "s1");
    assert_eq!(r.users["u-s7"].roles[0].org, "s1");
}

#[test]
fn a_missing_required_field_can_skip_default_or_hold() {
    let mut v = day1();
    edit(&mut v, "users", "u-s1", |u| {
        u.as_object_mut().unwrap().remove("identifier");
    });
    v["config"]["requirements"] =
        json!([{"entity": "user", "field": "identifier", "whenMissing": {"action": "skip"}}]);
    let p = plan(&v);
    assert!(!users_after(&v, &p).contains(&"u-s1".to_string()));
    assert!(!base(&v, &p).roster.enrollments.contains_key("e-s1"));
    assert!(
        p.record_issues
            .iter()
            .any(|i| i.sourced_id.as_deref() == Some("u-s1") && i.reason.contains("skipped"))
    );

    v["config"]["requirements"] = json!([{"entity": "user", "field": "identifier", "whenMissing": {"action": "default", "value": "UNKNOWN"}}]);
    let p = plan(&v);
    assert_eq!(
        base(&v, &p).roster.users["u-s1"].identifier.as_deref(),
        Some("UNKNOWN")
    );

    v["config"]["requirements"] =
        json!([{"entity": "user", "field": "identifier", "whenMissing": {"action": "hold"}}]);
    let p = plan(&v);
    assert!(
        p.holds
            .iter()
            .any(|h| h.code == HoldCode::MissingRequiredField)
    );
    assert!(users_after(&v, &p).contains(&"u-s1".to_string()));
}

#[test]
fn duplicates_by_domain_can_be_kept_first_reported_or_held() {
    let mut v = day1();
    v["config"]["uniqueness"] =
        json!([{"entity": "user", "fields": ["email"], "onDuplicate": "keepFirst"}]);
    let p = plan(&v);
    let users = users_after(&v, &p);
    assert!(users.contains(&"u-s5".to_string()) && !users.contains(&"u-s6".to_string()));
    v["config"]["uniqueness"] =
        json!([{"entity": "user", "fields": ["email"], "onDuplicate": "report"}]);
    let p = plan(&v);
    assert!(users_after(&v, &p).contains(&"u-s6".to_string()));
    assert_eq!(
        p.record_issues
            .iter()
            .filter(|i| i.reason.contains("duplicate email"))
            .count(),
        2
    );
    v["config"]["uniqueness"] =
        json!([{"entity": "user", "fields": ["email"], "onDuplicate": "hold"}]);
    assert!(
        plan(&v)
            .holds
            .iter()
            .any(|h| h.code == HoldCode::Duplicates)
    );
}

#[test]
fn school_scoped_uniqueness_allows_the_same_value_in_two_schools() {
    let mut v = day1();
    edit(&mut v, "users", "u-s1", |u| u["identifier"] = json!("SAME"));
    edit(&mut v, "users", "u-s7", |u| u["identifier"] = json!("SAME"));
    v["config"]["uniqueness"] =
        json!([{"entity": "user", "fields": ["identifier"], "scope": "school"}]);
    assert!(
        !plan(&v)
            .record_issues
            .iter()
            .any(|i| i.reason.contains("duplicate identifier"))
    );
    v["config"]["uniqueness"] =
        json!([{"entity": "user", "fields": ["identifier"], "scope": "district"}]);
    assert!(
        plan(&v)
            .record_issues
            .iter()
            .any(|i| i.reason.contains("duplicate identifier"))
    );
}

fn two_sources(v: &mut Value, master: Option<&str>) {
    let mut second = v["sources"][0].clone();
    second["sourceId"] = json!("health");
    // The second system knows only users, with other emails for two of them.
    let users: Vec<Value> = records(v, "users")
        .into_iter()
        .filter(|u| u["sourcedId"] == "u-s1" || u["sourcedId"] == "u-s3")
        .map(|u| {
            let mut u = u.clone();
            u["email"] = json!(format!(
                "{}@health.district.org",
                u["sourcedId"].as_str().unwrap()
            ));
            u["middleName"] = json!("Q");
            u
        })
        .collect();
    second["payload"]["collections"] = json!({"users": {"pages": [{"users": users}]}});
    v["sources"].as_array_mut().unwrap().push(second);
    v["config"]["sources"]
        .as_array_mut()
        .unwrap()
        .push(json!({"id": "health"}));
    if let Some(m) = master {
        v["config"]["masterFields"] = json!([{"entity": "Student", "field": "email", "master": m}]);
    }
}

#[test]
fn several_sources_merge_field_by_field_by_master() {
    let mut v = day1();
    two_sources(&mut v, None);
    let p = plan(&v);
    let u = &base(&v, &p).roster.users["u-s1"];
    assert_eq!(
        u.email.as_deref(),
        Some("liam.nguyen@students.district.org"),
        "first source by default"
    );
    assert_eq!(
        u.middle_name.as_deref(),
        Some("Q"),
        "a field only the second source has is taken from it"
    );
    let mut v = day1();
    two_sources(&mut v, Some("health"));
    let p = plan(&v);
    assert_eq!(
        base(&v, &p).roster.users["u-s1"].email.as_deref(),
        Some("u-s1@health.district.org")
    );
    assert_eq!(
        base(&v, &p).roster.users["u-s2"].email.as_deref(),
        Some("olivia.garcia@students.district.org"),
        "only in one source"
    );
}

#[test]
fn prefixed_sources_never_merge_by_id() {
    let mut v = day1();
    two_sources(&mut v, None);
    v["config"]["sources"][1]["sisIdPrefix"] = json!("h-");
    let p = plan(&v);
    assert!(base(&v, &p).roster.users.contains_key("h-u-s1"));
    assert!(base(&v, &p).roster.users.contains_key("u-s1"));
}

#[test]
fn a_dangling_reference_drops_the_enrollment_and_says_so() {
    let mut v = day1();
    add(
        &mut v,
        "enrollments",
        json!({"sourcedId": "e-ghost", "user": {"sourcedId": "u-nobody"}, "class": {"sourcedId": "cl1"}, "school": {"sourcedId": "s1"}, "role": "student"}),
    );
    let p = plan(&v);
    assert!(!base(&v, &p).roster.enrollments.contains_key("e-ghost"));
    assert!(
        p.record_issues
            .iter()
            .any(|i| i.sourced_id.as_deref() == Some("e-ghost")
                && i.reason.contains("user 'u-nobody', which does not exist"))
    );
}

#[test]
fn loose_references_are_reported_once_per_target() {
    let mut v = day1();
    remove(&mut v, "academicSessions", "t1");
    let p = plan(&v);
    let loose: Vec<_> = p
        .record_issues
        .iter()
        .filter(|i| i.reason.contains("academicSession 't1'"))
        .collect();
    assert!(!loose.is_empty() && loose.len() <= 3, "{loose:?}");
    assert!(
        loose
            .iter()
            .any(|i| i.reason.starts_with("3 classes reference")),
        "{loose:?}"
    );
    assert!(base(&v, &p).roster.classes.contains_key("cl1"), "kept");
}

#[test]
fn deleting_more_than_ten_percent_holds_the_run() {
    let mut v = after_day1("2026-09-02T06:00:00Z");
    for id in ["e-s1", "e-s2", "e-s3", "e-s4", "e-s7"] {
        remove(&mut v, "enrollments", id);
    }
    let p = plan(&v);
    let hold = p
        .holds
        .iter()
        .find(|h| h.code == HoldCode::Threshold)
        .expect("held");
    assert_eq!(hold.entity, Some(EntityKind::Enrollment));
    assert!(
        hold.message.contains("would be deleted"),
        "{}",
        hold.message
    );
    assert!(p.needs_approval());
}

#[test]
fn small_changes_under_the_minimum_do_not_trip_percentages() {
    let mut v = after_day1("2026-09-02T06:00:00Z");
    remove(&mut v, "enrollments", "e-s7");
    remove(&mut v, "enrollments", "e-s4");
    let p = plan(&v);
    assert!(p.holds.is_empty(), "{:?}", p.holds);
    assert_eq!(p.summary.roster[&EntityKind::Enrollment].delete, 2);
}

#[test]
fn count_and_per_entity_thresholds() {
    let mut v = after_day1("2026-09-02T06:00:00Z");
    v["config"]["holds"] =
        json!({"thresholds": [{"entity": "user", "change": "update", "maxCount": 1}]});
    edit(&mut v, "users", "u-s1", |u| u["familyName"] = json!("A"));
    assert!(plan(&v).holds.is_empty());
    edit(&mut v, "users", "u-s3", |u| u["familyName"] = json!("B"));
    let p = plan(&v);
    assert_eq!(p.holds.len(), 1);
    assert!(p.holds[0].message.contains("more than 1"));
}

#[test]
fn most_records_updated_holds_the_run() {
    let mut v = after_day1("2026-09-02T06:00:00Z");
    for u in records(&mut v, "users") {
        u["familyName"] = json!("Changed");
    }
    let p = plan(&v);
    assert!(
        p.holds
            .iter()
            .any(|h| h.entity == Some(EntityKind::User) && h.message.contains("would be updated"))
    );
    assert!(
        p.roster_changes
            .iter()
            .filter(|c| c.change == ChangeKind::Update)
            .count()
            >= 10
    );
}

#[test]
fn a_source_that_suddenly_sends_no_users_is_held_and_nothing_deleted_until_approved() {
    let mut v = after_day1("2026-09-02T06:00:00Z");
    collections(&mut v)["users"] = json!({"pages": [{"users": []}]});
    let p = plan(&v);
    assert!(
        p.holds
            .iter()
            .any(|h| h.code == HoldCode::EmptySource && h.entity == Some(EntityKind::User)),
        "{:?}",
        p.holds
    );
    assert!(p.needs_approval());
}

#[test]
fn an_entirely_empty_source_is_held() {
    let mut v = after_day1("2026-09-02T06:00:00Z");
    for (_, c) in collections(&mut v).as_object_mut().unwrap() {
        let key = c["pages"][0]
            .as_object()
            .unwrap()
            .keys()
            .next()
            .unwrap()
            .clone();
        *c = json!({"pages": [{key: []}]});
    }
    let p = plan(&v);
    assert!(
        p.holds
            .iter()
            .any(|h| h.code == HoldCode::EmptySource && h.entity.is_none())
    );
}

#[test]
fn a_sharp_shrink_is_held() {
    let mut v = after_day1("2026-09-02T06:00:00Z");
    v["config"]["holds"] = json!({"defaults": false, "maxShrinkPercent": 30});
    for id in ["u-s1", "u-s2", "u-s3", "u-s4", "u-p1"] {
        remove(&mut v, "users", id);
    }
    let p = plan(&v);
    assert!(
        p.holds
            .iter()
            .any(|h| h.code == HoldCode::SourceShrank && h.entity == Some(EntityKind::User)),
        "{:?}",
        p.holds
    );
}

#[test]
fn role_assignment_by_email_fills_or_overwrites() {
    let mut v = day1();
    edit(&mut v, "users", "u-s1", |u| {
        u.as_object_mut().unwrap().remove("role");
    });
    edit(&mut v, "users", "u-t3", |u| u["role"] = json!("aide"));
    v["config"]["roleByEmail"] = json!([{"emailSuffix": "@students.district.org", "role": "student"}, {"emailSuffix": "@district.org", "role": "teacher", "overwrite": true}]);
    let p = plan(&v);
    assert_eq!(
        base(&v, &p).roster.users["u-s1"].primary_role(),
        Some("student")
    );
    assert_eq!(
        base(&v, &p).roster.users["u-t3"].primary_role(),
        Some("teacher")
    );
}

#[test]
fn a_custom_threshold_adds_to_the_defaults_unless_they_are_switched_off() {
    let mut v = after_day1("2026-09-02T06:00:00Z");
    v["config"]["holds"] =
        json!({"thresholds": [{"entity": "enrollment", "change": "delete", "maxCount": 2}]});
    for u in records(&mut v, "users") {
        u["familyName"] = json!("Changed");
    }
    let p = plan(&v);
    assert!(
        p.holds
            .iter()
            .any(|h| h.message.contains("would be updated") && h.message.contains("75")),
        "the default update threshold still holds: {:?}",
        p.holds
    );
    v["config"]["holds"]["defaults"] = json!(false);
    let p = plan(&v);
    assert!(p.holds.is_empty(), "{:?}", p.holds);
}

#[test]
fn two_sources_with_same_named_categories_make_one_topic_per_course() {
    let mut v = day1();
    let mut second = v["sources"][0].clone();
    second["sourceId"] = json!("north");
    second["payload"]["collections"] =
        json!({"categories": collections(&mut v)["categories"].clone()});
    v["sources"].as_array_mut().unwrap().push(second);
    v["config"]["sources"]
        .as_array_mut()
        .unwrap()
        .push(json!({"id": "north", "sisIdPrefix": "n-"}));
    let p = plan(&v);
    let homework: Vec<&str> = p
        .ops
        .iter()
        .filter(|o| o.key.starts_with("topic.create:d:cl1:") && o.summary.contains("'Homework'"))
        .map(|o| o.key.as_str())
        .collect();
    assert_eq!(homework.len(), 1, "{homework:?}");
}

#[test]
fn the_uniqueness_hold_reads_as_a_sentence() {
    let mut v = day1();
    edit(&mut v, "users", "u-s6", |u| {
        u["email"] = json!("liam.nguyen@students.district.org");
    });
    v["config"]["uniqueness"] =
        json!([{"entity": "user", "fields": ["email"], "onDuplicate": "hold"}]);
    let p = plan(&v);
    let hold = p
        .holds
        .iter()
        .find(|h| h.code == HoldCode::Duplicates)
        .expect("held");
    assert!(!hold.message.contains("share a"), "{}", hold.message);
    assert!(
        hold.message.contains("have the same email"),
        "{}",
        hold.message
    );
}

#[test]
fn a_filter_on_a_field_no_record_has_is_said_not_silently_ignored() {
    let mut v = day1();
    v["config"]["filters"] = json!([
        {"entity": "class", "field": "classCode", "op": "startsWith", "value": "geo"},
        {"entity": "user", "field": "grade", "op": "equals", "value": "10", "action": "exclude"}]);
    let p = plan(&v);
    let notices: Vec<&str> = p
        .record_issues
        .iter()
        .filter(|i| i.source == "rules" && i.entity.starts_with("filters"))
        .map(|i| i.reason.as_str())
        .collect();
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert!(
        notices[0].contains("none of the")
            && notices[0].contains("has a field 'grade'; did you mean 'grades'?"),
        "{}",
        notices[0]
    );
    assert!(
        p.record_issues.iter().any(|i| i.entity == "filters[1]"),
        "the rule is named by its place in the config"
    );
}
