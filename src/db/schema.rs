//! Table definitions, written by hand to match both migration trees.
// The same columns on both backends: TEXT, BOOLEAN and TIMESTAMP only.

diesel::table! {
    /// Tenants: every resource belongs to one.
    organizations (id) {
        /// `org_` id.
        id -> Text,
        /// Unique name.
        name -> Text,
        /// The first organization, whose `personal` keys may create others.
        is_root -> Bool,
        /// When it was created (UTC).
        created_at -> Timestamp,
    }
}

diesel::table! {
    /// API keys: metadata only; the secrets live in `key_secrets`.
    api_keys (id) {
        /// `aky_` id.
        id -> Text,
        /// Owning organization.
        organization_id -> Text,
        /// Display name.
        name -> Text,
        /// `serving`, `serving_and_indexing` or `personal`.
        api_key_role -> Text,
        /// JSON of the policy, if any.
        api_policy -> Nullable<Text>,
        /// Whether the key authenticates.
        enabled -> Bool,
        /// JSON array of CIDRs, if restricted.
        allowed_cidrs -> Nullable<Text>,
        /// When the key stops working.
        expires_at -> Nullable<Timestamp>,
        /// JSON array of opaque resource scopes, if scoped.
        resource_scopes -> Nullable<Text>,
        /// First ten characters of the current secret.
        key_prefix -> Text,
        /// Last four characters of the current secret.
        key_last4 -> Text,
        /// Creation time.
        created_at -> Timestamp,
        /// Last change.
        updated_at -> Timestamp,
        /// Last authentication with the key.
        last_used_at -> Nullable<Timestamp>,
        /// When the key was deleted, while it is kept for the recovery
        /// window; `NULL` for a live key.
        deleted_at -> Nullable<Timestamp>,
        /// The identity the key belongs to, if any.
        identity_id -> Nullable<Text>,
        /// JSON array of the key's own rate limits, if any.
        ratelimits -> Nullable<Text>,
    }
}

diesel::table! {
    /// Identities: a customer's keys grouped under its own id.
    identities (id) {
        /// `idn_` id.
        id -> Text,
        /// Owning organization.
        organization_id -> Text,
        /// The customer's own id, unique per organization.
        external_id -> Text,
        /// Display name.
        name -> Nullable<Text>,
        /// JSON object of free-form metadata.
        metadata -> Nullable<Text>,
        /// JSON array of the identity's shared rate limits, if any.
        ratelimits -> Nullable<Text>,
        /// Creation time.
        created_at -> Timestamp,
        /// Last change.
        updated_at -> Timestamp,
    }
}

diesel::table! {
    /// Credit balances of keys and identities; no row: unlimited.
    credits (owner_id) {
        /// The `aky_` key or `idn_` identity.
        owner_id -> Text,
        /// Owning organization.
        organization_id -> Text,
        /// Credits left in the database (nodes may hold leased ones).
        remaining -> BigInt,
        /// Refill period in milliseconds, if refilled.
        refill_interval -> Nullable<BigInt>,
        /// What a refill sets `remaining` to.
        refill_amount -> Nullable<BigInt>,
        /// Start of the current refill period.
        refilled_at -> Timestamp,
        /// Grows with every absolute change; voids older leases.
        epoch -> BigInt,
        /// Last change.
        updated_at -> Timestamp,
    }
}

diesel::table! {
    /// Hashes of usable secrets, for look-up by presented key.
    key_secrets (key_hash) {
        /// Hex SHA-256 of the key.
        key_hash -> Text,
        /// Owning organization.
        organization_id -> Text,
        /// `api_key` (clusters add more kinds).
        owner_kind -> Text,
        /// Id of the owning resource.
        owner_id -> Text,
        /// First ten characters of the key, for display.
        key_prefix -> Text,
        /// Last four characters of the key, for display.
        key_last4 -> Text,
        /// `current` or `pending`.
        state -> Text,
        /// When a pending secret stops working.
        pending_expires_at -> Nullable<Timestamp>,
        /// Creation time.
        created_at -> Timestamp,
    }
}

diesel::table! {
    /// One row per mutation or refused mutation.
    audit_events (id) {
        /// `evt_` id, time-ordered.
        id -> Text,
        /// When it happened.
        occurred_at -> Timestamp,
        /// Organization of the actor, if known.
        organization_id -> Nullable<Text>,
        /// Key that acted, if known.
        actor_key_id -> Nullable<Text>,
        /// operationId of the request.
        action -> Text,
        /// Kind of resource acted on.
        resource_type -> Text,
        /// Id of the resource, if any.
        resource_id -> Nullable<Text>,
        /// Request id.
        request_id -> Text,
        /// `success` or `denied`.
        outcome -> Text,
        /// What else the event records: for a leak report, the URL where
        /// the key was found.
        detail -> Nullable<Text>,
    }
}

