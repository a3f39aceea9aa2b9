//! Tenant and number rows. Every function takes the caller's connection (a tenant-scoped
//! transaction, or the system path for superadmin listings) and an explicit `TenantId` where it
//! reads or writes one tenant's data.

use super::model::{AfterHours, Approval, BusinessHours, Settings, Tenant, TenantId, TenantStatus, TextBack};
use super::model::{NumberRole, NumberStatus};
use super::validate::{after_hours_name, status_name};
use crate::pagination::Keyset;
use crate::twilio::E164;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

/// The tenant columns, as a literal so queries stay `&'static str` (sqlx refuses dynamic SQL).
macro_rules! tenant_columns {
    ($p:literal) => {
        concat!(
            $p,
            "id, ",
            $p,
            "slug, ",
            $p,
            "name, ",
            $p,
            "status, ",
            $p,
            "timezone, ",
            $p,
            "owner_number, ",
            $p,
            "dial_timeout_secs, ",
            $p,
            "business_hours, ",
            $p,
            "holidays, ",
            $p,
            "after_hours, ",
            $p,
            "screen_forwarded_calls, ",
            $p,
            "text_back_enabled, ",
            $p,
            "text_back_template, ",
            $p,
            "text_back_window_hours, ",
            $p,
            "duty_officers, ",
            $p,
            "approval_risk_threshold, ",
            $p,
            "approval_timeout_secs, ",
            $p,
            "siren_escalate_after_secs, ",
            "recording_retention_days, ",
            "outbound_max_concurrent, ",
            $p,
            "created_at, ",
            $p,
            "updated_at"
        )
    };
}

macro_rules! number_columns {
    () => {
        "number, role, status, label, created_at, updated_at"
    };
}

#[derive(sqlx::FromRow)]
struct TenantRow {
    id: Uuid,
    slug: String,
    name: String,
    status: String,
    timezone: String,
    owner_number: Option<String>,
    dial_timeout_secs: i32,
    business_hours: Option<serde_json::Value>,
    holidays: Vec<NaiveDate>,
    after_hours: String,
    screen_forwarded_calls: bool,
    text_back_enabled: bool,
    text_back_template: String,
    text_back_window_hours: i32,
    duty_officers: Vec<String>,
    approval_risk_threshold: f64,
    approval_timeout_secs: i32,
    siren_escalate_after_secs: i32,
    recording_retention_days: Option<i32>,
    outbound_max_concurrent: i32,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<TenantRow> for Tenant {
    fn from(r: TenantRow) -> Tenant {
        let settings = Settings {
            slug: r.slug,
            name: r.name,
            status: if r.status == "suspended" { TenantStatus::Suspended } else { TenantStatus::Active },
            timezone: r.timezone,
            owner_number: r.owner_number.and_then(|n| E164::parse(&n).ok()),
            dial_timeout_secs: r.dial_timeout_secs,
            business_hours: r.business_hours.and_then(|v| serde_json::from_value::<BusinessHours>(v).ok()),
            holidays: r.holidays,
            after_hours: match r.after_hours.as_str() {
                "message" => AfterHours::Message,
                "forward" => AfterHours::Forward,
                _ => AfterHours::Voicemail,
            },
            screen_forwarded_calls: r.screen_forwarded_calls,
            text_back: TextBack {
                enabled: r.text_back_enabled,
                template: r.text_back_template,
                window_hours: r.text_back_window_hours,
            },
            duty_officers: r.duty_officers.iter().filter_map(|n| E164::parse(n).ok()).collect(),
            approval: Approval {
                risk_threshold: r.approval_risk_threshold,
                timeout_secs: r.approval_timeout_secs,
            },
            siren_escalate_after_secs: r.siren_escalate_after_secs,
            recording_retention_days: r.recording_retention_days,
            outbound_max_concurrent: r.outbound_max_concurrent,
        };
        Tenant { id: TenantId(r.id), settings, created_at: r.created_at, updated_at: r.updated_at }
    }
}

/// Inserts a tenant.
pub async fn insert_tenant(
    conn: &mut PgConnection,
    id: TenantId,
    s: &Settings,
    now: DateTime<Utc>,
) -> Result<Tenant, sqlx::Error> {
    let sql = concat!(
        "INSERT INTO tenant (",
        tenant_columns!(""),
        ")
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $21)
         RETURNING ",
        tenant_columns!("")
    );
    let row: TenantRow =
        bind_settings(sqlx::query_as(sql).bind(id.uuid()), s).bind(now).fetch_one(conn).await?;
    Ok(row.into())
}

