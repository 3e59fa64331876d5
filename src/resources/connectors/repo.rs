//! Storage of connectors: plain functions over a connection, each mutation
//! in one transaction with its audit event. The API key and secret a
//! connector names are checked to exist in the caller's organization inside
//! that transaction; writes to an existing connector check `If-Match`
//! against the loaded row, after the references (so bad input is a 400
//! whatever `If-Match` says).

use diesel::prelude::*;
use validator::Validate;

use super::model::{ConnectorChanges, ConnectorRow};
use crate::audit::AuditEvent;
use crate::db::page::Page;
use crate::db::schema::{api_keys, connectors, secrets};
use crate::db::version::{self, IfMatch};
use crate::db::{new_id, now, AnyConnection};
use crate::error::{ApiError, FieldError};

/// Every field of a connector, as given to create or replace it, with the
/// rules its fields follow on every surface (`validate()`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Validate)]
pub struct NewConnector {
    /// Display name, 1 to 255 characters.
    #[validate(length(min = 1, max = 255, message = "must be 1 to 255 characters"))]
    pub name: Option<String>,
    /// Description, up to 1,000 characters.
    #[validate(length(max = 1000, message = "must be at most 1000 characters"))]
    pub description: Option<String>,
    /// Target index, 1 to 255 characters.
    #[validate(length(min = 1, max = 255, message = "must be 1 to 255 characters"))]
    pub index_name: Option<String>,
    /// Service type, 1 to 100 characters.
    #[validate(length(min = 1, max = 100, message = "must be 1 to 100 characters"))]
    pub service_type: Option<String>,
    /// API key the connector uses.
    pub api_key_id: Option<String>,
    /// Secret holding that key's encoded value.
    pub api_key_secret_id: Option<String>,
}

impl NewConnector {
    /// A changeset that sets every field to this input's value.
    fn replacing(&self) -> ConnectorChanges {
        ConnectorChanges {
            name: Some(self.name.clone()),
            description: Some(self.description.clone()),
            index_name: Some(self.index_name.clone()),
            service_type: Some(self.service_type.clone()),
            api_key_id: Some(self.api_key_id.clone()),
            api_key_secret_id: Some(self.api_key_secret_id.clone()),
            updated_at: None,
        }
    }

    /// A changeset that sets the descriptive fields (name, description,
    /// index and service type) and leaves the API key and secret alone.
    fn replacing_details(&self) -> ConnectorChanges {
        ConnectorChanges {
            api_key_id: None,
            api_key_secret_id: None,
            ..self.replacing()
        }
    }
}

/// Whether `put` created the connector or replaced it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Put {
    /// There was none; it was created.
    Created,
    /// It existed; its fields were replaced.
    Replaced,
}

/// Checks that the API key and the secret named (when named) exist in the
/// organization; 400 `validation_failed` with `reference_not_found` on each
/// field that names nothing.
pub fn check_references(
    conn: &mut AnyConnection,
    organization_id: &str,
    api_key_id: Option<&str>,
    api_key_secret_id: Option<&str>,
) -> Result<(), ApiError> {
    let mut errors = Vec::new();
    if let Some(id) = api_key_id {
        let found: i64 = api_keys::table
            .filter(api_keys::organization_id.eq(organization_id))
            .filter(api_keys::id.eq(id))
            .filter(api_keys::deleted_at.is_null())
            .count()
            .get_result(conn)?;
        if found == 0 {
            errors.push(FieldError::new(
                "api_key_id",
                "reference_not_found",
                "no API key with this id in the organization",
            ));
        }
    }
    if let Some(id) = api_key_secret_id {
        let found: i64 = secrets::table
            .filter(secrets::organization_id.eq(organization_id))
            .filter(secrets::id.eq(id))
            .filter(secrets::deleted_at.is_null())
            .count()
            .get_result(conn)?;
        if found == 0 {
            errors.push(FieldError::new(
                "api_key_secret_id",
                "reference_not_found",
                "no secret with this id in the organization",
            ));
        }
    }
    ApiError::check_fields(errors)
}

