//! The benchmark's HTTP anchor (`bench/run`): a bare actix-web server with one
//! JSON POST handler shaped like `POST /v1/verify`, built with keygate's own
//! dependencies and release profile and run with keygate's worker count.
//!
//! It parses `{"key": "..."}` and answers an object of the same fields as a
//! verification, so the difference to keygate is keygate's own work:
//! middleware, authentication, the key look-up and its cache.
//!
//! ```sh
//! KEYGATE_BIND=127.0.0.1:8099 cargo run --release --example bench_anchor
//! ```

use actix_web::{get, post, web, App, HttpResponse, HttpServer};
use serde::{Deserialize, Serialize};

/// The request body: the key to check.
#[derive(Deserialize)]
struct Body {
    key: String,
}

/// The answer: the fields of keygate's `Verification`.
#[derive(Serialize)]
struct Answer {
    valid: bool,
    code: &'static str,
    api_key_id: Option<String>,
    api_key_role: Option<&'static str>,
    status: Option<&'static str>,
    pending_expires_at: Option<String>,
    expires_at: Option<String>,
    key_kind: Option<&'static str>,
    cluster_id: Option<String>,
    service: Option<&'static str>,
}

/// The handler: parse the key, answer a verdict.
#[post("/v1/verify")]
async fn verify(body: web::Json<Body>) -> web::Json<Answer> {
    let valid = body.key.starts_with("kg_ak_");
    web::Json(Answer {
        valid,
        code: if valid { "VALID" } else { "NOT_FOUND" },
        api_key_id: valid.then(|| format!("aky_{:032x}", body.key.len())),
        api_key_role: valid.then_some("serving"),
        status: valid.then_some("current"),
        pending_expires_at: None,
        expires_at: None,
        key_kind: valid.then_some("api_key"),
        cluster_id: None,
        service: None,
    })
}

/// Readiness, for bench/run to wait on.
#[get("/readyz")]
async fn ready() -> HttpResponse {
    HttpResponse::Ok().finish()
}

fn main() -> std::io::Result<()> {
    let bind = std::env::var("KEYGATE_BIND").unwrap_or_else(|_| "127.0.0.1:8099".to_owned());
    // The same worker count as `keygate serve`.
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    actix_web::rt::System::new().block_on(async move {
        HttpServer::new(|| App::new().service(verify).service(ready))
            .workers(workers)
            .bind(bind)?
            .run()
            .await
    })
}
