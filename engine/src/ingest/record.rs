//! Raw JSON object -> canonical record, for both OneRoster versions.

use serde_json::{Map, Value};

use super::fields::Fields;
use crate::model::Shared;
use crate::model::*;

pub(crate) trait FromRaw: Sized {
    /// Reads a record; `notes` collects adjustments made on the way (a vocabulary value in the
    /// wrong case), which the caller reports as warnings.
    fn from_raw(obj: &Map<String, Value>, notes: &mut Vec<String>) -> Result<Self, String>;
}

/// A OneRoster vocabulary value: exact, or matched ignoring case and surrounding spaces (real
/// SIS exports send `Teacher`), which is noted so the admin can fix the source.
fn vocab(
    field: &str,
    raw: &str,
    allowed: &[&'static str],
    notes: &mut Vec<String>,
) -> Option<&'static str> {
    if let Some(v) = allowed.iter().find(|a| **a == raw) {
        return Some(v);
    }
    let found = allowed
        .iter()
        .find(|a| a.eq_ignore_ascii_case(raw.trim()))?;
    notes.push(format!(
        "{field} '{raw}' was read as '{found}' (OneRoster vocabularies are case-sensitive)"
    ));
    Some(found)
}

struct Header {
    sourced_id: String,
    status: Status,
    date_last_modified: Option<Shared>,
    metadata: Option<Value>,
}

fn header(f: &Fields, notes: &mut Vec<String>) -> Result<Header, String> {
    let sourced_id = f.req_str("sourcedId")?.trim().to_string();
    let status = match f.opt_str("status")? {
        None => Status::Active,
        Some(raw) => {
            let status = Status::parse(&raw)
                .ok_or_else(|| format!("status '{raw}' is not one of active, tobedeleted"))?;
            if !matches!(raw.as_str(), "active" | "tobedeleted" | "") {
                let canonical = match status {
                    Status::Active => "active",
                    Status::ToBeDeleted => "tobedeleted",
                };
                notes.push(format!("status '{raw}' was read as '{canonical}'"));
            }
            status
        }
    };
    Ok(Header {
        sourced_id,
        status,
        date_last_modified: f.opt_shared("dateLastModified")?,
        metadata: f.metadata(),
    })
}

/// `YYYY-MM-DD`, optionally followed by a time: the spec says date, servers send date-times.
pub(crate) fn check_date<T: AsRef<str> + std::fmt::Display>(
    field: &str,
    value: Option<T>,
) -> Result<Option<T>, String> {
    match value {
        None => Ok(None),
        Some(v) => {
            let b = v.as_ref().as_bytes();
            let ok = b.len() >= 10
                && b[..4].iter().all(u8::is_ascii_digit)
                && b[4] == b'-'
                && b[5..7].iter().all(u8::is_ascii_digit)
                && b[7] == b'-'
                && b[8..10].iter().all(u8::is_ascii_digit);
            if ok {
                Ok(Some(v))
            } else {
                Err(format!(
                    "field '{field}' should be a date (YYYY-MM-DD), found '{v}'"
                ))
            }
        }
    }
}

impl FromRaw for Org {
    fn from_raw(obj: &Map<String, Value>, notes: &mut Vec<String>) -> Result<Self, String> {
        let f = Fields::new(obj);
        let h = header(&f, notes)?;
        Ok(Org {
            name: f.req_str("name")?,
            org_type: f.opt_str("type")?.unwrap_or_else(|| "school".into()),
            identifier: f.opt_str("identifier")?,
            parent: f.opt_ref("parent")?,
            extra: f.extra(&["name", "type", "identifier", "parent", "children"]),
            sourced_id: h.sourced_id,
            status: h.status,
            date_last_modified: h.date_last_modified,
            metadata: h.metadata,
        })
    }
}

