//! What the stand-in SIS checks of a gradebook write before it keeps it, as a certified SIS
//! does (OneRoster 1.1 and 1.2 gradebook records, and a vendor profile's limits): required
//! fields, references to records it holds, a result's student enrolled in the lineItem's
//! class, the `scoreStatus` vocabulary, numbers that are numbers and dates that are dates.
//! The host's bodies are checked here by something other than the host.

use std::collections::HashSet;

use serde_json::Value;

use crate::district::District;

/// A vendor profile's limits on writes (the stand-in's tests set them).
#[derive(Clone, Debug, Default)]
pub struct WriteLimits {
    /// The longest lineItem title the SIS keeps (some SIS truncate nothing and refuse).
    pub title_max: Option<usize>,
    /// Whether a lineItem must name its category. OneRoster 1.2 SIS require one (Google's
    /// 1.2 conformance sequence sends it); its 1.1 sequence creates a lineItem without one
    /// and expects 201, so a 1.1 SIS takes either (a category given must still exist).
    pub category_required: bool,
}

/// Why a write is refused: the status and the `imsx_description`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// 400 for a malformed record, 422 for one whose references the SIS does not hold.
    pub unprocessable: bool,
    pub description: String,
}

fn bad(description: String) -> Refusal {
    Refusal {
        unprocessable: false,
        description,
    }
}

fn unknown(description: String) -> Refusal {
    Refusal {
        unprocessable: true,
        description,
    }
}

/// The ids a write may refer to, built once per change of the district.
#[derive(Debug, Default)]
pub struct DistrictIndex {
    classes: HashSet<String>,
    sessions: HashSet<String>,
    categories: HashSet<String>,
    students: HashSet<String>,
    /// (student, class) pairs with a student enrolment.
    enrolled: HashSet<(String, String)>,
}

fn id_of(record: &Value) -> Option<String> {
    record["sourcedId"].as_str().map(str::to_string)
}

fn active(record: &Value) -> bool {
    record["status"].as_str() != Some("tobedeleted")
}

impl DistrictIndex {
    pub fn of(d: &District) -> DistrictIndex {
        let ids = |records: &[Value]| -> HashSet<String> {
            records
                .iter()
                .filter(|r| active(r))
                .filter_map(id_of)
                .collect()
        };
        DistrictIndex {
            classes: ids(&d.classes),
            sessions: ids(&d.academic_sessions),
            categories: ids(&d.categories),
            students: d
                .users
                .iter()
                .filter(|u| active(u) && u["role"] == "student")
                .filter_map(id_of)
                .collect(),
            enrolled: d
                .enrollments
                .iter()
                .filter(|e| active(e) && e["role"] == "student")
                .filter_map(|e| {
                    Some((
                        e["user"]["sourcedId"].as_str()?.to_string(),
                        e["class"]["sourcedId"].as_str()?.to_string(),
                    ))
                })
                .collect(),
        }
    }
}

/// What a write may look up beside the district: records written earlier.
pub trait Written {
    /// A gradebook record written earlier (`lineItems`, `categories`).
    fn written(&self, collection: &str, id: &str) -> Option<Value>;
}

const SCORE_STATUSES: [&str; 5] = [
    "exempt",
    "fully graded",
    "not submitted",
    "partially graded",
    "submitted",
];

/// Checks one record about to be written to `collection`.
pub fn check(
    collection: &str,
    record: &Value,
    index: &DistrictIndex,
    written: &impl Written,
    limits: &WriteLimits,
) -> Result<(), Refusal> {
    if !record.is_object() {
        return Err(bad(format!("the {collection} record must be an object")));
    }
    if let Some(status) = record.get("status").and_then(Value::as_str)
        && status != "active"
        && status != "tobedeleted"
    {
        return Err(bad(format!(
            "status '{status}' is not active or tobedeleted"
        )));
    }
    match collection {
        "lineItems" => line_item(record, index, written, limits),
        "results" => result(record, index, written),
        "categories" => title(record, "category").map(|_| ()),
        _ => Ok(()),
    }
}

fn title<'r>(record: &'r Value, what: &str) -> Result<&'r str, Refusal> {
    match record.get("title").and_then(Value::as_str) {
        Some(t) if !t.trim().is_empty() => Ok(t),
        _ => Err(bad(format!("a {what} needs a title"))),
    }
}

/// The `sourcedId` of a GUIDRef field, which must be there.
fn reference<'r>(record: &'r Value, field: &str) -> Result<&'r str, Refusal> {
    record
        .get(field)
        .and_then(|r| r.get("sourcedId"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| bad(format!("{field} (a GUIDRef with a sourcedId) is required")))
}

