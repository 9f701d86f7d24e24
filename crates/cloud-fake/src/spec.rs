//! RunPod's own contract, as the fake checks it: the operations the studio uses and every
//! schema they reach, extracted from RunPod's OpenAPI spec of REST v2 by
//! `tools/runpod/extract_schemas.py` into `spec/runpod-v2.json`, and compiled here into JSON
//! Schema 2020-12 validators (OpenAPI 3.1's dialect). Requests that break a schema get what
//! RunPod answers: 422 problem+json whose `errors` name each field.

use jsonschema::Validator;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The extracted spec, checked in beside this crate.
pub const SPEC_JSON: &str = include_str!("../spec/runpod-v2.json");

/// One operation's checks.
struct Operation {
    body: Option<Validator>,
    /// Query parameter → (explode, validator of its value).
    query: BTreeMap<String, (bool, Validator)>,
    /// Status (`"200"`, …, `"default"`) → what the answer must be.
    responses: BTreeMap<String, ResponseCheck>,
}

struct ResponseCheck {
    content_type: Option<String>,
    body: Option<Validator>,
    headers: BTreeMap<String, Validator>,
}

/// Every operation the studio uses, by `"METHOD /v2/path"` as the spec writes it.
pub struct Spec {
    operations: BTreeMap<String, Operation>,
    /// `info.title` and `info.version` of the spec it came from.
    pub source: String,
}

/// A validator for `schema`, rooted in a document that carries the extracted `components`,
/// so the spec's own `#/components/schemas/...` references resolve as written.
fn compile(document: &Value, schema: &Value) -> Result<Validator, String> {
    let mut root = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "components": document["components"].clone(),
    });
    match (schema, root.as_object_mut()) {
        (Value::Object(fields), Some(root)) => {
            for (key, value) in fields {
                root.insert(key.clone(), value.clone());
            }
        }
        _ => return Err(format!("not a schema: {schema}")),
    }
    jsonschema::draft202012::new(&root).map_err(|e| format!("bad schema {schema}: {e}"))
}

/// `$` and the path of a JSON pointer, as RunPod's `errors` write it (`$.gpu.id`).
fn json_path(pointer: &str) -> String {
    let mut path = String::from("$");
    for part in pointer.split('/').skip(1) {
        let part = part.replace("~1", "/").replace("~0", "~");
        if part.bytes().all(|b| b.is_ascii_digit()) && !part.is_empty() {
            path.push_str(&format!("[{part}]"));
        } else {
            path.push('.');
            path.push_str(&part);
        }
    }
    path
}

fn violations(validator: &Validator, instance: &Value) -> Vec<String> {
    validator
        .iter_errors(instance)
        .map(|e| format!("{}: {e}", json_path(e.instance_path().as_str())))
        .collect()
}

impl Spec {
    /// The checked-in extraction, compiled.
    pub fn load() -> Result<Spec, String> {
        let document: Value = serde_json::from_str(SPEC_JSON)
            .map_err(|e| format!("spec/runpod-v2.json is not JSON: {e}"))?;
        Spec::from_document(&document)
    }

    pub fn from_document(document: &Value) -> Result<Spec, String> {
        let source = format!(
            "{} {}",
            document["source"]["title"].as_str().unwrap_or("?"),
            document["source"]["version"].as_str().unwrap_or("?")
        );
        let Some(operations) = document["operations"].as_object() else {
            return Err("the extracted spec has no operations".into());
        };
        let mut compiled = BTreeMap::new();
        for (name, op) in operations {
            let body = match op["body"]["schema"] {
                Value::Null => None,
                ref schema => Some(compile(document, schema)?),
            };
            let mut query = BTreeMap::new();
            for (param, spec) in op["query"].as_object().into_iter().flatten() {
                let explode = spec["explode"].as_bool().unwrap_or(true);
                query.insert(
                    param.clone(),
                    (explode, compile(document, &spec["schema"])?),
                );
            }
            let mut responses = BTreeMap::new();
            for (status, spec) in op["responses"].as_object().into_iter().flatten() {
                let body = match spec.get("schema") {
                    Some(schema) => Some(compile(document, schema)?),
                    None => None,
                };
                let mut headers = BTreeMap::new();
                for (header, schema) in spec["headers"].as_object().into_iter().flatten() {
                    headers.insert(header.to_ascii_lowercase(), compile(document, schema)?);
                }
                responses.insert(
                    status.clone(),
                    ResponseCheck {
                        content_type: spec["content_type"].as_str().map(str::to_owned),
                        body,
                        headers,
                    },
                );
            }
            compiled.insert(
                name.clone(),
                Operation {
                    body,
                    query,
                    responses,
                },
            );
        }
        Ok(Spec {
            operations: compiled,
            source,
        })
    }

