//! `/v1/projects`: create, list, get, PATCH description, delete (409 while
//! it holds API proxies), the name rule, uniqueness per organization,
//! `If-Match`, roles, tenancy and audit events.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::backend_test;
use crate::helpers::*;

/// Creates a project with the bootstrap key, asserting 201.
pub async fn create_project(app: &TestApp, name: &str) -> Value {
    let res = app
        .post("/v1/projects", &app.bootstrap_key, &json!({"name": name}))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED, "create project {name}");
    res.json().await.unwrap()
}

backend_test! {
    async fn projects_are_created_listed_read_changed_and_deleted(app) {
        let res = app
            .post("/v1/projects", &app.bootstrap_key, &json!({"name": "MyProject", "description": "shop"}))
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        assert_eq!(res.headers()["location"], "/v1/projects/MyProject");
        let created_tag = header(&res, "etag");
        let created: Value = res.json().await.unwrap();
        assert!(created["id"].as_str().unwrap().starts_with("prj_"), "{created}");
        assert_eq!(created["name"], "MyProject");
        assert_eq!(created["description"], "shop");

        let res = app.get("/v1/projects/MyProject", &app.bootstrap_key).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(header(&res, "etag"), created_tag);

        create_project(&app, "Second").await;
        let res = app.get("/v1/projects?limit=1", &app.bootstrap_key).await;
        let page: Value = res.json().await.unwrap();
        assert_eq!(page["data"][0]["name"], "MyProject");
        let cursor = page["next_cursor"].as_str().expect("a next page");
        let res = app.get(&format!("/v1/projects?limit=1&cursor={cursor}"), &app.bootstrap_key).await;
        let page: Value = res.json().await.unwrap();
        assert_eq!(page["data"][0]["name"], "Second");
        assert!(page["next_cursor"].is_null());

        let res = app
            .patch("/v1/projects/MyProject", &app.bootstrap_key, &json!({"description": null}))
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_ne!(header(&res, "etag"), created_tag, "a change changes the ETag");
        let changed: Value = res.json().await.unwrap();
        assert!(changed["description"].is_null());

        let res = app
            .patch("/v1/projects/MyProject", &app.bootstrap_key, &json!({"name": "Renamed"}))
            .await;
        assert_problem(res, StatusCode::BAD_REQUEST, "invalid_body").await;

        let res = app.delete("/v1/projects/MyProject", &app.bootstrap_key).await;
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
        let res = app.get("/v1/projects/MyProject", &app.bootstrap_key).await;
        let problem = assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
        assert_eq!(problem["detail"], "Project (name: MyProject) was not found!");
    }
}

backend_test! {
    async fn project_names_follow_the_documented_rule(app) {
        let too_long = "a".repeat(101);
        let invalid = [
            ("empty", ""),
            ("one dot", "."),
            ("two dots", ".."),
            ("space", "my project"),
            ("slash", "a/b"),
            ("non-ASCII", "\u{fc}ber"),
            ("too long", too_long.as_str()),
        ];
        for (what, name) in invalid {
            let res = app.post("/v1/projects", &app.bootstrap_key, &json!({"name": name})).await;
            let problem = assert_problem(res, StatusCode::BAD_REQUEST, "validation_failed").await;
            assert_eq!(problem["errors"][0]["field"], "name", "{what}: {problem}");
            assert_eq!(problem["errors"][0]["code"], "pattern", "{what}: {problem}");
        }
        let longest = "b".repeat(100);
        for name in [".a", "...", "v1.2_beta-3", "-", longest.as_str()] {
            create_project(&app, name).await;
            let res = app.get(&format!("/v1/projects/{name}"), &app.bootstrap_key).await;
            assert_eq!(res.status(), StatusCode::OK, "{name} is addressable");
        }
        let res = app.get("/v1/projects/a%20b", &app.bootstrap_key).await;
        assert_problem(res, StatusCode::BAD_REQUEST, "invalid_path_parameter").await;
    }
}

