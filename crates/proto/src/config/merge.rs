//! Parsing a configuration file and merging it over the defaults, before any checking.

use super::reader::{ConfigProblem, Map, show};
use serde_json::Value;

/// Parses `text` as a JSON document whose top level must be an object.
pub(super) fn parse_object(text: &str) -> Result<Map, ConfigProblem> {
    let value: Value = serde_json::from_str(text).map_err(|e| ConfigProblem {
        path: String::new(),
        reason: invalid_json_reason(&e),
    })?;
    match value {
        Value::Object(map) => Ok(map),
        other => Err(ConfigProblem {
            path: String::new(),
            reason: format!(
                "expected a JSON object at the top level, got {}",
                show(&other)
            ),
        }),
    }
}

/// `not valid JSON at line 3, column 5: expected `,` or `}``. serde_json's own message ends in
/// "at line L column C"; that tail is moved to the front in a friendlier form.
fn invalid_json_reason(e: &serde_json::Error) -> String {
    let full = e.to_string();
    let tail = format!(" at line {} column {}", e.line(), e.column());
    let what = full.strip_suffix(&tail).unwrap_or(&full);
    format!(
        "not valid JSON at line {}, column {}: {what}",
        e.line(),
        e.column()
    )
}

/// The keys whose values are maps of entries by id rather than fixed sections.
const ID_MAPS: [&str; 2] = ["models", "voices"];

/// Merges the user document over the defaults. `models` and `voices` take user entries whole
/// (by id); everything else merges recursively.
pub(super) fn merge_top_level(base: &mut Map, user: Map) {
    for (key, user_value) in user {
        match (base.get_mut(&key), user_value) {
            (Some(Value::Object(base_entries)), Value::Object(user_entries))
                if ID_MAPS.contains(&key.as_str()) =>
            {
                // An entry is one unit (a model or a voice); mixing fields of a default entry
                // with a user's entry of the same id would describe neither.
                base_entries.extend(user_entries);
            }
            (Some(base_value), user_value) => merge_value(base_value, user_value),
            (None, user_value) => {
                base.insert(key, user_value);
            }
        }
    }
}

/// Objects merge key by key; any other user value (arrays and `null` included) replaces.
fn merge_value(base: &mut Value, user: Value) {
    match (base, user) {
        (Value::Object(base_map), Value::Object(user_map)) => {
            for (key, user_value) in user_map {
                match base_map.get_mut(&key) {
                    Some(base_value) => merge_value(base_value, user_value),
                    None => {
                        base_map.insert(key, user_value);
                    }
                }
            }
        }
        (base, user) => *base = user,
    }
}
