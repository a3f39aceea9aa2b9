//! Newtypes for the values Twilio sends and expects: SIDs (two letters + 32 hex digits), E.164
//! numbers, and the addresses that appear in `From`/`To` (numbers, short codes, alphanumeric
//! senders, `client:`/`sip:` addresses, anonymous callers). Parsed once at the edge.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A value that is not a well-formed SID of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid {kind} SID (expected {prefixes} followed by 32 hex digits)")]
pub struct SidError {
    kind: &'static str,
    prefixes: &'static str,
}

fn is_sid(value: &str, prefixes: &[&str]) -> bool {
    value.len() == 34
        && prefixes.iter().any(|p| value.starts_with(p))
        && value[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

macro_rules! sid_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal, [$($prefix:literal),+]) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The accepted prefixes.
            pub const PREFIXES: &'static [&'static str] = &[$($prefix),+];

            /// Parses a SID, checking prefix, length and hex digits.
            pub fn parse(value: &str) -> Result<Self, SidError> {
                if is_sid(value, Self::PREFIXES) {
                    Ok($name(value.to_owned()))
                } else {
                    Err(SidError { kind: $kind, prefixes: concat!($($prefix, " "),+) })
                }
            }

            /// The SID as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = SidError;
            fn from_str(value: &str) -> Result<Self, SidError> {
                Self::parse(value)
            }
        }

        impl TryFrom<String> for $name {
            type Error = SidError;
            fn try_from(value: String) -> Result<Self, SidError> {
                Self::parse(&value)
            }
        }

        impl From<$name> for String {
            fn from(sid: $name) -> String {
                sid.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

sid_type!(
    /// `AC…`: an account.
    AccountSid, "account", ["AC"]
);
sid_type!(
    /// `CA…`: a call.
    CallSid, "call", ["CA"]
);
sid_type!(
    /// `SM…`/`MM…`: a message.
    MessageSid, "message", ["SM", "MM"]
);
sid_type!(
    /// `RE…`: a recording.
    RecordingSid, "recording", ["RE"]
);
sid_type!(
    /// `CF…`: a conference.
    ConferenceSid, "conference", ["CF"]
);

/// A phone number in E.164 form (`+` and up to 15 digits). Parsed with `phonenumber`, but not
/// required to pass `is_valid`: fictional 555 numbers are real test traffic.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "String", into = "String")]
/// As input it may carry the separators people type (`+1 (202) 555-0100`); it is always given
/// back bare (`+12025550100`).
#[schema(value_type = String, example = "+12025550100", pattern = r"^\s*\+[0-9 ().-]+\s*$")]
pub struct E164(String);

/// What may stand between the digits of a number as typed, and is dropped.
const E164_SEPARATORS: [char; 5] = [' ', '-', '.', '(', ')'];

/// The region whose metadata parses `digits` (a number as typed after its `+`), when it can be
/// told without trying each region of its country code. Without a hint, `phonenumber` matches a
/// `+1` number against the regular expressions of each of the North American plan's 25 regions
/// to find the one whose national-prefix rules apply: measured under load (bench/README.md), that
/// was a seventh of a ringing webhook's CPU, paid again for every new caller. A `+1` number of ten
/// digits not starting with 0 or 1 has no national prefix to strip under any of those regions'
/// rules, so the US metadata gives the same number — `hinted_and_unhinted_parses_agree` compares
/// the two over every area code. Anything else is left to the full search.
fn region_hint(digits: &str) -> Option<phonenumber::country::Id> {
    let mut bare = digits.bytes().filter(u8::is_ascii_digit);
    let north_american = bare.next() == Some(b'1')
        && bare.next().is_some_and(|d| (b'2'..=b'9').contains(&d))
        && bare.count() == 9;
    north_american.then_some(phonenumber::country::Id::US)
}

/// A value that is not an E.164 number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an E.164 phone number (+ followed by the country code and number)")]
pub struct E164Error;

impl E164 {
    /// Parses `+<digits>` (spaces, dashes, dots and brackets are tolerated and dropped).
    pub fn parse(value: &str) -> Result<Self, E164Error> {
        super::e164_memo::parse_with(value, Self::parse_uncached)
    }

    /// [`E164::parse`] without the memo.
    pub(super) fn parse_uncached(value: &str) -> Result<Self, E164Error> {
        let trimmed = value.trim();
        // phonenumber alone would also take letters (vanity numbers) and drop trailing junk
        // (`+6889429*`): what is not a digit or a separator is refused, not guessed at.
        let typed = trimmed.strip_prefix('+').ok_or(E164Error)?;
        if !typed.chars().all(|c| c.is_ascii_digit() || E164_SEPARATORS.contains(&c)) {
            return Err(E164Error);
        }
        let number = phonenumber::parse(region_hint(typed), trimmed).map_err(|_| E164Error)?;
        let formatted = number.format().mode(phonenumber::Mode::E164).to_string();
        let digits = formatted.len().saturating_sub(1);
        if (7..=15).contains(&digits) { Ok(E164(formatted)) } else { Err(E164Error) }
    }

    /// The number as text (`+12025550100`).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The number masked for logs (`+1******0100`).
    pub fn masked(&self) -> String {
        crate::redact::mask_phone(&self.0)
    }
}

impl FromStr for E164 {
    type Err = E164Error;
    fn from_str(value: &str) -> Result<Self, E164Error> {
        Self::parse(value)
    }
}

impl TryFrom<String> for E164 {
    type Error = E164Error;
    fn try_from(value: String) -> Result<Self, E164Error> {
        Self::parse(&value)
    }
}

impl From<E164> for String {
    fn from(number: E164) -> String {
        number.0
    }
}

impl fmt::Display for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who a call or message is from or to. Every genuine value Twilio sends is accepted and
/// modelled; nothing here is a reason to reject a webhook.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Address {
    /// A phone number.
    Number(E164),
    /// A short code (3–8 digits, no `+`).
    ShortCode(String),
    /// An alphanumeric sender id (messaging).
    Alphanumeric(String),
    /// A Twilio Client identity (`client:alice`).
    Client(String),
    /// A SIP URI (`sip:alice@example.com`).
    Sip(String),
    /// A withheld caller id (`anonymous`, `restricted`, `+266696687`, empty).
    Anonymous,
    /// Anything else, kept verbatim.
    Other(String),
}

/// What Twilio sends for a caller who withholds their number.
const ANONYMOUS: &[&str] =
    &["", "anonymous", "restricted", "unknown", "private", "unavailable", "+266696687"];

impl Address {
    /// Classifies a `From`/`To` value. Never fails.
    pub fn parse(value: &str) -> Self {
        // Control characters are never part of an address (and PostgreSQL cannot store a NUL).
        let cleaned: String = value.chars().filter(|c| !c.is_control()).collect();
        let value = cleaned.trim();
        let lower = value.to_ascii_lowercase();
        if ANONYMOUS.contains(&lower.as_str()) {
            return Address::Anonymous;
        }
        if let Some(rest) = lower.strip_prefix("client:") {
            return Address::Client(value[value.len() - rest.len()..].to_owned());
        }
        if lower.starts_with("sip:") || lower.starts_with("sips:") {
            return Address::Sip(value.to_owned());
        }
        if value.starts_with('+') {
            return E164::parse(value).map_or_else(|_| Address::Other(value.to_owned()), Address::Number);
        }
        if (3..=8).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_digit()) {
            return Address::ShortCode(value.to_owned());
        }
        let alnum = value.chars().all(|c| c.is_ascii_alphanumeric() || c == ' ' || c == '-');
        if value.len() <= 11 && alnum && value.chars().any(|c| c.is_ascii_alphabetic()) {
            return Address::Alphanumeric(value.to_owned());
        }
        Address::Other(value.to_owned())
    }

    /// The phone number, if this is one.
    pub fn number(&self) -> Option<&E164> {
        match self {
            Address::Number(n) => Some(n),
            _ => None,
        }
    }

    /// A form fit for logs.
    pub fn masked(&self) -> String {
        match self {
            Address::Number(n) => n.masked(),
            Address::ShortCode(code) => code.clone(),
            Address::Alphanumeric(_) => "alphanumeric:***".into(),
            Address::Client(_) => "client:***".into(),
            Address::Sip(_) => "sip:***".into(),
            Address::Anonymous => "anonymous".into(),
            Address::Other(_) => "***".into(),
        }
    }
}

