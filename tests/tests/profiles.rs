//! Every supported vendor profile connects and syncs against the stand-in SIS serving that
//! vendor's paths, version and auth; plus OAuth 2.0 token expiry mid-run, delta reads and
//! CSV bundles.

mod support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use classbridge_tests::district::{District, Size};
use classbridge_tests::sis::{SisAuth, SisSpec};
use serde_json::json;
use support::{Harness, SIS_SECRET};

fn oauth1() -> SisAuth {
    SisAuth::Oauth1 {
        key: "vendor-key".into(),
        secret: SIS_SECRET.into(),
    }
}

fn oauth2() -> SisAuth {
    SisAuth::Oauth2 {
        client_id: "vendor-client".into(),
        secret: SIS_SECRET.into(),
        ttl: Duration::from_secs(3600),
    }
}

/// A tiny district on a stand-in OneRoster 1.2 SIS with OAuth 2.0, as `generic-1.2`.
async fn generic_1_2() -> Harness {
    let spec = SisSpec {
        version: "1.2".into(),
        prefix: String::new(),
        auth: oauth2(),
    };
    Harness::start_with(spec, "generic-1.2", District::generate(Size::Tiny, 3), "").await
}

/// What each vendor serves, from their published OneRoster docs.
fn vendors() -> Vec<(&'static str, &'static str, &'static str, SisAuth)> {
    vec![
        ("infinite-campus", "1.1", "", oauth1()),
        ("skyward-sms", "1.1", "/api", oauth1()),
        ("skyward-qmlativ", "1.1", "/api", oauth2()),
        ("aspen", "1.1", "", oauth2()),
        ("powerschool", "1.1", "/api", oauth2()),
        ("lumen-touch", "1.1", "", oauth1()),
        ("blackbaud", "1.2", "", oauth2()),
        ("aeries", "1.1", "", oauth1()),
        ("capita-sims", "1.1", "", oauth1()),
        ("generic-1.1", "1.1", "", oauth1()),
        ("generic-1.2", "1.2", "", oauth2()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_vendor_profile_connects_and_syncs() {
    let mut runs = vendors();
    // Infinite Campus also serves 1.2 with OAuth 2.0.
    runs.push(("infinite-campus", "1.2", "", oauth2()));
    for (profile, version, prefix, auth) in runs {
        let spec = SisSpec {
            version: version.into(),
            prefix: prefix.into(),
            auth,
        };
        let h = Harness::start_with(spec, profile, District::generate(Size::Tiny, 3), "").await;
        // The SIS refuses a title longer than it keeps, as the vendor documents.
        h.sis.state.write_limits.lock().expect("limits").title_max = published_title_max(profile);
        let check = h.cli(&["check"]).await;
        assert_eq!(
            check.code, 0,
            "{profile} {version}: {}{}",
            check.stdout, check.stderr
        );
        let sync = h.cli(&["sync"]).await;
        assert_eq!(
            sync.code, 0,
            "{profile} {version}: {}{}",
            sync.stdout, sync.stderr
        );
        assert_eq!(h.classroom_shape(), (10, 0, 210, 30), "{profile} {version}");
        // Grades go back through the same profile.
        let students: Vec<String> = h.classroom.student_ids("d:cl0");
        let long_title = "Essay: compare the causes of the First World War with those of the Second, citing at least three sources";
        let cw = h
            .classroom
            .post_work("d:cl0", long_title, Some(100.0), None)
            .unwrap();
        h.classroom
            .grade(&cw, &students[0], Some(88.0), None, false, "RETURNED");
        let grades = h.cli(&["sync"]).await;
        assert_eq!(
            grades.code, 0,
            "{profile} {version}: {}{}",
            grades.stdout, grades.stderr
        );
        // The graded one, and the rest as missing work (the due date has passed).
        let results = h.sis.gradebook("results");
        assert_eq!(results.len(), students.len(), "{profile} {version}");
        assert_eq!(
            results.iter().filter(|r| r["score"] == json!(88.0)).count(),
            1,
            "{profile} {version}"
        );
        // Bodies as the specs and Google's sequence have them: a date-time score date, a
        // comment, and in 1.1 GUIDRefs with the record's URL.
        for r in &results {
            let date = r["scoreDate"].as_str().unwrap_or_default();
            assert!(date.len() > 10 && date.contains('T'), "{profile}: {r}");
            assert_eq!(r["comment"], "", "{profile}: {r}");
        }
        let item = &h.sis.gradebook("lineItems")[0];
        let class_href = item["class"]["href"].as_str();
        if version == "1.1" {
            assert_eq!(
                class_href,
                Some(
                    format!(
                        "{}{prefix}/ims/oneroster/v1p1/classes/cl0",
                        h.sis.base_url()
                    )
                    .as_str()
                ),
                "{profile}: {item}"
            );
        } else {
            assert_eq!(class_href, None, "{profile}: {item}");
        }
        assert_eq!(
            h.sis.state.counters.unauthorized.load(Ordering::SeqCst),
            0,
            "{profile} {version}"
        );
    }
}

/// The longest lineItem title each vendor keeps, as their OneRoster docs publish it (the
/// stand-in's view, kept apart from the host's profile table on purpose).
fn published_title_max(profile: &str) -> Option<usize> {
    match profile {
        "infinite-campus" | "powerschool" => Some(30),
        "aspen" => Some(50),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_the_sis_refuses_is_reported_in_its_words_and_succeeds_once_configured() {
    let h = Harness::start(Size::Tiny, "").await;
    // This SIS keeps 20 characters of a title; the generic profile cannot know that.
    h.sis.state.write_limits.lock().expect("limits").title_max = Some(20);
    let first = h.cli(&["sync"]).await;
    assert_eq!(first.code, 0, "{}{}", first.stdout, first.stderr);
    let students = h.classroom.student_ids("d:cl0");
    let cw = h
        .classroom
        .post_work("d:cl0", "Chapter 4 review questions", Some(10.0), None)
        .unwrap();
    h.classroom
        .grade(&cw, &students[0], Some(9.0), None, false, "RETURNED");
    let refused = h.cli(&["sync"]).await;
    assert_eq!(refused.code, 5, "{}{}", refused.stdout, refused.stderr);
    let said = format!("{}{}", refused.stdout, refused.stderr);
    assert!(said.contains("at most 20"), "the SIS's own words: {said}");
    assert!(h.sis.gradebook("lineItems").is_empty());
    assert!(
        h.sis.gradebook("results").is_empty(),
        "no result without its lineItem"
    );

    // The admin sets the limit; the title is shortened and everything goes.
    h.edit_config(|c| c.replace("page_size = 25", "page_size = 25\nline_item_title_max = 20"));
    let fixed = h.cli(&["sync"]).await;
    assert_eq!(fixed.code, 0, "{}{}", fixed.stdout, fixed.stderr);
    let items = h.sis.gradebook("lineItems");
    assert_eq!(items.len(), 1);
    let title = items[0]["title"].as_str().unwrap_or_default();
    assert!(
        title.chars().count() <= 20 && title.starts_with("Chapter 4"),
        "{title}"
    );
    assert_eq!(h.sis.gradebook("results").len(), students.len());
}

/// OneRoster 1.2 makes a lineItem's category mandatory and the strict stand-in refuses one
/// without (422): work that matches no category, with no default category configured, is held
/// back and named in the preview, while categorized work in the same run goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uncategorized_work_is_held_back_where_the_sis_requires_a_category() {
    let h = generic_1_2().await;
    h.edit_config(|c| c.replace("default_category = \"cat-asg\"\n", ""));
    let check = h.cli(&["check"]).await;
    assert!(
        check.stdout.contains(
            "grade export: titles of any length; a category required: work matching none is held back"
        ),
        "said before any run: {}",
        check.stdout
    );
    let first = h.cli(&["sync"]).await;
    assert_eq!(first.code, 0, "{}{}", first.stdout, first.stderr);
    let students = h.classroom.student_ids("d:cl0");
    let loose = h
        .classroom
        .post_work("d:cl0", "Reading log", Some(10.0), None)
        .unwrap();
    let filed = h
        .classroom
        .post_work("d:cl0", "Lab report", Some(10.0), Some("Homework"))
        .unwrap();
    for cw in [&loose, &filed] {
        h.classroom
            .grade(cw, &students[0], Some(9.0), None, false, "RETURNED");
    }
    let run = h.cli(&["sync"]).await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains(
            "'Reading log' matches no category, source 'riverside' has no default category"
        ),
        "{}",
        run.stdout
    );
    let items = h.sis.gradebook("lineItems");
    assert_eq!(
        items.iter().map(|i| i["title"].clone()).collect::<Vec<_>>(),
        vec![json!("Lab report")]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_mid_run_is_renewed() {
    let h = generic_1_2().await;
    // Each token is good for 3 requests, then the server calls it expired.
    h.sis.state.faults.token_uses.store(3, Ordering::SeqCst);
    let sync = h.cli(&["sync"]).await;
    assert_eq!(sync.code, 0, "{}{}", sync.stdout, sync.stderr);
    assert_eq!(h.classroom_shape(), (10, 0, 210, 30));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth1_signatures_are_checked_by_the_stand_in() {
    let spec = SisSpec {
        version: "1.1".into(),
        prefix: String::new(),
        auth: SisAuth::Oauth1 {
            key: "vendor-key".into(),
            secret: "another-secret".into(),
        },
    };
    let h = Harness::start_with(spec, "generic-1.1", District::generate(Size::Tiny, 3), "").await;
    let sync = h.cli(&["sync"]).await;
    assert_eq!(
        sync.code, 3,
        "a wrong secret signs wrongly: {}",
        sync.stderr
    );
    assert!(sync.stderr.contains("bad signature"), "{}", sync.stderr);
    assert_eq!(h.course_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delta_reads_carry_changes_without_deleting_the_rest() {
    let h = Harness::start(Size::Tiny, "").await;
    let config = std::fs::read_to_string(&h.config)
        .unwrap()
        .replace("page_size = 25", "page_size = 25\ndelta = true");
    std::fs::write(&h.config, config).unwrap();
    assert_eq!(h.cli(&["sync"]).await.code, 0);
    let before = h.classroom_shape();
    h.sis.with_district(|d| {
        let now = chrono_like_now();
        d.classes[2]["title"] = json!("Renamed by delta");
        d.classes[2]["dateLastModified"] = json!(now);
    });
    let requests_before = h.sis.state.counters.requests.load(Ordering::SeqCst);
    let sync = h.cli(&["sync"]).await;
    assert_eq!(sync.code, 0, "{}{}", sync.stdout, sync.stderr);
    assert_eq!(
        h.classroom.course_by_alias("d:cl2").unwrap().body["name"],
        "Renamed by delta"
    );
    assert_eq!(
        h.classroom_shape(),
        before,
        "records absent from a delta read are not deletions"
    );
    let requests = h.sis.state.counters.requests.load(Ordering::SeqCst) - requests_before;
    assert!(
        requests < 20,
        "a delta read asks only for changes ({requests} requests)"
    );
}

/// Removes a student from the SIS: their user record and their enrollments.
fn student_leaves(h: &Harness, student: &str) {
    h.sis.with_district(|d| {
        d.users.retain(|u| u["sourcedId"] != student);
        d.enrollments.retain(|e| e["user"]["sourcedId"] != student);
    });
}

fn classes_with(h: &Harness, email: &str) -> usize {
    h.classroom.world(|w| {
        w.courses
            .values()
            .filter(|c| c.students.contains_key(email))
            .count()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sis_reads_after_the_first_are_deltas_and_deletions_arrive_as_tobedeleted() {
    // The harness's config says nothing of `delta`: this is the default.
    let h = Harness::start(Size::Tiny, "").await;
    assert_eq!(h.cli(&["sync"]).await.code, 0);
    let first = h.sis.collection_reads(0);
    assert!(
        !first.is_empty() && first.iter().all(|(_, delta)| !delta),
        "the first read is whole: {first:?}"
    );
    let email = "s3@students.district.example";
    let seats = classes_with(&h, email);
    assert!(seats > 0);
    h.sis
        .with_district(|d| d.classes[2]["title"] = json!("Renamed, told by delta"));
    student_leaves(&h, "s3");

    let mark = h.sis.logged();
    let sync = h.cli(&["sync"]).await;
    assert_eq!(sync.code, 0, "{}{}", sync.stdout, sync.stderr);
    let reads = h.sis.collection_reads(mark);
    assert!(
        !reads.is_empty() && reads.iter().all(|(_, delta)| *delta),
        "every collection is asked only for its changes: {reads:?}"
    );
    assert_eq!(
        h.classroom.course_by_alias("d:cl2").unwrap().body["name"],
        "Renamed, told by delta"
    );
    assert_eq!(
        classes_with(&h, email),
        0,
        "a deletion the SIS reports as tobedeleted is applied from the delta"
    );
    assert_eq!(h.classroom_shape().2, 210 - seats, "everyone else stays");

    // A delta run asks for the enrolments of the classes it can change. Without a change
    // feed every Classroom course is read, and drift is judged on whole classes, so that is
    // every class here (e2e.rs shows a feed's run reading one class's enrolments).
    h.sis
        .with_district(|d| d.classes[4]["title"] = json!("Renamed again"));
    let preview = h.cli(&["plan", "--json"]).await;
    assert_eq!(preview.code, 0, "{}", preview.stderr);
    let input = h.stored_input();
    let slice = &input["previousState"]["enrollmentSlice"];
    assert_eq!(
        slice["classes"].as_array().map(Vec::len),
        Some(10),
        "{slice}"
    );
    let db = rusqlite::Connection::open(h.state_dir().join("classbridge.db")).expect("state db");
    let all: u64 = db
        .query_row(
            "SELECT COUNT(*) FROM state_rows WHERE part = 'roster' AND tbl = 'enrollments'",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(slice["roster"], all, "{slice}");
    assert_eq!(
        input["previousState"]["roster"]["enrollments"]
            .as_object()
            .map(serde_json::Map::len),
        Some(all as usize),
        "every class's enrolments"
    );
    let ops = preview.json()["plan"]["ops"].clone();
    assert_eq!(ops.as_array().map(Vec::len), Some(1), "{ops}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deletion_the_sis_never_reports_is_found_by_the_next_full_read() {
    let h = Harness::start(Size::Tiny, "").await;
    assert_eq!(h.cli(&["sync"]).await.code, 0);
    // A SIS that neither keeps dateLastModified nor reports deletions to delta reads.
    let faults = &h.sis.state.faults;
    faults.no_tombstones.store(true, Ordering::SeqCst);
    faults.stale_modified_dates.store(true, Ordering::SeqCst);
    let email = "s3@students.district.example";
    let seats = classes_with(&h, email);
    h.sis
        .with_district(|d| d.classes[2]["title"] = json!("Renamed quietly"));
    student_leaves(&h, "s3");

    let delta = h.cli(&["sync", "--json"]).await;
    assert_eq!(delta.code, 0, "{}{}", delta.stdout, delta.stderr);
    assert_eq!(
        classes_with(&h, email),
        seats,
        "absence from a delta read removes nobody"
    );

    let mark = h.sis.logged();
    let full = h.cli(&["sync", "--full", "--json"]).await;
    assert_eq!(full.code, 0, "{}{}", full.stdout, full.stderr);
    let reads = h.sis.collection_reads(mark);
    assert!(
        !reads.is_empty() && reads.iter().all(|(_, delta)| !delta),
        "sync --full reads every record: {reads:?}"
    );
    assert_eq!(
        classes_with(&h, email),
        0,
        "the full read finds the deletion"
    );
    assert_eq!(
        h.classroom.course_by_alias("d:cl2").unwrap().body["name"],
        "Renamed quietly",
        "and the change the SIS did not date"
    );

    // Back to deltas; then a cadence of zero makes every read whole.
    let mark = h.sis.logged();
    assert_eq!(h.cli(&["sync"]).await.code, 0);
    assert!(h.sis.collection_reads(mark).iter().all(|(_, d)| *d));
    h.edit_config(|c| c.replace("page_size = 25", "page_size = 25\nfull_read_every = \"0s\""));
    let mark = h.sis.logged();
    assert_eq!(h.cli(&["sync"]).await.code, 0);
    let reads = h.sis.collection_reads(mark);
    assert!(
        !reads.is_empty() && reads.iter().all(|(_, d)| !d),
        "a full read is due on the cadence: {reads:?}"
    );

    h.edit_config(|c| {
        c.replace(
            "full_read_every = \"0s\"",
            "full_read_every = \"sometimes\"",
        )
    });
    let check = h.cli(&["check"]).await;
    assert_eq!(check.code, 2, "{}{}", check.stdout, check.stderr);
    assert!(
        check.stderr.contains("full_read_every"),
        "the error names the setting: {}",
        check.stderr
    );
}

fn chrono_like_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    // Days to civil date (Howard Hinnant's algorithm), to stay free of a date crate here.
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_csv_bundle_folder_syncs() {
    let h = Harness::start(Size::Tiny, "mode = \"importOnly\"").await;
    let bundle = h.dir.path().join("bundle");
    std::fs::create_dir_all(&bundle).unwrap();
    for (name, text) in District::generate(Size::Tiny, 11).to_csv_bundle() {
        std::fs::write(bundle.join(name), text).unwrap();
    }
    let config = std::fs::read_to_string(&h.config).unwrap();
    let start = config.find("[[source]]").unwrap();
    let end = config.find("[rules]").unwrap();
    let config = format!(
        "{}[[source]]\nid = \"csv\"\nkind = \"csv\"\npath = \"bundle\"\n\n{}",
        &config[..start],
        &config[end..]
    );
    std::fs::write(&h.config, config).unwrap();
    let check = h.cli(&["check"]).await;
    assert_eq!(check.code, 0, "{}{}", check.stdout, check.stderr);
    let sync = h.cli(&["sync"]).await;
    assert_eq!(sync.code, 0, "{}{}", sync.stdout, sync.stderr);
    assert_eq!(h.classroom_shape(), (10, 0, 210, 30));
}
