//! The tenant resource (DESIGN.md §4) and its settings.

use crate::twilio::E164;
use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub use crate::ids::TenantId;

crate::filters::closed_set!(
    /// A number's role: calls to either ring the business; texts and officer calls go out from
    /// the primary (one per tenant).
    pub NumberRole {
        /// The tenant's main number.
        Primary => "primary",
        /// Any other number.
        Secondary => "secondary",
    }
);

crate::filters::closed_set!(
    /// Whether a number is in service. Only `active` numbers route calls; the status is set when
    /// the number is added (the API has no route that changes it: a number is removed instead).
    pub NumberStatus {
        /// Being set up at Twilio.
        Provisioning => "provisioning",
        /// In service.
        Active => "active",
        /// Given back.
        Released => "released",
    }
);

impl TryFrom<String> for NumberRole {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        NumberRole::parse(&value).ok_or(value)
    }
}

impl TryFrom<String> for NumberStatus {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        NumberStatus::parse(&value).ok_or(value)
    }
}

/// Whether the tenant's numbers are in service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TenantStatus {
    /// In service.
    Active,
    /// Calls hear "not in service".
    Suspended,
}

/// What a call outside business hours gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AfterHours {
    /// A greeting and a recording.
    Voicemail,
    /// A message, then hang up.
    Message,
    /// Ring the owner anyway.
    Forward,
}

/// Opening hours per weekday (`mon`…`sun`), in the tenant's timezone. A day that is absent or
/// empty is closed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BusinessHours(pub BTreeMap<String, Vec<[String; 2]>>);

/// The weekday keys, Monday first.
pub const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

impl utoipa::PartialSchema for BusinessHours {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
        let day = || {
            let time = ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some("^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$"));
            ArrayBuilder::new().items(ArrayBuilder::new().items(time).min_items(Some(2)).max_items(Some(2)))
        };
        DAYS.iter()
            .fold(ObjectBuilder::new().schema_type(Type::Object), |o, d| o.property(*d, day()))
            .additional_properties(Some(utoipa::openapi::schema::AdditionalProperties::FreeForm(false)))
            .description(Some("Per weekday a list of `[\"HH:MM\", \"HH:MM\"]` intervals in the tenant's timezone (`24:00` allowed as an end, start before end); a day absent or empty is closed"))
            .examples([serde_json::json!({"mon": [["09:00", "17:00"]], "tue": [["09:00", "17:00"]]})])
            .into()
    }
}

impl utoipa::ToSchema for BusinessHours {}

impl BusinessHours {
    /// Whether `at` (local time) falls in an interval of its weekday. `24:00` closes at midnight.
    pub fn is_open_at(&self, weekday: chrono::Weekday, time: NaiveTime) -> bool {
        let day = DAYS[weekday.num_days_from_monday() as usize];
        self.0.get(day).is_some_and(|intervals| {
            intervals.iter().any(|[start, end]| {
                let start = parse_time(start);
                let end = if end == "24:00" { None } else { parse_time(end) };
                start.is_some_and(|s| time >= s && end.is_none_or(|e| time < e))
            })
        })
    }
}

/// `HH:MM`.
pub fn parse_time(value: &str) -> Option<NaiveTime> {
    NaiveTime::parse_from_str(value, "%H:%M").ok().filter(|_| value.len() == 5)
}

/// Missed-call text-back settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TextBack {
    /// Whether missed calls are texted back.
    pub enabled: bool,
    /// The text; `{business}` is replaced by the tenant's name.
    pub template: String,
    /// At most one text-back per caller within this many hours (1–720).
    #[schema(minimum = 1, maximum = 720)]
    pub window_hours: i32,
}

/// Crisis approval settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Approval {
    /// Crises at or above this risk need a duty officer's approval (0–5).
    #[schema(minimum = 0, maximum = 5)]
    pub risk_threshold: f64,
    /// Undecided crises expire after this many seconds (10–86400).
    #[schema(minimum = 10, maximum = 86400)]
    pub timeout_secs: i32,
}