fn date_time(record: &Value, field: &str) -> Result<(), Refusal> {
    match record.get(field) {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(s))
            if chrono::DateTime::parse_from_rfc3339(s).is_ok()
                || chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok() =>
        {
            Ok(())
        }
        Some(other) => Err(bad(format!(
            "{field} must be an ISO 8601 date or date-time, not {other}"
        ))),
    }
}

fn number(record: &Value, field: &str) -> Result<Option<f64>, Refusal> {
    match record.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64()),
        Some(other) => Err(bad(format!("{field} must be a number, not {other}"))),
    }
}

fn line_item(
    record: &Value,
    index: &DistrictIndex,
    written: &impl Written,
    limits: &WriteLimits,
) -> Result<(), Refusal> {
    let title = title(record, "lineItem")?;
    if let Some(max) = limits.title_max
        && title.chars().count() > max
    {
        return Err(bad(format!(
            "title is {} characters; this SIS keeps at most {max}",
            title.chars().count()
        )));
    }
    let class = reference(record, "class")?;
    if !index.classes.contains(class) {
        return Err(unknown(format!("unknown class {class}")));
    }
    if limits.category_required || record.get("category").is_some_and(|c| !c.is_null()) {
        let category = reference(record, "category")?;
        if !index.categories.contains(category) && written.written("categories", category).is_none()
        {
            return Err(unknown(format!("unknown category {category}")));
        }
    }
    for period in ["gradingPeriod", "academicSession"] {
        if record.get(period).is_some_and(|v| !v.is_null()) {
            let id = reference(record, period)?;
            if !index.sessions.contains(id) {
                return Err(unknown(format!("unknown {period} {id}")));
            }
        }
    }
    date_time(record, "assignDate")?;
    date_time(record, "dueDate")?;
    let min = number(record, "resultValueMin")?;
    let max = number(record, "resultValueMax")?;
    if let (Some(min), Some(max)) = (min, max)
        && min > max
    {
        return Err(bad(format!(
            "resultValueMin {min} is above resultValueMax {max}"
        )));
    }
    Ok(())
}

