//! JSON kept as the text it is, parsed only by whoever needs its fields. Classroom listings
//! arrive this way and grade writes leave this way: both are the bulk of a district's run, and
//! as text they take a fraction of the memory of a parsed JSON tree.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(transparent)]
/// JSON kept as the text it arrived as, checked but not parsed into a tree.
pub struct JsonText(Box<RawValue>);

/// Any JSON: the text is kept as it came.
#[cfg(feature = "schema")]
impl schemars::JsonSchema for JsonText {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "JsonText".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!(true)
    }
}

impl JsonText {
    /// The text of a JSON value.
    pub fn from_value(value: &Value) -> Result<JsonText, serde_json::Error> {
        serde_json::value::to_raw_value(value).map(JsonText)
    }

    /// `{"<key>": <object>}`: a OneRoster write's envelope around its record.
    pub fn enveloped(key: &str, object: Map<String, Value>) -> JsonText {
        let mut envelope = Map::new();
        envelope.insert(key.to_string(), Value::Object(object));
        // A map of JSON values always serialises: its keys are strings.
        JsonText::from_value(&Value::Object(envelope))
            .expect("a JSON object serialises to JSON text")
    }

    /// JSON text, checked (not parsed into a tree): e.g. a row a host kept as text.
    pub fn from_text(text: String) -> Result<JsonText, serde_json::Error> {
        RawValue::from_string(text).map(JsonText)
    }

    /// Wraps JSON text already checked by serde_json.
    pub(crate) fn from_raw(raw: Box<RawValue>) -> JsonText {
        JsonText(raw)
    }

    /// The JSON text.
    pub fn json(&self) -> &str {
        self.0.get()
    }

    /// The JSON parsed into a tree.
    pub fn to_value(&self) -> Result<Value, serde_json::Error> {
        serde_json::from_str(self.json())
    }
}

/// For JSON text in a variant of an internally tagged enum (a plan's actions). serde reads such
/// a variant into a tree first to find its tag, and a tree is not text: the text is written
/// again from the tree.
pub(crate) fn from_tree<'de, D: Deserializer<'de>>(deserializer: D) -> Result<JsonText, D::Error> {
    let tree = Value::deserialize(deserializer)?;
    JsonText::from_value(&tree).map_err(serde::de::Error::custom)
}

impl PartialEq for JsonText {
    fn eq(&self, other: &Self) -> bool {
        self.json() == other.json()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_envelope_is_the_same_json_as_the_tree_it_replaces() {
        let record = json!({"sourcedId": "r-1", "score": 8.5, "student": {"sourcedId": "u-1", "type": "user"}});
        let Value::Object(object) = record.clone() else {
            unreachable!()
        };
        let text = JsonText::enveloped("result", object);
        assert_eq!(text.json(), json!({"result": record}).to_string());
        assert_eq!(text.to_value().unwrap(), json!({"result": record}));
        let again: JsonText = serde_json::from_str(&serde_json::to_string(&text).unwrap()).unwrap();
        assert_eq!(again, text);
    }

    #[test]
    fn a_write_body_survives_the_round_trips_a_plan_makes() {
        use crate::plan::Action;
        let Value::Object(object) = json!({"sourcedId": "r-1", "score": 7}) else {
            unreachable!()
        };
        let action = Action::OneRosterPut {
            source_id: "sis".into(),
            collection: "results".into(),
            sourced_id: "r-1".into(),
            body: JsonText::enveloped("result", object),
        };
        let text = serde_json::to_string(&action).unwrap();
        assert!(
            text.contains(r#""body":{"result":{"score":7,"sourcedId":"r-1"}}"#),
            "{text}"
        );
        let from_text: Action = serde_json::from_str(&text).unwrap();
        assert_eq!(from_text, action);
        let from_tree: Action =
            serde_json::from_value(serde_json::to_value(&action).unwrap()).unwrap();
        assert_eq!(from_tree, action);
    }
}
