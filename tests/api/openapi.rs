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
