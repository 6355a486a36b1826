//! Values shown in the console as text; `maud` escapes them where they are placed.

/// A JSON value shown compactly (strings without quotes, long values cut short).
pub(crate) fn show(v: &Option<serde_json::Value>) -> String {
    match v {
        None | Some(serde_json::Value::Null) => "—".into(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => other.to_string().chars().take(120).collect(),
    }
}
