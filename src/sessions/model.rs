//! The session resource and the validation of a booking.

use super::machine::{LegStatus, Party, SessionStatus};
use super::when;
use crate::error::{ApiError, FieldError};
use crate::ids::TenantId;
use crate::twilio::E164;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Longest session that can be booked, in minutes.
pub const MAX_DURATION_MINUTES: i32 = 720;

/// A party as booked: whose subject, and where to call them.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
pub struct NewParty {
    /// The party's subject in the booking system (the `subject` of their API key), 1–128 characters.
    #[schema(min_length = 1, max_length = 128)]
    pub subject: String,
    /// An E.164 number (`+33612345678`, spaces and dashes tolerated) or a `sip:` URI.
    pub number: String,
}

/// `POST /api/calls/schedule`.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[schema(example = json!({"order_id": "ord_123", "client": {"subject": "u_1", "number": "+33612345678"},
    "reader": {"subject": "u_2", "number": "+12025550143"}, "scheduled_at": "2026-12-01T18:00:00",
    "timezone": "Europe/Paris", "duration_minutes": 30, "record": true, "auto_start": false}))]
pub struct NewSession {
    /// The order the call was booked through (1–128 characters); one active session per order.
    #[schema(min_length = 1, max_length = 128)]
    pub order_id: String,
    /// The client.
    pub client: NewParty,
    /// The reader.
    pub reader: NewParty,
    /// When: with an offset (`2026-12-01T18:00:00+01:00`), or a local time with `timezone`.
    pub scheduled_at: String,
    /// The IANA zone of a local `scheduled_at` (`Europe/Paris`).
    #[serde(default)]
    pub timezone: Option<String>,
    /// The paid length, 1–720 minutes: past it the parties hear a one-minute warning, then the call ends.
    #[schema(minimum = 1, maximum = 720)]
    pub duration_minutes: i32,
    /// Whether the call is to be recorded (controls come with the recording API).
    #[serde(default)]
    pub record: bool,
    /// Start by itself at `scheduled_at`.
    #[serde(default)]
    pub auto_start: bool,
}

/// A booking, validated and normalized.
#[derive(Debug, Clone, Serialize)]
pub struct Booking {
    /// The order.
    pub order_id: String,
    /// Client subject and address.
    pub client: (String, String),
    /// Reader subject and address.
    pub reader: (String, String),
    /// The instant.
    pub scheduled_at: DateTime<Utc>,
    /// The zone it was given in.
    pub timezone: Option<String>,
    /// Minutes.
    pub duration_minutes: i32,
    /// Record.
    pub record: bool,
    /// Auto start.
    pub auto_start: bool,
}

fn text_ok(value: &str) -> bool {
    (1..=128).contains(&value.chars().count()) && !value.chars().any(char::is_control)
}

/// An E.164 number or a `sip:` URI, normalized; `None` when it is neither.
pub fn address(value: &str) -> Option<String> {
    let value = value.trim();
    let lower = value.to_ascii_lowercase();
    if lower.starts_with("sip:") {
        let ok = value.len() <= 256
            && value[4..].contains('@')
            && !value.chars().any(|c| c.is_control() || c.is_whitespace());
        return ok.then(|| value.to_owned());
    }
    E164::parse(value).ok().map(String::from)
}

/// `pstn` for a phone number, `sip` for a SIP URI.
pub fn sip_or_pstn(address: &str) -> &'static str {
    if address.to_ascii_lowercase().starts_with("sip:") { "sip" } else { "pstn" }
}

impl NewParty {
    fn check(&self, name: &str, errors: &mut Vec<FieldError>) -> (String, String) {
        let subject = self.subject.trim().to_owned();
        if !text_ok(&subject) {
            errors.push(FieldError::new(format!("{name}.subject"), "must be 1 to 128 characters"));
        }
        let address = address(&self.number).unwrap_or_else(|| {
            errors.push(FieldError::new(
                format!("{name}.number"),
                "must be an E.164 phone number (+ and the country code) or a sip: URI",
            ));
            String::new()
        });
        (subject, address)
    }
}

