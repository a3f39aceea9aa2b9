//! The decoded parameters of a webhook, and a reader that collects every field error while a
//! payload is parsed.

use crate::error::FieldError;
use crate::twilio::types::{Address, MessageSid};
use std::fmt::Display;
use std::str::FromStr;

use super::Media;

/// Largest `Body` Twilio sends (characters).
pub const MAX_BODY_CHARS: usize = 1600;
/// More media than Twilio ever attaches to one message.
const MAX_MEDIA: usize = 20;

/// Every decoded parameter of a webhook, in the order received, unknown ones included.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FormParams(pub Vec<(String, String)>);

impl FormParams {
    /// Decodes an `application/x-www-form-urlencoded` body (`+` is a space, `%XX` a byte).
    pub fn from_form(body: &[u8]) -> Self {
        FormParams(form_urlencoded::parse(body).map(|(k, v)| (k.into_owned(), v.into_owned())).collect())
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// All parameters.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }
}

/// Reads fields, remembering every problem.
pub(super) struct Reader<'a> {
    params: &'a FormParams,
    errors: Vec<FieldError>,
}

impl<'a> Reader<'a> {
    /// Runs `parse`; the payload only if no field had a problem.
    pub fn run<T>(
        params: &'a FormParams,
        parse: impl FnOnce(&mut Self) -> Option<T>,
    ) -> Result<T, Vec<FieldError>> {
        let mut reader = Reader { params, errors: Vec::new() };
        let parsed = parse(&mut reader);
        match (parsed, reader.errors.is_empty()) {
            (Some(value), true) => Ok(value),
            (_, true) => Err(vec![FieldError::new("body", "the request is incomplete")]),
            (_, false) => Err(reader.errors),
        }
    }

    pub fn missing(&mut self, name: &str) {
        self.errors.push(FieldError::new(name, "is required"));
    }

    pub fn optional(&self, name: &str) -> Option<&'a str> {
        self.params.get(name)
    }

    pub fn required(&mut self, name: &str) -> Option<&'a str> {
        let value = self.params.get(name).filter(|v| !v.is_empty());
        if value.is_none() {
            self.missing(name);
        }
        value
    }

    pub fn sid<T: FromStr>(&mut self, name: &str) -> Option<T>
    where
        T::Err: Display,
    {
        let raw = self.required(name)?;
        self.parse_sid(name, raw)
    }

    pub fn optional_sid<T: FromStr>(&mut self, name: &str) -> Option<T>
    where
        T::Err: Display,
    {
        let raw = self.optional(name).filter(|v| !v.is_empty())?;
        self.parse_sid(name, raw)
    }

    fn parse_sid<T: FromStr>(&mut self, name: &str, raw: &str) -> Option<T>
    where
        T::Err: Display,
    {
        match raw.parse() {
            Ok(sid) => Some(sid),
            Err(e) => {
                self.errors.push(FieldError::new(name, e.to_string()));
                None
            }
        }
    }

    /// `MessageSid`, or the legacy `SmsSid`.
    pub fn message_sid(&mut self) -> Option<MessageSid> {
        if self.optional("MessageSid").is_some() { self.sid("MessageSid") } else { self.sid("SmsSid") }
    }

    /// An address must be present; an empty one is an anonymous caller.
    pub fn address(&mut self, name: &str) -> Option<Address> {
        match self.optional(name) {
            Some(value) => Some(Address::parse(value)),
            None => {
                self.missing(name);
                None
            }
        }
    }

    /// Free text with control characters stripped, cut at `max` characters.
    pub fn text(&self, name: &str, max: usize) -> Option<String> {
        self.optional(name).map(|v| strip_controls(v).chars().take(max).collect())
    }

    pub fn number<T: FromStr>(&mut self, name: &str) -> Option<T> {
        let raw = self.optional(name).filter(|v| !v.is_empty())?;
        match raw.trim().parse() {
            Ok(n) => Some(n),
            Err(_) => {
                self.errors.push(FieldError::new(name, "must be a whole number"));
                None
            }
        }
    }

    /// Keypad input: digits, `*` and `#`.
    pub fn digits(&mut self, name: &str) -> Option<String> {
        let raw = self.optional(name)?;
        if raw.chars().all(|c| c.is_ascii_digit() || c == '*' || c == '#') && raw.len() <= 64 {
            Some(raw.to_owned())
        } else {
            self.errors.push(FieldError::new(name, "may contain only 0-9, * and #"));
            None
        }
    }

    /// `Body`: at most 1600 characters; missing means empty (an MMS without text).
    pub fn body(&mut self) -> Option<String> {
        let raw = self.optional("Body").unwrap_or("");
        if raw.chars().count() > MAX_BODY_CHARS {
            self.errors.push(FieldError::new("Body", format!("is longer than {MAX_BODY_CHARS} characters")));
            return None;
        }
        Some(strip_controls(raw))
    }

    /// `MediaUrl{N}`/`MediaContentType{N}` for N in 0..NumMedia, and nothing beyond.
    pub fn media(&mut self) -> Option<Vec<Media>> {
        let count: usize = match self.optional("NumMedia").filter(|v| !v.is_empty()) {
            None => 0,
            Some(raw) => match raw.trim().parse() {
                Ok(n) if n <= MAX_MEDIA => n,
                _ => {
                    self.errors
                        .push(FieldError::new("NumMedia", format!("must be a number from 0 to {MAX_MEDIA}")));
                    return None;
                }
            },
        };
        let present = self.params.0.iter().filter(|(k, _)| is_media_url_key(k)).count();
        let media: Vec<Media> = (0..count)
            .filter_map(|n| {
                let url = self.optional(&format!("MediaUrl{n}"))?.to_owned();
                let content_type = self.optional(&format!("MediaContentType{n}")).map(str::to_owned);
                Some(Media { url, content_type })
            })
            .collect();
        if media.len() != count || present != count {
            self.errors.push(FieldError::new(
                "NumMedia",
                format!("says {count} but {present} MediaUrl parameters were sent"),
            ));
            return None;
        }
        Some(media)
    }
}

fn is_media_url_key(key: &str) -> bool {
    key.strip_prefix("MediaUrl").is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Removes control characters, keeping line breaks and tabs (they are part of real messages).
pub fn strip_controls(value: &str) -> String {
    value.chars().filter(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t')).collect()
}
