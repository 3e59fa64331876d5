//! HTTP handler of `/secret_scanning/github`.

use actix_web::{post, web, HttpMessage, HttpRequest};

use super::dto::{LeakAlert, LeakLabel, LeakVerdict, MAX_ALERTS};
use super::repo::{self, Reported};
use super::TAG;
use crate::error::ApiError;
use crate::http::body::{parse_array_body, RawJsonBody, LARGEST_BODY};
use crate::http::problem::problem_example;
use crate::http::request_id::RequestId;
use crate::state::AppState;

/// The header naming the key GitHub signed with.
pub const KEY_IDENTIFIER_HEADER: &str = "Github-Public-Key-Identifier";
/// The header carrying the signature (base64 of DER ECDSA).
pub const SIGNATURE_HEADER: &str = "Github-Public-Key-Signature";

fn header<'a>(req: &'a HttpRequest, name: &'static str) -> Result<&'a str, ApiError> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| ApiError::Unauthorized(format!("the {name} header is missing").into()))
}

/// Report leaked keys (GitHub secret scanning)
///
/// The endpoint GitHub's secret scanning partner program calls with every
/// match of keygate's pattern it finds in public code. It presents no API
/// key: the body is signed. keygate checks `Github-Public-Key-Signature`
/// (ECDSA P-256 with SHA-256, base64 of the DER signature, over the raw
/// body) with the public key `Github-Public-Key-Identifier` names, among
/// those configured (`KEYGATE_SECRET_SCANNING_KEYS` or
/// `KEYGATE_SECRET_SCANNING_KEYS_FILE`); a missing, unknown or wrong
/// signature is 401 and changes nothing. Each token's format and checksum
/// are checked without the database. Each key keygate issued (API key,
/// cluster key, cluster service key) is acted on as its organization's key
/// policy says: `disable` (the default; the key stops authenticating, and
/// can be rotated and enabled again) or `revoke` (the reported secret is
/// deleted); cluster keys have no switch and are always revoked. Each
/// action is an audit event `report_leaked_keys` whose `detail` is the
/// reported URL. The answer labels every token, in order, as GitHub
/// expects: `true_positive` or `false_positive`. Up to 1,000 matches a call.
#[utoipa::path(
    tag = TAG,
    security(()),
    params(
        ("Github-Public-Key-Identifier" = String, Header, description = "Identifier of the public key the body was signed with."),
        ("Github-Public-Key-Signature" = String, Header, description = "Base64 of the DER-encoded ECDSA P-256 SHA-256 signature over the raw body."),
    ),
    request_body(content = Vec<LeakAlert>, example = json!([
        {"token": "kg_ak_Ab3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z0x9Q2", "type": "keygate_api_key", "url": "https://github.com/octo/app/blob/0123abc/config.yml", "source": "content"}
    ])),
    responses(
        (status = 200, description = "A label for every reported token, in order.", body = Vec<LeakVerdict>,
            example = json!([{"token_raw": "kg_ak_Ab3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z0x9Q2", "token_type": "keygate_api_key", "label": "true_positive"}])),
        (status = 400, description = "The body is not a JSON array of matches, or has more than 1,000.", body = crate::http::problem::ProblemDetails, content_type = "application/problem+json",
            example = json!(problem_example(400, "validation_failed", "body: must list at most 1000 matches", "/secret_scanning/github"))),
        (status = 401, description = "The signature is missing, names no configured key, or does not match the body.", body = crate::http::problem::ProblemDetails, content_type = "application/problem+json",
            example = json!(problem_example(401, "unauthorized", "the signature does not match the body", "/secret_scanning/github"))),
        (status = 503, description = "The database cannot be reached now; nothing was changed. GitHub sends the alert again later.", body = crate::http::problem::ProblemDetails, content_type = "application/problem+json",
            example = json!(problem_example(503, "service_unavailable", "the database is unavailable", "/secret_scanning/github"))),
    )
)]
#[post("/secret_scanning/github")]
pub async fn report_leaked_keys(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: RawJsonBody<LARGEST_BODY>,
) -> Result<web::Json<Vec<LeakVerdict>>, ApiError> {
    let identifier = header(&req, KEY_IDENTIFIER_HEADER)?;
    let signature = header(&req, SIGNATURE_HEADER)?;
    state
        .scanning_keys
        .verify(identifier, signature, &body.0)
        .map_err(|why| ApiError::Unauthorized(why.to_string().into()))?;
    let alerts: Vec<LeakAlert> = parse_array_body(&body.0)?;
    if alerts.len() > MAX_ALERTS {
        return Err(ApiError::invalid_field(
            "body",
            "too_many",
            "must list at most 1000 matches",
        ));
    }
    let request_id = req
        .extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default();
    let tokens: Vec<(String, Option<String>)> = alerts
        .iter()
        .map(|a| (a.token.clone(), a.url.clone()))
        .collect();
    let found = state
        .db
        .write(move |conn| {
            let reported: Vec<Reported<'_>> = tokens
                .iter()
                .map(|(token, url)| Reported {
                    token,
                    url: url.as_deref(),
                })
                .collect();
            repo::report(conn, &reported, &request_id)
        })
        .await?;
    let verdicts = alerts
        .into_iter()
        .zip(found)
        .map(|(alert, real)| LeakVerdict {
            token_raw: alert.token,
            token_type: alert.token_type,
            label: if real {
                LeakLabel::TruePositive
            } else {
                LeakLabel::FalsePositive
            },
        })
        .collect();
    Ok(web::Json(verdicts))
}
