//! Applying a JSON body to tenant settings, field by field, naming every invalid field (422).
//! Fields are read by hand rather than through serde so that a wrongly typed field is reported by
//! its name alongside every other problem.

use super::model::{AfterHours, BusinessHours, DAYS, Settings, TenantStatus, parse_time};
use crate::error::FieldError;
use crate::twilio::E164;
use chrono::NaiveDate;
use serde_json::{Map, Value};

/// Fields a create must carry.
pub const REQUIRED: [&str; 3] = ["slug", "name", "timezone"];

/// Applies every field of `body` to `settings`; returns the problems (empty = valid).
pub fn apply(settings: &mut Settings, body: &Map<String, Value>) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for (field, value) in body {
        if let Err(message) = apply_field(settings, field, value) {
            errors.push(FieldError::new(field.clone(), message));
        }
    }
    errors
}

fn apply_field(s: &mut Settings, field: &str, value: &Value) -> Result<(), String> {
    match field {
        "slug" => s.slug = slug(value)?,
        "name" => s.name = text(value, 1, 200)?,
        "timezone" => s.timezone = timezone(value)?,
        "status" => s.status = enumeration(value, &["active", "suspended"])?,
        "owner_number" => s.owner_number = if value.is_null() { None } else { Some(phone(value)?) },
        "dial_timeout_secs" => s.dial_timeout_secs = int(value, 5, 600)?,
        "business_hours" => s.business_hours = if value.is_null() { None } else { Some(hours(value)?) },
        "holidays" => s.holidays = dates(value)?,
        "after_hours" => s.after_hours = enumeration(value, &["voicemail", "message", "forward"])?,
        "screen_forwarded_calls" => s.screen_forwarded_calls = boolean(value)?,
        "text_back" => text_back(s, value)?,
        "duty_officers" => s.duty_officers = phones(value)?,
        "approval" => approval(s, value)?,
        "siren_escalate_after_secs" => s.siren_escalate_after_secs = int(value, 10, 86_400)?,
        "recording_retention_days" => {
            s.recording_retention_days = if value.is_null() { None } else { Some(int(value, 1, 3650)?) }
        }
        "outbound_max_concurrent" => s.outbound_max_concurrent = int(value, 1, 1000)?,
        _ => return Err("is not a tenant field".into()),
    }
    Ok(())
}

fn slug(value: &Value) -> Result<String, String> {
    let v = value.as_str().ok_or("must be a string")?;
    let ok = (2..=63).contains(&v.len())
        && v.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !v.starts_with('-')
        && uuid::Uuid::parse_str(v).is_err();
    if ok {
        Ok(v.to_owned())
    } else {
        Err("must be 2-63 characters of a-z, 0-9 and -, not starting with -".into())
    }
}

fn text(value: &Value, min: usize, max: usize) -> Result<String, String> {
    let v = value.as_str().ok_or("must be a string")?.trim();
    let len = v.chars().count();
    if len < min || len > max {
        return Err(format!("must be {min} to {max} characters"));
    }
    Ok(v.to_owned())
}

fn timezone(value: &Value) -> Result<String, String> {
    let v = value.as_str().ok_or("must be a string")?;
    v.parse::<chrono_tz::Tz>()
        .map(|_| v.to_owned())
        .map_err(|_| "must be an IANA timezone (e.g. America/New_York)".into())
}

fn enumeration<T: serde::de::DeserializeOwned>(value: &Value, allowed: &[&str]) -> Result<T, String> {
    serde_json::from_value(value.clone()).map_err(|_| format!("must be one of {}", allowed.join(", ")))
}

fn phone(value: &Value) -> Result<E164, String> {
    let v = value.as_str().ok_or("must be a string")?;
    E164::parse(v).map_err(|e| e.to_string())
}

fn phones(value: &Value) -> Result<Vec<E164>, String> {
    let items = value.as_array().ok_or("must be an array of phone numbers")?;
    if items.len() > 20 {
        return Err("may hold at most 20 numbers".into());
    }
    items.iter().enumerate().map(|(i, v)| phone(v).map_err(|e| format!("[{i}]: {e}"))).collect()
}