fn insert(
    conn: &mut AnyConnection,
    organization_id: &str,
    id: &str,
    input: &NewConnector,
) -> Result<ConnectorRow, ApiError> {
    let at = now().naive_utc();
    let row = ConnectorRow {
        organization_id: organization_id.to_owned(),
        id: id.to_owned(),
        name: input.name.clone(),
        description: input.description.clone(),
        index_name: input.index_name.clone(),
        service_type: input.service_type.clone(),
        api_key_id: input.api_key_id.clone(),
        api_key_secret_id: input.api_key_secret_id.clone(),
        created_at: at,
        updated_at: at,
    };
    diesel::insert_into(connectors::table)
        .values(&row)
        .execute(conn)?;
    Ok(row)
}

/// Creates a connector with a new `con_` id and its audit event in one
/// transaction.
pub fn create(
    conn: &mut AnyConnection,
    organization_id: &str,
    input: &NewConnector,
    audit: AuditEvent,
) -> Result<ConnectorRow, ApiError> {
    conn.transaction(|conn| {
        check_references(
            conn,
            organization_id,
            input.api_key_id.as_deref(),
            input.api_key_secret_id.as_deref(),
        )?;
        let row = insert(conn, organization_id, &new_id("con_"), input)?;
        audit.for_resource(&row.id).record(conn)?;
        Ok(row)
    })
}

/// Filters of the list operation.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Only this service type.
    pub service_type: Option<String>,
    /// Only this index.
    pub index_name: Option<String>,
}

/// One page of an organization's connectors by id; fetches one extra row so
/// the caller can tell whether there is a next page.
pub fn list(
    conn: &mut AnyConnection,
    organization_id: &str,
    filter: &ListFilter,
    page: &Page,
) -> Result<Vec<ConnectorRow>, ApiError> {
    let mut query = connectors::table
        .filter(connectors::organization_id.eq(organization_id))
        .select(ConnectorRow::as_select())
        .order(connectors::id.asc())
        .limit(page.limit + 1)
        .into_boxed();
    if let Some(service_type) = &filter.service_type {
        query = query.filter(connectors::service_type.eq(service_type.clone()));
    }
    if let Some(index_name) = &filter.index_name {
        query = query.filter(connectors::index_name.eq(index_name.clone()));
    }
    if let Some(after) = &page.after {
        query = query.filter(connectors::id.gt(after.clone()));
    }
    Ok(query.load(conn)?)
}

/// Takes a connector for the write's transaction (`db::version::lock`);
/// then load it.
fn lock(conn: &mut AnyConnection, organization_id: &str, id: &str) -> QueryResult<()> {
    version::lock(
        conn,
        connectors::table
            .filter(connectors::organization_id.eq(organization_id))
            .filter(connectors::id.eq(id)),
    )
}

/// Filters of [`search`], the offset-paged list with a total: each list
/// matches any of its values (none: no filter), and `text` matches a
/// connector whose name, description or index name holds it, ignoring case.
#[derive(Debug, Clone, Default)]
pub struct SearchFilter {
    /// Only connectors with one of these names.
    pub names: Vec<String>,
    /// Only connectors writing to one of these indices.
    pub index_names: Vec<String>,
    /// Only connectors of one of these service types.
    pub service_types: Vec<String>,
    /// Only connectors whose name, description or index name contains it.
    pub text: Option<String>,
}

diesel::define_sql_function! {
    /// SQL `lower()`, the same on both backends (SQLite's `LIKE` ignores
    /// ASCII case and PostgreSQL's does not, so both sides are lowered).
    fn lower(x: diesel::sql_types::Nullable<diesel::sql_types::Text>) -> diesel::sql_types::Nullable<diesel::sql_types::Text>;
}

