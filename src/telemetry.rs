//! Logging setup and the redaction helpers every module uses for personal data.
//!
//! Logs are JSON by default (`SWITCHBOARD_LOG_FORMAT=pretty` for humans) and filtered by
//! `RUST_LOG`. Phone numbers are masked with [`mask_phone`]; message bodies, recording URLs and
//! tokens are never logged at all.

use crate::config::LogFormat;
use tracing_subscriber::{EnvFilter, fmt, prelude::*};

/// Installs the global tracing subscriber. Returns `false` if one was already installed (tests).
pub fn init(format: LogFormat) -> bool {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let registry = tracing_subscriber::registry().with(filter);
    let result = match format {
        LogFormat::Json => registry
            .with(fmt::layer().json().flatten_event(true).with_current_span(true).with_span_list(false))
            .try_init(),
        LogFormat::Pretty => registry.with(fmt::layer().pretty()).try_init(),
    };
    result.is_ok()
}

/// Masks a phone number for logs: `+12025551212` → `+1******1212`. Short or odd values are
/// masked entirely; an address that is not a number (`client:bob`) keeps only its scheme.
pub fn mask_phone(value: &str) -> String {
    if let Some((scheme, _)) = value.split_once(':') {
        return format!("{scheme}:***");
    }
    let (plus, digits) = match value.strip_prefix('+') {
        Some(rest) => ("+", rest),
        None => ("", value),
    };
    let chars: Vec<char> = digits.chars().collect();
    if chars.len() < 7 {
        return format!("{plus}***");
    }
    let head: String = chars[..1].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{plus}{head}{}{tail}", "*".repeat(chars.len() - 5))
}

#[cfg(test)]
mod tests {
    use super::mask_phone;

    #[test]
    fn phone_numbers_keep_country_digit_and_last_four() {
        assert_eq!(mask_phone("+12025551212"), "+1******1212");
        assert_eq!(mask_phone("+447700900123"), "+4*******0123");
    }

    #[test]
    fn short_codes_and_addresses_are_masked_whole() {
        assert_eq!(mask_phone("12345"), "***");
        assert_eq!(mask_phone("client:alice"), "client:***");
        assert_eq!(mask_phone(""), "***");
    }
}
