//! Parsing a leads upload — JSON `{"leads": [...]}` or `text/csv` with the header
//! `lead_id,number[,name][,timezone][,…]` — into validated leads, naming every bad row. Numbers
//! are normalized to E.164 with the shared phone number parser; extra CSV columns go into `data`.

use crate::error::FieldError;
use crate::twilio::E164;
use serde_json::{Map, Value};

/// The most leads one run may hold.
pub const MAX_LEADS_PER_RUN: i64 = 100_000;

/// A validated lead.
#[derive(Debug, Clone, PartialEq)]
pub struct Lead {
    /// Its position in the upload (0-based).
    pub row: usize,
    /// The uploader's id (1–128 characters).
    pub lead_id: String,
    /// The number, normalized.
    pub number: E164,
    /// Name.
    pub name: Option<String>,
    /// IANA timezone.
    pub timezone: Option<String>,
    /// Anything else.
    pub data: Option<Value>,
}

/// An upload, parsed: the good leads and one error per problem of the bad rows.
#[derive(Debug, Default)]
pub struct Parsed {
    /// Valid leads, in upload order.
    pub leads: Vec<Lead>,
    /// Problems, each naming `leads[i].field`.
    pub errors: Vec<FieldError>,
    /// The rows with problems.
    pub bad_rows: Vec<usize>,
}

/// Why an upload cannot be read at all.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UploadError {
    /// Not JSON of the expected shape.
    #[error("the body must be {{\"leads\": [...]}}: {0}")]
    Json(String),
    /// Not readable CSV, or without the required header.
    #[error("the CSV must start with the header lead_id,number[,name][,timezone]: {0}")]
    Csv(String),
}

fn text_field(value: Option<&Value>, max: usize) -> Result<Option<String>, String> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => text(s, max),
        Some(_) => Err("must be a string".into()),
    }
}

fn text(s: &str, max: usize) -> Result<Option<String>, String> {
    let s = s.trim();
    if s.is_empty() {
        Ok(None)
    } else if s.chars().count() > max || s.chars().any(char::is_control) {
        Err(format!("must be at most {max} characters without control characters"))
    } else {
        Ok(Some(s.to_owned()))
    }
}

/// Validates one row's fields; pushes its problems.
fn validate(
    row: usize,
    lead_id: Option<&str>,
    number: Option<&str>,
    name: Result<Option<String>, String>,
    timezone: Option<&str>,
    data: Option<Value>,
    parsed: &mut Parsed,
) {
    let mut problems = Vec::new();
    let lead_id = match lead_id.map(|id| text(id, 128)) {
        Some(Ok(Some(id))) => Some(id),
        Some(Err(e)) => {
            problems.push(("lead_id", e));
            None
        }
        _ => {
            problems.push(("lead_id", "is required".into()));
            None
        }
    };
    let number = match number.map(str::trim).filter(|n| !n.is_empty()) {
        None => {
            problems.push(("number", "is required".into()));
            None
        }
        Some(n) => match E164::parse(n) {
            Ok(n) => Some(n),
            Err(e) => {
                problems.push(("number", e.to_string()));
                None
            }
        },
    };
    let name = name.unwrap_or_else(|e| {
        problems.push(("name", e));
        None
    });
    let timezone = match timezone.map(str::trim).filter(|t| !t.is_empty()) {
        None => None,
        Some(tz) if tz.parse::<chrono_tz::Tz>().is_ok() => Some(tz.to_owned()),
        Some(_) => {
            problems.push(("timezone", "must be an IANA timezone (e.g. America/New_York)".into()));
            None
        }
    };
    match (lead_id, number) {
        (Some(lead_id), Some(number)) if problems.is_empty() => {
            parsed.leads.push(Lead { row, lead_id, number, name, timezone, data })
        }
        _ => {
            parsed.bad_rows.push(row);
            for (field, message) in problems {
                parsed.errors.push(FieldError::new(format!("leads[{row}].{field}"), message));
            }
        }
    }
}

