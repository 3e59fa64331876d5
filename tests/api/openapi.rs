//! The committed document is the generated one, and the server serves it.

use std::path::Path;

use crate::backend_test;

const COMMITTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json");

#[test]
fn committed_document_matches_the_generated_one() {
    let generated = keygate::resources::document_pretty();
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(COMMITTED, &generated).expect("write openapi/openapi.json");
        return;
    }
    let committed = std::fs::read_to_string(Path::new(COMMITTED)).unwrap_or_default();
    assert!(
        committed == generated,
        "openapi/openapi.json differs from the generated document; run `UPDATE_OPENAPI=1 cargo test` and review the diff"
    );
}

#[test]
fn every_authenticated_operation_has_a_role() {
    let routes = keygate::routes::Routes::from_document(keygate::resources::document());
    for route in routes.all() {
        if route.path.starts_with("/v1/") {
            assert!(
                route.contract.is_some(),
                "{} declares no x-keygate-role beside its handler",
                route.operation_id
            );
        }
    }
}

#[test]
fn every_dialect_operation_keeps_its_native_twins_contract() {
    let surfaces = keygate::startup::surfaces();
    let routes =
        keygate::routes::Routes::from_documents(surfaces.all().map(|s| (s.name(), s.document())));
    for route in routes.all().iter().filter(|r| r.surface != "native") {
        let Some(contract) = &route.contract else {
            continue;
        };
        let Some(twin_id) = &contract.acts_as else {
            continue;
        };
        let twin = routes
            .by_operation_id(twin_id)
            .filter(|t| t.surface == "native")
            .unwrap_or_else(|| {
                panic!(
                    "{} acts as {twin_id}, which is no native operation",
                    route.operation_id
                )
            });
        let twin_contract = twin
            .contract
            .as_ref()
            .expect("a native twin is authenticated");
        assert_eq!(
            contract.role, twin_contract.role,
            "{}: role differs from {twin_id}'s",
            route.operation_id
        );
        assert_eq!(
            contract.audit, twin_contract.audit,
            "{}: audit type differs from {twin_id}'s",
            route.operation_id
        );
        // The policy's allowed_resources are keyed by path parameter name.
        let mut mine = route.path_params.clone();
        let mut theirs = twin.path_params.clone();
        mine.sort();
        theirs.sort();
        assert_eq!(
            mine, theirs,
            "{}: path parameters differ from {twin_id}'s",
            route.operation_id
        );
    }
}

#[test]
fn path_id_patterns_match_the_server_rules() {
    use keygate::resources::api_keys::dto::ApiKeyId;
    use keygate::resources::organizations::dto::OrganizationId;
    let doc = keygate::resources::document();
    let param_pattern = |path: &str, name: &str| {
        doc["paths"][path]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .map(|p| p["schema"]["pattern"].as_str().unwrap().to_owned())
            .unwrap()
    };
    assert_eq!(
        param_pattern("/v1/api_keys/{api_key_id}", "api_key_id"),
        ApiKeyId::PATTERN
    );
    assert_eq!(
        param_pattern("/v1/organizations/{organization_id}", "organization_id"),
        OrganizationId::PATTERN
    );
}

backend_test! {
    async fn served_document_is_the_committed_one(app) {
        let served: serde_json::Value = app
            .client
            .get(format!("{}/api-docs/openapi.json", app.address))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let committed: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(COMMITTED).unwrap()).unwrap();
        assert_eq!(served, committed);
    }
}

backend_test! {
    async fn swagger_ui_is_served(app) {
        let res = app.client.get(format!("{}/swagger-ui/", app.address)).send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert!(res.text().await.unwrap().contains("swagger-ui"));
    }
}

/// Every committed document, by file name.
fn committed_documents() -> Vec<(String, serde_json::Value)> {
    let surfaces = keygate::startup::surfaces();
    surfaces
        .all()
        .map(|s| (format!("{}.json", s.document_stem()), s.document().clone()))
        .collect()
}