impl FromRaw for AcademicSession {
    fn from_raw(obj: &Map<String, Value>, notes: &mut Vec<String>) -> Result<Self, String> {
        let f = Fields::new(obj);
        let h = header(&f, notes)?;
        let raw_type = f.req_str("type")?;
        let session_type = if raw_type.starts_with("ext:") {
            raw_type
        } else {
            vocab(
                "type",
                &raw_type,
                &["gradingPeriod", "semester", "schoolYear", "term"],
                notes,
            )
            .ok_or_else(|| {
                format!("type '{raw_type}' is not gradingPeriod, semester, schoolYear or term")
            })?
            .to_string()
        };
        Ok(AcademicSession {
            title: f.req_str("title")?,
            session_type: session_type.into(),
            start_date: check_date("startDate", Some(f.req_str("startDate")?))?.unwrap_or_default(),
            end_date: check_date("endDate", Some(f.req_str("endDate")?))?.unwrap_or_default(),
            parent: f.opt_ref("parent")?,
            school_year: f.opt_shared("schoolYear")?,
            extra: f.extra(&[
                "title",
                "type",
                "startDate",
                "endDate",
                "parent",
                "schoolYear",
                "children",
            ]),
            sourced_id: h.sourced_id,
            status: h.status,
            date_last_modified: h.date_last_modified,
            metadata: h.metadata,
        })
    }
}

const USER_ROLES: &[&str] = &[
    "administrator",
    "aide",
    "guardian",
    "parent",
    "proctor",
    "relative",
    "student",
    "teacher",
    "districtAdministrator",
    "siteAdministrator",
    "systemAdministrator",
    "principal",
];

fn check_role(role: &str, notes: &mut Vec<String>) -> Result<Shared, String> {
    if role.starts_with("ext:") {
        return Ok(Shared::from(role));
    }
    vocab("role", role, USER_ROLES, notes)
        .map(Shared::from)
        .ok_or_else(|| format!("role '{role}' is not a OneRoster role"))
}

/// 1.2 `roles[]`, or 1.1 `role` + `orgs[]` turned into one primary role per org.
fn user_roles(
    f: &Fields,
    obj: &Map<String, Value>,
    notes: &mut Vec<String>,
) -> Result<Vec<UserRole>, String> {
    if let Some(Value::Array(items)) = obj.get("roles") {
        let mut roles = Vec::with_capacity(items.len());
        for item in items {
            let Value::Object(r) = item else {
                return Err("an entry of 'roles' is not an object".into());
            };
            let rf = Fields::new(r);
            let raw_type = rf.opt_str("roleType")?.unwrap_or_else(|| "primary".into());
            let role_type = vocab("roleType", &raw_type, &["primary", "secondary"], notes)
                .ok_or_else(|| format!("roleType '{raw_type}' is not primary or secondary"))?;
            roles.push(UserRole {
                role_type: role_type.into(),
                role: check_role(&rf.req_str("role")?, notes)?,
                org: rf.req_ref("org")?,
            });
        }
        return Ok(roles);
    }
    let role = match f.opt_str("role")? {
        Some(r) => Some(check_role(&r, notes)?),
        None => None,
    };
    let orgs = f.ref_list("orgs")?;
    match role {
        Some(role) if orgs.is_empty() => Ok(vec![UserRole {
            role_type: "primary".into(),
            role,
            org: Shared::default(),
        }]),
        Some(role) => Ok(orgs
            .into_iter()
            .map(|org| UserRole {
                role_type: "primary".into(),
                role: role.clone(),
                org,
            })
            .collect()),
        None => Ok(Vec::new()),
    }
}

fn user_ids(obj: &Map<String, Value>) -> Result<Vec<UserIdentifier>, String> {
    match obj.get("userIds") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::Object(o) => {
                    let f = Fields::new(o);
                    Ok(UserIdentifier {
                        id_type: f.req_str("type")?,
                        identifier: f.req_str("identifier")?,
                    })
                }
                Value::String(s) => parse_user_id(s),
                _ => Err("an entry of 'userIds' is not an object".to_string()),
            })
            .collect(),
        // CSV: `{type:id},{type:id}`
        Some(Value::String(s)) => s
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(parse_user_id)
            .collect(),
        Some(_) => Err("field 'userIds' should be a list".into()),
    }
}

