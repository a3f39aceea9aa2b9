//! The tenants API's part of the OpenAPI document: the request bodies (validated field by field
//! from a JSON object in [`super::validate`], so described here) and the fragment.

use super::model::{AfterHours, BusinessHours, TenantStatus};
use crate::twilio::E164;
use chrono::NaiveDate;
use utoipa::ToSchema;

/// `POST /api/tenants`: `slug`, `name` and `timezone` are required; every other setting
/// defaults (DESIGN.md §4). Unknown fields are refused (422).
#[derive(ToSchema, serde::Serialize)]
#[allow(dead_code)]
#[schema(example = json!({"slug": "acme", "name": "Acme Plumbing", "timezone": "America/New_York",
    "owner_number": "+12025550100", "business_hours": {"mon": [["09:00", "17:00"]]}, "holidays": ["2026-12-25"]}))]
pub struct NewTenant {
    /// 2–63 characters of a-z, 0-9 and `-`, not starting with `-`; unique.
    #[schema(pattern = "^[a-z0-9][a-z0-9-]{1,62}$")]
    slug: String,
    /// 1–200 characters.
    #[schema(min_length = 1, max_length = 200)]
    name: String,
    /// An IANA timezone (`America/New_York`).
    timezone: String,
    #[serde(flatten)]
    settings: TenantSettings,
}

/// `PATCH /api/tenants/{tenant}`: any subset of the settings. Unknown fields are refused (422).
#[derive(ToSchema, serde::Serialize)]
#[allow(dead_code)]
#[schema(example = json!({"dial_timeout_secs": 25, "after_hours": "message"}))]
pub struct TenantPatch {
    /// 2–63 characters of a-z, 0-9 and `-`, not starting with `-`; unique.
    #[schema(pattern = "^[a-z0-9][a-z0-9-]{1,62}$", nullable = false)]
    slug: Option<String>,
    /// 1–200 characters.
    #[schema(min_length = 1, max_length = 200, nullable = false)]
    name: Option<String>,
    /// An IANA timezone.
    #[schema(nullable = false)]
    timezone: Option<String>,
    #[serde(flatten)]
    settings: TenantSettings,
}

/// The optional settings of a create or a change.
#[derive(ToSchema, serde::Serialize)]
#[allow(dead_code)]
pub struct TenantSettings {
    /// `active` (default) or `suspended`.
    #[schema(nullable = false)]
    status: Option<TenantStatus>,
    /// Whose phone rings; `null` for none.
    #[schema(nullable)]
    owner_number: Option<E164>,
    /// Days session recordings are kept (1–3650), then deleted, at Twilio too; `null` (default)
    /// keeps them until deleted by hand.
    #[schema(nullable, minimum = 1, maximum = 3650)]
    recording_retention_days: Option<i32>,
    /// Seconds the owner's phone rings: 5–600 (default 20).
    #[schema(minimum = 5, maximum = 600, nullable = false)]
    dial_timeout_secs: Option<i32>,
    /// Opening hours; `null` = open around the clock (default).
    #[schema(nullable)]
    business_hours: Option<BusinessHours>,
    /// Closed days (`YYYY-MM-DD`).
    #[schema(nullable = false)]
    holidays: Option<Vec<NaiveDate>>,
    /// What a call outside business hours gets (default `voicemail`).
    #[schema(nullable = false)]
    after_hours: Option<AfterHours>,
    /// Ask the owner to press 1 before connecting (default false).
    #[schema(nullable = false)]
    screen_forwarded_calls: Option<bool>,
    /// Any subset of `{enabled, template (1–320 characters, {business}), window_hours (1–720)}`.
    #[schema(nullable = false)]
    text_back: Option<TextBackPatch>,
    /// Who is phoned to approve crises, in order (at most 20).
    #[schema(max_items = 20, nullable = false)]
    duty_officers: Option<Vec<E164>>,
    /// Any subset of `{risk_threshold (0–5), timeout_secs (10–86400)}`.
    #[schema(nullable = false)]
    approval: Option<ApprovalPatch>,
    /// Seconds an `emergency` siren may stay active before the duty officers are texted (10–86400, default 120).
    #[schema(minimum = 10, maximum = 86400, nullable = false)]
    siren_escalate_after_secs: Option<i32>,
    /// Live outbound calls at once, across every run (1–1000, default 3).
    #[schema(minimum = 1, maximum = 1000, nullable = false)]
    outbound_max_concurrent: Option<i32>,
}

/// A change of the text-back settings.
#[derive(ToSchema, serde::Serialize)]
#[allow(dead_code)]
pub struct TextBackPatch {
    /// Whether missed calls are texted back.
    #[schema(nullable = false)]
    enabled: Option<bool>,
    /// 1–320 characters; `{business}` is replaced by the tenant's name.
    #[schema(min_length = 1, max_length = 320, nullable = false)]
    template: Option<String>,
    /// At most one text-back per caller within this many hours.
    #[schema(minimum = 1, maximum = 720, nullable = false)]
    window_hours: Option<i32>,
}

/// A change of the approval settings.
#[derive(ToSchema, serde::Serialize)]
#[allow(dead_code)]
pub struct ApprovalPatch {
    /// Crises at or above this risk need a duty officer's approval.
    #[schema(minimum = 0, maximum = 5, nullable = false)]
    risk_threshold: Option<f64>,
    /// Undecided crises expire after this many seconds.
    #[schema(minimum = 10, maximum = 86400, nullable = false)]
    timeout_secs: Option<i32>,
}

/// `POST /api/tenants/{tenant}/numbers`.
#[derive(ToSchema, serde::Serialize)]
#[allow(dead_code)]
#[schema(example = json!({"number": "+12025550199", "label": "main line"}))]
pub struct NewNumber {
    /// The number (E.164); it belongs to one tenant.
    number: E164,
    /// `primary` or `secondary`; the tenant's first number becomes `primary`.
    #[schema(value_type = Option<String>, pattern = "^(primary|secondary)$", nullable = false)]
    role: Option<String>,
    /// `provisioning`, `active` (default) or `released`.
    #[schema(value_type = Option<String>, pattern = "^(provisioning|active|released)$", nullable = false)]
    status: Option<String>,
    /// At most 100 characters.
    #[schema(max_length = 100, nullable)]
    label: Option<String>,
}

/// The tenants API: tenants, numbers and keys.
#[derive(utoipa::OpenApi)]
#[openapi(
    components(schemas(super::model::NumberRole, super::model::NumberStatus)),
    paths(
        super::handlers::create_tenant,
        super::handlers::list_tenants,
        super::handlers::get_tenant,
        super::handlers::patch_tenant,
        super::handlers::add_number,
        super::handlers::list_numbers,
        super::handlers::delete_number,
        super::keys::create,
        super::keys::list,
        super::keys::revoke,
    )
)]
pub struct Api;
