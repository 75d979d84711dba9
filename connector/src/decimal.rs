//! Exact decimals: quantities are read as the decimal they were written as, held as
//! [`Decimal`] (never `f64` arithmetic) and written as the shortest JSON number that reads back
//! the same (`5.125` stays `5.125`), without allocating on the way.
//!
//! Policy: the billing unit rule — a quantity is at least [`MIN_QUANTITY`] with at most
//! [`MAX_SCALE`] decimals — is stated here once; the model's `Quantity`, the Rebilly rounding
//! rule, validation hints and Decision conditions all read it from here.

use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::{Number, Value, json};

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

/// The JSON number of an exact decimal: integers stay integers; otherwise the shortest double,
/// which reads back as the same decimal for up to 15 significant digits (`5.125` → `5.125`).
pub fn decimal_number(d: Decimal) -> Value {
    let d = d.normalize();
    if d.scale() == 0
        && let Ok(i) = i64::try_from(d)
    {
        return json!(i);
    }
    d.to_string()
        .parse::<f64>()
        .ok()
        .and_then(Number::from_f64)
        .map_or(Value::Null, Value::Number)
}

/// Reads a JSON number as the decimal it was written as (its shortest text, formatted on the
/// stack: this runs for every usage report and its answer).
pub fn number_decimal(v: &Value) -> Option<Decimal> {
    let Value::Number(n) = v else { return None };
    if let Some(i) = n.as_i64() {
        return Some(Decimal::from(i));
    }
    let mut buf = StackText::default();
    std::fmt::Write::write_fmt(&mut buf, format_args!("{n}")).ok()?;
    decimal_text(buf.as_str())
}

/// A short text formatted without allocating (a JSON number's shortest form fits in 64 bytes).
struct StackText {
    bytes: [u8; 64],
    len: usize,
}

impl Default for StackText {
    fn default() -> Self {
        StackText {
            bytes: [0; 64],
            len: 0,
        }
    }
}

impl StackText {
    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or_default()
    }
}

impl std::fmt::Write for StackText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        self.bytes
            .get_mut(self.len..end)
            .ok_or(std::fmt::Error)?
            .copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
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
    use std::str::FromStr;

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