/// Replaces a tenant's settings; `None` if it does not exist (or is not visible).
pub async fn update_tenant(
    conn: &mut PgConnection,
    id: TenantId,
    s: &Settings,
    now: DateTime<Utc>,
) -> Result<Option<Tenant>, sqlx::Error> {
    let sql = concat!(
        "UPDATE tenant SET slug = $2, name = $3, status = $4, timezone = $5, owner_number = $6,
           dial_timeout_secs = $7, business_hours = $8, holidays = $9, after_hours = $10,
           screen_forwarded_calls = $11, text_back_enabled = $12, text_back_template = $13,
           text_back_window_hours = $14, duty_officers = $15, approval_risk_threshold = $16,
           approval_timeout_secs = $17, siren_escalate_after_secs = $18,
           recording_retention_days = $19, outbound_max_concurrent = $20,
           updated_at = $21
         WHERE id = $1 RETURNING ",
        tenant_columns!("")
    );
    let row: Option<TenantRow> =
        bind_settings(sqlx::query_as(sql).bind(id.uuid()), s).bind(now).fetch_optional(conn).await?;
    Ok(row.map(Into::into))
}

type TenantQuery<'q> = sqlx::query::QueryAs<'q, sqlx::Postgres, TenantRow, sqlx::postgres::PgArguments>;

fn bind_settings<'q>(query: TenantQuery<'q>, s: &'q Settings) -> TenantQuery<'q> {
    query
        .bind(&s.slug)
        .bind(&s.name)
        .bind(status_name(s.status))
        .bind(&s.timezone)
        .bind(s.owner_number.as_ref().map(E164::as_str))
        .bind(s.dial_timeout_secs)
        .bind(s.business_hours.as_ref().and_then(|h| serde_json::to_value(h).ok()))
        .bind(&s.holidays)
        .bind(after_hours_name(s.after_hours))
        .bind(s.screen_forwarded_calls)
        .bind(s.text_back.enabled)
        .bind(&s.text_back.template)
        .bind(s.text_back.window_hours)
        .bind(s.duty_officers.iter().map(|n| n.as_str().to_owned()).collect::<Vec<_>>())
        .bind(s.approval.risk_threshold)
        .bind(s.approval.timeout_secs)
        .bind(s.siren_escalate_after_secs)
        .bind(s.recording_retention_days)
        .bind(s.outbound_max_concurrent)
}

/// One tenant, if visible.
pub async fn find_tenant(conn: &mut PgConnection, id: TenantId) -> Result<Option<Tenant>, sqlx::Error> {
    let row: Option<TenantRow> =
        sqlx::query_as(concat!("SELECT ", tenant_columns!(""), " FROM tenant WHERE id = $1"))
            .bind(id.uuid())
            .fetch_optional(conn)
            .await?;
    Ok(row.map(Into::into))
}