/// `text` as a `LIKE` pattern matching it anywhere, its own `%`, `_` and
/// `\` escaped (with `ESCAPE '\'`).
fn contains_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// Offset paging for clients that page by position and want a total
/// (Elasticsearch's `from`/`size` and `count`): the organization's
/// connectors matching `filter` in id order, `limit` of them after skipping
/// `offset`, and how many match in all, read in one transaction so the two
/// agree.
pub fn search(
    conn: &mut AnyConnection,
    organization_id: &str,
    filter: &SearchFilter,
    offset: i64,
    limit: i64,
) -> Result<(Vec<ConnectorRow>, i64), ApiError> {
    let matching = || {
        let mut query = connectors::table
            .filter(connectors::organization_id.eq(organization_id))
            .into_boxed();
        if !filter.names.is_empty() {
            query = query.filter(connectors::name.eq_any(filter.names.clone()));
        }
        if !filter.index_names.is_empty() {
            query = query.filter(connectors::index_name.eq_any(filter.index_names.clone()));
        }
        if !filter.service_types.is_empty() {
            query = query.filter(connectors::service_type.eq_any(filter.service_types.clone()));
        }
        if let Some(text) = &filter.text {
            let pattern = contains_pattern(text);
            query = query.filter(
                lower(connectors::name)
                    .like(pattern.clone())
                    .escape('\\')
                    .or(lower(connectors::description)
                        .like(pattern.clone())
                        .escape('\\'))
                    .or(lower(connectors::index_name).like(pattern).escape('\\')),
            );
        }
        query
    };
    conn.transaction(|conn| {
        let total: i64 = matching().count().get_result(conn)?;
        let rows = matching()
            .select(ConnectorRow::as_select())
            .order(connectors::id.asc())
            .offset(offset)
            .limit(limit)
            .load(conn)?;
        Ok((rows, total))
    })
}

/// One connector of the organization, if there is one.
pub fn find(
    conn: &mut AnyConnection,
    organization_id: &str,
    id: &str,
) -> Result<Option<ConnectorRow>, ApiError> {
    Ok(connectors::table
        .filter(connectors::organization_id.eq(organization_id))
        .filter(connectors::id.eq(id))
        .select(ConnectorRow::as_select())
        .first(conn)
        .optional()?)
}

/// One connector of the organization, or 404.
pub fn get(
    conn: &mut AnyConnection,
    organization_id: &str,
    id: &str,
) -> Result<ConnectorRow, ApiError> {
    find(conn, organization_id, id)?.ok_or_else(|| ApiError::not_found("connector", id))
}

fn write(
    conn: &mut AnyConnection,
    organization_id: &str,
    id: &str,
    mut changes: ConnectorChanges,
) -> Result<ConnectorRow, ApiError> {
    changes.updated_at = Some(now().naive_utc());
    diesel::update(
        connectors::table
            .filter(connectors::organization_id.eq(organization_id))
            .filter(connectors::id.eq(id)),
    )
    .set(&changes)
    .execute(conn)?;
    get(conn, organization_id, id)
}

/// Creates the connector with the caller's id, or replaces every field of
/// the existing one; with its audit event, in one transaction. A
/// precondition (`conditional`: the request had `If-Match`) fails with 412
/// when there is no connector to match.
pub fn put(
    conn: &mut AnyConnection,
    organization_id: &str,
    id: &str,
    input: &NewConnector,
    if_match: &IfMatch,
    conditional: bool,
    audit: AuditEvent,
) -> Result<(ConnectorRow, Put), ApiError> {
    let changes = input.replacing();
    put_as(
        conn,
        organization_id,
        id,
        input,
        changes,
        if_match,
        conditional,
        audit,
    )
}