    fn operation(&self, operation: &str) -> Result<&Operation, Vec<String>> {
        self.operations
            .get(operation)
            .ok_or_else(|| vec![format!("{operation} is not an operation the fake serves")])
    }

    /// The names of the operations, as the spec writes them.
    pub fn operations(&self) -> Vec<String> {
        self.operations.keys().cloned().collect()
    }

    /// What is wrong with a request body (empty: nothing).
    pub fn check_body(&self, operation: &str, body: &Value) -> Vec<String> {
        match self.operation(operation) {
            Ok(Operation {
                body: Some(validator),
                ..
            }) => violations(validator, body),
            Ok(_) => vec![format!("{operation} takes no body")],
            Err(e) => e,
        }
    }

    /// What is wrong with a query string (`None`: no query). Values are typed the way
    /// OpenAPI's `form` style writes them: comma lists when not exploded, booleans and
    /// integers by their text.
    pub fn check_query(&self, operation: &str, query: Option<&str>) -> Vec<String> {
        let op = match self.operation(operation) {
            Ok(op) => op,
            Err(e) => return e,
        };
        let mut problems = Vec::new();
        let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for pair in query
            .unwrap_or_default()
            .split('&')
            .filter(|p| !p.is_empty())
        {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            seen.entry(name.to_string())
                .or_default()
                .push(value.to_string());
        }
        for (name, values) in seen {
            let Some((explode, validator)) = op.query.get(&name) else {
                problems.push(format!("query: parameter '{name}' is not allowed"));
                continue;
            };
            let is_array = validator.is_valid(&json!([]));
            let typed = if is_array {
                let items: Vec<&str> = if *explode {
                    values.iter().map(String::as_str).collect()
                } else {
                    values.iter().flat_map(|v| v.split(',')).collect()
                };
                Value::Array(items.into_iter().map(typed_scalar).collect())
            } else if values.len() == 1 {
                typed_scalar(&values[0])
            } else {
                problems.push(format!("query.{name}: given more than once"));
                continue;
            };
            for problem in violations(validator, &typed) {
                problems.push(format!("query.{name}{}", problem.trim_start_matches('$')));
            }
        }
        problems
    }