#[test]
fn every_error_response_has_an_example_of_its_own_status() {
    for (file, doc) in committed_documents() {
        let resolve = |response: &serde_json::Value| -> serde_json::Value {
            match response["$ref"].as_str().and_then(|r| r.strip_prefix("#/")) {
                Some(pointer) => doc
                    .pointer(&format!("/{pointer}"))
                    .cloned()
                    .unwrap_or_else(|| panic!("{file}: dangling {pointer}")),
                None => response.clone(),
            }
        };
        let mut checked = 0;
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, op) in item.as_object().expect("path item") {
                let Some(responses) = op["responses"].as_object() else {
                    continue;
                };
                for (status, response) in responses {
                    let Ok(code) = status.parse::<u16>() else {
                        continue;
                    };
                    if code < 400 {
                        continue;
                    }
                    let at = format!("{file} {method} {path} {status}");
                    let response = resolve(response);
                    let content = response["content"]
                        .as_object()
                        .unwrap_or_else(|| panic!("{at}: an error response without a body"));
                    for (media, body) in content {
                        let examples: Vec<serde_json::Value> = match body["examples"].as_object() {
                            Some(named) => named.values().map(|e| e["value"].clone()).collect(),
                            None => vec![body["example"].clone()],
                        };
                        for example in examples {
                            assert!(example.is_object(), "{at} ({media}): no example");
                            // Each surface's envelope: problem+json and
                            // Elasticsearch's carry the status; Cloud
                            // Connect's `errors[]` and Nylas's do not.
                            if media == "application/problem+json"
                                || example.get("status").is_some()
                            {
                                assert_eq!(example["status"], code, "{at}: {example}");
                            }
                            let error_code = [
                                &example["code"],
                                &example["error"]["code"],
                                &example["errors"][0]["code"],
                                &example["error"]["type"],
                            ]
                            .into_iter()
                            .find_map(|c| c.as_str())
                            .unwrap_or_default();
                            assert!(!error_code.is_empty(), "{at}: no code in {example}");
                            if media == "application/problem+json" {
                                assert_eq!(
                                    example["type"],
                                    format!("urn:keygate:problem:{error_code}"),
                                    "{at}"
                                );
                            }
                            checked += 1;
                        }
                    }
                }
            }
        }
        // Every operation answers at least 400, 414 and 504, and an
        // authenticated one 401 and 403 too.
        let operations: usize = doc["paths"]
            .as_object()
            .expect("paths")
            .values()
            .map(|item| item.as_object().map_or(0, |ops| ops.len()))
            .sum();
        assert!(
            checked >= 5 * operations,
            "{file}: only {checked} error examples for {operations} operations"
        );
    }
}

#[test]
fn conflicts_and_unavailability_have_their_own_examples() {
    // The shared examples (404 and the like) are no example for a 409: each
    // conflict shows a code the server answers 409 with.
    const CONFLICT_CODES: [&str; 6] = [
        "already_exists",
        "no_credits",
        "still_referenced",
        "duplicate_key",
        "service_not_enabled",
        "license_incomplete",
    ];
    let doc = keygate::resources::document();
    let mut conflicts = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let conflict = &op["responses"]["409"];
            if conflict.is_null() {
                continue;
            }
            let code = conflict["content"]["application/problem+json"]["example"]["code"]
                .as_str()
                .unwrap_or_default();
            assert!(
                CONFLICT_CODES.contains(&code),
                "{method} {path}: 409 example code {code:?}"
            );
            conflicts += 1;
        }
    }
    assert!(conflicts >= 16, "{conflicts} conflicts documented");
    let readyz = &doc["paths"]["/readyz"]["get"]["responses"]["503"]["content"]
        ["application/problem+json"]["example"];
    assert_eq!(readyz["code"], "service_unavailable", "{readyz}");
}

