//! A OneRoster result as classbridge writes it, typed and borrowed. A district has hundreds of
//! thousands of results and almost all are unchanged between runs: their digest is taken from
//! this struct without building a JSON object, and the object is built only for the few that
//! are written. The fields are in the order a JSON object's keys sort, so both forms hash the
//! same.

use serde::Serialize;
use serde_json::{Map, Value};

#[derive(Serialize)]
pub(crate) struct GuidRef<'a> {
    #[serde(rename = "sourcedId")]
    pub sourced_id: &'a str,
    #[serde(rename = "type")]
    pub kind: &'static str,
}

/// Keys in sorted order (`late` < `lineItem` < … < `textScore`), as `serde_json::Map` keeps them.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ResultBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub late: Option<&'static str>,
    pub line_item: GuidRef<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missing: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    pub score_date: &'a str,
    pub score_status: &'a str,
    pub sourced_id: &'a str,
    pub status: &'static str,
    pub student: GuidRef<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text_score: Option<&'a str>,
}

impl ResultBody<'_> {
    /// The JSON object form, for the action body and master-field rules.
    pub(crate) fn to_map(&self) -> Map<String, Value> {
        match serde_json::to_value(self) {
            Ok(Value::Object(map)) => map,
            // A struct of strings and numbers always serialises to an object.
            _ => Map::new(),
        }
    }
}

pub(crate) fn flag(value: bool) -> &'static str {
    if value { "true" } else { "false" }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::digest;

    fn body(score: Option<f64>, v12: bool) -> ResultBody<'static> {
        ResultBody {
            late: v12.then_some("false"),
            line_item: GuidRef {
                sourced_id: "li-1",
                kind: "lineItem",
            },
            missing: v12.then_some("true"),
            score,
            score_date: "2026-11-02",
            score_status: "fully graded",
            sourced_id: "r-1",
            status: "active",
            student: GuidRef {
                sourced_id: "u-1",
                kind: "user",
            },
            text_score: v12.then_some("B+"),
        }
    }

    #[test]
    fn the_typed_body_hashes_like_its_json_object() {
        for (score, v12) in [(Some(8.5), true), (None, false), (Some(0.0), false)] {
            let typed = body(score, v12);
            let map = typed.to_map();
            let keys: Vec<&String> = map.keys().collect();
            let mut sorted = keys.clone();
            sorted.sort();
            assert_eq!(keys, sorted);
            assert_eq!(digest(&typed), digest(&map), "{score:?} {v12}");
            assert_eq!(
                serde_json::to_string(&typed).unwrap(),
                serde_json::to_string(&map).unwrap()
            );
        }
    }
}