    /// What is wrong with an answer: its status must be one the operation lists (or fall
    /// under `default`), its content type and body must match, and every header the spec
    /// gives a schema for must fit it.
    pub fn check_response(
        &self,
        operation: &str,
        status: u16,
        content_type: Option<&str>,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Vec<String> {
        let op = match self.operation(operation) {
            Ok(op) => op,
            Err(e) => return e,
        };
        let Some(check) = op
            .responses
            .get(&status.to_string())
            .or_else(|| op.responses.get("default"))
        else {
            return vec![format!("{operation} never answers {status}")];
        };
        let mut problems = Vec::new();
        match (&check.content_type, &check.body) {
            (Some(expected), Some(validator)) => {
                if content_type != Some(expected.as_str()) {
                    problems.push(format!(
                        "{status}: content type {content_type:?}, the spec says {expected}"
                    ));
                }
                match serde_json::from_slice::<Value>(body) {
                    Ok(value) => problems.extend(
                        violations(validator, &value)
                            .into_iter()
                            .map(|p| format!("{status} body {p}")),
                    ),
                    Err(e) => problems.push(format!("{status}: body is not JSON: {e}")),
                }
            }
            _ if !body.is_empty() => problems.push(format!(
                "{status}: the spec has no body, got {} bytes",
                body.len()
            )),
            _ => {}
        }
        for (name, value) in headers {
            if let Some(validator) = check.headers.get(&name.to_ascii_lowercase()) {
                // Header values are text; one the spec types as a number is read as one.
                let typed = match serde_json::from_str::<serde_json::Number>(value.trim()) {
                    Ok(number) if !validator.is_valid(&json!("")) => Value::Number(number),
                    _ => Value::String(value.clone()),
                };
                for problem in violations(validator, &typed) {
                    problems.push(format!(
                        "{status} header {name}{}",
                        problem.trim_start_matches('$')
                    ));
                }
            }
        }
        problems
    }
}

/// A query value as JSON: `true`/`false`, an integer, or the text.
fn typed_scalar(text: &str) -> Value {
    match text {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        _ if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit() || b == b'-') => {
            serde_json::from_str::<serde_json::Number>(text)
                .map_or_else(|_| Value::String(text.to_string()), Value::Number)
        }
        _ => Value::String(text.to_string()),
    }
}

/// A problem+json body as RunPod writes it (`ErrorResponse`).
pub fn problem(status: u16, title: &str, detail: &str, errors: &[String]) -> Value {
    let mut body = json!({ "title": title, "status": status, "detail": detail });
    if !errors.is_empty() {
        body["errors"] = json!(errors);
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checked_in_spec_compiles_and_names_the_five_operations() {
        let spec = Spec::load().unwrap();
        assert_eq!(
            spec.operations(),
            [
                "DELETE /v2/pods/{id}",
                "GET /v2/catalog/gpus",
                "GET /v2/pods",
                "GET /v2/pods/{id}",
                "POST /v2/pods",
            ]
        );
        assert!(spec.source.contains("2.0.0"), "{}", spec.source);
    }

    #[test]
    fn a_v1_body_is_refused_field_by_field() {
        let spec = Spec::load().unwrap();
        let v1 = json!({
            "name": "p", "imageName": "img", "gpuTypeIds": ["NVIDIA L4"], "gpuCount": 1,
            "cloudType": "ALL", "containerDiskInGb": 20, "volumeInGb": 20,
            "volumeMountPath": "/workspace", "supportPublicIp": true,
        });
        let problems = spec.check_body("POST /v2/pods", &v1).join("\n");
        for field in ["imageName", "gpuTypeIds", "cloudType", "supportPublicIp"] {
            assert!(problems.contains(field), "{field} not named in {problems}");
        }
        let nested = json!({
            "name": "p", "image": "img", "cloud": "ALL",
            "gpu": {"id": "NVIDIA L4", "count": 0, "minCudaVersion": "12"},
            "mounts": {"persistent": {"size": 5, "path": "/workspace"}},
        });
        let problems = spec.check_body("POST /v2/pods", &nested);
        let text = problems.join("\n");
        for path in [
            "$.cloud",
            "$.gpu.count",
            "$.gpu.minCudaVersion",
            "$.mounts.persistent.size",
        ] {
            assert!(text.contains(path), "{path} not named in {text}");
        }
    }

    #[test]
    fn query_parameters_are_typed_and_unknown_ones_refused() {
        let spec = Spec::load().unwrap();
        assert!(spec.check_query("GET /v2/pods", None).is_empty());
        assert!(
            spec.check_query("GET /v2/pods", Some("includeClusterPods=true"))
                .is_empty()
        );
        assert!(
            !spec
                .check_query("GET /v2/pods", Some("includeClusterPods=maybe"))
                .is_empty()
        );
        assert!(
            spec.check_query(
                "GET /v2/catalog/gpus",
                Some("include=AVAILABILITY&product=POD,SERVERLESS")
            )
            .is_empty()
        );
        let wrong = spec.check_query("GET /v2/catalog/gpus", Some("include=PRICES&name=x"));
        assert_eq!(wrong.len(), 2, "{wrong:?}");
    }
}
