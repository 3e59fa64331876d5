//! What a leak report does: one transaction for the batch; for each token
//! that is a keygate key keygate issued, the organization's
//! `leak_response`, through the same change functions every other write
//! uses (so caches and invalidation see it), and an audit event with the
//! reported URL.

use diesel::Connection;

use crate::audit::AuditEvent;
use crate::crypto::hash_key;
use crate::db::version::IfMatch;
use crate::db::AnyConnection;
use crate::error::ApiError;
use crate::keys::format;
use crate::keys::repo::{self as rotation, Owner};
use crate::keys::{OWNER_API_KEY, OWNER_CLUSTER, OWNER_CLUSTER_SERVICE};
use crate::resources::api_keys::model::ApiKeyChanges;
use crate::resources::api_keys::repo as api_keys;
use crate::resources::key_policies::domain::LeakResponse;
use crate::resources::key_policies::repo as key_policies;

/// The operationId leak reports are audited under.
pub const ACTION: &str = "report_leaked_keys";

/// One reported match.
#[derive(Clone, Copy)]
pub struct Reported<'a> {
    /// The matched text.
    pub token: &'a str,
    /// Where GitHub found it.
    pub url: Option<&'a str>,
}

impl std::fmt::Debug for Reported<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reported")
            .field("token", &"<redacted>")
            .field("url", &self.url)
            .finish()
    }
}

/// Acts on each reported token; returns, in order, whether each was a real
/// keygate key (a true positive). Tokens that are not keygate keys by shape
/// or checksum never reach the database.
pub fn report(
    conn: &mut AnyConnection,
    reported: &[Reported<'_>],
    request_id: &str,
) -> Result<Vec<bool>, ApiError> {
    conn.transaction(|conn| {
        reported
            .iter()
            .map(|r| act_on(conn, r, request_id))
            .collect()
    })
}

fn act_on(
    conn: &mut AnyConnection,
    reported: &Reported<'_>,
    request_id: &str,
) -> Result<bool, ApiError> {
    if format::parse(reported.token).is_err() {
        return Ok(false);
    }
    let hash = hash_key(reported.token);
    let Some(secret) = rotation::find_secret(conn, &hash)? else {
        return Ok(false);
    };
    let org = secret.organization_id.as_str();
    if secret.owner_kind == OWNER_API_KEY {
        match api_keys::get(conn, org, &secret.owner_id) {
            // Deleted into the recovery window: gone, as for every operation.
            Err(ApiError::NotFound(_)) => return Ok(false),
            Err(other) => return Err(other),
            Ok(_) => {}
        }
    }
    let response = key_policies::policy(conn, org)?.leak_response;
    // Cluster keys are audited under their cluster; a service key's owner
    // id is `<cluster id>:<service>`.
    let (resource_type, resource_id) = match secret.owner_kind.as_str() {
        OWNER_API_KEY => ("api_key", secret.owner_id.as_str()),
        OWNER_CLUSTER | OWNER_CLUSTER_SERVICE => (
            "cluster",
            secret
                .owner_id
                .split_once(':')
                .map_or(secret.owner_id.as_str(), |(cluster, _)| cluster),
        ),
        _ => (secret.owner_kind.as_str(), secret.owner_id.as_str()),
    };
    let mut audit = AuditEvent::success(org, None, ACTION, resource_type, resource_id, request_id);
    if let Some(url) = reported.url {
        audit = audit.with_detail(url);
    }
    if secret.owner_kind == OWNER_API_KEY && response == LeakResponse::Disable {
        // The one change function of API keys: it records the change for
        // the caches and invalidation, and writes the audit event.
        api_keys::update(
            conn,
            org,
            &secret.owner_id,
            &IfMatch::parse(None),
            |_| {
                Ok(ApiKeyChanges {
                    enabled: Some(false),
                    ..ApiKeyChanges::default()
                })
            },
            audit,
        )?;
    } else {
        // Revoke, and cluster keys, which have no on/off switch.
        let owner = Owner {
            organization_id: org,
            kind: &secret.owner_kind,
            id: &secret.owner_id,
        };
        rotation::revoke_secret(conn, owner, &hash)?;
        audit.record(conn)?;
    }
    let done = match (secret.owner_kind.as_str(), response) {
        (OWNER_API_KEY, LeakResponse::Disable) => "the key is disabled",
        _ => "the reported secret is revoked",
    };
    log::warn!(
        "secret scanning reported a live key of {resource_type} {resource_id} \
         (organization {org}); {done}"
    );
    Ok(true)
}
