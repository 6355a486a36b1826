//! Rules that never mean less than they say (issue 20): `check` shows the rules in force,
//! warns about rules a source cannot carry, and checks the default category against the SIS.

mod support;

use classbridge_tests::district::Size;
use support::Harness;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_prints_the_rules_in_force_with_defaults_filled_in() {
    let h = Harness::start(
        Size::Tiny,
        "preview = true\nholds = { thresholds = [{ entity = \"enrollment\", change = \"delete\", maxCount = 2 }] }",
    )
    .await;
    let check = h.cli(&["check"]).await;
    assert_eq!(check.code, 0, "{}{}", check.stdout, check.stderr);
    for line in [
        "configured  preview = true",
        "default     mode = \"twoWay\"",
        "default     holds.thresholds (built-in) [0]",
        "configured  holds.thresholds[0]",
        "default     drift.extraMember = \"report\"",
        "✓ source riverside default_category: 'cat-asg' is a category of this SIS",
    ] {
        assert!(
            check.stdout.contains(line),
            "{line:?} in:\n{}",
            check.stdout
        );
    }
    let json = h.cli(&["check", "--json"]).await.json();
    let rules = json["rules"].as_array().expect("rules");
    assert!(
        rules
            .iter()
            .any(|r| r["path"] == "preview" && r["origin"] == "configured")
    );
    assert!(
        rules
            .iter()
            .any(|r| r["path"] == "holds.minChangesForPercent" && r["origin"] == "default")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_a_oneroster_1_1_sis_cannot_carry_are_warned_about_on_check_and_in_the_preview() {
    let h = Harness::start(
        Size::Tiny,
        "[rules.grades]\nscore = \"letter\"\nflagLate = true\nletterScale = [{ letter = \"A\", minPercent = 90 }, { letter = \"F\", minPercent = 0 }]",
    )
    .await;
    let check = h.cli(&["check"]).await;
    assert!(
        check.stdout.contains("Rules that cannot take effect")
            && check.stdout.contains("grades.score")
            && check.stdout.contains("grades.flagLate"),
        "{}",
        check.stdout
    );
    let run = h.cli(&["sync", "--json"]).await;
    let issues = run.json()["plan"]["recordIssues"].clone();
    let warnings: Vec<_> = issues
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["source"] == "rules")
        .collect();
    assert_eq!(warnings.len(), 2, "once per rule and run: {issues}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_default_category_the_sis_does_not_have_fails_check() {
    let h = Harness::start(Size::Tiny, "").await;
    h.edit_config(|c| {
        c.replace(
            "default_category = \"cat-asg\"",
            "default_category = \"Assignments\"",
        )
    });
    let check = h.cli(&["check"]).await;
    assert_ne!(check.code, 0);
    assert!(
        check
            .stdout
            .contains("'Assignments' is not a category of this SIS"),
        "{}",
        check.stdout
    );
}

/// A Classroom that enforces its limits, lowered so the tiny district meets them: 5 members
/// and 1 teacher per class.
fn tight_classroom(h: &Harness) {
    h.classroom.world(|w| {
        w.limits.members_per_class = 5;
        w.limits.teachers_per_class = 1;
    });
}

fn over_limits(h: &Harness) -> Vec<String> {
    h.classroom.world(|w| {
        w.courses
            .values()
            .filter(|c| c.teachers.len() > 1 || c.teachers.len() + c.students.len() > 5)
            .map(|c| c.id.clone())
            .collect()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn classroom_limits_are_met_in_the_preview_not_as_failures_mid_apply() {
    // Told Classroom's limits, the plan leaves out who would not fit and waits for approval.
    let h = Harness::start(
        Size::Tiny,
        "[rules.classroom.limits]\nmembersPerClass = 5\nteachersPerClass = 1",
    )
    .await;
    tight_classroom(&h);
    let held = h.cli(&["sync", "--json"]).await;
    assert_eq!(held.code, 4, "held: {}{}", held.stdout, held.stderr);
    let report = held.json();
    let holds = report["plan"]["holds"].to_string();
    assert!(holds.contains("classroomLimit"), "{holds}");
    let issues = report["plan"]["recordIssues"].to_string();
    assert!(
        issues.contains("per class") && issues.contains("not added"),
        "{issues}"
    );
    assert_eq!(h.course_count(), 0, "nothing applied while held");
    let estimate = report["applyEstimate"].as_str().unwrap_or_default();
    assert!(
        estimate.ends_with("under a minute at 60,000 requests/minute"),
        "the preview says how long the apply takes at the configured quota: {report}"
    );
    let run = report["run"].as_i64().expect("run").to_string();
    let approved = h.cli(&["approve", &run, "--json"]).await;
    assert_eq!(
        approved.code, 0,
        "applied without a failure: {}{}",
        approved.stdout, approved.stderr
    );
    assert!(
        !approved.stdout.contains("LimitReached"),
        "{}",
        approved.stdout
    );
    assert!(h.course_count() > 0);
    assert!(over_limits(&h).is_empty());
    // The next run has nothing to add and holds nothing new: the limit is met, not retried.
    let again = h.cli(&["sync", "--json"]).await;
    assert_eq!(again.code, 0, "{}{}", again.stdout, again.stderr);

    // Not told (the default limits are Google's own), the same Classroom refuses mid-apply,
    // with the documented code: what the rule above avoids.
    let naive = Harness::start(Size::Tiny, "").await;
    tight_classroom(&naive);
    let failed = naive.cli(&["sync"]).await;
    assert_ne!(failed.code, 0);
    let said = format!("{}{}", failed.stdout, failed.stderr);
    assert!(
        said.contains("CourseMemberLimitReached") || said.contains("CourseTeacherLimitReached"),
        "{said}"
    );
    assert!(over_limits(&naive).is_empty(), "the stand-in enforced them");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pause_window_reads_nothing_and_the_first_run_after_it_applies_what_changed() {
    let h = Harness::start(Size::Tiny, "").await;
    assert_eq!(h.cli(&["sync"]).await.code, 0);
    h.sis
        .with_district(|d| d.classes[2]["title"] = serde_json::json!("Renamed over the break"));
    // Paused all year round, so the test does not depend on today's date.
    let window = "pause = [{ from = \"01-01\", to = \"12-31\" }]\n";
    h.edit_config(|c| c.replace("[rules]\n", &format!("[rules]\n{window}")));
    let (sis_before, classroom_before) = (
        h.sis.logged(),
        h.classroom
            .state
            .requests
            .load(std::sync::atomic::Ordering::SeqCst),
    );
    let paused = h.cli(&["sync", "--json"]).await;
    assert_eq!(paused.code, 0, "{}{}", paused.stdout, paused.stderr);
    let report = paused.json();
    assert_eq!(report["status"], "noChanges", "{report}");
    assert!(
        report["message"]
            .as_str()
            .is_some_and(|m| m.contains("paused from 01-01 to 12-31")),
        "{report}"
    );
    assert_eq!(h.sis.logged(), sis_before, "nothing read from the SIS");
    assert_eq!(
        h.classroom
            .state
            .requests
            .load(std::sync::atomic::Ordering::SeqCst),
        classroom_before,
        "nothing asked of Classroom"
    );
    assert_ne!(
        h.classroom.course_by_alias("d:cl2").expect("course").body["name"],
        "Renamed over the break"
    );

    // After the window, a delta read still starts before the change: it is applied.
    h.edit_config(|c| c.replace(window, ""));
    let after = h.cli(&["sync"]).await;
    assert_eq!(after.code, 0, "{}{}", after.stdout, after.stderr);
    assert_eq!(
        h.classroom.course_by_alias("d:cl2").expect("course").body["name"],
        "Renamed over the break"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_class_whose_term_ended_is_archived_with_its_members_kept() {
    // Thresholds off: dropping a class's enrolments is this test's point, not a hold's.
    let h = Harness::start(Size::Tiny, "holds = { defaults = false }").await;
    assert_eq!(h.cli(&["sync"]).await.code, 0);
    let members = |h: &Harness| {
        h.classroom
            .course_by_alias("d:cl2")
            .map(|c| c.students.len())
            .unwrap_or_default()
    };
    let seated = members(&h);
    assert!(seated > 0);
    // cl2 ran in Quarter 1 only (ended 2026-10-31), and the SIS drops its enrolments at term
    // end, as some do.
    h.sis.with_district(|d| {
        d.classes[2]["terms"] = serde_json::json!([{"href": "/academicSessions/q1", "sourcedId": "q1", "type": "academicSession"}]);
        d.enrollments
            .retain(|e| e["class"]["sourcedId"] != d.classes[2]["sourcedId"]);
    });
    let run = h.cli(&["sync", "--json"]).await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let course = h.classroom.course_by_alias("d:cl2").expect("course");
    assert_eq!(course.body["courseState"], "ARCHIVED");
    assert_eq!(members(&h), seated, "archived, not emptied");
    assert!(
        run.stdout.contains("term ended on 2026-10-31"),
        "{}",
        run.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_student_dropped_in_the_sis_stays_for_the_removal_grace_and_then_leaves() {
    let h = Harness::start(Size::Tiny, "[rules.classroom]\nremovalGraceDays = 7").await;
    assert_eq!(h.cli(&["sync"]).await.code, 0);
    // One student leaves one class in the SIS (a schedule change).
    let (alias, email) = h.sis.with_district(|d| {
        let at = d
            .enrollments
            .iter()
            .position(|e| e["role"] == "student")
            .expect("a student enrolment");
        let gone = d.enrollments.remove(at);
        let user = gone["user"]["sourcedId"].clone();
        let email = d
            .users
            .iter()
            .find(|u| u["sourcedId"] == user)
            .and_then(|u| u["email"].as_str())
            .expect("the student's email")
            .to_lowercase();
        let class = gone["class"]["sourcedId"]
            .as_str()
            .expect("class")
            .to_string();
        (format!("d:{class}"), email)
    });
    // The stand-in keys a course's students by email.
    let member = email.clone();
    assert!(h.classroom.student_ids(&alias).contains(&member));

    // Kept, and told: the preview names the student and the day the removal comes due.
    let kept = h.cli(&["sync", "--json"]).await;
    assert_eq!(kept.code, 0, "{}{}", kept.stdout, kept.stderr);
    let issues = kept.json()["plan"]["recordIssues"].to_string();
    assert!(
        issues.contains(&format!("student {email} stays in"))
            && issues.contains("removal grace of 7 days"),
        "{issues}"
    );
    assert!(h.classroom.student_ids(&alias).contains(&member), "kept");
    let db = rusqlite::Connection::open(h.state_dir().join("classbridge.db")).expect("state db");
    let pending = |db: &rusqlite::Connection| -> Vec<String> {
        let mut stmt = db
            .prepare(
                "SELECT body FROM state_rows WHERE part = 'classroom' AND tbl = 'pendingRemovals'",
            )
            .expect("query");
        stmt.query_map([], |r| r.get(0))
            .expect("rows")
            .collect::<Result<_, _>>()
            .expect("bodies")
    };
    let rows = pending(&db);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(rows[0].contains(&email), "{rows:?}");

    // A week passes (the day they left is moved back, as the clock cannot be): the next run
    // reads no change, yet removes them, and says why.
    db.execute(
        "UPDATE state_rows SET body = json_set(body, '$.\"' || ?1 || '\"', '2020-01-01')
         WHERE part = 'classroom' AND tbl = 'pendingRemovals'",
        [&email],
    )
    .expect("a week earlier");
    let due = h.cli(&["sync", "--json"]).await;
    assert_eq!(due.code, 0, "{}{}", due.stdout, due.stderr);
    assert!(
        !h.classroom.student_ids(&alias).contains(&member),
        "removed once the grace is over: {}",
        due.stdout
    );
    assert!(
        due.stdout.contains("its removal grace is over"),
        "{}",
        due.stdout
    );
    assert!(pending(&db).is_empty(), "the grace ends with the removal");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_outside_the_domain_are_invited_and_join_on_accepting() {
    use classbridge_tests::district::{STAFF_DOMAIN, STUDENT_DOMAIN};
    // Classroom takes direct adds only from the district's domains, as Google does.
    let domains =
        format!("[rules.classroom]\ndomains = [\"{STAFF_DOMAIN}\", \"{STUDENT_DOMAIN}\"]");
    let h = Harness::start(Size::Tiny, &domains).await;
    h.classroom.world(|w| {
        w.domains = vec![STAFF_DOMAIN.to_string(), STUDENT_DOMAIN.to_string()];
    });
    // One student signs in with a personal address.
    let (alias, outsider) = h.sis.with_district(|d| {
        let student = d
            .users
            .iter_mut()
            .find(|u| u["role"] == "student")
            .expect("a student");
        let id = student["sourcedId"].clone();
        student["email"] = serde_json::json!("kid.outside@gmail.com");
        let class = d
            .enrollments
            .iter()
            .find(|e| e["user"]["sourcedId"] == id)
            .map(|e| {
                e["class"]["sourcedId"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .expect("an enrolment");
        (format!("d:{class}"), "kid.outside@gmail.com".to_string())
    });
    let first = h.cli(&["sync", "--json"]).await;
    assert_eq!(first.code, 0, "{}{}", first.stdout, first.stderr);
    assert!(
        first
            .stdout
            .contains("outside the domain: joins on accepting"),
        "{}",
        first.stdout
    );
    // Invited to each of their classes, added to none.
    let classes = h.sis.with_district(|d| {
        let id = d
            .users
            .iter()
            .find(|u| u["email"] == outsider.as_str())
            .map(|u| u["sourcedId"].clone())
            .expect("the outsider");
        d.enrollments
            .iter()
            .filter(|e| e["user"]["sourcedId"] == id)
            .count()
    });
    let invitations = |h: &Harness| h.classroom.world(|w| w.invitations.len());
    assert_eq!(invitations(&h), classes, "invited, not added");
    assert!(!h.classroom.student_ids(&alias).contains(&outsider));

    // Not accepted yet: the next run sends nothing again.
    let writes = h.classroom.writes();
    assert_eq!(h.cli(&["sync"]).await.code, 0);
    assert_eq!(h.classroom.writes(), writes, "no second invitation");

    // Dropped from one class before accepting: that invitation is withdrawn.
    let dropped = h.sis.with_district(|d| {
        let id = d
            .users
            .iter()
            .find(|u| u["email"] == outsider.as_str())
            .map(|u| u["sourcedId"].clone())
            .expect("the outsider");
        let at = d
            .enrollments
            .iter()
            .rposition(|e| e["user"]["sourcedId"] == id)
            .expect("an enrolment");
        let gone = d.enrollments.remove(at);
        format!(
            "d:{}",
            gone["class"]["sourcedId"].as_str().unwrap_or_default()
        )
    });
    assert_ne!(dropped, alias);
    let withdrawn = h.cli(&["sync", "--json"]).await;
    assert_eq!(
        withdrawn.code, 0,
        "{}{}",
        withdrawn.stdout, withdrawn.stderr
    );
    assert!(
        withdrawn
            .stdout
            .contains("withdraw the invitation of student"),
        "{}",
        withdrawn.stdout
    );
    let classes = classes - 1;
    assert_eq!(invitations(&h), classes);

    // Accepted: a member, and the state knows it (a full reconciliation reads the course).
    assert_eq!(
        h.classroom.world(|w| w.accept_invitations(&outsider)),
        classes
    );
    let after = h.cli(&["sync", "--full", "--json"]).await;
    assert_eq!(after.code, 0, "{}{}", after.stdout, after.stderr);
    assert!(h.classroom.student_ids(&alias).contains(&outsider));
    let db = rusqlite::Connection::open(h.state_dir().join("classbridge.db")).expect("db");
    let left: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM state_rows WHERE part = 'classroom' AND tbl = 'invitations'",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(left, 0, "the invitation is settled");
    let students: String = db
        .query_row(
            "SELECT body FROM state_rows WHERE part = 'classroom' AND tbl = 'students' AND id = ?1",
            [alias.trim_start_matches("d:")],
            |r| r.get(0),
        )
        .expect("students row");
    assert!(students.contains(&outsider), "{students}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_direct_add_is_invited_next_run_and_a_used_up_quota_is_said_and_retried() {
    use classbridge_tests::district::{STAFF_DOMAIN, STUDENT_DOMAIN};
    // No domains configured: classbridge learns from Classroom's refusal.
    let h = Harness::start(Size::Tiny, "").await;
    h.classroom.world(|w| {
        w.domains = vec![STAFF_DOMAIN.to_string(), STUDENT_DOMAIN.to_string()];
        w.invitation_quota = Some(0);
    });
    h.sis.with_district(|d| {
        let student = d
            .users
            .iter_mut()
            .find(|u| u["role"] == "student")
            .expect("a student");
        student["email"] = serde_json::json!("kid.outside@gmail.com");
    });
    let refused = h.cli(&["sync", "--json"]).await;
    assert_eq!(
        refused.code, 5,
        "partly applied: {}{}",
        refused.stdout, refused.stderr
    );
    assert!(
        refused.stdout.contains("CannotDirectAddUser") && refused.stdout.contains("invites them"),
        "{}",
        refused.stdout
    );
    // The next run invites; Classroom's invitation quota is used up: said, and retried later.
    let quota = h.cli(&["sync", "--json"]).await;
    assert_eq!(quota.code, 5, "{}{}", quota.stdout, quota.stderr);
    assert!(
        quota.stdout.contains("invitations is used up")
            && quota.stdout.contains("retried on the next run"),
        "{}",
        quota.stdout
    );
    h.classroom.world(|w| w.invitation_quota = None);
    let sent = h.cli(&["sync", "--json"]).await;
    assert_eq!(sent.code, 0, "{}{}", sent.stdout, sent.stderr);
    assert_eq!(
        h.classroom.world(|w| w.invitations.len()),
        5,
        "one per class"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_listed_classes_share_a_course_and_grades_go_back_to_each_class() {
    let h = Harness::start(
        Size::Tiny,
        "[rules.classroom]\ncrossList = [{ classes = [\"cl0\", \"cl1\"] }]",
    )
    .await;
    let run = h.cli(&["sync"]).await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        h.classroom.course_by_alias("d:cl1").is_none(),
        "no course of its own"
    );
    let enrolled = |class: &str| -> Vec<(String, String)> {
        h.sis.with_district(|d| {
            d.enrollments
                .iter()
                .filter(|e| e["class"]["sourcedId"] == class && e["role"] == "student")
                .filter_map(|e| {
                    let user = e["user"]["sourcedId"].as_str()?;
                    let email = d.users.iter().find(|u| u["sourcedId"] == user)?["email"]
                        .as_str()?
                        .to_lowercase();
                    Some((user.to_string(), email))
                })
                .collect()
        })
    };
    let (own, merged) = (enrolled("cl0"), enrolled("cl1"));
    let seated = h.classroom.student_ids("d:cl0");
    for (_, email) in own.iter().chain(&merged) {
        assert!(seated.contains(email), "{email} in the merged course");
    }

    // A quiz in the merged course, graded for one student of each class.
    let quiz = h
        .classroom
        .post_work("d:cl0", "Quiz", Some(10.0), None)
        .expect("work");
    h.classroom
        .grade(&quiz, &own[0].1, Some(8.0), None, false, "RETURNED");
    h.classroom
        .grade(&quiz, &merged[0].1, Some(6.0), None, false, "RETURNED");
    let graded = h.cli(&["sync"]).await;
    assert_eq!(graded.code, 0, "{}{}", graded.stdout, graded.stderr);
    let line_items = h.sis.gradebook("lineItems");
    let class_of = |li: &str| {
        line_items.iter().find(|l| l["sourcedId"] == li).map(|l| {
            l["class"]["sourcedId"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
    };
    let mut classes: Vec<String> = line_items
        .iter()
        .map(|l| {
            l["class"]["sourcedId"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    classes.sort();
    assert_eq!(classes, ["cl0", "cl1"], "the quiz in each SIS class");
    let results = h.sis.gradebook("results");
    for ((student, _), class) in [(&own[0], "cl0"), (&merged[0], "cl1")] {
        let result = results
            .iter()
            .find(|r| r["student"]["sourcedId"] == student.as_str())
            .expect("a result");
        let li = result["lineItem"]["sourcedId"].as_str().unwrap_or_default();
        assert_eq!(class_of(li).as_deref(), Some(class), "{result}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parents_linked_in_the_sis_are_invited_as_guardians_once_and_withdrawn_when_unlinked() {
    use classbridge_tests::district::STUDENT_DOMAIN;
    let h = Harness::start(Size::Tiny, "[rules.classroom]\nguardians = true").await;
    // A parent linked to student s0 through OneRoster agents.
    h.sis.with_district(|d| {
        d.users.push(serde_json::json!({"sourcedId": "p0", "status": "active",
            "dateLastModified": "2026-08-01T00:00:00Z", "enabledUser": true, "username": "p0",
            "givenName": "Rosa", "familyName": "Jones", "role": "parent", "identifier": "P0",
            "email": "rosa.jones@example.com", "orgs": [{"href": "/orgs/sch0", "sourcedId": "sch0", "type": "org"}],
            "agents": [{"href": "/users/s0", "sourcedId": "s0", "type": "user"}]}));
    });
    let first = h.cli(&["sync", "--json"]).await;
    assert_eq!(first.code, 0, "{}{}", first.stdout, first.stderr);
    assert!(
        first
            .stdout
            .contains("invite Rosa Jones (rosa.jones@example.com) as a guardian of student"),
        "{}",
        first.stdout
    );
    let invitations = |h: &Harness| {
        h.classroom
            .world(|w| w.guardian_invitations.values().cloned().collect::<Vec<_>>())
    };
    let sent = invitations(&h);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["studentId"], format!("s0@{STUDENT_DOMAIN}"));
    assert_eq!(sent[0]["state"], "PENDING");

    // Sent once: the next run sends nothing.
    let writes = h.classroom.writes();
    assert_eq!(h.cli(&["sync"]).await.code, 0);
    assert_eq!(h.classroom.writes(), writes);

    // The SIS unlinks them: the pending invitation is withdrawn.
    h.sis.with_district(|d| {
        if let Some(p) = d.users.iter_mut().find(|u| u["sourcedId"] == "p0") {
            p["agents"] = serde_json::json!([]);
        }
    });
    let unlinked = h.cli(&["sync", "--json"]).await;
    assert_eq!(unlinked.code, 0, "{}{}", unlinked.stdout, unlinked.stderr);
    assert_eq!(invitations(&h)[0]["state"], "COMPLETE", "withdrawn");

    // Linked again, and this time the parent accepts before the SIS unlinks them: the
    // withdrawal finds nothing pending and counts as done.
    h.sis.with_district(|d| {
        if let Some(p) = d.users.iter_mut().find(|u| u["sourcedId"] == "p0") {
            p["agents"] =
                serde_json::json!([{"href": "/users/s0", "sourcedId": "s0", "type": "user"}]);
        }
    });
    assert_eq!(h.cli(&["sync"]).await.code, 0);
    assert_eq!(invitations(&h).len(), 2, "a new invitation");
    h.classroom.world(|w| {
        for i in w.guardian_invitations.values_mut() {
            i["state"] = serde_json::json!("COMPLETE");
        }
    });
    h.sis.with_district(|d| {
        if let Some(p) = d.users.iter_mut().find(|u| u["sourcedId"] == "p0") {
            p["agents"] = serde_json::json!([]);
        }
    });
    let after_accept = h.cli(&["sync", "--json"]).await;
    assert_eq!(
        after_accept.code, 0,
        "{}{}",
        after_accept.stdout, after_accept.stderr
    );
    let db = rusqlite::Connection::open(h.state_dir().join("classbridge.db")).expect("db");
    let left: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM state_rows WHERE part = 'classroom' AND tbl = 'guardians'",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(left, 0);
}

/// Classroom's documented refusals of a guardian invitation: the link limit (429
/// `RESOURCE_EXHAUSTED`, the status its quota uses too) and a guardian who declined too many
/// times (403 `PERMISSION_DENIED`). Each is a failure in words within seconds, never fifteen
/// minutes of waiting out a 429, and is tried again on the next run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guardian_limits_are_failures_in_words_and_tried_again_next_run() {
    use classbridge_tests::district::STUDENT_DOMAIN;
    let h = Harness::start(Size::Tiny, "[rules.classroom]\nguardians = true").await;
    let parent = |id: &str, email: &str, student: &str| {
        serde_json::json!({"sourcedId": id, "status": "active",
            "dateLastModified": "2026-08-01T00:00:00Z", "enabledUser": true, "username": id,
            "givenName": "Pat", "familyName": id, "role": "guardian", "identifier": id,
            "email": email, "orgs": [{"href": "/orgs/sch0", "sourcedId": "sch0", "type": "org"}],
            "agents": [{"href": format!("/users/{student}"), "sourcedId": student, "type": "user"}]})
    };
    h.sis.with_district(|d| {
        d.users.push(parent("p1", "one@example.com", "s1"));
        d.users.push(parent("p2", "two@example.com", "s2"));
    });
    h.classroom.world(|w| {
        // s1 already has as many guardians as Classroom allows; p2 declined too often.
        w.guardian_link_limit = Some(0);
        w.guardian_declined.insert((
            format!("s2@{STUDENT_DOMAIN}"),
            "two@example.com".to_string(),
        ));
    });
    let started = std::time::Instant::now();
    let refused = h.cli(&["sync"]).await;
    assert_eq!(refused.code, 5, "{}{}", refused.stdout, refused.stderr);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(120),
        "a lasting limit is not waited out: {:?}",
        started.elapsed()
    );
    let said = format!("{}{}", refused.stdout, refused.stderr);
    assert!(said.contains("guardian link limit"), "{said}");
    assert!(said.contains("declined too many invitations"), "{said}");
    assert!(
        h.classroom.world(|w| w.guardian_invitations.is_empty()),
        "nothing was created"
    );

    // The limits lift (a guardian removed, the decline forgotten): the next run sends both.
    h.classroom.world(|w| {
        w.guardian_link_limit = None;
        w.guardian_declined.clear();
    });
    let retried = h.cli(&["sync"]).await;
    assert_eq!(retried.code, 0, "{}{}", retried.stdout, retried.stderr);
    assert_eq!(
        h.classroom.world(|w| w.guardian_invitations.len()),
        2,
        "each invitation sent once, on the run after"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_sync_with_new_courses_per_run_comes_in_bounded_runs_until_all_are_made() {
    let h = Harness::start(Size::Tiny, "[rules.classroom]\nnewCoursesPerRun = 4").await;
    let classes = h.sis.with_district(|d| d.classes.len());
    assert!(classes > 8, "{classes}");
    let courses = || h.classroom.world(|w| w.courses.len());
    let first = h.cli(&["sync"]).await;
    assert_eq!(first.code, 0, "{}{}", first.stdout, first.stderr);
    assert_eq!(courses(), 4, "{}", first.stdout);
    assert!(
        first.stdout.contains(&format!(
            "{} of {classes} new courses wait for later runs",
            classes - 4
        )),
        "{}",
        first.stdout
    );
    // The next runs read only the SIS's changes (none), and still make the courses left.
    let mut runs = 1;
    while courses() < classes && runs < classes {
        let next = h.cli(&["sync"]).await;
        assert_eq!(next.code, 0, "{}{}", next.stdout, next.stderr);
        runs += 1;
    }
    assert_eq!(courses(), classes);
    assert_eq!(runs, classes.div_ceil(4), "four courses a run");
    // Every course has its teachers and students: a full read finds nothing to do.
    let full = h.cli(&["sync", "--full", "--json"]).await;
    assert_eq!(full.code, 0, "{}{}", full.stdout, full.stderr);
    assert_eq!(
        full.json()["plan"]["ops"],
        serde_json::json!([]),
        "{}",
        full.stdout
    );
}