/// Creates the connector with the caller's id, or replaces the descriptive
/// fields of the existing one (name, description, index, service type)
/// and keeps its API key and secret: a replace from a client whose body
/// has no API key fields (the Elasticsearch dialect's `PUT
/// /_connector/{id}`, whose keys are set by `_api_key_id`). With its audit
/// event, in one transaction.
pub fn put_keeping_api_key(
    conn: &mut AnyConnection,
    organization_id: &str,
    id: &str,
    input: &NewConnector,
    audit: AuditEvent,
) -> Result<(ConnectorRow, Put), ApiError> {
    let changes = input.replacing_details();
    let unconditional = IfMatch::parse(None);
    put_as(
        conn,
        organization_id,
        id,
        input,
        changes,
        &unconditional,
        false,
        audit,
    )
}

#[expect(
    clippy::too_many_arguments,
    reason = "the two public forms of put differ only in the changeset"
)]
fn put_as(
    conn: &mut AnyConnection,
    organization_id: &str,
    id: &str,
    input: &NewConnector,
    replacing: ConnectorChanges,
    if_match: &IfMatch,
    conditional: bool,
    audit: AuditEvent,
) -> Result<(ConnectorRow, Put), ApiError> {
    conn.transaction(|conn| {
        lock(conn, organization_id, id)?;
        let current = find(conn, organization_id, id)?;
        check_references(
            conn,
            organization_id,
            input.api_key_id.as_deref(),
            input.api_key_secret_id.as_deref(),
        )?;
        let done = match current {
            None if conditional => return Err(ApiError::PreconditionFailed),
            None => (insert(conn, organization_id, id, input)?, Put::Created),
            Some(current) => {
                if_match.check(&current.etag())?;
                let row = write(conn, organization_id, id, replacing)?;
                (row, Put::Replaced)
            }
        };
        audit.record(conn)?;
        Ok(done)
    })
}

/// Applies PATCH changes after checking `If-Match`, with the audit event, in
/// one transaction.
pub fn update(
    conn: &mut AnyConnection,
    organization_id: &str,
    id: &str,
    if_match: &IfMatch,
    changes: ConnectorChanges,
    audit: AuditEvent,
) -> Result<ConnectorRow, ApiError> {
    conn.transaction(|conn| {
        lock(conn, organization_id, id)?;
        let current = get(conn, organization_id, id)?;
        if_match.check(&current.etag())?;
        let row = write(conn, organization_id, id, changes)?;
        audit.record(conn)?;
        Ok(row)
    })
}

/// Sets or clears the connector's `api_key_id` and `api_key_secret_id`
/// (`changes` carries only those), after checking the references and
/// `If-Match`. Returns the connector and whether anything changed: when
/// nothing would, nothing is written, not even an audit event.
pub fn update_api_key_id(
    conn: &mut AnyConnection,
    organization_id: &str,
    id: &str,
    if_match: &IfMatch,
    changes: ConnectorChanges,
    audit: AuditEvent,
) -> Result<(ConnectorRow, bool), ApiError> {
    conn.transaction(|conn| {
        lock(conn, organization_id, id)?;
        let current = get(conn, organization_id, id)?;
        check_references(
            conn,
            organization_id,
            changes.api_key_id.as_ref().and_then(Option::as_deref),
            changes
                .api_key_secret_id
                .as_ref()
                .and_then(Option::as_deref),
        )?;
        if_match.check(&current.etag())?;
        if changes.is_noop_for(&current) {
            return Ok((current, false));
        }
        let row = write(conn, organization_id, id, changes)?;
        audit.record(conn)?;
        Ok((row, true))
    })
}

/// Deletes a connector after checking `If-Match`, with the audit event, in
/// one transaction. The API key and secret it names are left alone.
pub fn delete(
    conn: &mut AnyConnection,
    organization_id: &str,
    id: &str,
    if_match: &IfMatch,
    audit: AuditEvent,
) -> Result<(), ApiError> {
    conn.transaction(|conn| {
        lock(conn, organization_id, id)?;
        let current = get(conn, organization_id, id)?;
        if_match.check(&current.etag())?;
        diesel::delete(
            connectors::table
                .filter(connectors::organization_id.eq(organization_id))
                .filter(connectors::id.eq(id)),
        )
        .execute(conn)?;
        audit.record(conn)?;
        Ok(())
    })
}
