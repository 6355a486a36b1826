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
        "scoreScales" => score_scale(record, index),
        "assessmentLineItems" => assessment_line_item(record, index, written),
        "assessmentResults" => assessment_result(record, index, written),
        _ => Ok(()),
    }
}

/// A GUIDRef field that may be absent; when given it must name a record of `collection`
/// written earlier (score scales and assessment items live only in the gradebook).
fn written_reference(
    record: &Value,
    field: &str,
    collection: &str,
    written: &impl Written,
) -> Result<(), Refusal> {
    if record.get(field).is_none_or(Value::is_null) {
        return Ok(());
    }
    let id = reference(record, field)?;
    match written.written(collection, id) {
        Some(_) => Ok(()),
        None => Err(unknown(format!("unknown {field} {id}"))),
    }
}

fn class_of(record: &Value, index: &DistrictIndex, required: bool) -> Result<(), Refusal> {
    if !required && record.get("class").is_none_or(Value::is_null) {
        return Ok(());
    }
    let class = reference(record, "class")?;
    if !index.classes.contains(class) {
        return Err(unknown(format!("unknown class {class}")));
    }
    Ok(())
}

/// OneRoster 1.2 scoreScale: a title, a type, its class, and at least one value, each with
/// both sides of its mapping (`itemValueLHS` → `itemValueRHS`).
fn score_scale(record: &Value, index: &DistrictIndex) -> Result<(), Refusal> {
    title(record, "scoreScale")?;
    match record.get("type").and_then(Value::as_str) {
        Some(t) if !t.trim().is_empty() => {}
        _ => return Err(bad("a scoreScale needs a type".into())),
    }
    class_of(record, index, true)?;
    let values = record
        .get("scoreScaleValue")
        .and_then(Value::as_array)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| bad("scoreScaleValue (at least one value) is required".into()))?;
    for (i, value) in values.iter().enumerate() {
        for side in ["itemValueLHS", "itemValueRHS"] {
            if !value.get(side).is_some_and(Value::is_string) {
                return Err(bad(format!(
                    "scoreScaleValue[{i}].{side} (a string) is required"
                )));
            }
        }
    }
    Ok(())
}

/// OneRoster 1.2 assessmentLineItem: a title; its class, parent item and score scale, each
/// optional, must exist; the value range must be a range.
fn assessment_line_item(
    record: &Value,
    index: &DistrictIndex,
    written: &impl Written,
) -> Result<(), Refusal> {
    title(record, "assessmentLineItem")?;
    class_of(record, index, false)?;
    written_reference(
        record,
        "parentAssessmentLineItem",
        "assessmentLineItems",
        written,
    )?;
    written_reference(record, "scoreScale", "scoreScales", written)?;
    value_range(record)
}

/// OneRoster 1.2 assessmentResult: its item and student, a known `scoreStatus`, a score date;
/// numbers that are numbers.
fn assessment_result(
    record: &Value,
    index: &DistrictIndex,
    written: &impl Written,
) -> Result<(), Refusal> {
    let item = reference(record, "assessmentLineItem")?;
    if written.written("assessmentLineItems", item).is_none() {
        return Err(unknown(format!("unknown assessmentLineItem {item}")));
    }
    let student = reference(record, "student")?;
    if !index.students.contains(student) {
        return Err(unknown(format!("unknown student {student}")));
    }
    score_status(record)?;
    if record.get("scoreDate").is_none_or(Value::is_null) {
        return Err(bad("scoreDate is required".into()));
    }
    date_time(record, "scoreDate")?;
    number(record, "score")?;
    number(record, "scorePercentile")?;
    written_reference(record, "scoreScale", "scoreScales", written)
}

fn score_status(record: &Value) -> Result<&str, Refusal> {
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
    Ok(status)
}