fn result(record: &Value, index: &DistrictIndex, written: &impl Written) -> Result<(), Refusal> {
    let line_item_id = reference(record, "lineItem")?;
    let Some(line_item) = written.written("lineItems", line_item_id) else {
        return Err(unknown(format!("unknown lineItem {line_item_id}")));
    };
    let student = reference(record, "student")?;
    if !index.students.contains(student) {
        return Err(unknown(format!("unknown student {student}")));
    }
    let class = line_item["class"]["sourcedId"].as_str().unwrap_or_default();
    if !index
        .enrolled
        .contains(&(student.to_string(), class.to_string()))
    {
        return Err(unknown(format!(
            "student {student} is not enrolled in class {class}"
        )));
    }
    let status = record
        .get("scoreStatus")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("scoreStatus is required".into()))?;
    if !SCORE_STATUSES.contains(&status) {
        return Err(bad(format!(
            "scoreStatus '{status}' is not one of {}",
            SCORE_STATUSES.join(", ")
        )));
    }
    let score = number(record, "score")?;
    if status == "fully graded" && score.is_none() && record.get("textScore").is_none() {
        return Err(bad("a fully graded result needs a score".into()));
    }
    date_time(record, "scoreDate")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct Book(Vec<(String, String, Value)>);

    impl Written for Book {
        fn written(&self, collection: &str, id: &str) -> Option<Value> {
            self.0
                .iter()
                .find(|(c, i, _)| c == collection && i == id)
                .map(|(_, _, v)| v.clone())
        }
    }

    fn setup() -> (DistrictIndex, Book) {
        let d = District::generate(crate::district::Size::Tiny, 7);
        let class = d.classes[0]["sourcedId"].as_str().unwrap().to_string();
        let book = Book(vec![(
            "lineItems".into(),
            "li1".into(),
            json!({"sourcedId": "li1", "title": "Quiz", "class": {"sourcedId": class}}),
        )]);
        (DistrictIndex::of(&d), book)
    }

    fn enrolled_student(d: &District, class: &str) -> String {
        d.enrollments
            .iter()
            .find(|e| e["class"]["sourcedId"] == class && e["role"] == "student")
            .and_then(|e| e["user"]["sourcedId"].as_str())
            .unwrap()
            .to_string()
    }

    #[test]
    fn a_line_item_needs_its_title_class_and_category_and_a_title_within_the_profile() {
        let (index, book) = setup();
        let d = District::generate(crate::district::Size::Tiny, 7);
        let class = d.classes[0]["sourcedId"].as_str().unwrap();
        let good = json!({"title": "Quiz", "class": {"sourcedId": class}, "category": {"sourcedId": "cat-asg"},
            "assignDate": "2026-09-01T00:00:00Z", "dueDate": "2026-09-20", "resultValueMin": 0.0, "resultValueMax": 10.0});
        let limits = WriteLimits {
            title_max: Some(30),
            category_required: true,
        };
        assert_eq!(check("lineItems", &good, &index, &book, &limits), Ok(()));
        let refused = |change: &dyn Fn(&mut Value)| {
            let mut v = good.clone();
            change(&mut v);
            check("lineItems", &v, &index, &book, &limits).unwrap_err()
        };
        assert!(
            refused(&|v| v["title"] = json!("x".repeat(120)))
                .description
                .contains("at most 30")
        );
        assert!(
            refused(&|v| {
                v.as_object_mut().unwrap().remove("title");
            })
            .description
            .contains("title")
        );
        assert!(
            refused(&|v| {
                v.as_object_mut().unwrap().remove("class");
            })
            .description
            .contains("class")
        );
        assert!(refused(&|v| v["class"]["sourcedId"] = json!("nope")).unprocessable);
        assert!(refused(&|v| v["category"]["sourcedId"] = json!("nope")).unprocessable);
        assert!(
            refused(&|v| {
                v.as_object_mut().unwrap().remove("category");
            })
            .description
            .contains("category")
        );
        // Where the profile does not require one, a lineItem may go without a category.
        let mut without = good.clone();
        without.as_object_mut().unwrap().remove("category");
        assert_eq!(
            check(
                "lineItems",
                &without,
                &index,
                &book,
                &WriteLimits::default()
            ),
            Ok(())
        );
        assert!(
            refused(&|v| v["dueDate"] = json!("next week"))
                .description
                .contains("dueDate")
        );
        assert!(
            refused(&|v| v["resultValueMax"] = json!("10"))
                .description
                .contains("number")
        );
    }

    #[test]
    fn a_result_needs_an_enrolled_student_a_known_status_and_a_numeric_score() {
        let (index, book) = setup();
        let d = District::generate(crate::district::Size::Tiny, 7);
        let class = d.classes[0]["sourcedId"].as_str().unwrap();
        let student = enrolled_student(&d, class);
        let good = json!({"lineItem": {"sourcedId": "li1"}, "student": {"sourcedId": student},
            "scoreStatus": "fully graded", "score": 8.0, "scoreDate": "2026-09-21T08:00:00Z"});
        let limits = WriteLimits::default();
        assert_eq!(check("results", &good, &index, &book, &limits), Ok(()));
        let refused = |change: &dyn Fn(&mut Value)| {
            let mut v = good.clone();
            change(&mut v);
            check("results", &v, &index, &book, &limits).unwrap_err()
        };
        assert!(
            refused(&|v| v["scoreStatus"] = json!("bogus"))
                .description
                .contains("bogus")
        );
        assert!(
            refused(&|v| v["score"] = json!("8"))
                .description
                .contains("number")
        );
        assert!(refused(&|v| v["lineItem"]["sourcedId"] = json!("li9")).unprocessable);
        let elsewhere = d
            .enrollments
            .iter()
            .filter(|e| e["role"] == "student")
            .filter_map(|e| e["user"]["sourcedId"].as_str())
            .find(|u| !index.enrolled.contains(&(u.to_string(), class.to_string())))
            .unwrap()
            .to_string();
        let r = refused(&|v| v["student"]["sourcedId"] = json!(elsewhere.clone()));
        assert!(r.description.contains("not enrolled"), "{r:?}");
        let teacher = d.users.iter().find(|u| u["role"] == "teacher").unwrap()["sourcedId"].clone();
        assert!(
            refused(&|v| v["student"]["sourcedId"] = teacher.clone())
                .description
                .contains("unknown student")
        );
        assert!(
            refused(&|v| {
                v.as_object_mut().unwrap().remove("score");
            })
            .description
            .contains("needs a score")
        );
        // An exempt result may carry no score.
        let mut exempt = good.clone();
        exempt["scoreStatus"] = json!("exempt");
        exempt.as_object_mut().unwrap().remove("score");
        assert_eq!(check("results", &exempt, &index, &book, &limits), Ok(()));
    }
}
