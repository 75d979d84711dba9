//! Exact decimals: quantities are read from the JSON text they were written as (serde_json
//! keeps a number's text: the workspace enables `arbitrary_precision`), held as [`Decimal`]
//! (never `f64`) and written as the decimal's own text (`5.125` stays `5.125`,
//! `12345678901234567.5` stays `12345678901234567.5`).
//!
//! Policy: the billing unit rule — a quantity is at least [`MIN_QUANTITY`] with at most
//! [`MAX_SCALE`] decimals — is stated here once; the model's `Quantity`, the Rebilly rounding
//! rule, validation hints and Decision conditions all read it from here.

use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::{Number, Value};

/// Most decimals a billable quantity may have (`0.001` is the smallest unit).
pub const MAX_SCALE: u32 = 3;

/// The smallest billable quantity, `0.001`.
pub const MIN_QUANTITY: Decimal = Decimal::from_parts(1, 0, 0, false, MAX_SCALE);

/// Whether `d` has more decimals than a quantity may carry (`1.2340` has three: trailing zeros
/// do not count).
pub fn exceeds_scale(d: Decimal) -> bool {
    d.normalize().scale() > MAX_SCALE
}

/// `d` rounded half-to-even to [`MAX_SCALE`] decimals (the `rounding: halfEven` policy).
pub fn round_half_even(d: Decimal) -> Decimal {
    d.round_dp_with_strategy(MAX_SCALE, RoundingStrategy::MidpointNearestEven)
        .normalize()
}

/// A JSON number, or a string that reads as one (`"2.5"`), as an exact decimal: how Decision
/// conditions compare the executor's decimal-string quantities with numbers.
pub fn numeric(v: &Value) -> Option<Decimal> {
    match v {
        Value::Number(_) => number_decimal(v),
        Value::String(s) => decimal_text(s.trim()),
        _ => None,
    }
}

/// The JSON number of an exact decimal, written as the decimal's shortest text (`12.50` →
/// `12.5`, `3` → `3`); exact however many digits it has (serde_json keeps a number's text:
/// `arbitrary_precision`).
pub fn decimal_number(d: Decimal) -> Value {
    let text = d.normalize().to_string();
    Number::from_str(&text).map_or(Value::Null, Value::Number)
}

/// Reads a JSON number as the decimal it was written as (its text, exactly); `None` for
/// anything else or a number beyond the decimal range (about 7.9e28).
pub fn number_decimal(v: &Value) -> Option<Decimal> {
    let Value::Number(n) = v else { return None };
    decimal_text(n.as_str())
}

/// Reads a JSON number's text (`1.5`, `2`, `1e3`) as a decimal; anything else is `None`.
pub fn decimal_text(text: &str) -> Option<Decimal> {
    if !text.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
        return None;
    }
    Decimal::from_str_exact(text)
        .or_else(|_| Decimal::from_scientific(text))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decimals_become_exact_json_numbers() {
        for (d, text) in [
            ("5.125", "5.125"),
            ("12.50", "12.5"),
            ("3", "3"),
            ("0.001", "0.001"),
            ("1070468.14", "1070468.14"),
        ] {
            let v = decimal_number(Decimal::from_str(d).unwrap());
            assert_eq!(v.to_string(), text);
            assert_eq!(
                number_decimal(&v).unwrap(),
                Decimal::from_str(d).unwrap().normalize()
            );
        }
    }

    #[test]
    fn the_quantity_rule_counts_significant_decimals_and_rounds_half_even() {
        let d = |s: &str| Decimal::from_str(s).unwrap();
        assert!(!exceeds_scale(d("1.2340")));
        assert!(exceeds_scale(d("1.2345")));
        assert_eq!(round_half_even(d("5.1255")), d("5.126"));
        assert_eq!(round_half_even(d("5.1245")), d("5.124"));
        assert_eq!(MIN_QUANTITY, d("0.001"));
        assert_eq!(numeric(&json!("2.5")), Some(d("2.5")));
        assert_eq!(numeric(&json!(" 7 ")), Some(d("7")));
        assert_eq!(numeric(&json!("abc")), None);
        assert_eq!(numeric(&json!(true)), None);
    }

    #[test]
    fn numbers_keep_every_digit_both_ways() {
        for text in ["12345678901234567.5", "2.0000000000000001", "0.001", "1e3"] {
            let v: Value = serde_json::from_str(text).unwrap();
            let d = number_decimal(&v).unwrap();
            assert_eq!(d, decimal_text(text).unwrap(), "{text}");
            assert_eq!(
                decimal_number(d),
                serde_json::from_str::<Value>(&d.normalize().to_string()).unwrap()
            );
        }
        assert_eq!(
            decimal_number("12345678901234567.5".parse().unwrap()).to_string(),
            "12345678901234567.5"
        );
        assert_eq!(number_decimal(&serde_json::from_str("1e40").unwrap()), None);
    }

    #[test]
    fn number_texts_read_exactly() {
        assert_eq!(
            decimal_text("1.50"),
            Some(Decimal::from_str("1.5").unwrap())
        );
        assert_eq!(decimal_text("-2"), Some(Decimal::from(-2)));
        assert_eq!(decimal_text("1e3"), Some(Decimal::from(1000)));
        assert_eq!(decimal_text("\"1.5\""), None);
        assert_eq!(decimal_text("null"), None);
    }
}