/// Tenants after the cursor, oldest first (superadmin listing: system path).
pub async fn list_tenants(conn: &mut PgConnection, keys: &Keyset<Uuid>) -> Result<Vec<Tenant>, sqlx::Error> {
    let (at, id) = keys.after.unzip();
    let rows: Vec<TenantRow> = sqlx::query_as(concat!(
        "SELECT ",
        tenant_columns!(""),
        " FROM tenant
         WHERE ($1::timestamptz IS NULL OR (created_at, id) > ($1, $2))
         ORDER BY created_at, id LIMIT $3"
    ))
    .bind(at)
    .bind(id)
    .bind(keys.fetch())
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// A tenant's phone number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Number {
    /// E.164.
    pub number: String,
    /// Its role.
    #[sqlx(try_from = "String")]
    pub role: NumberRole,
    /// Whether it is in service.
    #[sqlx(try_from = "String")]
    pub status: NumberStatus,
    /// A label.
    pub label: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// Adds a number to a tenant (a number another tenant owns violates the primary key: 409).
pub async fn insert_number(
    conn: &mut PgConnection,
    tenant: TenantId,
    number: &E164,
    role: NumberRole,
    status: NumberStatus,
    label: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Number, sqlx::Error> {
    sqlx::query_as(concat!(
        "INSERT INTO tenant_number (number, tenant_id, role, status, label, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING ",
        number_columns!()
    ))
    .bind(number.as_str())
    .bind(tenant.uuid())
    .bind(role.as_str())
    .bind(status.as_str())
    .bind(label)
    .bind(now)
    .fetch_one(conn)
    .await
}

/// A tenant's numbers after the cursor.
pub async fn list_numbers(
    conn: &mut PgConnection,
    tenant: TenantId,
    keys: &Keyset<String>,
) -> Result<Vec<Number>, sqlx::Error> {
    let (at, number) = keys.after.clone().unzip();
    sqlx::query_as(concat!(
        "SELECT ",
        number_columns!(),
        " FROM tenant_number WHERE tenant_id = $1
           AND ($2::timestamptz IS NULL OR (created_at, number) > ($2, $3))
         ORDER BY created_at, number LIMIT $4"
    ))
    .bind(tenant.uuid())
    .bind(at)
    .bind(number)
    .bind(keys.fetch())
    .fetch_all(conn)
    .await
}

/// Removes a tenant's number; `false` if it has no such number.
pub async fn delete_number(
    conn: &mut PgConnection,
    tenant: TenantId,
    number: &E164,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM tenant_number WHERE tenant_id = $1 AND number = $2")
        .bind(tenant.uuid())
        .bind(number.as_str())
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// A called number's tenant and the number's own state.
#[derive(Debug, Clone, PartialEq)]
pub struct NumberRoute {
    /// The owning tenant.
    pub tenant: Tenant,
    /// The number's role.
    pub role: NumberRole,
    /// Whether the number is in service.
    pub status: NumberStatus,
}

#[derive(sqlx::FromRow)]
struct RouteRow {
    #[sqlx(flatten)]
    tenant: TenantRow,
    #[sqlx(try_from = "String")]
    number_role: NumberRole,
    #[sqlx(try_from = "String")]
    number_status: NumberStatus,
}

/// The tenant owning `number`, whoever it is (called from the system path only).
pub async fn find_by_number(
    conn: &mut PgConnection,
    number: &E164,
) -> Result<Option<NumberRoute>, sqlx::Error> {
    let row: Option<RouteRow> = sqlx::query_as(concat!(
        "SELECT ",
        tenant_columns!("t."),
        ", n.role AS number_role, n.status AS number_status
         FROM tenant_number n JOIN tenant t ON t.id = n.tenant_id WHERE n.number = $1"
    ))
    .bind(number.as_str())
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| NumberRoute { tenant: r.tenant.into(), role: r.number_role, status: r.number_status }))
}

/// One tenant, locked for a read-modify-write (PATCH).
pub async fn lock_tenant(conn: &mut PgConnection, id: TenantId) -> Result<Option<Tenant>, sqlx::Error> {
    let row: Option<TenantRow> =
        sqlx::query_as(concat!("SELECT ", tenant_columns!(""), " FROM tenant WHERE id = $1 FOR UPDATE"))
            .bind(id.uuid())
            .fetch_optional(conn)
            .await?;
    Ok(row.map(Into::into))
}

/// Whether the tenant has a primary number.
pub async fn has_primary(conn: &mut PgConnection, tenant: TenantId) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM tenant_number WHERE tenant_id = $1 AND role = 'primary')",
    )
    .bind(tenant.uuid())
    .fetch_one(conn)
    .await
}

/// The tenant's active primary number (the caller id of what we create), if any.
pub async fn primary_number(
    conn: &mut PgConnection,
    tenant: TenantId,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT number FROM tenant_number WHERE tenant_id = $1 AND role = 'primary' AND status = 'active'",
    )
    .bind(tenant.uuid())
    .fetch_optional(conn)
    .await
}

/// How a called number routes, read across tenants (webhooks do not know the tenant yet).
///
/// Unscoped (system path).
pub async fn route_number(db: &sqlx::PgPool, number: &E164) -> Result<Option<NumberRoute>, sqlx::Error> {
    let mut conn = db.acquire().await?;
    find_by_number(&mut conn, number).await
}

impl crate::pagination::Keyed for Number {
    fn sort_key(&self) -> crate::pagination::Cursor {
        crate::pagination::Cursor { at: self.created_at, id: self.number.clone() }
    }
}
