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
    }
}

diesel::joinable!(api_keys -> organizations (organization_id));

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

diesel::allow_tables_to_appear_in_same_query!(
    organizations,
    api_keys,
    key_secrets,
    audit_events,
    encryption_keys,
    secrets,
    connectors,
    provider_credentials,
    providers
);