fn parse_user_id(raw: &str) -> Result<UserIdentifier, String> {
    let inner = raw.trim().trim_start_matches('{').trim_end_matches('}');
    match inner.split_once(':') {
        Some((t, id)) if !t.is_empty() && !id.is_empty() => Ok(UserIdentifier {
            id_type: t.to_string(),
            identifier: id.to_string(),
        }),
        _ => Err(format!(
            "userId '{raw}' is not of the form {{type:identifier}}"
        )),
    }
}

impl FromRaw for User {
    fn from_raw(obj: &Map<String, Value>, notes: &mut Vec<String>) -> Result<Self, String> {
        let f = Fields::new(obj);
        let h = header(&f, notes)?;
        let roles = user_roles(&f, obj, notes)?;
        Ok(User {
            enabled_user: f.flex_bool("enabledUser")?.unwrap_or(true),
            username: f.opt_str("username")?,
            given_name: f.opt_str("givenName")?.unwrap_or_default(),
            family_name: f.opt_str("familyName")?.unwrap_or_default(),
            middle_name: f.opt_str("middleName")?,
            email: f.opt_str("email")?.map(|e| e.trim().to_string()),
            identifier: f.opt_str("identifier")?,
            roles,
            primary_org: f.opt_ref("primaryOrg")?,
            user_ids: user_ids(obj)?,
            grades: f.shared_list("grades")?,
            agents: f.ref_list("agents")?,
            extra: f.extra(&[
                "enabledUser",
                "username",
                "givenName",
                "familyName",
                "middleName",
                "email",
                "identifier",
                "roles",
                "role",
                "orgs",
                "primaryOrg",
                "userIds",
                "grades",
                "agents",
                "password",
            ]),
            sourced_id: h.sourced_id,
            status: h.status,
            date_last_modified: h.date_last_modified,
            metadata: h.metadata,
        })
    }
}

impl FromRaw for Course {
    fn from_raw(obj: &Map<String, Value>, notes: &mut Vec<String>) -> Result<Self, String> {
        let f = Fields::new(obj);
        let h = header(&f, notes)?;
        Ok(Course {
            title: f.req_str("title")?,
            course_code: f.opt_str("courseCode")?,
            org: f.req_ref("org")?,
            school_year: f.opt_ref("schoolYear")?,
            grades: f.shared_list("grades")?,
            subjects: f.shared_list("subjects")?,
            extra: f.extra(&[
                "title",
                "courseCode",
                "org",
                "schoolYear",
                "grades",
                "subjects",
            ]),
            sourced_id: h.sourced_id,
            status: h.status,
            date_last_modified: h.date_last_modified,
            metadata: h.metadata,
        })
    }
}

impl FromRaw for Class {
    fn from_raw(obj: &Map<String, Value>, notes: &mut Vec<String>) -> Result<Self, String> {
        let f = Fields::new(obj);
        let h = header(&f, notes)?;
        Ok(Class {
            title: f.req_str("title")?,
            class_code: f.opt_str("classCode")?,
            class_type: f.opt_shared("classType")?,
            location: f.opt_str("location")?,
            course: f.req_ref("course")?,
            school: f.req_ref("school")?,
            terms: f.ref_list("terms")?,
            periods: f.shared_list("periods")?,
            subjects: f.shared_list("subjects")?,
            extra: f.extra(&[
                "title",
                "classCode",
                "classType",
                "location",
                "course",
                "school",
                "terms",
                "periods",
                "subjects",
            ]),
            sourced_id: h.sourced_id,
            status: h.status,
            date_last_modified: h.date_last_modified,
            metadata: h.metadata,
        })
    }
}

