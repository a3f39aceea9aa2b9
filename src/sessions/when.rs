//! When a session is booked for: an instant with an offset, or a local time plus an IANA zone.
//! A local time the zone skips (spring forward) or repeats (fall back) is refused, saying which,
//! rather than guessed: a booking an hour off is a missed call.

use crate::error::FieldError;
use chrono::offset::LocalResult;
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

/// Local formats accepted without an offset (seconds and fractions optional).
const LOCAL_FORMATS: [&str; 2] = ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"];

/// The instant `scheduled_at` names, with the zone it was given in; or the field errors.
pub fn resolve(
    scheduled_at: &str,
    timezone: Option<&str>,
) -> Result<(DateTime<Utc>, Option<Tz>), FieldError> {
    let zone = match timezone.map(str::trim) {
        None | Some("") => None,
        Some(name) => Some(
            name.parse::<Tz>()
                .map_err(|_| FieldError::new("timezone", "must be an IANA time zone such as Europe/Paris"))?,
        ),
    };
    let text = scheduled_at.trim();
    if let Ok(instant) = DateTime::parse_from_rfc3339(text) {
        return Ok((instant.with_timezone(&Utc), zone));
    }
    let local = LOCAL_FORMATS
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
        .ok_or_else(|| {
            FieldError::new(
                "scheduled_at",
                "must be a time with an offset (2026-12-01T18:00:00+01:00) or a local time (2026-12-01T18:00:00) with `timezone`",
            )
        })?;
    let Some(zone) = zone else {
        return Err(FieldError::new("timezone", "is required when scheduled_at has no offset"));
    };
    match zone.from_local_datetime(&local) {
        LocalResult::Single(at) => Ok((at.with_timezone(&Utc), Some(zone))),
        LocalResult::None => Err(FieldError::new(
            "scheduled_at",
            format!("falls in a daylight-saving gap in {zone}: the clocks skip this local time"),
        )),
        LocalResult::Ambiguous(_, _) => Err(FieldError::new(
            "scheduled_at",
            format!(
                "is ambiguous in {zone}: the clocks go back and this local time happens twice (give an offset)"
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).expect("time").with_timezone(&Utc)
    }

    #[test]
    fn an_offset_or_a_zone_names_the_instant() {
        assert_eq!(resolve("2026-12-01T18:00:00+01:00", None).expect("ok").0, at("2026-12-01T17:00:00Z"));
        let (instant, zone) = resolve("2026-12-01T18:00:00", Some("Europe/Paris")).expect("ok");
        assert_eq!((instant, zone), (at("2026-12-01T17:00:00Z"), Some(chrono_tz::Europe::Paris)));
        assert_eq!(
            resolve("2026-07-01T18:00", Some("Europe/Paris")).expect("ok").0,
            at("2026-07-01T16:00:00Z")
        );
    }

    #[test]
    fn gaps_and_folds_are_refused_saying_which() {
        let gap = resolve("2026-03-29T02:30:00", Some("Europe/Paris")).expect_err("gap");
        assert!(gap.message.contains("gap"), "{}", gap.message);
        let fold = resolve("2026-10-25T02:30:00", Some("Europe/Paris")).expect_err("fold");
        assert!(fold.message.contains("ambiguous"), "{}", fold.message);
    }

    #[test]
    fn a_local_time_needs_a_known_zone() {
        assert_eq!(resolve("2026-12-01T18:00:00", None).expect_err("zone").field, "timezone");
        assert_eq!(resolve("2026-12-01T18:00:00", Some("Mars/Base")).expect_err("zone").field, "timezone");
        assert_eq!(resolve("tomorrow", Some("UTC")).expect_err("time").field, "scheduled_at");
    }
}
