//! Reading a map into full B-tree nodes. Deserialising inserts entry by entry, and a BTreeMap
//! splits a full leaf in the middle, so keys that arrive sorted (as they do from our own
//! state, which was written from BTreeMaps) leave every leaf about half empty: nearly twice
//! the memory for a district's tables. Collecting the entries first and building the map in
//! bulk fills every node.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};

/// `#[serde(deserialize_with = "dense_map::deserialize")]` on a `BTreeMap` field. As with a
/// plain BTreeMap, the last of repeated keys wins.
pub(crate) fn deserialize<'de, D, K, V>(deserializer: D) -> Result<BTreeMap<K, V>, D::Error>
where
    D: Deserializer<'de>,
    K: Deserialize<'de> + Ord,
    V: Deserialize<'de>,
{
    struct Entries<K, V>(PhantomData<(K, V)>);

    impl<'de, K, V> Visitor<'de> for Entries<K, V>
    where
        K: Deserialize<'de> + Ord,
        V: Deserialize<'de>,
    {
        type Value = BTreeMap<K, V>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a map")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            // The hint comes from the input, so it only sizes the start, never the whole.
            let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0).min(4096));
            while let Some(entry) = map.next_entry::<K, V>()? {
                entries.push(entry);
            }
            // Sorting sorted input is one linear pass; the build then fills node after node.
            Ok(entries.into_iter().collect())
        }
    }

    deserializer.deserialize_map(Entries(PhantomData))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Deserialize;

    #[derive(Deserialize)]
    #[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
    struct Table {
        #[serde(deserialize_with = "super::deserialize")]
        rows: BTreeMap<String, u32>,
    }

    #[test]
    fn reads_like_a_plain_map_in_any_order_and_the_last_repeat_wins() {
        let t: Table =
            serde_json::from_str(r#"{"rows": {"b": 2, "a": 1, "c": 3, "a": 4}}"#).expect("a map");
        let plain: BTreeMap<String, u32> =
            serde_json::from_str(r#"{"b": 2, "a": 1, "c": 3, "a": 4}"#).expect("a map");
        assert_eq!(t.rows, plain);
        assert_eq!(t.rows["a"], 4);
    }

    #[test]
    fn anything_but_a_map_is_an_error() {
        let err = serde_json::from_str::<Table>(r#"{"rows": [1, 2]}"#)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("expected a map"), "{err}");
    }
}