impl NewSession {
    /// Every invalid field, or the booking.
    pub fn validate(&self, now: DateTime<Utc>) -> Result<Booking, ApiError> {
        let mut errors = Vec::new();
        let order_id = self.order_id.trim().to_owned();
        if !text_ok(&order_id) {
            errors.push(FieldError::new("order_id", "must be 1 to 128 characters"));
        }
        let client = self.client.check("client", &mut errors);
        let reader = self.reader.check("reader", &mut errors);
        if client.0 == reader.0 && !client.0.is_empty() {
            errors.push(FieldError::new("reader.subject", "must differ from the client's subject"));
        }
        if !(1..=MAX_DURATION_MINUTES).contains(&self.duration_minutes) {
            errors.push(FieldError::new("duration_minutes", "must be from 1 to 720"));
        }
        let when = when::resolve(&self.scheduled_at, self.timezone.as_deref());
        let (scheduled_at, zone) = match when {
            Ok(found) => found,
            Err(error) => {
                errors.push(error);
                (now, None)
            }
        };
        if scheduled_at < now - chrono::Duration::minutes(1) {
            errors.push(FieldError::new("scheduled_at", "must not be in the past"));
        }
        if !errors.is_empty() {
            return Err(ApiError::Validation(errors));
        }
        Ok(Booking {
            order_id,
            client,
            reader,
            scheduled_at,
            timezone: zone.map(|z| z.name().to_owned()),
            duration_minutes: self.duration_minutes,
            record: self.record,
            auto_start: self.auto_start,
        })
    }
}

/// A session as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionRow {
    /// Its id.
    pub id: Uuid,
    /// Its tenant.
    pub tenant_id: Uuid,
    /// The order.
    pub order_id: String,
    /// The client's subject.
    pub client_subject: String,
    /// The client's number or SIP URI.
    pub client_address: String,
    /// The reader's subject.
    pub reader_subject: String,
    /// The reader's number or SIP URI.
    pub reader_address: String,
    /// When it is booked for.
    pub scheduled_at: DateTime<Utc>,
    /// The zone a local time was given in.
    pub timezone: Option<String>,
    /// The paid length.
    pub duration_minutes: i32,
    /// Recorded.
    pub record: bool,
    /// Started by the worker at `scheduled_at`.
    pub auto_start: bool,
    #[sqlx(try_from = "String")]
    /// Where it stands.
    pub status: SessionStatus,
    /// Why it ended.
    pub ended_reason: Option<String>,
    /// Who started it.
    pub initiated_by: Option<String>,
    /// The conference (`CF…`), once reported.
    pub conference_sid: Option<String>,
    /// When the worker next acts.
    pub deadline_at: Option<DateTime<Utc>>,
    /// When start was asked.
    pub started_at: Option<DateTime<Utc>>,
    /// When both parties were in.
    pub connected_at: Option<DateTime<Utc>>,
    /// When the time warning was asked.
    pub warned_at: Option<DateTime<Utc>>,
    /// When it ended.
    pub ended_at: Option<DateTime<Utc>>,
    /// Seconds from connected to ended.
    pub duration_sec: Option<i32>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

impl SessionRow {
    /// The tenant.
    pub fn tenant(&self) -> TenantId {
        TenantId(self.tenant_id)
    }

    /// A party's subject.
    pub fn subject(&self, party: Party) -> &str {
        match party {
            Party::Client => &self.client_subject,
            Party::Reader => &self.reader_subject,
        }
    }

    /// A party's address.
    pub fn address(&self, party: Party) -> &str {
        match party {
            Party::Client => &self.client_address,
            Party::Reader => &self.reader_address,
        }
    }

    /// The conference's friendly name (`call-{id}`); requests use its SID, never this.
    pub fn room(&self) -> String {
        room_name(self.id)
    }
}

/// `call-{id}`.
pub fn room_name(id: Uuid) -> String {
    format!("call-{id}")
}

