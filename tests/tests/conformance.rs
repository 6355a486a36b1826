//! Google's OneRoster integration conformance sequence (the public notebooks in
//! googleworkspace/oneroster-integration-conformance-tests, 1.2 and the deprecated 1.1), re-expressed
//! as a test against the stand-in SIS: the same calls, in the same order, with the same
//! expectations. It shows the stand-in serves what a certified SIS serves, so the host's grade
//! export is checked against something other than itself.

use std::time::Duration;

use classbridge_tests::district::{District, Size};
use classbridge_tests::sis::{self, SisAuth, SisSpec};
use reqwest::{Client, Method, RequestBuilder, StatusCode};
use serde_json::{Value, json};

const ID: &str = "google-conformance";
const SECRET: &str = "conformance-secret";

struct Sequence {
    http: Client,
    root: String,
    token: String,
    /// 1.2 splits rostering and gradebook under the root; 1.1 has one root.
    v1p2: bool,
}

impl Sequence {
    fn rostering(&self, path: &str) -> String {
        if self.v1p2 {
            format!("{}/rostering/v1p2/{path}", self.root)
        } else {
            format!("{}/{path}", self.root)
        }
    }

    fn gradebook(&self, path: &str) -> String {
        if self.v1p2 {
            format!("{}/gradebook/v1p2/{path}", self.root)
        } else {
            format!("{}/{path}", self.root)
        }
    }

    fn call(&self, method: Method, url: &str) -> RequestBuilder {
        self.http.request(method, url).bearer_auth(&self.token)
    }

    async fn get(&self, step: &str, url: &str, query: &[(&str, &str)]) -> Value {
        let answer = self
            .call(Method::GET, url)
            .query(query)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{step}: {e}"));
        let status = answer.status();
        let body: Value = answer.json().await.unwrap_or(Value::Null);
        assert_eq!(status, StatusCode::OK, "{step}: {body}");
        body
    }

    async fn put(&self, step: &str, url: &str, body: Value, expected: &[u16]) -> u16 {
        let answer = self
            .call(Method::PUT, url)
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{step}: {e}"));
        let status = answer.status().as_u16();
        let text = answer.text().await.unwrap_or_default();
        assert!(expected.contains(&status), "{step}: {status} {text}");
        status
    }

    async fn delete(&self, step: &str, url: &str) {
        let answer = self
            .call(Method::DELETE, url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{step}: {e}"));
        let status = answer.status().as_u16();
        assert!([200, 204].contains(&status), "{step}: {status}");
    }
}

/// The record `id` of a listing's `key` array.
fn record<'l>(list: &'l Value, key: &str, id: &str) -> &'l Value {
    list[key]
        .as_array()
        .and_then(|a| a.iter().find(|r| r["sourcedId"] == id))
        .unwrap_or_else(|| panic!("{id} in {key}: {list}"))
}

