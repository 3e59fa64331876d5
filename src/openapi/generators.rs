//! Two passes every surface's document goes through so that client
//! generators read it well and it states the server's rules: free-form
//! strings forbid NUL (PostgreSQL text cannot hold it), and the shapes
//! utoipa emits that generators misread are tidied.

use serde_json::{json, Map, Value};

/// The pattern every free-form string carries: no NUL character, which
/// PostgreSQL text cannot hold (the server refuses it in bodies and queries).
pub const NO_NUL_PATTERN: &str = "^[^\\x00]*$";

fn is_free_string(schema: &Map<String, Value>) -> bool {
    let string = match schema.get("type") {
        Some(Value::String(t)) => t == "string",
        Some(Value::Array(types)) => types.iter().any(|t| t == "string"),
        _ => false,
    };
    string
        && !schema.contains_key("pattern")
        && !schema.contains_key("enum")
        && !schema.contains_key("format")
}

fn add_no_nul(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            if is_free_string(map) {
                map.insert("pattern".into(), json!(NO_NUL_PATTERN));
            }
            for (key, child) in map.iter_mut() {
                // Examples are data, not schemas.
                if key != "example" && key != "examples" {
                    add_no_nul(child);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(add_no_nul),
        _ => {}
    }
}

/// Adds [`NO_NUL_PATTERN`] to every free-form string of the schemas and
/// the query parameters.
pub fn forbid_nul(doc: &mut Value) {
    if let Some(schemas) = doc.pointer_mut("/components/schemas") {
        add_no_nul(schemas);
    }
    if let Some(paths) = doc["paths"].as_object_mut() {
        for item in paths.values_mut() {
            for op in item
                .as_object_mut()
                .into_iter()
                .flat_map(|o| o.values_mut())
            {
                let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) else {
                    continue;
                };
                for param in params.iter_mut().filter(|p| p["in"] == "query") {
                    if let Some(schema) = param.get_mut("schema") {
                        add_no_nul(schema);
                    }
                }
            }
        }
    }
}

fn is_null_branch(v: &Value) -> bool {
    v["type"] == "null"
}

// Two shapes utoipa emits that client generators read badly:
// - an optional body as `oneOf: [X, null]`: generators then offer a JSON
//   `null` body (openapi-python-client even sends an unset one); an optional
//   body is `required: false` with schema X;
// - a description inside the `$ref` branch of a nullable `oneOf`: some
//   generators drop it; it belongs on the property.
/// Rewrites the two shapes above.
pub fn tidy_for_generators(doc: &mut Value) {
    if let Some(paths) = doc["paths"].as_object_mut() {
        for item in paths.values_mut() {
            for op in item
                .as_object_mut()
                .into_iter()
                .flat_map(|o| o.values_mut())
            {
                let Some(body) = op.get_mut("requestBody") else {
                    continue;
                };
                let Some(schema) = body.pointer_mut("/content/application~1json/schema") else {
                    continue;
                };
                let branches = schema
                    .get("oneOf")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                if let [a, b] = &branches[..] {
                    let single = if is_null_branch(b) {
                        a
                    } else if is_null_branch(a) {
                        b
                    } else {
                        continue;
                    };
                    *schema = single.clone();
                    body["required"] = json!(false);
                }
            }
        }
    }
    if let Some(schemas) = doc["components"]["schemas"].as_object_mut() {
        for schema in schemas.values_mut() {
            let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) else {
                continue;
            };
            for prop in props.values_mut() {
                let Some(branches) = prop.get_mut("oneOf").and_then(Value::as_array_mut) else {
                    continue;
                };
                let description = branches
                    .iter_mut()
                    .find_map(|b| b.as_object_mut()?.remove("description"));
                if let (Some(description), Some(prop)) = (description, prop.as_object_mut()) {
                    prop.entry("description").or_insert(description);
                }
            }
        }
    }
}