#[test]
fn tags_are_ordered_by_family() {
    let doc = keygate::resources::document();
    let tags: Vec<&str> = doc["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        tags,
        [
            "api_keys",
            "verify",
            "identities",
            "analytics",
            "key_policies",
            "secret_scanning",
            "connectors",
            "secrets",
            "projects",
            "api_proxies",
            "providers",
            "organizations",
            "clusters",
            "audit_events",
            "system"
        ],
        "docs/API-DESIGN.md (Tags) gives the order"
    );
}

#[test]
fn the_create_api_key_example_works_from_localhost() {
    let doc = keygate::resources::document();
    let example = &doc["paths"]["/v1/api_keys"]["post"]["requestBody"]["content"]
        ["application/json"]["example"];
    assert!(example.is_object(), "{example}");
    let localhost: std::net::IpAddr = "127.0.0.1".parse().unwrap();
    if let Some(cidrs) = example["allowed_cidrs"].as_array() {
        assert!(
            cidrs.iter().any(|c| c
                .as_str()
                .and_then(|c| c.parse::<ipnet::IpNet>().ok())
                .is_some_and(|net| net.contains(&localhost))),
            "a key made from this example must answer from 127.0.0.1: {example}"
        );
    }
}

backend_test! {
    async fn root_and_swagger_ui_without_slash_lead_to_swagger_ui(app) {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        // As a browser asks: `/` is Elasticsearch's for its clients.
        let html = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
        for (path, status) in [("/", 302), ("/swagger-ui", 308)] {
            let res = client
                .get(format!("{}{path}", app.address))
                .header("accept", html)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), status, "{path}");
            assert_eq!(
                res.headers().get("location").and_then(|v| v.to_str().ok()),
                Some("/swagger-ui/"),
                "{path}"
            );
        }
        let followed = app
            .client
            .get(format!("{}/", app.address))
            .header("accept", html)
            .send()
            .await
            .unwrap();
        assert_eq!(followed.status(), 200);
        assert!(followed.text().await.unwrap().contains("swagger-ui"));
    }
}

#[actix_web::test]
async fn swagger_ui_forgets_the_authorization_on_reload() {
    // The README says so: the key would sit in localStorage in clear text.
    let app = crate::helpers::TestApp::spawn(keygate::config::Backend::Sqlite)
        .await
        .unwrap();
    let res = app
        .client
        .get(format!("{}/swagger-ui/swagger-initializer.js", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let script = res.text().await.unwrap().replace(char::is_whitespace, "");
    assert!(script.contains("SwaggerUIBundle"), "{script}");
    assert!(
        !script.contains("\"persistAuthorization\":true")
            && !script.contains("persistAuthorization:true"),
        "{script}"
    );
}

backend_test! {
    async fn the_request_examples_of_top_level_creates_work_as_given(app) {
        // What Swagger UI's Try it out sends, pasted from the document, from
        // 127.0.0.1 with the bootstrap key.
        let doc = keygate::resources::document();
        let mut tried = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            let op = &item["post"];
            let example = &op["requestBody"]["content"]["application/json"]["example"];
            if path.contains('{') || !example.is_object() {
                continue;
            }
            let res = app
                .request(reqwest::Method::POST, path, Some(&app.bootstrap_key))
                .json(example)
                .send()
                .await
                .unwrap();
            let status = res.status();
            let body: serde_json::Value = res.json().await.unwrap_or_default();
            assert!(status.is_success(), "POST {path} with its example: {status} {body}");
            if path == "/v1/api_keys" {
                // The key it made works from here.
                let key = body["key"].as_str().unwrap();
                let res = app.get("/v1/me", key).await;
                assert_eq!(res.status(), 200, "the example's key answers from 127.0.0.1");
            }
            tried.push(path.clone());
        }
        assert!(tried.contains(&"/v1/api_keys".to_owned()), "{tried:?}");
        assert!(tried.len() >= 5, "{tried:?}");
    }
}
