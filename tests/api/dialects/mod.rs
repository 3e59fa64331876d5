//! The vendor dialects, one file a dialect, and the document checks they
//! share.

mod apinizer;
mod cloud_connect;
mod elasticsearch;
mod nylas;
mod vectara;

use crate::helpers::TestApp;

/// The committed `openapi/<stem>.json` equals the generated document;
/// `UPDATE_OPENAPI=1` rewrites it.
fn check_committed(stem: &str, generated: &str) {
    let path = format!("{}/openapi/{stem}.json", env!("CARGO_MANIFEST_DIR"));
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, generated).unwrap_or_else(|e| panic!("write {path}: {e}"));
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "openapi/{stem}.json differs from the generated document; run `UPDATE_OPENAPI=1 cargo test` and review the diff"
    );
}

/// The server serves the committed `openapi/<stem>.json` at
/// `/api-docs/<stem>.json`.
async fn assert_served(app: &TestApp, stem: &str) {
    let served: serde_json::Value = app
        .client
        .get(format!("{}/api-docs/{stem}.json", app.address))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let path = format!("{}/openapi/{stem}.json", env!("CARGO_MANIFEST_DIR"));
    let committed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(served, committed);
}