/// Parses `{"leads": [{"lead_id", "number", "name", "timezone", "data"}]}`.
pub fn from_json(body: &[u8]) -> Result<Parsed, UploadError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| UploadError::Json(e.to_string()))?;
    let leads = value
        .get("leads")
        .and_then(Value::as_array)
        .ok_or_else(|| UploadError::Json("`leads` must be an array".into()))?;
    let mut parsed = Parsed::default();
    for (row, lead) in leads.iter().enumerate() {
        let Some(lead) = lead.as_object() else {
            parsed.bad_rows.push(row);
            parsed.errors.push(FieldError::new(format!("leads[{row}]"), "must be an object"));
            continue;
        };
        let unknown: Vec<&String> = lead
            .keys()
            .filter(|k| !["lead_id", "number", "name", "timezone", "data"].contains(&k.as_str()))
            .collect();
        if let Some(key) = unknown.first() {
            parsed.bad_rows.push(row);
            parsed.errors.push(FieldError::new(format!("leads[{row}].{key}"), "is not a lead field"));
            continue;
        }
        let data = match lead.get("data") {
            None | Some(Value::Null) => None,
            // PostgreSQL cannot store a NUL character in jsonb.
            Some(Value::Object(map)) if Value::Object(map.clone()).to_string().contains("\\u0000") => {
                parsed.bad_rows.push(row);
                parsed
                    .errors
                    .push(FieldError::new(format!("leads[{row}].data"), "must not contain a NUL character"));
                continue;
            }
            Some(Value::Object(map)) => Some(Value::Object(map.clone())),
            Some(_) => {
                parsed.bad_rows.push(row);
                parsed.errors.push(FieldError::new(format!("leads[{row}].data"), "must be an object"));
                continue;
            }
        };
        let str_of = |k: &str| lead.get(k).and_then(Value::as_str);
        let lead_id = match lead.get("lead_id") {
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => str_of("lead_id").map(str::to_owned),
        };
        validate(
            row,
            lead_id.as_deref(),
            str_of("number"),
            text_field(lead.get("name"), 200),
            str_of("timezone"),
            data,
            &mut parsed,
        );
    }
    Ok(parsed)
}

/// Parses CSV with a header row naming at least `lead_id` and `number`.
pub fn from_csv(body: &[u8]) -> Result<Parsed, UploadError> {
    let mut reader = csv::ReaderBuilder::new().flexible(false).trim(csv::Trim::All).from_reader(body);
    let headers = reader.headers().map_err(|e| UploadError::Csv(e.to_string()))?.clone();
    let column = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    let (Some(id_col), Some(number_col)) = (column("lead_id"), column("number")) else {
        return Err(UploadError::Csv("lead_id and number are required columns".into()));
    };
    let (name_col, tz_col) = (column("name"), column("timezone"));
    let known = [Some(id_col), Some(number_col), name_col, tz_col];
    let mut parsed = Parsed::default();
    for (row, record) in reader.records().enumerate() {
        let record = match record {
            Ok(record) => record,
            Err(e) => {
                parsed.bad_rows.push(row);
                parsed.errors.push(FieldError::new(format!("leads[{row}]"), format!("unreadable CSV: {e}")));
                continue;
            }
        };
        // PostgreSQL cannot store a NUL character in text or jsonb.
        if record.iter().any(|value| value.contains('\0')) {
            parsed.bad_rows.push(row);
            parsed.errors.push(FieldError::new(format!("leads[{row}]"), "must not contain a NUL character"));
            continue;
        }
        let mut extra = Map::new();
        for (i, value) in record.iter().enumerate() {
            if !known.contains(&Some(i)) && !value.is_empty() {
                extra.insert(headers.get(i).unwrap_or_default().to_owned(), Value::String(value.to_owned()));
            }
        }
        let name = text(name_col.and_then(|c| record.get(c)).unwrap_or_default(), 200);
        validate(
            row,
            record.get(id_col),
            record.get(number_col),
            name,
            tz_col.and_then(|c| record.get(c)),
            (!extra.is_empty()).then_some(Value::Object(extra)),
            &mut parsed,
        );
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_are_normalized_and_bad_rows_named() {
        let body = b"lead_id,number,name,timezone,source\n1,+1 (202) 555-0100,Ann,America/Chicago,web\n2,12345,Bob,,\n3,+12025550101,,Mars/Base,\n";
        let parsed = from_csv(body).expect("readable");
        assert_eq!(parsed.leads.len(), 1);
        assert_eq!(parsed.leads[0].number.as_str(), "+12025550100");
        assert_eq!(parsed.leads[0].data, Some(serde_json::json!({"source": "web"})));
        assert_eq!(parsed.bad_rows, vec![1, 2]);
        let fields: Vec<_> = parsed.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, vec!["leads[1].number", "leads[2].timezone"]);
    }

    #[test]
    fn csv_without_the_required_header_is_refused() {
        assert!(matches!(from_csv(b"id,phone\n1,+12025550100\n"), Err(UploadError::Csv(_))));
    }

    #[test]
    fn json_rows_are_validated_field_by_field() {
        let body = br#"{"leads": [{"lead_id": 7, "number": "+12025550100"}, {"number": "x"}, 3, {"lead_id": "a", "number": "+12025550100", "colour": "red"}]}"#;
        let parsed = from_json(body).expect("readable");
        assert_eq!(parsed.leads.len(), 1);
        assert_eq!(parsed.leads[0].lead_id, "7");
        assert_eq!(parsed.bad_rows, vec![1, 2, 3]);
    }
}