fn int(value: &Value, min: i64, max: i64) -> Result<i32, String> {
    value
        .as_i64()
        .filter(|n| (min..=max).contains(n))
        .and_then(|n| i32::try_from(n).ok())
        .ok_or_else(|| format!("must be a whole number from {min} to {max}"))
}

fn boolean(value: &Value) -> Result<bool, String> {
    value.as_bool().ok_or_else(|| "must be true or false".into())
}

fn dates(value: &Value) -> Result<Vec<NaiveDate>, String> {
    let items = value.as_array().ok_or("must be an array of dates (YYYY-MM-DD)")?;
    let mut dates: Vec<NaiveDate> = items
        .iter()
        .map(|v| v.as_str().and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()))
        .collect::<Option<_>>()
        .ok_or("must be an array of dates (YYYY-MM-DD)")?;
    dates.sort();
    dates.dedup();
    Ok(dates)
}

fn hours(value: &Value) -> Result<BusinessHours, String> {
    let days = value.as_object().ok_or("must be an object keyed by mon..sun, or null")?;
    let mut hours = BusinessHours::default();
    for (day, intervals) in days {
        if !DAYS.contains(&day.as_str()) {
            return Err(format!("{day} is not one of mon, tue, wed, thu, fri, sat, sun"));
        }
        let list =
            intervals.as_array().ok_or_else(|| format!("{day} must be a list of [\"HH:MM\", \"HH:MM\"]"))?;
        let mut parsed = Vec::new();
        for interval in list {
            let pair: Option<[String; 2]> = serde_json::from_value(interval.clone()).ok();
            let valid = pair.as_ref().is_some_and(|[start, end]| match parse_time(start) {
                Some(start) => end == "24:00" || parse_time(end).is_some_and(|end| end > start),
                None => false,
            });
            match pair {
                Some(pair) if valid => parsed.push(pair),
                _ => {
                    return Err(format!(
                        "{day} intervals must be [\"HH:MM\", \"HH:MM\"] with start before end"
                    ));
                }
            }
        }
        hours.0.insert(day.clone(), parsed);
    }
    Ok(hours)
}

fn text_back(s: &mut Settings, value: &Value) -> Result<(), String> {
    let map = value.as_object().ok_or("must be an object {enabled, template, window_hours}")?;
    for (key, v) in map {
        match key.as_str() {
            "enabled" => s.text_back.enabled = boolean(v).map_err(|e| format!("enabled {e}"))?,
            "template" => s.text_back.template = text(v, 1, 320).map_err(|e| format!("template {e}"))?,
            "window_hours" => {
                s.text_back.window_hours = int(v, 1, 720).map_err(|e| format!("window_hours {e}"))?
            }
            other => return Err(format!("{other} is not a text_back field")),
        }
    }
    Ok(())
}

fn approval(s: &mut Settings, value: &Value) -> Result<(), String> {
    let map = value.as_object().ok_or("must be an object {risk_threshold, timeout_secs}")?;
    for (key, v) in map {
        match key.as_str() {
            "risk_threshold" => {
                s.approval.risk_threshold = v
                    .as_f64()
                    .filter(|r| (0.0..=5.0).contains(r))
                    .ok_or("risk_threshold must be a number from 0 to 5")?;
            }
            "timeout_secs" => {
                s.approval.timeout_secs = int(v, 10, 86_400).map_err(|e| format!("timeout_secs {e}"))?
            }
            other => return Err(format!("{other} is not an approval field")),
        }
    }
    Ok(())
}

/// Stored name of a status.
pub fn status_name(status: TenantStatus) -> &'static str {
    match status {
        TenantStatus::Active => "active",
        TenantStatus::Suspended => "suspended",
    }
}

/// Stored name of an after-hours behaviour.
pub fn after_hours_name(after: AfterHours) -> &'static str {
    match after {
        AfterHours::Voicemail => "voicemail",
        AfterHours::Message => "message",
        AfterHours::Forward => "forward",
    }
}