backend_test! {
    async fn project_names_are_unique_per_organization_and_case_sensitive(app) {
        create_project(&app, "MyProject").await;
        let res = app.post("/v1/projects", &app.bootstrap_key, &json!({"name": "MyProject"})).await;
        let problem = assert_problem(res, StatusCode::CONFLICT, "already_exists").await;
        assert!(problem["detail"].as_str().unwrap().contains("MyProject"), "{problem}");
        create_project(&app, "myproject").await;

        // Another organization may use the name and does not see ours.
        let res = app.post("/v1/organizations", &app.bootstrap_key, &json!({"name": "acme"})).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let other: Value = res.json().await.unwrap();
        let other_key = other["api_key"]["key"].as_str().unwrap();
        let res = app.get("/v1/projects/MyProject", other_key).await;
        assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
        let res = app.post("/v1/projects", other_key, &json!({"name": "MyProject"})).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let res = app.get("/v1/projects", other_key).await;
        let page: Value = res.json().await.unwrap();
        assert_eq!(page["data"].as_array().unwrap().len(), 1, "{page}");
    }
}

backend_test! {
    async fn a_project_holding_proxies_cannot_be_deleted(app) {
        create_project(&app, "MyProject").await;
        let res = app
            .post("/v1/projects/MyProject/api_proxies", &app.bootstrap_key, &json!({"name": "MyAPI"}))
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let res = app.delete("/v1/projects/MyProject", &app.bootstrap_key).await;
        let problem = assert_problem(res, StatusCode::CONFLICT, "still_referenced").await;
        assert_eq!(problem["detail"], "project MyProject still holds 1 API proxy; delete them first");
        let res = app.delete("/v1/projects/MyProject/api_proxies/MyAPI", &app.bootstrap_key).await;
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
        let res = app.delete("/v1/projects/MyProject", &app.bootstrap_key).await;
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
    }
}

backend_test! {
    async fn project_writes_honour_if_match(app) {
        let res = app.post("/v1/projects", &app.bootstrap_key, &json!({"name": "MyProject"})).await;
        let tag = header(&res, "etag");
        for method in [Method::PATCH, Method::DELETE] {
            let res = app
                .request(method.clone(), "/v1/projects/MyProject", Some(&app.bootstrap_key))
                .header("If-Match", "\"stale\"")
                .json(&json!({"description": "x"}))
                .send()
                .await
                .unwrap();
            assert_problem(res, StatusCode::PRECONDITION_FAILED, "precondition_failed").await;
        }
        let res = app
            .request(Method::PATCH, "/v1/projects/MyProject", Some(&app.bootstrap_key))
            .header("If-Match", &tag)
            .json(&json!({"description": "x"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let res = app
            .request(Method::DELETE, "/v1/projects/MyProject", Some(&app.bootstrap_key))
            .header("If-Match", &tag)
            .send()
            .await
            .unwrap();
        assert_problem(res, StatusCode::PRECONDITION_FAILED, "precondition_failed").await;
    }
}

backend_test! {
    async fn serving_keys_read_projects_and_indexing_keys_change_them(app) {
        let (_, serving) = app.key_with_role("serving").await;
        let (_, indexing) = app.key_with_role("serving_and_indexing").await;
        let res = app.post("/v1/projects", &serving, &json!({"name": "MyProject"})).await;
        assert_problem(res, StatusCode::FORBIDDEN, "insufficient_role").await;
        let res = app.post("/v1/projects", &indexing, &json!({"name": "MyProject"})).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let res = app.get("/v1/projects/MyProject", &serving).await;
        assert_eq!(res.status(), StatusCode::OK);
        let res = app.get("/v1/projects", &serving).await;
        assert_eq!(res.status(), StatusCode::OK);
        let res = app.delete("/v1/projects/MyProject", &serving).await;
        assert_problem(res, StatusCode::FORBIDDEN, "insufficient_role").await;
        let res = app.request(Method::GET, "/v1/projects", None).send().await.unwrap();
        assert_problem(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
}

backend_test! {
    async fn project_mutations_are_audited(app) {
        let created = create_project(&app, "MyProject").await;
        let id = created["id"].as_str().unwrap();
        app.patch("/v1/projects/MyProject", &app.bootstrap_key, &json!({"description": "x"})).await;
        app.delete("/v1/projects/MyProject", &app.bootstrap_key).await;
        let res = app
            .get(&format!("/v1/audit_events?resource_type=project&resource_id={id}"), &app.bootstrap_key)
            .await;
        let page: Value = res.json().await.unwrap();
        let actions: Vec<&str> = page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap())
            .collect();
        assert_eq!(actions, ["create_project", "update_project", "delete_project"], "{page}");
    }
}