fn value_range(record: &Value) -> Result<(), Refusal> {
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
    written_reference(record, "scoreScale", "scoreScales", written)?;
    value_range(record)
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
    let status = score_status(record)?;
    let score = number(record, "score")?;
    if status == "fully graded" && score.is_none() && record.get("textScore").is_none() {
        return Err(bad("a fully graded result needs a score".into()));
    }
    date_time(record, "scoreDate")?;
    written_reference(record, "scoreScale", "scoreScales", written)
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

    #[test]
    fn the_1_2_gradebook_checks_score_scales_and_assessments_and_their_references() {
        let d = District::generate(crate::district::Size::Tiny, 7);
        let index = DistrictIndex::of(&d);
        let class = d.classes[0]["sourcedId"].as_str().unwrap();
        let student = enrolled_student(&d, class);
        let limits = WriteLimits::default();
        let scale = json!({"title": "Letters", "type": "letter", "class": {"sourcedId": class},
            "scoreScaleValue": [{"itemValueLHS": "A", "itemValueRHS": "90"}, {"itemValueLHS": "B", "itemValueRHS": "80"}]});
        let empty = Book(Vec::new());
        assert_eq!(
            check("scoreScales", &scale, &index, &empty, &limits),
            Ok(())
        );
        let scale_refused = |change: &dyn Fn(&mut Value)| {
            let mut v = scale.clone();
            change(&mut v);
            check("scoreScales", &v, &index, &empty, &limits).unwrap_err()
        };
        assert!(
            scale_refused(&|v| v["scoreScaleValue"] = json!([]))
                .description
                .contains("scoreScaleValue")
        );
        assert!(
            scale_refused(&|v| v["scoreScaleValue"][1]["itemValueRHS"] = json!(80))
                .description
                .contains("scoreScaleValue[1].itemValueRHS")
        );
        assert!(scale_refused(&|v| v["class"]["sourcedId"] = json!("nope")).unprocessable);
        assert!(
            scale_refused(&|v| {
                v.as_object_mut().unwrap().remove("type");
            })
            .description
            .contains("type")
        );

        let book = Book(vec![
            ("scoreScales".into(), "ss1".into(), scale.clone()),
            (
                "assessmentLineItems".into(),
                "ali1".into(),
                json!({"title": "Unit test"}),
            ),
        ]);
        let item = json!({"title": "Fractions standard", "class": {"sourcedId": class},
            "parentAssessmentLineItem": {"sourcedId": "ali1"}, "scoreScale": {"sourcedId": "ss1"},
            "resultValueMin": 0.0, "resultValueMax": 4.0});
        assert_eq!(
            check("assessmentLineItems", &item, &index, &book, &limits),
            Ok(())
        );
        let mut no_class = item.clone();
        no_class.as_object_mut().unwrap().remove("class");
        assert_eq!(
            check("assessmentLineItems", &no_class, &index, &book, &limits),
            Ok(()),
            "an assessment item's class is optional"
        );
        let item_refused = |change: &dyn Fn(&mut Value)| {
            let mut v = item.clone();
            change(&mut v);
            check("assessmentLineItems", &v, &index, &book, &limits).unwrap_err()
        };
        assert!(item_refused(&|v| v["scoreScale"]["sourcedId"] = json!("ss9")).unprocessable);
        assert!(
            item_refused(&|v| v["parentAssessmentLineItem"]["sourcedId"] = json!("ali9"))
                .unprocessable
        );
        assert!(
            item_refused(&|v| v["resultValueMin"] = json!(5.0))
                .description
                .contains("above")
        );

        let result = json!({"assessmentLineItem": {"sourcedId": "ali1"}, "student": {"sourcedId": student},
            "scoreStatus": "fully graded", "score": 3.0, "textScore": "B", "scoreScale": {"sourcedId": "ss1"},
            "scoreDate": "2026-10-01"});
        assert_eq!(
            check("assessmentResults", &result, &index, &book, &limits),
            Ok(())
        );
        let result_refused = |change: &dyn Fn(&mut Value)| {
            let mut v = result.clone();
            change(&mut v);
            check("assessmentResults", &v, &index, &book, &limits).unwrap_err()
        };
        assert!(
            result_refused(&|v| v["assessmentLineItem"]["sourcedId"] = json!("ali9")).unprocessable
        );
        assert!(result_refused(&|v| v["student"]["sourcedId"] = json!("nobody")).unprocessable);
        assert!(
            result_refused(&|v| {
                v.as_object_mut().unwrap().remove("scoreDate");
            })
            .description
            .contains("scoreDate")
        );
        assert!(
            result_refused(&|v| v["scoreStatus"] = json!("graded"))
                .description
                .contains("graded")
        );
        assert!(result_refused(&|v| v["scoreScale"]["sourcedId"] = json!("ss9")).unprocessable);

        // A lineItem or result naming a scale the SIS does not hold is refused too.
        let line_item = json!({"title": "Quiz", "class": {"sourcedId": class}, "scoreScale": {"sourcedId": "ss9"}});
        assert!(
            check("lineItems", &line_item, &index, &book, &limits)
                .unwrap_err()
                .unprocessable
        );
    }
}