/// A tenant's settings (everything but identity and timestamps).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Settings {
    /// URL-friendly unique name.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// Active or suspended.
    pub status: TenantStatus,
    /// IANA timezone of the business hours.
    pub timezone: String,
    /// Whose phone rings for inbound calls.
    pub owner_number: Option<E164>,
    /// Seconds the owner's phone rings (5–600).
    #[schema(minimum = 5, maximum = 600)]
    pub dial_timeout_secs: i32,
    /// Opening hours; `None` = open around the clock.
    pub business_hours: Option<BusinessHours>,
    /// Closed days.
    pub holidays: Vec<NaiveDate>,
    /// What happens when closed.
    pub after_hours: AfterHours,
    /// Ask the owner to press 1 before connecting (tells a person from carrier voicemail).
    pub screen_forwarded_calls: bool,
    /// Missed-call text-back.
    pub text_back: TextBack,
    /// Who is phoned to approve crises, in order.
    pub duty_officers: Vec<E164>,
    /// Crisis approval.
    pub approval: Approval,
    /// An `emergency` siren still active this many seconds after it was raised texts the duty
    /// officers (10–86400).
    #[schema(minimum = 10, maximum = 86400)]
    pub siren_escalate_after_secs: i32,
    /// Session recordings older than this many days are deleted (at Twilio too); `None` keeps
    /// them until deleted by hand.
    #[schema(minimum = 1, maximum = 3650)]
    pub recording_retention_days: Option<i32>,
    /// Live outbound calls this business may have at once, across every run and replica (1–1000).
    #[schema(minimum = 1, maximum = 1000)]
    pub outbound_max_concurrent: i32,
}

/// The stock text-back template.
pub const DEFAULT_TEMPLATE: &str = "Sorry we missed your call. We will call you back soon. {business}";

impl Settings {
    /// The defaults of DESIGN.md §4 for a new tenant.
    pub fn new(slug: String, name: String, timezone: String) -> Self {
        Settings {
            slug,
            name,
            status: TenantStatus::Active,
            timezone,
            owner_number: None,
            dial_timeout_secs: 20,
            business_hours: None,
            holidays: Vec::new(),
            after_hours: AfterHours::Voicemail,
            screen_forwarded_calls: false,
            text_back: TextBack { enabled: true, template: DEFAULT_TEMPLATE.into(), window_hours: 24 },
            duty_officers: Vec::new(),
            approval: Approval { risk_threshold: 4.0, timeout_secs: 900 },
            siren_escalate_after_secs: 120,
            recording_retention_days: None,
            outbound_max_concurrent: 3,
        }
    }

    /// Whether the business is open at `now` (holidays and hours in its timezone).
    pub fn is_open(&self, now: DateTime<Utc>) -> bool {
        let tz: Tz = self.timezone.parse().unwrap_or(Tz::UTC);
        let local = now.with_timezone(&tz);
        if self.holidays.contains(&local.date_naive()) {
            return false;
        }
        match &self.business_hours {
            None => true,
            Some(hours) => hours.is_open_at(local.weekday(), local.time()),
        }
    }
}

/// The tenant resource.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Tenant {
    /// Its id.
    pub id: TenantId,
    /// Its settings, flattened into the resource.
    #[serde(flatten)]
    pub settings: Settings,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

impl crate::pagination::Keyed for Tenant {
    fn sort_key(&self) -> crate::pagination::Cursor {
        crate::pagination::Cursor { at: self.created_at, id: self.id.to_string() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Weekday;

    fn hours(end: &str) -> BusinessHours {
        BusinessHours(BTreeMap::from([("mon".to_owned(), vec![["22:00".to_owned(), end.to_owned()]])]))
    }

    #[test]
    fn an_interval_ending_at_24_00_is_open_until_midnight() {
        let time = |t: &str| NaiveTime::parse_from_str(t, "%H:%M:%S").expect("time");
        let late = hours("24:00");
        assert!(late.is_open_at(Weekday::Mon, time("23:59:59")));
        assert!(late.is_open_at(Weekday::Mon, time("22:00:00")));
        assert!(!late.is_open_at(Weekday::Mon, time("21:59:59")));
        assert!(!late.is_open_at(Weekday::Tue, time("00:00:00")), "midnight is the next day's");
        let earlier = hours("23:00");
        assert!(!earlier.is_open_at(Weekday::Mon, time("23:00:00")), "an end is exclusive");
    }
}
