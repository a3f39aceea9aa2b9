//! Redaction of personal data for logs and audit details. A leaf: every module may use it,
//! including `twilio/`, and it imports nothing of the crate.

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
