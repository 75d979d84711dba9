//! Exact decimals in JSON: quantities are read as the decimal they were written as and written
//! as the shortest JSON number that reads back the same (`5.125` stays `5.125`), without
//! allocating on the way.

use rust_decimal::Decimal;
use serde_json::{Number, Value, json};

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
