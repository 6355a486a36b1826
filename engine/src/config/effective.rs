//! The rules as the engine applies them: every setting with its value, defaults filled in and
//! each marked as configured or default (like `nginx -T`), and the rules that cannot take
//! effect with the sources configured.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{ConfigError, HoldPolicy, OneRosterVersion, ScoreMode, SyncConfig, SyncMode};

#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
/// One rule as the engine applies it.
pub struct EffectiveRule {
    /// Dotted path under `[rules]`, e.g. `holds.minChangesForPercent`.
    pub path: String,
    /// Its value, configured or default.
    pub value: Value,
    /// Whether the admin set it.
    pub origin: RuleOrigin,
}

#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
/// Where a rule's value comes from.
pub enum RuleOrigin {
    /// Set in the admin's `[rules]`.
    Configured,
    /// Not set: the built-in default applies.
    Default,
}

/// Every rule in force. `configured` is the admin's `[rules]` as JSON (what they wrote), used
/// only to tell configured values from defaults.
pub fn effective_rules(config: &SyncConfig, configured: &Value) -> Vec<EffectiveRule> {
    let mut out = Vec::new();
    let Ok(Value::Object(mut all)) = serde_json::to_value(config) else {
        return out;
    };
    // Sources are connection settings, listed by the host with their own keys.
    all.remove("sources");
    walk("", &Value::Object(all), configured, &mut out);
    // Thresholds are shown as the engine applies them: built-in ones, then configured ones.
    out.retain(|r| r.path != "holds.thresholds");
    let at = out
        .iter()
        .position(|r| r.path.starts_with("holds."))
        .unwrap_or(out.len());
    let mut thresholds = Vec::new();
    if config.holds.defaults {
        for (i, t) in HoldPolicy::default_thresholds().iter().enumerate() {
            thresholds.push(EffectiveRule {
                path: format!("holds.thresholds (built-in) [{i}]"),
                value: serde_json::to_value(t).unwrap_or_default(),
                origin: RuleOrigin::Default,
            });
        }
    }
    for (i, t) in config.holds.thresholds.iter().enumerate() {
        thresholds.push(EffectiveRule {
            path: format!("holds.thresholds[{i}]"),
            value: serde_json::to_value(t).unwrap_or_default(),
            origin: RuleOrigin::Configured,
        });
    }
    out.splice(at..at, thresholds);
    out
}

fn walk(path: &str, value: &Value, configured: &Value, out: &mut Vec<EffectiveRule>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (key, v) in map {
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                walk(&child, v, configured, out);
            }
        }
        _ => {
            let set = path
                .split('.')
                .try_fold(configured, |at, key| at.get(key))
                .is_some();
            out.push(EffectiveRule {
                path: path.to_string(),
                value: value.clone(),
                origin: if set {
                    RuleOrigin::Configured
                } else {
                    RuleOrigin::Default
                },
            });
        }
    }
}

/// Rules that send nothing different to some configured source, because its OneRoster version
/// has no place for them. Each names the rule and the source.
pub fn rules_without_effect(config: &SyncConfig) -> Vec<ConfigError> {
    let mut out = hold_controls_without_effect(&config.holds);
    if config.mode != SyncMode::TwoWay {
        return out;
    }
    for source in config
        .sources
        .iter()
        .filter(|s| s.version == OneRosterVersion::V1_1)
    {
        if config.grades.score == ScoreMode::Letter {
            out.push(ConfigError {
                field: "grades.score".into(),
                message: format!(
                    "'letter' has no effect on source '{}': OneRoster 1.1 results have no textScore, so it receives the numeric score only (OneRoster 1.2 carries the letter)",
                    source.id
                ),
            });
        }
        if config.grades.flag_late {
            out.push(ConfigError {
                field: "grades.flagLate".into(),
                message: format!(
                    "has no effect on source '{}': OneRoster 1.1 results have no 'late' field (OneRoster 1.2 does)",
                    source.id
                ),
            });
        }
    }
    out
}

/// Hold settings that only qualify thresholds of a kind no threshold in force has.
fn hold_controls_without_effect(holds: &HoldPolicy) -> Vec<ConfigError> {
    let in_force: Vec<super::HoldThreshold> = holds
        .thresholds
        .iter()
        .cloned()
        .chain(if holds.defaults {
            HoldPolicy::default_thresholds()
        } else {
            Vec::new()
        })
        .collect();
    let mut out = Vec::new();
    if holds.min_changes_for_percent != HoldPolicy::default().min_changes_for_percent
        && !in_force.iter().any(|t| t.max_percent.is_some())
    {
        out.push(ConfigError {
            field: "holds.minChangesForPercent".into(),
            message: "has no effect: no percentage threshold is in force (the defaults are off and no threshold sets maxPercent)".into(),
        });
    }
    out
}