/// A leg as stored.
#[derive(Debug, Clone, sqlx::FromRow, Serialize, utoipa::ToSchema)]
pub struct Leg {
    /// The session.
    #[serde(skip)]
    pub session_id: Uuid,
    /// `client` or `reader`.
    #[sqlx(try_from = "String")]
    #[schema(value_type = String)]
    pub party: Party,
    /// The effects attempt dialling it (never shown).
    #[serde(skip)]
    pub attempt_token: String,
    /// Twilio's CallSid, once known.
    pub call_sid: Option<String>,
    /// `requested`, then the call's status (`queued`, `ringing`, `in-progress`, `completed`, `no-answer`, …).
    #[sqlx(try_from = "String")]
    #[schema(value_type = String)]
    pub status: LegStatus,
    /// When the party joined the conference.
    pub joined_at: Option<DateTime<Utc>>,
    /// When the party left it.
    pub left_at: Option<DateTime<Utc>>,
}

/// A party as shown.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PartyView {
    /// Their subject.
    pub subject: String,
    /// Their number or SIP URI.
    pub number: String,
    /// `pstn` or `sip`.
    pub sip_or_pstn: &'static str,
    /// Their leg, once the session started.
    pub leg: Option<Leg>,
}

/// A call session.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Session {
    /// Its id.
    pub id: Uuid,
    /// Its tenant.
    pub tenant_id: Uuid,
    /// The order it was booked through.
    pub order_id: String,
    /// `scheduled`, `initiating`, `ringing`, `in_progress`, `completed`, `cancelled`, `no_answer`,
    /// `failed`, `dropped_by_monitor`, `dropped_by_reader`, `dropped_by_client`.
    pub status: SessionStatus,
    /// `client_left`, `reader_left`, `time_limit`, `conference_ended`, `no_answer`, the drop's reason, …
    pub ended_reason: Option<String>,
    /// The call's length in seconds (from both parties joined to the end).
    pub duration_sec: Option<i32>,
    /// Who started it (`operator:{key id}` or `system:auto_start`).
    pub initiated_by: Option<String>,
    /// The conference (`CF…`), once Twilio reported it.
    pub conference_sid: Option<String>,
    /// When.
    pub scheduled_at: DateTime<Utc>,
    /// The zone it was booked in, if a local time was given.
    pub timezone: Option<String>,
    /// The paid length.
    pub duration_minutes: i32,
    /// Recorded.
    pub record: bool,
    /// Starts by itself at `scheduled_at`.
    pub auto_start: bool,
    /// The client.
    pub client: PartyView,
    /// The reader.
    pub reader: PartyView,
    /// When start was asked.
    pub started_at: Option<DateTime<Utc>>,
    /// When both parties were in the conference.
    pub connected_at: Option<DateTime<Utc>>,
    /// When the one-minute warning was asked.
    pub warned_at: Option<DateTime<Utc>>,
    /// When it ended.
    pub ended_at: Option<DateTime<Utc>>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

impl Session {
    /// The view of a row and its legs.
    pub fn new(row: SessionRow, legs: Vec<Leg>) -> Session {
        let view = |party: Party| PartyView {
            subject: row.subject(party).to_owned(),
            number: row.address(party).to_owned(),
            sip_or_pstn: sip_or_pstn(row.address(party)),
            leg: legs.iter().find(|l| l.party == party).cloned(),
        };
        let (client, reader) = (view(Party::Client), view(Party::Reader));
        Session {
            id: row.id,
            tenant_id: row.tenant_id,
            order_id: row.order_id,
            status: row.status,
            ended_reason: row.ended_reason,
            duration_sec: row.duration_sec,
            initiated_by: row.initiated_by,
            conference_sid: row.conference_sid,
            scheduled_at: row.scheduled_at,
            timezone: row.timezone,
            duration_minutes: row.duration_minutes,
            record: row.record,
            auto_start: row.auto_start,
            client,
            reader,
            started_at: row.started_at,
            connected_at: row.connected_at,
            warned_at: row.warned_at,
            ended_at: row.ended_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

impl crate::pagination::Keyed for Session {
    fn sort_key(&self) -> crate::pagination::Cursor {
        crate::pagination::Cursor { at: self.scheduled_at, id: self.id.to_string() }
    }
}
