//! A bounded memo of E.164 parses. `phonenumber` matches each number against its country's
//! regular expressions: measured under load (bench/README.md), two parses (`From`, `To`) were a
//! seventh of a ringing webhook's CPU in the server. The same few numbers recur on every call —
//! the business's own numbers in `To`, repeat callers in `From` — and a parse is a pure function
//! of its input and the crate's static metadata, so remembering recent answers is safe on any
//! replica and never stale.

use super::types::{E164, E164Error};
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

/// Entries kept before the memo starts again from empty (a few hundred KB at most): a flood of
/// distinct numbers cannot grow it, and the recurring ones are back after one parse each.
const CAPACITY: usize = 8192;

/// The longest input remembered: a typed number with separators is well under this, and a long
/// junk value is not worth keeping.
const LONGEST: usize = 32;

fn memo() -> &'static Mutex<HashMap<String, Result<E164, E164Error>>> {
    static MEMO: OnceLock<Mutex<HashMap<String, Result<E164, E164Error>>>> = OnceLock::new();
    MEMO.get_or_init(|| Mutex::new(HashMap::with_capacity(CAPACITY)))
}

/// `parse(value)`, remembered for inputs up to [`LONGEST`] bytes.
pub(super) fn parse_with(
    value: &str,
    parse: impl FnOnce(&str) -> Result<E164, E164Error>,
) -> Result<E164, E164Error> {
    if value.len() > LONGEST {
        return parse(value);
    }
    if let Some(known) = memo().lock().unwrap_or_else(|p| p.into_inner()).get(value) {
        return known.clone();
    }
    // Parsed outside the lock: another thread's lookups do not wait for the regexes.
    let parsed = parse(value);
    let mut memo = memo().lock().unwrap_or_else(|p| p.into_inner());
    if memo.len() >= CAPACITY {
        memo.clear();
    }
    memo.insert(value.to_owned(), parsed.clone());
    parsed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_remembered_answer_is_the_parse_itself() {
        for value in
            ["+12025550100", " +1 (202) 555-0100 ", "+4402071234567", "+999", "12025550100", "+1202555O100"]
        {
            let direct = E164::parse_uncached(value);
            assert_eq!(E164::parse(value), direct, "{value}: first time");
            assert_eq!(E164::parse(value), direct, "{value}: remembered");
        }
    }

    #[test]
    fn the_memo_stays_bounded_under_distinct_numbers() {
        for n in 0..(CAPACITY + 100) {
            let _ = E164::parse(&format!("+1303{n:07}"));
        }
        assert!(memo().lock().expect("memo").len() <= CAPACITY);
        assert_eq!(E164::parse("+13030000042").map(String::from), Ok("+13030000042".to_owned()));
    }
}
