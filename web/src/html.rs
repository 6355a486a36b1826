//! Values shown in the console as text; `maud` escapes them where they are placed.

use serde_json::Value;

/// Longest value shown in a change's field list; longer ones end in "…" (on a character
/// boundary, never mid-word in a multi-byte script).
const MAX_VALUE_CHARS: usize = 80;

/// Fields a change carries that say nothing to an admin (ids, bookkeeping).
const QUIET_FIELDS: &[&str] = &[
    "id",
    "sourcedId",
    "status",
    "dateLastModified",
    "href",
    "type",
    "metadata",
];

/// One field of a change: what it was and what it becomes, in words.
#[derive(Debug, PartialEq)]
pub(crate) struct FieldChange {
    pub field: String,
    /// `None` for a field the change sets on something new.
    pub before: Option<String>,
    pub after: String,
}

/// The fields a change sets, each with its value before where there was one. Fields equal
/// before and after, and bookkeeping fields, are left out.
pub(crate) fn field_changes(before: Option<&Value>, after: Option<&Value>) -> Vec<FieldChange> {
    let empty = serde_json::Map::new();
    let before_fields = before.and_then(Value::as_object);
    let after_fields = after.and_then(Value::as_object).unwrap_or(&empty);
    after_fields
        .iter()
        .filter(|(key, _)| !QUIET_FIELDS.contains(&key.as_str()))
        .filter_map(|(key, new)| {
            let old = before_fields.map(|b| b.get(key).unwrap_or(&Value::Null));
            if old == Some(new) {
                return None;
            }
            Some(FieldChange {
                field: field_name(key),
                before: old.map(words),
                after: words(new),
            })
        })
        .collect()
}

/// A field's name as an admin reads it: Classroom's and OneRoster's names where they are
/// jargon, else the camelCase split into words.
pub(crate) fn field_name(key: &str) -> String {
    let known = match key {
        "ownerId" => "owner",
        "courseState" => "state",
        "descriptionHeading" => "heading",
        "scoreStatus" => "score status",
        "resultValueMax" => "maximum score",
        "resultValueMin" => "minimum score",
        "dueDate" => "due",
        "assignDate" => "assigned",
        "scoreDate" => "scored on",
        "lineItem" => "assignment",
        "gradingPeriod" => "grading period",
        "enrollmentCode" => "class code",
        _ => "",
    };
    if !known.is_empty() {
        return known.to_string();
    }
    let mut out = String::new();
    for c in key.chars() {
        if c.is_uppercase() && !out.is_empty() {
            out.push(' ');
        }
        out.extend(c.to_lowercase());
    }
    out
}

/// A value in words: text as written, Classroom's upper-case states in lower case, yes/no,
/// a reference by its id, nothing as "none".
pub(crate) fn words(v: &Value) -> String {
    let text = match v {
        Value::Null => "none".to_string(),
        Value::Bool(true) => "yes".to_string(),
        Value::Bool(false) => "no".to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) if is_state(s) => s.to_lowercase(),
        Value::String(s) if s.is_empty() => "empty".to_string(),
        Value::String(s) => s.clone(),
        // A GUIDRef names what it points at by id.
        Value::Object(o) if o.contains_key("sourcedId") => o["sourcedId"]
            .as_str()
            .map_or_else(|| o["sourcedId"].to_string(), str::to_string),
        Value::Array(items) => items.iter().map(words).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    };
    cut(&text)
}

fn is_state(s: &str) -> bool {
    s.len() > 1 && s.chars().all(|c| c.is_ascii_uppercase() || c == '_')
}

fn cut(text: &str) -> String {
    match text.char_indices().nth(MAX_VALUE_CHARS) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_update_lists_only_what_changes_in_words() {
        let changes = field_changes(
            Some(&json!({"name": "Algebra", "courseState": "ARCHIVED", "ownerId": "a@d.org"})),
            Some(&json!({"name": "Algebra 1", "courseState": "ACTIVE", "ownerId": "a@d.org"})),
        );
        assert_eq!(
            changes,
            vec![
                FieldChange {
                    field: "state".into(),
                    before: Some("archived".into()),
                    after: "active".into()
                },
                FieldChange {
                    field: "name".into(),
                    before: Some("Algebra".into()),
                    after: "Algebra 1".into()
                },
            ]
        );
    }

    #[test]
    fn a_new_record_lists_its_fields_without_bookkeeping() {
        let changes = field_changes(
            None,
            Some(&json!({
                "sourcedId": "r-1", "status": "active", "dateLastModified": "2026-12-01T00:00:00Z",
                "score": 17.5, "scoreStatus": "fully graded", "late": false,
                "student": {"sourcedId": "u-s1", "type": "user"}
            })),
        );
        let shown: Vec<String> = changes
            .iter()
            .map(|c| format!("{}: {}", c.field, c.after))
            .collect();
        assert_eq!(
            shown,
            [
                "late: no",
                "score: 17.5",
                "score status: fully graded",
                "student: u-s1"
            ]
        );
        assert!(changes.iter().all(|c| c.before.is_none()));
    }

    #[test]
    fn a_field_that_was_missing_reads_as_none_and_long_text_is_cut_on_a_character() {
        let long = "é".repeat(200);
        let changes = field_changes(Some(&json!({})), Some(&json!({"room": long})));
        assert_eq!(changes[0].before.as_deref(), Some("none"));
        assert_eq!(changes[0].after.chars().count(), MAX_VALUE_CHARS + 1);
        assert!(changes[0].after.ends_with('…'));
    }

    #[test]
    fn field_names_read_as_words() {
        assert_eq!(field_name("resultValueMax"), "maximum score");
        assert_eq!(field_name("textScore"), "text score");
        assert_eq!(field_name("room"), "room");
    }
}
