//! OpenAPI links from each create operation to the operations on the
//! resource it made, so stateful tests and readers can follow a resource
//! from its creation.

use actix_web::http::Method;
use serde_json::{json, Map, Value};

use crate::routes::Routes;

// Where a schema keeps the value of a new resource's path parameter: a
// `*_name` parameter is the resource's `name`, any other its `id`; found at
// the top (`/id`) or in a property holding the resource
// (CreatedOrganization.organization: `/organization/id`).
fn key_pointer(doc: &Value, schema: &Value, param: &str) -> Option<String> {
    let field = if param.ends_with("_name") {
        "name"
    } else {
        "id"
    };
    let resolve = |s: &Value| -> Value {
        match s["$ref"]
            .as_str()
            .and_then(|r| r.strip_prefix("#/components/schemas/"))
        {
            Some(name) => doc["components"]["schemas"][name].clone(),
            None => s.clone(),
        }
    };
    let schema = resolve(schema);
    let parts: Vec<Value> = match schema["allOf"].as_array() {
        Some(all) => all.iter().map(resolve).collect(),
        None => vec![schema],
    };
    if parts.iter().any(|p| p["properties"][field].is_object()) {
        return Some(format!("/{field}"));
    }
    parts.iter().find_map(|p| {
        p["properties"]
            .as_object()?
            .iter()
            .find_map(|(name, prop)| {
                resolve(prop)["properties"][field]
                    .is_object()
                    .then(|| format!("/{name}/{field}"))
            })
    })
}

// OpenAPI links from each create operation (POST answering 201) to every
// operation under its path that takes the create's own path parameters
// (passed on from the request) and one more, the new resource's (from the
// response body), so stateful tests and readers can follow a resource from
// its creation.
/// Writes the links of every create operation (POST answering 201),
/// replacing any written by hand.
pub fn add_links(doc: &mut Value) {
    let routes = Routes::from_document(doc);
    let mut plan = Vec::new();
    for create in routes.all().iter().filter(|r| r.method == Method::POST) {
        let created = &doc["paths"][&create.path]["post"]["responses"]["201"];
        if created.is_null() {
            continue;
        }
        let schema = &created["content"]["application/json"]["schema"];
        let prefix = format!("{}/{{", create.path);
        let mut links = Map::new();
        for target in routes.all().iter().filter(|r| r.path.starts_with(&prefix)) {
            let Some((param, inherited)) = target.path_params.split_last() else {
                continue;
            };
            if inherited != create.path_params.as_slice() {
                continue;
            }
            let Some(pointer) = key_pointer(doc, schema, param) else {
                continue;
            };
            let mut parameters = Map::new();
            for name in inherited {
                parameters.insert(name.clone(), json!(format!("$request.path.{name}")));
            }
            parameters.insert(param.clone(), json!(format!("$response.body#{pointer}")));
            links.insert(
                target.operation_id.clone(),
                json!({
                    "operationId": target.operation_id,
                    "parameters": parameters,
                    "description": format!("The `{}` of the created resource, for {}.", param, target.operation_id)
                }),
            );
        }
        if !links.is_empty() {
            plan.push((create.path.clone(), Value::Object(links)));
        }
    }
    for (path, links) in plan {
        doc["paths"][&path]["post"]["responses"]["201"]["links"] = links;
    }
}
