//! Ingest: OneRoster JSON of both versions, CSV bundles, Classroom listings, and bad input.

mod common;

use std::collections::BTreeMap;

use classbridge_engine::config::{OneRosterVersion, SourceConfig, SyncConfig};
use classbridge_engine::input::{
    ClassroomListings, Collection, FetchMode, SourceData, SourcePayload,
};
use classbridge_engine::internals::{ingest, read_classroom};
use classbridge_engine::model::{EntityKind, Roster, ScoreStatus, Severity};
use classbridge_engine::plan::HoldCode;
use classbridge_engine::state::SyncState;
use common::*;
use serde_json::{Value, json};

fn config(bulk: bool, prefix: &str) -> SyncConfig {
    SyncConfig {
        sources: vec![SourceConfig {
            id: "sis".into(),
            version: OneRosterVersion::V1_2,
            sis_id_prefix: prefix.into(),
            bulk_upload: bulk,
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn json_source(collections: Value) -> Vec<SourceData> {
    let collections: BTreeMap<String, Collection> = serde_json::from_value(collections).unwrap();
    vec![SourceData {
        source_id: "sis".into(),
        payload: SourcePayload::Json { collections },
        removal_checks: Vec::new(),
    }]
}

fn users(items: Value) -> Value {
    json!({"users": {"pages": [{"users": items}]}})
}

fn roster_of(
    cfg: &SyncConfig,
    data: &[SourceData],
    prev: &SyncState,
) -> (Roster, classbridge_engine::internals::Ingested) {
    let out = ingest(cfg, data.to_vec(), prev);
    (out.sources["sis"].clone(), out)
}

#[test]
fn oneroster_1_1_role_and_orgs_become_primary_roles() {
    let data = json_source(users(
        json!([{"sourcedId": "u1", "role": "teacher", "orgs": [{"sourcedId": "s1", "type": "org"}, {"sourcedId": "s2"}], "givenName": "A", "familyName": "B"}]),
    ));
    let (r, _) = roster_of(&config(true, ""), &data, &SyncState::default());
    let u = &r.users["u1"];
    assert_eq!(u.roles.len(), 2);
    assert!(
        u.roles
            .iter()
            .all(|x| x.role == "teacher" && x.role_type == "primary")
    );
    assert_eq!(u.primary_role(), Some("teacher"));
}

#[test]
fn oneroster_1_2_roles_are_read_as_sent() {
    let data = json_source(users(
        json!([{"sourcedId": "u1", "givenName": "A", "familyName": "B", "enabledUser": "true",
        "roles": [{"roleType": "secondary", "role": "aide", "org": {"sourcedId": "s2"}}, {"roleType": "primary", "role": "teacher", "org": {"sourcedId": "s1"}}],
        "primaryOrg": {"sourcedId": "s1"}}]),
    ));
    let (r, _) = roster_of(&config(true, ""), &data, &SyncState::default());
    let u = &r.users["u1"];
    assert_eq!(
        u.primary_role(),
        Some("teacher"),
        "the primary role, not the first"
    );
    assert_eq!(u.primary_org.as_deref(), Some("s1"));
}

#[test]
fn enabled_user_arrives_as_bool_integer_or_string() {
    let data = json_source(users(json!([
        {"sourcedId": "a", "role": "student", "enabledUser": true}, {"sourcedId": "b", "role": "student", "enabledUser": 0},
        {"sourcedId": "c", "role": "student", "enabledUser": "true"}, {"sourcedId": "d", "role": "student", "enabledUser": "FALSE"},
        {"sourcedId": "e", "role": "student", "enabledUser": "maybe"}])));
    let (r, out) = roster_of(&config(true, ""), &data, &SyncState::default());
    let enabled: Vec<bool> = ["a", "b", "c", "d"]
        .iter()
        .map(|id| r.users[*id].enabled_user)
        .collect();
    assert_eq!(enabled, vec![true, false, true, false]);
    assert!(!r.users.contains_key("e"));
    assert!(
        out.issues
            .iter()
            .any(|i| i.sourced_id.as_deref() == Some("e")
                && i.reason.contains("should be a boolean"))
    );
}

#[test]
fn status_inactive_and_tobedeleted_remove_the_record() {
    let mut v = after_day1("2026-09-02T06:00:00Z");
    edit(&mut v, "users", "u-s7", |u| u["status"] = json!("inactive"));
    edit(&mut v, "enrollments", "e-s7", |e| {
        e["status"] = json!("tobedeleted");
    });
    let p = plan(&v);
    assert!(
        p.roster_changes.iter().any(|c| c.sourced_id == "u-s7"
            && c.change == classbridge_engine::config::ChangeKind::Delete)
    );
    assert!(has_key(&p, "student.remove:d:cl2:ava.martin"));
}

#[test]
fn a_page_without_its_envelope_is_an_error_never_an_empty_roster() {
    let mut v = after_day1("2026-09-02T06:00:00Z");
    collections(&mut v)["users"]["pages"][1] = json!({"data": []});
    let p = plan(&v);
    assert!(p.holds.iter().any(|h| h.code == HoldCode::UnreadableCollection && h.entity == Some(EntityKind::User)));
    assert!(
        p.roster_changes
            .iter()
            .all(|c| c.entity != EntityKind::User),
        "previous users kept: {:?}",
        p.roster_changes
    );
    assert!(p.ops.is_empty());
    assert!(
        p.record_issues
            .iter()
            .any(|i| i.reason.contains("has no 'users' key"))
    );
}

#[test]
fn bad_records_are_reported_and_good_ones_go_on() {
    let data = json_source(users(json!([
        {"sourcedId": "ok", "role": "student", "givenName": "Good"},
        {"role": "student", "givenName": "No id"},
        {"sourcedId": "badrole", "role": "wizard"},
        {"sourcedId": "badtype", "role": "student", "email": ["not", "text"]},
        "not an object",
        {"sourcedId": "ok", "role": "teacher"}])));
    let (r, out) = roster_of(&config(true, ""), &data, &SyncState::default());
    assert_eq!(r.users.keys().collect::<Vec<_>>(), vec!["ok"]);
    assert_eq!(
        r.users["ok"].primary_role(),
        Some("student"),
        "the first of a duplicate id wins"
    );
    let reasons: Vec<&str> = out.issues.iter().map(|i| i.reason.as_str()).collect();
    assert!(
        reasons.iter().any(|r| r.contains("'sourcedId' is missing")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("role 'wizard' is not a OneRoster role"))
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("field 'email' should be text, found a list"))
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("item 5 is text, not an object"))
    );
    assert!(reasons.iter().any(|r| r.contains("duplicate sourcedId")));
    assert!(
        out.issues
            .iter()
            .all(|i| i.severity == Severity::Error && i.source == "sis")
    );
    assert!(
        reasons.iter().all(|r| r.contains("users page 1 item")),
        "every issue says where: {reasons:?}"
    );
}

#[test]
fn a_record_broken_in_the_sis_keeps_its_previous_version() {
    let mut v = after_day1("2026-09-02T06:00:00Z");
    edit(&mut v, "users", "u-s1", |u| u["role"] = json!(42.5));
    let p = plan(&v);
    assert!(p.roster_changes.is_empty(), "{:?}", p.roster_changes);
    assert!(p.ops.is_empty());
    assert!(
        p.record_issues
            .iter()
            .any(|i| i.sourced_id.as_deref() == Some("u-s1")
                && i.reason.contains("previous version was kept"))
    );
}

#[test]
fn unknown_fields_and_metadata_are_kept() {
    let (r, _) = roster_of(
        &config(true, ""),
        &input(&day1())
            .sources
            .iter()
            .map(|s| SourceData {
                source_id: "sis".into(),
                payload: s.payload.clone(),
                removal_checks: Vec::new(),
            })
            .collect::<Vec<_>>(),
        &SyncState::default(),
    );
    assert_eq!(r.users["u-s7"].extra["x-vendor-house"], "Blue");
    assert_eq!(
        r.users["u-s4"].metadata.as_ref().unwrap()["stateId"],
        "ST-0004"
    );
}

#[test]
fn the_sis_id_prefix_reaches_every_id_and_reference() {
    let data = json_source(json!({
        "users": {"pages": [{"users": [{"sourcedId": "u1", "role": "student", "orgs": [{"sourcedId": "s1"}]}]}]},
        "enrollments": {"pages": [{"enrollments": [{"sourcedId": "e1", "user": {"sourcedId": "u1"}, "class": {"sourcedId": "c1"}, "school": {"sourcedId": "s1"}, "role": "student"}]}]}}));
    let (r, _) = roster_of(&config(true, "north-"), &data, &SyncState::default());
    assert_eq!(r.users["north-u1"].roles[0].org, "north-s1");
    let e = &r.enrollments["north-e1"];
    assert_eq!(
        (e.user.as_str(), e.class.as_str(), e.school.as_str()),
        ("north-u1", "north-c1", "north-s1")
    );
}

#[test]
fn attribute_mapping_copies_a_vendor_field_into_the_canonical_one() {
    let mut cfg = config(true, "");
    cfg.attributes = serde_json::from_value(
        json!([{"entity": "user", "from": "metadata.stateId", "to": "identifier"}]),
    )
    .unwrap();
    let data = json_source(users(
        json!([{"sourcedId": "u1", "role": "student", "metadata": {"stateId": "ST-1"}}, {"sourcedId": "u2", "role": "student", "identifier": "X"}]),
    ));
    let (r, _) = roster_of(&cfg, &data, &SyncState::default());
    assert_eq!(r.users["u1"].identifier.as_deref(), Some("ST-1"));
    assert_eq!(
        r.users["u2"].identifier.as_deref(),
        Some("X"),
        "no source value, nothing overwritten"
    );
}

#[test]
fn score_status_reads_both_vocabularies() {
    for (raw, want) in [
        ("exempt", ScoreStatus::Exempt),
        ("fully graded", ScoreStatus::FullyGraded),
        ("not submitted", ScoreStatus::NotSubmitted),
        ("partially graded", ScoreStatus::PartiallyGraded),
        ("submitted", ScoreStatus::Submitted),
        ("Fully Graded", ScoreStatus::FullyGraded),
    ] {
        assert_eq!(ScoreStatus::parse(raw), Some(want), "{raw}");
    }
    assert_eq!(
        ScoreStatus::parse("ext:resubmit"),
        Some(ScoreStatus::Extension("ext:resubmit".into()))
    );
    assert_eq!(ScoreStatus::parse("great"), None);
}

#[test]
fn results_accept_date_times_and_string_booleans() {
    let data = json_source(json!({"results": {"pages": [{"results": [
        {"sourcedId": "r1", "lineItem": {"sourcedId": "li"}, "student": {"sourcedId": "u"}, "scoreStatus": "fully graded", "score": "9.5", "scoreDate": "2026-09-01T10:00:00Z", "late": "true"},
        {"sourcedId": "r2", "lineItem": {"sourcedId": "li"}, "student": {"sourcedId": "u"}, "scoreStatus": "graded"},
        {"sourcedId": "r3", "lineItem": {"sourcedId": "li"}, "student": {"sourcedId": "u"}, "scoreStatus": "submitted", "scoreDate": "yesterday"}]}]}}));
    let (r, out) = roster_of(&config(true, ""), &data, &SyncState::default());
    assert_eq!(r.results["r1"].score, Some(9.5));
    assert_eq!(r.results["r1"].late, Some(true));
    assert!(out.issues.iter().any(
        |i| i.sourced_id.as_deref() == Some("r2") && i.reason.contains("scoreStatus 'graded'")
    ));
    assert!(out.issues.iter().any(|i| i.sourced_id.as_deref() == Some("r3") && i.reason.contains("should be a date")));
}

#[test]
fn delta_reads_overlay_the_previous_roster() {
    let mut v = after_day1("2026-09-02T06:00:00Z");
    // Only one changed user comes back, in delta mode: nobody else is deleted.
    collections(&mut v)["users"] = json!({"mode": "delta", "pages": [{"users": [{"sourcedId": "u-s1", "role": "student", "orgs": [{"sourcedId": "s1"}], "givenName": "Liam", "familyName": "Nguyen-Park", "email": "liam.nguyen@students.district.org"}]}]});
    let p = plan(&v);
    let users: Vec<_> = p
        .roster_changes
        .iter()
        .filter(|c| c.entity == EntityKind::User)
        .collect();
    assert_eq!(users.len(), 1, "{users:?}");
    assert_eq!(users[0].sourced_id, "u-s1");
    assert!(p.holds.is_empty());
}

#[test]
fn without_bulk_upload_absence_is_not_deletion() {
    let mut v = after_day1("2026-09-02T06:00:00Z");
    v["config"]["sources"][0]["bulkUpload"] = json!(false);
    remove(&mut v, "users", "u-s7");
    assert!(plan(&v).roster_changes.is_empty());
}

#[test]
fn a_source_that_sends_nothing_keeps_what_it_had() {
    let mut v = after_day1("2026-09-02T06:00:00Z");
    v["sources"] = json!([]);
    let p = plan(&v);
    assert!(p.roster_changes.is_empty() && p.ops.is_empty());
}

#[test]
fn data_for_an_unknown_source_is_reported() {
    let mut v = day1();
    v["sources"][0]["sourceId"] = json!("other");
    let p = plan(&v);
    assert!(
        p.record_issues
            .iter()
            .any(|i| i.reason.contains("not configured"))
    );
    assert!(p.ops.is_empty());
}

#[test]
fn one_unreadable_collection_keeps_every_previous_record_of_its_entity() {
    let cfg = config(true, "");
    let mut prev = SyncState::default();
    let first = json_source(json!({
        "students": {"pages": [{"users": [{"sourcedId": "u1", "role": "student", "givenName": "A", "familyName": "B"}]}]},
        "teachers": {"pages": [{"users": [{"sourcedId": "t1", "role": "teacher", "givenName": "C", "familyName": "D"}]}]},
    }));
    prev.sources = ingest(&cfg, first, &prev).sources;
    // Teachers read fine, students did not: in bulk upload mode the teachers alone would
    // look like every student had left.
    let next = json_source(json!({
        "students": {"pages": [{"data": []}]},
        "teachers": {"pages": [{"users": [{"sourcedId": "t1", "role": "teacher", "givenName": "C", "familyName": "E"}]}]},
    }));
    let (r, out) = roster_of(&cfg, &next, &prev);
    assert!(r.users.contains_key("u1"), "the student was kept");
    assert_eq!(
        r.users["t1"].family_name, "D",
        "the entity keeps its previous version whole"
    );
    assert!(out.holds.iter().any(|h| h.code == HoldCode::UnreadableCollection
        && h.entity == Some(EntityKind::User)));
}

#[test]
fn unknown_collections_are_warned_about_and_ignored() {
    let data = json_source(json!({"demographics": {"pages": [{"demographics": []}]}}));
    let (_, out) = roster_of(&config(true, ""), &data, &SyncState::default());
    assert!(out.issues.iter().any(
        |i| i.severity == Severity::Warning && i.reason.contains("'demographics' is not used")
    ));
}

fn csv_source(files: &[(&str, &str)]) -> Vec<SourceData> {
    let files = files
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    vec![SourceData {
        source_id: "sis".into(),
        payload: SourcePayload::Csv { files },
        removal_checks: Vec::new(),
    }]
}

const MANIFEST: &str = "propertyName,value\nmanifest.version,1.0\noneroster.version,1.1\nfile.orgs,bulk\nfile.users,bulk\nfile.classes,bulk\nfile.courses,bulk\nfile.enrollments,bulk\nfile.academicSessions,absent\n";

#[test]
fn a_csv_bundle_is_read_like_the_rest_api() {
    let data = csv_source(&[
        ("manifest.csv", MANIFEST),
        (
            "orgs.csv",
            "\u{feff}sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId\ns1,active,2026-08-01,Lincoln High,school,LHS,\n",
        ),
        (
            "users.csv",
            "sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,username,userIds,givenName,familyName,middleName,identifier,email,sms,phone,agentSourcedIds,grades,password\nu1,active,,true,\"s1,s2\",student,liam,{LDAP:1},Liam,Nguyen,,ID1,liam@x.org,,,,\"09,10\",\n",
        ),
        (
            "courses.csv",
            "sourcedId,status,dateLastModified,schoolYearSourcedId,title,courseCode,grades,orgSourcedId,subjects,subjectCodes\nc1,,,,Algebra,ALG,,s1,,\n",
        ),
        (
            "classes.csv",
            "sourcedId,status,dateLastModified,title,grades,courseSourcedId,classCode,classType,location,schoolSourcedId,termSourcedIds,subjects,subjectCodes,periods\ncl1,,,Algebra P1,,c1,ALG-P1,scheduled,,s1,t1,,,1\n",
        ),
        (
            "enrollments.csv",
            "sourcedId,classSourcedId,schoolSourcedId,userSourcedId,role,primary,beginDate,endDate,status,dateLastModified\ne1,cl1,s1,u1,student,false,,,,\n",
        ),
    ]);
    let (r, out) = roster_of(&config(true, ""), &data, &SyncState::default());
    assert!(out.issues.is_empty(), "{:?}", out.issues);
    let u = &r.users["u1"];
    assert_eq!(
        u.roles.iter().map(|x| x.org.as_str()).collect::<Vec<_>>(),
        vec!["s1", "s2"]
    );
    assert_eq!(u.grades, vec!["09", "10"]);
    assert_eq!(u.user_ids[0].identifier, "1");
    assert_eq!(r.classes["cl1"].terms, vec!["t1"]);
    assert_eq!(r.enrollments["e1"].user, "u1");
    assert_eq!(
        r.orgs["s1"].name, "Lincoln High",
        "a byte-order mark is not part of the first column"
    );
}

#[test]
fn a_csv_bundle_without_a_manifest_is_unreadable_not_empty() {
    let data = csv_source(&[("users.csv", "sourcedId,role\nu1,student\n")]);
    let out = ingest(&config(true, ""), data, &SyncState::default());
    assert!(
        out.holds
            .iter()
            .any(|h| h.code == HoldCode::UnreadableCollection)
    );
    assert!(
        out.issues
            .iter()
            .any(|i| i.reason.contains("no manifest.csv"))
    );
}

#[test]
fn a_csv_row_with_the_wrong_number_of_fields_is_reported_alone() {
    let data = csv_source(&[
        ("manifest.csv", "propertyName,value\nfile.users,bulk\n"),
        (
            "users.csv",
            "sourcedId,role,givenName\nu1,student,Ann\nu2,student\nu3,teacher,Tom\n",
        ),
    ]);
    let (r, out) = roster_of(&config(true, ""), &data, &SyncState::default());
    assert_eq!(r.users.keys().collect::<Vec<_>>(), vec!["u1", "u3"]);
    assert!(
        out.issues
            .iter()
            .any(|i| i.sourced_id.as_deref() == Some("u2")
                && i.reason.contains("line 3 has 2 fields"))
    );
}

#[test]
fn a_listed_but_missing_csv_file_keeps_the_previous_records() {
    let data = csv_source(&[("manifest.csv", "propertyName,value\nfile.users,bulk\n")]);
    let out = ingest(&config(true, ""), data, &SyncState::default());
    assert!(
        out.issues
            .iter()
            .any(|i| i.reason.contains("does not contain it"))
    );
    assert!(out.holds.iter().any(|h| h.entity == Some(EntityKind::User)));
}

#[test]
fn oneroster_1_2_csv_roles_file_gives_users_their_roles() {
    let data = csv_source(&[
        (
            "manifest.csv",
            "propertyName,value\noneroster.version,1.2\nfile.users,bulk\n",
        ),
        (
            "users.csv",
            "sourcedId,status,enabledUser,primaryOrgSourcedId,givenName,familyName\nu1,active,true,s1,Ann,Lee\n",
        ),
        (
            "roles.csv",
            "sourcedId,status,userSourcedId,roleType,role,orgSourcedId\nr1,active,u1,primary,teacher,s1\nr2,active,u1,secondary,administrator,s2\nr3,active,nobody,primary,student,s1\n",
        ),
    ]);
    let (r, out) = roster_of(&config(true, ""), &data, &SyncState::default());
    let u = &r.users["u1"];
    assert_eq!(u.roles.len(), 2);
    assert_eq!(u.primary_role(), Some("teacher"));
    assert_eq!(u.primary_org.as_deref(), Some("s1"));
    assert!(
        out.issues
            .iter()
            .any(|i| i.sourced_id.as_deref() == Some("nobody"))
    );
}

#[test]
fn csv_delta_files_overlay_and_tobedeleted_rows_delete() {
    let mut prev = SyncState::default();
    let first = csv_source(&[
        ("manifest.csv", "propertyName,value\nfile.users,bulk\n"),
        ("users.csv", "sourcedId,role\nu1,student\nu2,student\n"),
    ]);
    prev.sources = ingest(&config(true, ""), first, &prev).sources;
    let delta = csv_source(&[
        ("manifest.csv", "propertyName,value\nfile.users,delta\n"),
        (
            "users.csv",
            "sourcedId,status,role\nu2,tobedeleted,student\nu3,active,teacher\n",
        ),
    ]);
    let (r, _) = roster_of(&config(true, ""), &delta, &prev);
    assert_eq!(r.users.keys().collect::<Vec<_>>(), vec!["u1", "u3"]);
}

#[test]
fn classroom_listings_are_read_with_aliases_and_submissions_by_work() {
    let listings: ClassroomListings = serde_json::from_value(classroom_graded()).unwrap();
    let mut issues = Vec::new();
    let snap = read_classroom(listings, &mut issues);
    assert!(issues.is_empty(), "{issues:?}");
    assert_eq!(snap.courses["5001"].aliases, vec!["d:cl1"]);
    assert_eq!(
        snap.course_by_alias("d:cl2").map(|c| c.id.as_str()),
        Some("5002")
    );
    assert_eq!(snap.submissions["5001/9001"].len(), 4);
    assert_eq!(snap.topics["5001"].len(), 2);
    assert_eq!(
        snap.teachers["5001"][0].email().as_deref(),
        Some("ada.lovelace@district.org")
    );
}

#[test]
fn bad_classroom_items_are_reported_and_empty_pages_are_fine() {
    let listings: ClassroomListings = serde_json::from_value(json!({
        "courses": [{}, {"courses": [{"id": "1", "name": "ok"}, {"name": "no id"}]}, "junk"],
        "courseWork": [{"courseWork": [{"courseId": "1", "id": "w", "maxPoints": "ten"}]}]}))
    .unwrap();
    let mut issues = Vec::new();
    let snap = read_classroom(listings, &mut issues);
    assert_eq!(snap.courses.len(), 1);
    assert_eq!(issues.len(), 3, "{issues:?}");
    assert!(
        issues.iter().any(|i| format!("{i:?}").contains("\"w\"")),
        "the unreadable courseWork is named: {issues:?}"
    );
}

#[test]
fn the_fetch_mode_defaults_to_full() {
    let c: Collection = serde_json::from_value(json!({"pages": []})).unwrap();
    assert_eq!(c.mode, FetchMode::Full);
}

#[test]
fn a_page_that_is_not_an_object_or_a_list_that_is_not_one_holds_the_collection() {
    for (page, reason) in [
        (json!("oops"), "users page 2 is text, not an object"),
        (
            json!({"users": 5}),
            "users page 2: 'users' is a number, not a list",
        ),
        (
            json!({"users": {"sourcedId": "u1"}}),
            "'users' is an object, not a list",
        ),
    ] {
        let mut v = after_day1("2026-09-02T06:00:00Z");
        collections(&mut v)["users"]["pages"][1] = page;
        let p = plan(&v);
        assert!(
            p.holds
                .iter()
                .any(|h| h.code == HoldCode::UnreadableCollection
                    && h.entity == Some(EntityKind::User)),
            "{reason}"
        );
        assert!(
            p.record_issues.iter().any(|i| i.reason.contains(reason)),
            "{reason}: {:?}",
            p.record_issues
        );
    }
}

#[test]
fn a_payload_must_carry_what_its_format_says() {
    let mut v = day1();
    let payload = &mut v["sources"][0]["payload"];
    payload["files"] = json!({});
    let err = serde_json::from_value::<classbridge_engine::SyncInput>(v.clone())
        .expect_err("collections and files together");
    assert!(
        err.to_string()
            .contains("oneRosterJson payload has `collections`"),
        "{err}"
    );
    v["sources"][0]["payload"] = json!({"format": "oneRosterCsv", "collections": {}});
    let err =
        serde_json::from_value::<classbridge_engine::SyncInput>(v).expect_err("csv without files");
    assert!(
        err.to_string().contains("oneRosterCsv payload has `files`"),
        "{err}"
    );
}

#[test]
fn a_capitalised_role_is_read_and_the_normalisation_reported() {
    let data = json_source(json!({
        "users": {"pages": [{"users": [
            {"sourcedId": "t1", "status": "Active", "role": "Teacher", "orgs": [{"sourcedId": "s1"}], "givenName": "A", "familyName": "B"}
        ]}]},
        "enrollments": {"pages": [{"enrollments": [
            {"sourcedId": "e1", "role": "TEACHER", "user": {"sourcedId": "t1"}, "class": {"sourcedId": "c1"}}
        ]}]}
    }));
    let (r, out) = roster_of(&config(true, ""), &data, &SyncState::default());
    assert_eq!(&*r.users["t1"].roles[0].role, "teacher");
    assert_eq!(&*r.enrollments["e1"].role, "teacher");
    let warnings: Vec<_> = out
        .issues
        .iter()
        .filter(|i| i.severity == Severity::Warning)
        .map(|i| (i.sourced_id.clone().unwrap_or_default(), i.reason.clone()))
        .collect();
    assert!(
        warnings
            .iter()
            .any(|(id, why)| id == "t1" && why.contains("'Teacher' was read as 'teacher'")),
        "{warnings:?}"
    );
    assert!(
        warnings
            .iter()
            .any(|(id, why)| id == "t1" && why.contains("status 'Active'"))
    );
    assert!(warnings.iter().any(|(id, _)| id == "e1"), "{warnings:?}");
    // A value that is no role in any case is still refused.
    let data = json_source(users(
        json!([{"sourcedId": "x", "role": "Janitor", "givenName": "A", "familyName": "B"}]),
    ));
    let (r, out) = roster_of(&config(true, ""), &data, &SyncState::default());
    assert!(!r.users.contains_key("x"));
    assert!(
        out.issues
            .iter()
            .any(|i| i.severity == Severity::Error && i.reason.contains("Janitor"))
    );
}