impl FromRaw for Enrollment {
    fn from_raw(obj: &Map<String, Value>, notes: &mut Vec<String>) -> Result<Self, String> {
        let f = Fields::new(obj);
        let h = header(&f, notes)?;
        Ok(Enrollment {
            user: f.req_ref("user")?,
            class: f.req_ref("class")?,
            school: f.opt_ref("school")?.unwrap_or_default(),
            role: check_role(&f.req_str("role")?, notes)?,
            primary: f.flex_bool("primary")?.unwrap_or(false),
            begin_date: check_date("beginDate", f.opt_shared("beginDate")?)?,
            end_date: check_date("endDate", f.opt_shared("endDate")?)?,
            extra: f.extra(&[
                "user",
                "class",
                "school",
                "role",
                "primary",
                "beginDate",
                "endDate",
            ]),
            sourced_id: h.sourced_id,
            status: h.status,
            date_last_modified: h.date_last_modified,
            metadata: h.metadata,
        })
    }
}

impl FromRaw for Category {
    fn from_raw(obj: &Map<String, Value>, notes: &mut Vec<String>) -> Result<Self, String> {
        let f = Fields::new(obj);
        let h = header(&f, notes)?;
        Ok(Category {
            title: f.req_str("title")?,
            weight: f.opt_f64("weight")?,
            class: f.opt_ref("class")?,
            extra: f.extra(&["title", "weight", "class"]),
            sourced_id: h.sourced_id,
            status: h.status,
            date_last_modified: h.date_last_modified,
            metadata: h.metadata,
        })
    }
}

impl FromRaw for LineItem {
    fn from_raw(obj: &Map<String, Value>, notes: &mut Vec<String>) -> Result<Self, String> {
        let f = Fields::new(obj);
        let h = header(&f, notes)?;
        Ok(LineItem {
            title: f.req_str("title")?,
            description: f.opt_str("description")?,
            assign_date: check_date("assignDate", f.opt_shared("assignDate")?)?,
            due_date: check_date("dueDate", f.opt_shared("dueDate")?)?,
            class: f.req_ref("class")?,
            category: f.opt_ref("category")?,
            grading_period: f.opt_ref("gradingPeriod")?,
            result_value_min: f.opt_f64("resultValueMin")?,
            result_value_max: f.opt_f64("resultValueMax")?,
            extra: f.extra(&[
                "title",
                "description",
                "assignDate",
                "dueDate",
                "class",
                "category",
                "gradingPeriod",
                "resultValueMin",
                "resultValueMax",
            ]),
            sourced_id: h.sourced_id,
            status: h.status,
            date_last_modified: h.date_last_modified,
            metadata: h.metadata,
        })
    }
}

impl FromRaw for GradeResult {
    fn from_raw(obj: &Map<String, Value>, notes: &mut Vec<String>) -> Result<Self, String> {
        let f = Fields::new(obj);
        let h = header(&f, notes)?;
        let raw_status = f.req_str("scoreStatus")?;
        let score_status = ScoreStatus::parse(&raw_status).ok_or_else(|| {
            format!("scoreStatus '{raw_status}' is not exempt, fully graded, not submitted, partially graded, submitted or ext:*")
        })?;
        if score_status.as_str() != raw_status {
            notes.push(format!(
                "scoreStatus '{raw_status}' was read as '{}'",
                score_status.as_str()
            ));
        }
        Ok(GradeResult {
            line_item: f.req_ref("lineItem")?,
            student: f.req_ref("student")?,
            score_status,
            score: f.opt_f64("score")?,
            text_score: f.opt_str("textScore")?,
            score_date: check_date("scoreDate", f.opt_shared("scoreDate")?)?,
            comment: f.opt_str("comment")?,
            late: f.flex_bool("late")?,
            missing: f.flex_bool("missing")?,
            incomplete: f.flex_bool("incomplete")?,
            extra: f.extra(&[
                "lineItem",
                "student",
                "scoreStatus",
                "score",
                "textScore",
                "scoreDate",
                "comment",
                "late",
                "missing",
                "incomplete",
            ]),
            sourced_id: h.sourced_id,
            status: h.status,
            date_last_modified: h.date_last_modified,
            metadata: h.metadata,
        })
    }
}
