//! Typed query filters of the operator API's lists. A filter that is a closed set (a status, a
//! destination) is an enum declared with [`closed_set!`], so a wrong value is a 422 listing the
//! allowed ones rather than an empty page; an open one (an audit action, an entity id) is
//! [`FilterText`]: bounded, printable text. Either way nothing a client sends reaches a query
//! as a value PostgreSQL refuses.

use serde::de::{Deserialize, Deserializer, Error as _};
use std::borrow::Cow;

/// Declares an enum of fixed wire values that deserializes with a "must be one of …" error.
///
/// ```ignore
/// closed_set!(
///     /// A crisis's status.
///     pub CrisisStatus { Pending => "pending_approval", Expired => "expired" }
/// );
/// ```
macro_rules! closed_set {
    ($(#[$doc:meta])* $vis:vis $name:ident { $($(#[$vdoc:meta])* $variant:ident => $wire:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis enum $name {
            $($(#[$vdoc])* $variant,)+
        }

        impl $name {
            /// Every wire value, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$($wire),+];

            /// The wire value.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $wire,)+
                }
            }

            /// Parses a wire value.
            pub fn parse(value: &str) -> Option<Self> {
                match value {
                    $($wire => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some($name::NAMES.iter().copied()))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                $crate::filters::one_of(d, $name::parse, $name::NAMES)
            }
        }
    };
}
pub(crate) use closed_set;

/// Deserializes a string with `parse`; anything else is an error naming the `allowed` values
/// (and never echoing the value sent, which may be hostile or huge).
pub fn one_of<'de, D, T>(d: D, parse: fn(&str) -> Option<T>, allowed: &[&str]) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
{
    let text = Cow::<'de, str>::deserialize(d)?;
    parse(&text).ok_or_else(|| D::Error::custom(must_be_one_of(allowed)))
}

/// `must be one of a, b or c`.
pub fn must_be_one_of(allowed: &[&str]) -> String {
    match allowed {
        [] => "must not be given".to_owned(),
        [only] => format!("must be {only}"),
        [init @ .., last] => format!("must be one of {} or {last}", init.join(", ")),
    }
}

/// Free text for a filter that is not a closed set: 1 to `MAX` characters, none of them a
/// control character (NUL above all: PostgreSQL refuses it in `text`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterText<const MAX: usize>(String);

impl<const MAX: usize> FilterText<MAX> {
    /// Checks a value.
    pub fn parse(value: &str) -> Result<Self, String> {
        let length = value.chars().count();
        if length == 0 || length > MAX {
            return Err(format!("must be 1 to {MAX} characters"));
        }
        if value.chars().any(char::is_control) {
            return Err("must not contain control characters".to_owned());
        }
        Ok(FilterText(value.to_owned()))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de, const MAX: usize> Deserialize<'de> for FilterText<MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = Cow::<'de, str>::deserialize(d)?;
        FilterText::parse(&text).map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    closed_set!(
        /// A test set.
        Colour { Red => "red", Green => "green", Blue => "blue" }
    );

    #[test]
    fn a_closed_set_parses_its_values_and_lists_them_when_refusing() {
        let parsed: Colour = serde_json::from_str("\"green\"").expect("green");
        assert_eq!(parsed, Colour::Green);
        let error = serde_json::from_str::<Colour>("\"mauve\"").expect_err("mauve");
        assert!(error.to_string().contains("must be one of red, green or blue"), "{error}");
        assert!(!error.to_string().contains("mauve"), "the value is not echoed: {error}");
    }

    #[test]
    fn filter_text_refuses_nul_empty_and_overlong_values() {
        assert!(FilterText::<8>::parse("CRISIS").is_ok());
        assert!(FilterText::<8>::parse("a\0b").is_err());
        assert!(FilterText::<8>::parse("").is_err());
        assert!(FilterText::<8>::parse("123456789").is_err());
        assert!(FilterText::<8>::parse("\u{202e}ok").is_ok(), "format characters are printable text");
    }
}
