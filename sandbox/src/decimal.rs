//! Exact decimals: numbers are read from their own text (the workspace enables serde_json's
//! `arbitrary_precision`, so a JSON number keeps it), never through `f64`, and written back as
//! exact JSON numbers; callers use `checked_*` arithmetic.
//!
//! Policy: a value the 28-digit decimal type cannot hold exactly is refused, never rounded or
//! read as zero, and an overflow is an `Err` the vendor module answers with a 422, never a
//! panic. Rebilly's quantity rule (at least [`MIN_QUANTITY`], at most [`MAX_SCALE`] decimals,
//! at most [`MAX_QUANTITY`]) is stated here once.

use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::{Number, Value};

/// Most decimals a Rebilly quantity may have (`0.001` is the smallest unit).
pub const MAX_SCALE: u32 = 3;

/// The smallest Rebilly quantity, `0.001`.
pub const MIN_QUANTITY: Decimal = Decimal::from_parts(1, 0, 0, false, MAX_SCALE);

/// The largest Rebilly quantity, and the most a subscription may use in all:
/// `9999999999999999999999999.999` (25 integer digits and 3 decimals: what the 28-digit
/// decimal type holds exactly at the billing scale, so the sum of two never rounds).
pub const MAX_QUANTITY: Decimal =
    // 10^28 − 1 as the 96-bit mantissa (lo, mid, hi), at scale 3.
    Decimal::from_parts(268_435_455, 1_042_612_833, 542_101_086, false, MAX_SCALE);

/// Reads a number's text (`1.5`, `-2`, `1e3`, `2.5E-1`) as the decimal it states, exactly;
/// `None` for anything else and for a value the decimal type cannot hold without rounding
/// (beyond ±79228162514264337593543950335 or more than 28 decimals).
pub fn parse(text: &str) -> Option<Decimal> {
    if !text.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
        return None;
    }
    if let Ok(d) = Decimal::from_str_exact(text) {
        return Some(d);
    }
    // `from_scientific` rounds a long mantissa; insist that the mantissa alone is exact.
    let (mantissa, _) = text.split_once(['e', 'E'])?;
    Decimal::from_str_exact(mantissa).ok()?;
    Decimal::from_scientific(text).ok()
}

/// A JSON number as the decimal its text states (see [`parse`]); `None` for any other value.
pub fn of_number(value: &Value) -> Option<Decimal> {
    match value {
        Value::Number(n) => parse(n.as_str()),
        _ => None,
    }
}

/// The exact JSON number of `d`, written as its shortest text (`12.50` → `12.5`, `3` → `3`,
/// `12345678901234567.5` keeps every digit).
pub fn to_number(d: Decimal) -> Value {
    Number::from_str(&d.normalize().to_string()).map_or(Value::Null, Value::Number)
}

/// Why a Rebilly quantity is refused: the `invalidFields` message for `quantity`.
pub fn check_quantity(value: &Value) -> Result<Decimal, String> {
    let Value::Number(n) = value else {
        return Err("quantity must be a number".into());
    };
    let text = n.as_str();
    let Some(q) = parse(text) else {
        return Err(format!(
            "quantity {text} is beyond the exact decimal range (at most {} with {MAX_SCALE} decimals)",
            MAX_QUANTITY
        ));
    };
    if q.normalize().scale() > MAX_SCALE {
        return Err(format!(
            "quantity {text} has more than {MAX_SCALE} decimal places; the smallest unit is {MIN_QUANTITY}"
        ));
    }
    if q < MIN_QUANTITY {
        return Err(format!(
            "quantity {text} is below the minimum of {MIN_QUANTITY}"
        ));
    }
    if q > MAX_QUANTITY {
        return Err(format!(
            "quantity {text} is over the maximum of {MAX_QUANTITY}"
        ));
    }
    Ok(q)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn number(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn texts_read_exactly_or_not_at_all() {
        assert_eq!(parse("1.50"), Some(d("1.5")));
        assert_eq!(parse("-2"), Some(d("-2")));
        assert_eq!(parse("1e3"), Some(d("1000")));
        assert_eq!(parse("1E+3"), Some(d("1000")));
        assert_eq!(parse("2.5E-1"), Some(d("0.25")));
        assert_eq!(parse("7e28"), Some(d("70000000000000000000000000000")));
        assert_eq!(parse("79228162514264337593543950335"), Some(Decimal::MAX));
        for refused in [
            "79228162514264337593543950336",
            "1e40",
            "1e-40",
            "1.00000000000000000000000000000001",
            "1.00000000000000000000000000000001e2",
            "abc",
            "\"1\"",
            "",
        ] {
            assert_eq!(parse(refused), None, "{refused}");
        }
    }

    #[test]
    fn numbers_are_written_back_exactly() {
        for (text, written) in [
            ("12345678901234567.5", "12345678901234567.5"),
            ("2.0000000000000001", "2.0000000000000001"),
            ("12.50", "12.5"),
            ("1e3", "1000"),
            ("0.001", "0.001"),
        ] {
            let value = of_number(&number(text)).unwrap();
            assert_eq!(to_number(value).to_string(), written);
        }
        assert_eq!(of_number(&Value::String("1".into())), None);
    }

    #[test]
    fn the_quantity_rule_reads_the_numbers_own_text() {
        for ok in [
            "1",
            "0.001",
            "1.234",
            "1.2340",
            "1e3",
            "2.5E-1",
            "9999999999999999999999999.999",
        ] {
            assert!(check_quantity(&number(ok)).is_ok(), "{ok}");
        }
        for (bad, says) in [
            ("1.2345", "more than 3 decimal places"),
            ("2.0000000000000001", "more than 3 decimal places"),
            ("0.0005", "more than 3 decimal places"),
            ("0", "below the minimum"),
            ("-1", "below the minimum"),
            ("7e28", "over the maximum"),
            ("10000000000000000000000000", "over the maximum"),
            ("1e40", "beyond the exact decimal range"),
        ] {
            let message = check_quantity(&number(bad)).unwrap_err();
            assert!(message.contains(says), "{bad}: {message}");
        }
        assert!(check_quantity(&Value::String("1".into())).is_err());
    }

    #[test]
    fn two_maximal_quantities_add_up_exactly() {
        assert_eq!(MAX_QUANTITY, d("9999999999999999999999999.999"));
        let sum = MAX_QUANTITY.checked_add(MAX_QUANTITY).unwrap();
        assert_eq!(sum, d("19999999999999999999999999.998"));
        assert_eq!(Decimal::MAX.checked_add(Decimal::ONE), None);
    }
}