fn ids(list: &Value, key: &str) -> Vec<String> {
    list[key]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| r["sourcedId"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

async fn run_sequence(version: &str) {
    let v1p2 = version == "1.2";
    let district = District::generate(Size::Tiny, 11);
    let teacher_email = district
        .users
        .iter()
        .find(|u| u["role"] == "teacher")
        .and_then(|u| u["email"].as_str())
        .expect("a teacher with an email")
        .to_string();
    let sis = sis::start(
        SisSpec {
            version: version.into(),
            prefix: String::new(),
            auth: SisAuth::Oauth2 {
                client_id: ID.into(),
                secret: SECRET.into(),
                ttl: Duration::from_secs(3600),
            },
        },
        district,
    )
    .await
    .expect("stand-in SIS");
    let http = Client::new();
    let scope_root = if v1p2 { "v1p2" } else { "v1p1" };

    // Get OAuth Token: client credentials with HTTP Basic, the four scopes.
    let scope = [
        "roster.readonly",
        "gradebook.readonly",
        "gradebook.createput",
        "gradebook.delete",
    ]
    .map(|s| format!("https://purl.imsglobal.org/spec/or/{scope_root}/scope/{s}"))
    .join(" ");
    let token = http
        .post(format!("{}/oauth2/token", sis.base_url()))
        .basic_auth(ID, Some(SECRET))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", scope.as_str()),
        ])
        .send()
        .await
        .expect("token request");
    assert_eq!(token.status(), StatusCode::OK, "{version}: Get OAuth Token");
    let token: Value = token.json().await.expect("token JSON");
    let seq = Sequence {
        http,
        root: format!(
            "{}/ims/oneroster{}",
            sis.base_url(),
            if v1p2 { "" } else { "/v1p1" }
        ),
        token: token["access_token"]
            .as_str()
            .expect("access_token")
            .to_string(),
        v1p2,
    };
    let step = |name: &str| format!("{version}: {name}");

    // GetAllTeachers; with the email filter, exactly that teacher.
    seq.get(
        &step("GetAllTeachers"),
        &seq.rostering("teachers"),
        &[("limit", "1")],
    )
    .await;
    let filter = format!("email='{teacher_email}'");
    let teachers = seq
        .get(
            &step("GetAllTeachers w/ email filter"),
            &seq.rostering("teachers"),
            &[("filter", &filter), ("limit", "10000")],
        )
        .await;
    let users = teachers["users"].as_array().expect("users");
    assert_eq!(users.len(), 1, "{}", step("one teacher"));
    assert!(users[0]["email"].is_string() && users[0]["sourcedId"].is_string());
    let teacher = users[0]["sourcedId"]
        .as_str()
        .unwrap_or_default()
        .to_string();

    // GetClassesForTeacher: active classes, with their school and terms.
    let classes = seq
        .get(
            &step("GetClassesForTeacher"),
            &seq.rostering(&format!("teachers/{teacher}/classes")),
            &[("limit", "10000"), ("filter", "status='active'")],
        )
        .await;
    let class = &classes["classes"][0];
    let class_id = class["sourcedId"].as_str().expect("a class").to_string();
    let school_id = class["school"]["sourcedId"]
        .as_str()
        .expect("its school")
        .to_string();
    let term_id = class["terms"][0]["sourcedId"]
        .as_str()
        .expect("its term")
        .to_string();

    // GetStudentsForClass.
    let students = seq
        .get(
            &step("GetStudentsForClass"),
            &seq.rostering(&format!("classes/{class_id}/students")),
            &[("limit", "10000")],
        )
        .await;
    let student = &students["users"][0];
    assert!(student["email"].is_string(), "{}", step("student email"));
    let student_id = student["sourcedId"]
        .as_str()
        .expect("a student")
        .to_string();

    // Categories: per class in 1.2, all of them in 1.1.
    let categories = if v1p2 {
        seq.get(
            &step("GetCategoriesForClass"),
            &seq.gradebook(&format!("classes/{class_id}/categories")),
            &[("limit", "10000")],
        )
        .await
    } else {
        seq.get(
            &step("GetAllCategories"),
            &seq.gradebook("categories"),
            &[("limit", "10000")],
        )
        .await
    };
    let category_id = ids(&categories, "categories")
        .into_iter()
        .next()
        .expect("a category");

    // GetGradingPeriodsForTerm (1.2): each a grading period with its dates and school year.
    if v1p2 {
        let periods = seq
            .get(
                &step("GetGradingPeriodsForTerm"),
                &seq.rostering(&format!("terms/{term_id}/gradingPeriods")),
                &[("limit", "10000")],
            )
            .await;
        let periods = periods["academicSessions"]
            .as_array()
            .expect("academicSessions");
        assert!(!periods.is_empty(), "{}", step("a grading period"));
        for p in periods {
            for field in ["sourcedId", "title", "startDate", "endDate", "schoolYear"] {
                assert!(
                    p.get(field).is_some(),
                    "{}: {field} in {p}",
                    step("grading period")
                );
            }
            assert_eq!(
                p["type"],
                "gradingPeriod",
                "{}",
                step("grading period type")
            );
        }
    }

    // PutLineItem Create (201), seen in the class's lineItems, then edited with a long title.
    let line_item = format!("li-{version}-conformance");
    let mut body = json!({"lineItem": {"sourcedId": line_item, "title": "New test item",
        "description": "Test Line Item", "resultValueMin": 0, "resultValueMax": 100,
        "assignDate": "2026-12-06T10:00:00.000Z", "dueDate": "2026-12-06T10:01:00.000Z",
        "class": {"sourcedId": class_id}}});
    if v1p2 {
        body["lineItem"]["category"] = json!({"sourcedId": category_id});
        body["lineItem"]["school"] = json!({"sourcedId": school_id});
    }
    let url = seq.gradebook(&format!("lineItems/{line_item}"));
    seq.put(&step("PutLineItem Create"), &url, body.clone(), &[201])
        .await;
    let class_items = seq.gradebook(&format!("classes/{class_id}/lineItems"));
    let listed = seq
        .get(
            &step("GetLineItemsForClass"),
            &class_items,
            &[("limit", "10000")],
        )
        .await;
    assert!(
        ids(&listed, "lineItems").contains(&line_item),
        "{}",
        step("created lineItem listed")
    );
    body["lineItem"]["title"] = json!(
        "[Amended] Reallllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllly Long Google Test Line Item Title"
    );
    seq.put(&step("PutLineItem Edit"), &url, body, &[200, 201])
        .await;
    let listed = seq
        .get(
            &step("Assignment Title Limit"),
            &class_items,
            &[("limit", "10000")],
        )
        .await;
    assert!(ids(&listed, "lineItems").contains(&line_item));

    // Results: created, extra credit kept, exempt, deleted.
    let result = format!("r-{version}-conformance");
    let results_url = seq.gradebook(&format!("results/{result}"));
    let of_item = seq.gradebook(&format!("classes/{class_id}/lineItems/{line_item}/results"));
    let result_body = |score: u32, status: &str| {
        json!({"result": {"sourcedId": result, "score": score, "comment": "", "scoreStatus": status,
            "scoreDate": "2026-12-06T10:00:00.000Z", "lineItem": {"sourcedId": line_item},
            "student": {"sourcedId": student_id}}})
    };
    seq.put(
        &step("PutResult Create"),
        &results_url,
        result_body(80, "fully graded"),
        &[200, 201],
    )
    .await;
    let listed = seq
        .get(
            &step("GetResultsForLineItem"),
            &of_item,
            &[("limit", "10000")],
        )
        .await;
    assert!(
        ids(&listed, "results").contains(&result),
        "{}",
        step("created result listed")
    );
    let edited = seq
        .put(
            &step("PutResult Edit"),
            &results_url,
            result_body(300, "fully graded"),
            &[200, 201],
        )
        .await;
    assert_eq!(
        edited,
        200,
        "{}: modifying a result answers 200",
        step("PutResult Edit")
    );
    let listed = seq
        .get(
            &step("Result Extra Credit"),
            &of_item,
            &[("limit", "10000")],
        )
        .await;
    let kept = record(&listed, "results", &result);
    assert_eq!(
        kept["score"].as_f64(),
        Some(300.0),
        "{}",
        step("extra credit kept")
    );
    seq.put(
        &step("PutResult Exempt"),
        &results_url,
        result_body(80, "exempt"),
        &[200, 201],
    )
    .await;
    let listed = seq
        .get(
            &step("GetResultsForLineItem Exempt"),
            &of_item,
            &[("limit", "10000")],
        )
        .await;
    let kept = record(&listed, "results", &result);
    assert_eq!(kept["scoreStatus"], "exempt", "{}", step("excused state"));
    seq.delete(&step("DeleteResult"), &results_url).await;
    let listed = seq
        .get(
            &step("GetResultsForLineItem (Deleted)"),
            &of_item,
            &[("limit", "10000")],
        )
        .await;
    assert!(
        !ids(&listed, "results").contains(&result),
        "{}",
        step("result deleted")
    );

    // LineItem cleanup.
    seq.delete(&step("DeleteLineItem"), &url).await;
    let listed = seq
        .get(
            &step("GetLineItemsForClass (Deleted)"),
            &class_items,
            &[("limit", "10000")],
        )
        .await;
    assert!(
        !ids(&listed, "lineItems").contains(&line_item),
        "{}",
        step("lineItem deleted")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn google_s_conformance_sequence_passes_against_the_stand_in_in_1_2() {
    run_sequence("1.2").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn google_s_conformance_sequence_passes_against_the_stand_in_in_1_1() {
    run_sequence("1.1").await;
}

/// A stand-in SIS of `version` and a client holding a token for it.
async fn connect(version: &str) -> (sis::StandInSis, Sequence, District) {
    let district = District::generate(Size::Tiny, 11);
    let sis = sis::start(
        SisSpec {
            version: version.into(),
            prefix: String::new(),
            auth: SisAuth::Oauth2 {
                client_id: ID.into(),
                secret: SECRET.into(),
                ttl: Duration::from_secs(3600),
            },
        },
        district.clone(),
    )
    .await
    .expect("stand-in SIS");
    let http = Client::new();
    let token: Value = http
        .post(format!("{}/oauth2/token", sis.base_url()))
        .basic_auth(ID, Some(SECRET))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("token JSON");
    let v1p2 = version == "1.2";
    let seq = Sequence {
        http,
        root: format!(
            "{}/ims/oneroster{}",
            sis.base_url(),
            if v1p2 { "" } else { "/v1p1" }
        ),
        token: token["access_token"]
            .as_str()
            .expect("access_token")
            .to_string(),
        v1p2,
    };
    (sis, seq, district)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stand_in_serves_fields_sort_and_the_nested_paths_and_refuses_unknown_parents() {
    let (_sis, seq, _) = connect("1.1").await;
    let users = seq
        .get(
            "sorted",
            &seq.rostering("students"),
            &[
                ("sort", "familyName"),
                ("orderBy", "desc"),
                ("fields", "sourcedId,familyName"),
                ("limit", "5"),
            ],
        )
        .await;
    let users = users["users"].as_array().expect("users");
    assert_eq!(users.len(), 5);
    for u in users {
        let keys: Vec<&String> = u.as_object().expect("object").keys().collect();
        assert_eq!(keys.len(), 2, "only the fields asked for: {u}");
    }
    let schools = seq.get("schools", &seq.rostering("schools"), &[]).await;
    assert!(ids(&schools, "orgs").iter().all(|id| id.starts_with("sch")));
    let school_classes = seq
        .get(
            "school classes",
            &seq.rostering("schools/sch0/classes"),
            &[],
        )
        .await;
    assert!(!ids(&school_classes, "classes").is_empty());
    let missing = seq
        .call(
            Method::GET,
            &seq.rostering("classes/no-such-class/students"),
        )
        .send()
        .await
        .expect("answer");
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let body: Value = missing.json().await.expect("imsx JSON");
    assert_eq!(body["imsx_codeMajor"], "failure");
}

/// OneRoster 1.2's gradebook beyond lineItems and results: score scales (by id and by class)
/// and the assessment items and results that use them, each write checked; a 1.1 SIS has none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_1_2_gradebook_serves_score_scales_and_assessments_and_1_1_has_none() {
    let (_sis, seq, district) = connect("1.2").await;
    let class = district.classes[0]["sourcedId"]
        .as_str()
        .expect("a class")
        .to_string();
    let student = district
        .enrollments
        .iter()
        .find(|e| e["class"]["sourcedId"] == class.as_str() && e["role"] == "student")
        .and_then(|e| e["user"]["sourcedId"].as_str())
        .expect("a student")
        .to_string();
    let scale = json!({"scoreScale": {"sourcedId": "ss1", "status": "active", "title": "Letters",
        "type": "letter", "class": {"sourcedId": class},
        "scoreScaleValue": [{"itemValueLHS": "A", "itemValueRHS": "90"}, {"itemValueLHS": "B", "itemValueRHS": "80"}]}});
    assert_eq!(
        seq.put(
            "scoreScale",
            &seq.gradebook("scoreScales/ss1"),
            scale.clone(),
            &[201]
        )
        .await,
        201
    );
    assert_eq!(
        seq.put(
            "scoreScale again",
            &seq.gradebook("scoreScales/ss1"),
            scale,
            &[200]
        )
        .await,
        200,
        "a PUT of the same id updates"
    );
    let one = seq
        .get("scoreScale", &seq.gradebook("scoreScales/ss1"), &[])
        .await;
    assert_eq!(one["scoreScale"]["title"], "Letters");
    let of_class = seq
        .get(
            "class scoreScales",
            &seq.gradebook(&format!("classes/{class}/scoreScales")),
            &[],
        )
        .await;
    assert_eq!(ids(&of_class, "scoreScales"), vec!["ss1".to_string()]);
    // A scale with no values is refused in the SIS's words.
    seq.put(
        "empty scale",
        &seq.gradebook("scoreScales/ss2"),
        json!({"scoreScale": {"title": "Empty", "type": "letter", "class": {"sourcedId": class}, "scoreScaleValue": []}}),
        &[400],
    )
    .await;

    let item = json!({"assessmentLineItem": {"sourcedId": "ali1", "title": "Fractions",
        "class": {"sourcedId": class}, "scoreScale": {"sourcedId": "ss1"}, "resultValueMin": 0.0, "resultValueMax": 4.0}});
    seq.put(
        "assessmentLineItem",
        &seq.gradebook("assessmentLineItems/ali1"),
        item,
        &[201],
    )
    .await;
    seq.put(
        "assessmentLineItem with an unknown scale",
        &seq.gradebook("assessmentLineItems/ali2"),
        json!({"assessmentLineItem": {"title": "Decimals", "scoreScale": {"sourcedId": "ss9"}}}),
        &[422],
    )
    .await;
    let result = json!({"assessmentResult": {"sourcedId": "ar1", "assessmentLineItem": {"sourcedId": "ali1"},
        "student": {"sourcedId": student}, "scoreStatus": "fully graded", "score": 3.0, "textScore": "B",
        "scoreDate": "2026-10-01T12:00:00Z"}});
    seq.put(
        "assessmentResult",
        &seq.gradebook("assessmentResults/ar1"),
        result,
        &[201],
    )
    .await;
    seq.put(
        "assessmentResult for an unknown item",
        &seq.gradebook("assessmentResults/ar2"),
        json!({"assessmentResult": {"assessmentLineItem": {"sourcedId": "ali9"}, "student": {"sourcedId": student},
            "scoreStatus": "fully graded", "score": 1.0, "scoreDate": "2026-10-01"}}),
        &[422],
    )
    .await;
    let results = seq
        .get(
            "assessmentResults",
            &seq.gradebook("assessmentResults"),
            &[],
        )
        .await;
    assert_eq!(ids(&results, "assessmentResults"), vec!["ar1".to_string()]);
    assert_eq!(
        record(&results, "assessmentResults", "ar1")["textScore"],
        "B"
    );
    seq.delete("assessmentResult", &seq.gradebook("assessmentResults/ar1"))
        .await;
    seq.delete(
        "assessmentLineItem",
        &seq.gradebook("assessmentLineItems/ali1"),
    )
    .await;
    seq.delete("scoreScale", &seq.gradebook("scoreScales/ss1"))
        .await;
    let gone = seq
        .call(Method::GET, &seq.gradebook("scoreScales/ss1"))
        .send()
        .await
        .expect("answer");
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
    // Not under the rostering service.
    let misplaced = seq
        .call(Method::GET, &seq.rostering("scoreScales"))
        .send()
        .await
        .expect("answer");
    assert_eq!(misplaced.status(), StatusCode::NOT_FOUND);

    let (_sis, v1p1, _) = connect("1.1").await;
    for path in ["scoreScales", "assessmentLineItems", "assessmentResults"] {
        let answer = v1p1
            .call(Method::GET, &v1p1.gradebook(path))
            .send()
            .await
            .expect("answer");
        assert_eq!(answer.status(), StatusCode::NOT_FOUND, "1.1 has no {path}");
    }
    let nested = v1p1
        .call(
            Method::GET,
            &v1p1.gradebook(&format!("classes/{class}/scoreScales")),
        )
        .send()
        .await
        .expect("answer");
    assert_eq!(nested.status(), StatusCode::NOT_FOUND);
}
