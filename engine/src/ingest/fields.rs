//! A forgiving but honest reader over one raw JSON record: accepts the shapes vendors really
//! send (GUIDRef objects or bare ids, `enabledUser` as bool, number or string), and says
//! exactly what is wrong otherwise.

use std::borrow::Cow;

use serde_json::{Map, Value};

use crate::model::Shared;
use crate::model::oneroster::Extra;

pub(crate) struct Fields<'a> {
    obj: &'a Map<String, Value>,
}

/// The id inside a reference: a GUIDRef object `{"sourcedId": ..}` or a plain string.
fn ref_id(value: &Value) -> Option<Shared> {
    match value {
        Value::String(s) if !s.trim().is_empty() => Some(Shared::from(s.trim())),
        Value::Object(o) => match o.get("sourcedId") {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(Shared::from(s.trim())),
            _ => None,
        },
        Value::Number(n) => Some(Shared::from(n.to_string())),
        _ => None,
    }
}

impl<'a> Fields<'a> {
    pub(crate) fn new(obj: &'a Map<String, Value>) -> Self {
        Fields { obj }
    }

    fn get(&self, key: &str) -> Option<&'a Value> {
        self.obj.get(key).filter(|v| !v.is_null())
    }

    /// The field as text, borrowed from the record where it already is text.
    fn opt_text(&self, key: &str) -> Result<Option<Cow<'a, str>>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => {
                Ok(Some(Cow::from(s.as_str())).filter(|s| !s.trim().is_empty()))
            }
            Some(Value::Number(n)) => Ok(Some(Cow::from(n.to_string()))),
            Some(Value::Bool(b)) => Ok(Some(Cow::from(b.to_string()))),
            Some(other) => Err(format!(
                "field '{key}' should be text, found {}",
                kind(other)
            )),
        }
    }

    pub(crate) fn opt_str(&self, key: &str) -> Result<Option<String>, String> {
        Ok(self.opt_text(key)?.map(Cow::into_owned))
    }

    pub(crate) fn req_str(&self, key: &str) -> Result<String, String> {
        self.opt_str(key)?
            .ok_or_else(|| format!("required field '{key}' is missing or empty"))
    }

    /// Text that many records repeat (dates, roles, grade levels): stored once.
    pub(crate) fn opt_shared(&self, key: &str) -> Result<Option<Shared>, String> {
        Ok(self.opt_text(key)?.map(|text| Shared::from(&*text)))
    }

    pub(crate) fn opt_ref(&self, key: &str) -> Result<Option<Shared>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => ref_id(v).map(Some).ok_or_else(|| {
                format!(
                    "field '{key}' should be a reference with a sourcedId, found {}",
                    kind(v)
                )
            }),
        }
    }

    pub(crate) fn req_ref(&self, key: &str) -> Result<Shared, String> {
        self.opt_ref(key)?
            .ok_or_else(|| format!("required reference '{key}' is missing"))
    }

    pub(crate) fn ref_list(&self, key: &str) -> Result<Vec<Shared>, String> {
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| ref_id(v).ok_or_else(|| format!("an entry of '{key}' has no sourcedId")))
                .collect(),
            Some(v @ (Value::String(_) | Value::Object(_))) => ref_id(v)
                .map(|id| vec![id])
                .ok_or_else(|| format!("field '{key}' has no sourcedId")),
            Some(other) => Err(format!(
                "field '{key}' should be a list of references, found {}",
                kind(other)
            )),
        }
    }

    /// A list of strings, also accepted as one comma-separated string (CSV style). Grade
    /// levels, subjects and periods repeat across records, so they are stored once.
    pub(crate) fn shared_list(&self, key: &str) -> Result<Vec<Shared>, String> {
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(Shared::from(s.as_str())),
                    Value::Number(n) => Ok(Shared::from(n.to_string())),
                    other => Err(format!(
                        "an entry of '{key}' should be text, found {}",
                        kind(other)
                    )),
                })
                .collect(),
            Some(Value::String(s)) => Ok(split_list(s).map(Shared::from).collect()),
            Some(other) => Err(format!(
                "field '{key}' should be a list, found {}",
                kind(other)
            )),
        }
    }

    /// Booleans as OneRoster servers send them: true, 1, "true", "1", "yes" (any case).
    pub(crate) fn flex_bool(&self, key: &str) -> Result<Option<bool>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::Number(n)) => match n.as_i64() {
                Some(0) => Ok(Some(false)),
                Some(1) => Ok(Some(true)),
                _ => Err(format!(
                    "field '{key}' should be a boolean, found the number {n}"
                )),
            },
            Some(Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => Ok(Some(true)),
                "false" | "0" | "no" => Ok(Some(false)),
                "" => Ok(None),
                _ => Err(format!("field '{key}' should be a boolean, found '{s}'")),
            },
            Some(other) => Err(format!(
                "field '{key}' should be a boolean, found {}",
                kind(other)
            )),
        }
    }

    /// Numbers, also as numeric strings (CSV and some vendors send scores as text).
    pub(crate) fn opt_f64(&self, key: &str) -> Result<Option<f64>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) => Ok(n.as_f64()),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => s
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .map(Some)
                .ok_or_else(|| format!("field '{key}' should be a number, found '{s}'")),
            Some(other) => Err(format!(
                "field '{key}' should be a number, found {}",
                kind(other)
            )),
        }
    }

    pub(crate) fn metadata(&self) -> Option<Value> {
        self.get("metadata").cloned()
    }

    /// Every field not in `known`, kept as it came.
    pub(crate) fn extra(&self, known: &[&str]) -> Extra {
        self.obj
            .iter()
            .filter(|(k, _)| !known.contains(&k.as_str()) && !COMMON.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

/// Fields every record has; never copied into `extra`.
pub(crate) const COMMON: &[&str] = &["sourcedId", "status", "dateLastModified", "metadata"];

pub(crate) fn split_list(s: &str) -> impl Iterator<Item = &str> {
    s.split(',').map(str::trim).filter(|p| !p.is_empty())
}

/// What a piece of JSON text is, from its first character (it is valid JSON already).
pub(crate) fn raw_kind(text: &str) -> &'static str {
    match text.trim_start().as_bytes().first() {
        Some(b'{') => "an object",
        Some(b'[') => "a list",
        Some(b'"') => "text",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        _ => "a number",
    }
}

pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}