/// Written as the value Twilio sent and read back through [`Address::parse`] (the inbound spool
/// keeps webhooks this way).
impl Serialize for Address {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = <std::borrow::Cow<'de, str> as Deserialize>::deserialize(d)?;
        Ok(Address::parse(&value))
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Number(n) => f.write_str(n.as_str()),
            Address::Client(name) => write!(f, "client:{name}"),
            Address::ShortCode(v) | Address::Alphanumeric(v) | Address::Sip(v) | Address::Other(v) => {
                f.write_str(v)
            }
            Address::Anonymous => f.write_str("anonymous"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sids_need_prefix_length_and_hex() {
        assert!(CallSid::parse("CA0123456789abcdef0123456789abcdef").is_ok());
        assert!(CallSid::parse("SM0123456789abcdef0123456789abcdef").is_err());
        assert!(CallSid::parse("CA0123456789abcdef0123456789abcde").is_err());
        assert!(CallSid::parse("CA0123456789abcdef0123456789abcdeg").is_err());
        assert!(MessageSid::parse("MM0123456789abcdef0123456789abcdef").is_ok());
    }

    #[test]
    fn fictional_555_numbers_are_numbers() {
        let number = E164::parse("+12025550100").expect("parses");
        assert_eq!(number.as_str(), "+12025550100");
        assert_eq!(Address::parse("+15555550123").number().map(E164::as_str), Some("+15555550123"));
        assert!(E164::parse("12025550100").is_err());
        assert!(E164::parse("+1").is_err());
    }

    #[test]
    fn hinted_and_unhinted_parses_agree() {
        let unhinted = |typed: &str| {
            phonenumber::parse(None, typed).map(|n| n.format().mode(phonenumber::Mode::E164).to_string())
        };
        for area in 200..=999 {
            for local in ["2000000", "5550100", "9119999", "4567890"] {
                let plain = format!("+1{area}{local}");
                let typed = format!("+1 ({area}) {}-{}", &local[..3], &local[3..]);
                for number in [plain, typed] {
                    assert!(region_hint(&number[1..]).is_some(), "{number}");
                    let hinted = E164::parse_uncached(&number).map(String::from);
                    assert_eq!(hinted.ok(), unhinted(&number).ok(), "{number}");
                }
            }
        }
        // The full search for everything else: +1 with a leading 0 or 1, other lengths, other codes.
        for other in
            ["1123456789", "10234567890", "1202555010", "120255501000", "4402071234567", "33142685300"]
        {
            assert_eq!(region_hint(other), None, "{other}");
        }
    }

    #[test]
    fn a_number_may_carry_typed_separators_but_nothing_else() {
        let typed = E164::parse(" +1 (202) 555-01.00 ").expect("separators are dropped");
        assert_eq!(typed.as_str(), "+12025550100");
        for junk in
            ["+6889429*", "+1800FLOWERS", "+12025550100#", "+1202555010\u{0}0", "+1 202 555 0100 ext 5"]
        {
            assert!(E164::parse(junk).is_err(), "{junk:?}");
        }
    }

    #[test]
    fn unusual_senders_are_classified() {
        assert_eq!(Address::parse("12345"), Address::ShortCode("12345".into()));
        assert_eq!(Address::parse("ACME"), Address::Alphanumeric("ACME".into()));
        assert_eq!(Address::parse("client:Alice"), Address::Client("Alice".into()));
        assert_eq!(Address::parse("sip:a@b.example"), Address::Sip("sip:a@b.example".into()));
        assert_eq!(Address::parse("Anonymous"), Address::Anonymous);
        assert_eq!(Address::parse("+266696687"), Address::Anonymous);
        assert_eq!(Address::parse(""), Address::Anonymous);
    }
}