diesel::joinable!(api_keys -> organizations (organization_id));
diesel::joinable!(api_keys -> identities (identity_id));
diesel::joinable!(credits -> api_keys (owner_id));

diesel::table! {
    /// Ids of the master keys that encrypted this database.
    encryption_keys (key_id) {
        /// Hex of the first 4 bytes of the SHA-256 of the master key.
        key_id -> Text,
        /// When it was first used here.
        created_at -> Timestamp,
    }
}

diesel::table! {
    /// Connector secrets; `value` is an AES-256-GCM envelope.
    secrets (organization_id, id) {
        /// Owning organization.
        organization_id -> Text,
        /// Caller-chosen or `sec_` id, unique per organization.
        id -> Text,
        /// Optional description.
        description -> Nullable<Text>,
        /// Encrypted value (see `crate::crypto`).
        value -> Binary,
        /// Creation time.
        created_at -> Timestamp,
        /// Last change.
        updated_at -> Timestamp,
        /// Number of the current value (1 for the first).
        version -> BigInt,
        /// When it was deleted, while the recovery window keeps it.
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    /// Values a secret had before its current one, newest
    /// `KEYGATE_SECRET_VERSIONS` kept; `value` is an AES-256-GCM envelope
    /// bound to the row (id `<secret_id>/<version>`).
    secret_versions (organization_id, id) {
        /// Owning organization.
        organization_id -> Text,
        /// `<secret_id>/<version>`.
        id -> Text,
        /// The secret.
        secret_id -> Text,
        /// Its number.
        version -> BigInt,
        /// Encrypted value.
        value -> Binary,
        /// When this value was set.
        created_at -> Timestamp,
    }
}

diesel::table! {
    /// Connectors (Elasticsearch family).
    connectors (organization_id, id) {
        /// Owning organization.
        organization_id -> Text,
        /// Caller-chosen or `con_` id, unique per organization.
        id -> Text,
        /// Display name.
        name -> Nullable<Text>,
        /// Description.
        description -> Nullable<Text>,
        /// Target index.
        index_name -> Nullable<Text>,
        /// Service type, e.g. `google_drive`.
        service_type -> Nullable<Text>,
        /// API key the connector uses.
        api_key_id -> Nullable<Text>,
        /// Secret holding that key's encoded value.
        api_key_secret_id -> Nullable<Text>,
        /// Creation time.
        created_at -> Timestamp,
        /// Last change.
        updated_at -> Timestamp,
    }
}

diesel::table! {
    /// Projects (Apinizer family): named groups of API proxies.
    projects (id) {
        /// `prj_` id.
        id -> Text,
        /// Owning organization.
        organization_id -> Text,
        /// Name, unique per organization, used in paths.
        name -> Text,
        /// Description.
        description -> Nullable<Text>,
        /// Creation time.
        created_at -> Timestamp,
        /// Last change.
        updated_at -> Timestamp,
    }
}

diesel::table! {
    /// API proxies of a project, with their public and secret keys.
    api_proxies (id) {
        /// `apx_` id.
        id -> Text,
        /// Owning organization.
        organization_id -> Text,
        /// The project.
        project_id -> Text,
        /// Name, unique per project, used in paths.
        name -> Text,
        /// Description.
        description -> Nullable<Text>,
        /// Where the proxy forwards to.
        upstream_url -> Nullable<Text>,
        /// The public key (shown in the view).
        public_key -> Nullable<Text>,
        /// The secret key's AES-256-GCM envelope.
        secret_key -> Nullable<Binary>,
        /// Last four characters of a long enough secret key.
        secret_key_last4 -> Nullable<Text>,
        /// Creation time.
        created_at -> Timestamp,
        /// Last change.
        updated_at -> Timestamp,
    }
}

diesel::table! {
    /// Keyed hashes of every proxy key, unique per organization.
    api_proxy_keys (organization_id, key_hash) {
        /// Owning organization.
        organization_id -> Text,
        /// Hex HMAC-SHA256 of the key (see `crate::crypto::keyed_hash`).
        key_hash -> Text,
        /// The proxy holding the key.
        api_proxy_id -> Text,
        /// `public` or `secret`.
        kind -> Text,
        /// When the key was set.
        created_at -> Timestamp,
    }
}

diesel::joinable!(api_proxies -> projects (project_id));

diesel::table! {
    /// Connected clusters (Elastic Cloud Connect family); their keys live in
    /// `key_secrets` (owner kinds `cluster` and `cluster_service`).
    clusters (id) {
        /// 32 lowercase letters and digits.
        id -> Text,
        /// Owning organization.
        organization_id -> Text,
        /// Display name.
        name -> Text,
        /// The self-managed cluster's own id, unique per organization.
        self_managed_cluster_id -> Text,
        /// The self-managed cluster's name.
        self_managed_cluster_name -> Text,
        /// The self-managed cluster's version.
        self_managed_cluster_version -> Text,
        /// License type, if known.
        license_type -> Nullable<Text>,
        /// License uid, if known.
        license_uid -> Nullable<Text>,
        /// Whether the `eis` service is enabled.
        eis_enabled -> Bool,
        /// Whether the `auto_ops` service is enabled.
        auto_ops_enabled -> Bool,
        /// Creation time.
        created_at -> Timestamp,
        /// Last change.
        updated_at -> Timestamp,
    }
}

diesel::table! {
    /// Per-organization subscription state and terms acceptance; no row
    /// means the defaults (`trial`, not accepted).
    organization_settings (organization_id) {
        /// The organization.
        organization_id -> Text,
        /// `trial`, `active` or `inactive`.
        subscription_state -> Text,
        /// Last change of the subscription state.
        subscription_updated_at -> Timestamp,
        /// When the terms were first accepted.
        terms_accepted_at -> Nullable<Timestamp>,
        /// The `aky_` id of the key that accepted them.
        terms_accepted_by -> Nullable<Text>,
    }
}

diesel::table! {
    /// Provider credentials (Nylas family); `credential_data` is an
    /// AES-256-GCM envelope of the JSON object of its keys and values.
    provider_credentials (organization_id, id) {
        /// Owning organization.
        organization_id -> Text,
        /// `crd_` id, unique per organization.
        id -> Text,
        /// The provider, e.g. `google`.
        provider -> Text,
        /// Name, unique per provider and organization.
        name -> Text,
        /// `serviceaccount`, `adminconsent` or `connector`.
        credential_type -> Text,
        /// Encrypted credential data (see `crate::crypto`).
        credential_data -> Binary,
        /// Creation time.
        created_at -> Timestamp,
        /// Last change.
        updated_at -> Timestamp,
        /// When it was deleted, while the recovery window keeps it.
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    /// Providers of an organization that have been changed at least once
    /// (the others are implicit and have no row).
    providers (organization_id, provider) {
        /// Owning organization.
        organization_id -> Text,
        /// The provider, e.g. `google`.
        provider -> Text,
        /// The provider's active credential.
        active_credential_id -> Nullable<Text>,
        /// When the row was first written.
        created_at -> Timestamp,
        /// Last change.
        updated_at -> Timestamp,
    }
}

diesel::table! {
    /// Changes to keys that nodes' authentication caches may hold, written
    /// in the changing transaction and read by every node past its cursor
    /// (PostgreSQL only; see `crate::db::peers`).
    cache_invalidations (id) {
        /// Increasing id: the cursor.
        id -> BigInt,
        /// The key owner's kind (`api_key`, `cluster`, `cluster_service`).
        owner_kind -> Text,
        /// The key owner's id.
        owner_id -> Text,
        /// When it was written (for pruning).
        created_at -> Timestamp,
    }
}

diesel::table! {
    /// Key safety settings of organizations that changed them (the others
    /// have the defaults and no row).
    key_policies (organization_id) {
        /// The organization.
        organization_id -> Text,
        /// What a leak report does to a reported key: `disable` or `revoke`.
        leak_response -> Text,
        /// The longest lifetime an API key may be given, if limited.
        max_key_lifetime_seconds -> Nullable<BigInt>,
        /// Whether every API key must have an `expires_at`.
        require_expiry -> Bool,
        /// Last change.
        updated_at -> Timestamp,
    }
}

diesel::table! {
    /// How many verifies ended in each outcome, per organization, API key
    /// (`''`: none), identity (`''`: none) and minute; counted in memory
    /// and added in batches (`crate::keys::analytics`).
    verification_counts (organization_id, api_key_id, identity_id, outcome, minute) {
        /// The verifying caller's organization.
        organization_id -> Text,
        /// The verified key's id; `''` when no key was found.
        api_key_id -> Text,
        /// The key's identity; `''` when it has none.
        identity_id -> Text,
        /// The verdict's code (`VALID`, `NOT_FOUND`, ...).
        outcome -> Text,
        /// The minute's start, in seconds since the Unix epoch (UTC).
        minute -> BigInt,
        /// Verifies of that minute.
        count -> BigInt,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    organizations,
    api_keys,
    key_secrets,
    audit_events,
    encryption_keys,
    secrets,
    secret_versions,
    connectors,
    projects,
    api_proxies,
    api_proxy_keys,
    clusters,
    organization_settings,
    provider_credentials,
    providers,
    cache_invalidations,
    identities,
    credits,
    verification_counts
);
