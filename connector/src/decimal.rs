//! Exact decimals: quantities are read from the JSON text they were written as (serde_json
//! keeps a number's text: the workspace enables `arbitrary_precision`), held as [`Decimal`]
//! (never `f64`) and written as the decimal's own text (`5.125` stays `5.125`,
//! `12345678901234567.5` stays `12345678901234567.5`).
//!
//! Policy: the billing unit rule — a quantity is at least [`MIN_QUANTITY`] with at most
//! [`MAX_SCALE`] decimals — is stated here once; the model's `Quantity`, the published schema's
//! [`scale_comment`], the validators' exact-decimals keyword, the Rebilly rounding rule,
//! validation hints and Decision conditions all read it from here.

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

/// How the published schemas state the decimals rule: a `$comment` (external validators in
/// their default, strict modes accept it), never `multipleOf`, which validators that divide
/// binary floats misjudge (`2.675 / 0.001` is not a whole double). The connector's validators
/// recognise this exact text and check the rule on the number's text (`docs/schemas.md`).
pub fn scale_comment() -> String {
    format!(
        "At most {MAX_SCALE} decimal places (1.001, not 1.2345): checked exactly, on the number's \
         text, by usage-connector and its sandbox. Not written as multipleOf: validators that \
         divide binary floats reject valid values such as 2.675."
    )
}

/// The decimals a JSON number's text carries once trailing zeros are dropped (`1.2340` → 3,
/// `1.5e2` → 0, `5e-4` → 4, `2.0000000000000001` → 16); `None` if `text` is not a JSON
/// number. Read from the text alone: no float rounding and no range limit.
pub fn text_scale(text: &str) -> Option<u64> {
    let unsigned = text.strip_prefix('-').unwrap_or(text);
    let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((m, e)) => (m, Some(e)),
        None => (unsigned, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if !digits(int) || (mantissa.contains('.') && !digits(frac)) {
        return None;
    }
    let exponent: i128 = match exponent {
        None => 0,
        Some(e) => {
            let magnitude = e.strip_prefix(['+', '-']).unwrap_or(e);
            if !digits(magnitude) {
                return None;
            }
            // Saturate: a longer exponent moves the point past any digit string anyway.
            let m = match magnitude.trim_start_matches('0') {
                "" => 0,
                m => m.parse().unwrap_or(i128::from(u64::MAX)),
            };
            if e.starts_with('-') { -m } else { m }
        }
    };
    // value = significant digits × 10^(exponent − fraction length + trailing zeros)
    let all = format!("{int}{frac}");
    let significant = all.trim_end_matches('0');
    if significant.trim_start_matches('0').is_empty() {
        return Some(0);
    }
    let trailing = (all.len() - significant.len()) as i128;
    let scale = frac.len() as i128 - exponent - trailing;
    Some(u64::try_from(scale.max(0)).unwrap_or(u64::MAX))
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

/// Reads a number's text (`1.5`, `2`, `1e3`, and what spreadsheets write: `.5`, `5.`, `+2`,
/// `007`) as a decimal; anything else is `None`: `1_000` (the decimal parser reads it as
/// 1000, a guess at what `1_5` meant too), ` 1`, `0x10`.
pub fn decimal_text(text: &str) -> Option<Decimal> {
    if !number_shaped(text) {
        return None;
    }
    Decimal::from_str_exact(text)
        .or_else(|_| Decimal::from_scientific(text))
        .ok()
}

/// Whether `text` is a number's text: a sign, digits with at most one `.` (a digit on at
/// least one side), then optionally `e`/`E`, a sign and digits.
fn number_shaped(text: &str) -> bool {
    let mut rest = text.strip_prefix(['-', '+']).unwrap_or(text).as_bytes();
    let digits = |rest: &mut &[u8]| {
        let n = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        *rest = &rest[n..];
        n > 0
    };
    let whole = digits(&mut rest);
    let fraction = match rest.strip_prefix(b".") {
        Some(after) => {
            rest = after;
            digits(&mut rest)
        }
        None => false,
    };
    if !whole && !fraction {
        return false;
    }
    if let Some(after) = rest.strip_prefix(b"e").or_else(|| rest.strip_prefix(b"E")) {
        rest = after
            .strip_prefix(b"+")
            .or_else(|| after.strip_prefix(b"-"))
            .unwrap_or(after);
        if !digits(&mut rest) {
            return false;
        }
    }
    rest.is_empty()
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
    fn text_scale_counts_the_decimals_as_written() {
        for (text, scale) in [
            ("3", 0),
            ("1.2340", 3),
            ("1.2345", 4),
            ("2.0000000000000001", 16),
            ("9999999.999", 3),
            ("1.5e2", 0),
            ("1.2345e1", 3),
            ("5e-4", 4),
            ("100e-3", 1),
            ("-0.001", 3),
            ("0.000", 0),
            ("1E+2", 0),
            ("1e-0000000000000000000000000000000000000000001", 1),
            ("1e-99999999999999999999999999999999999999999", u64::MAX),
        ] {
            assert_eq!(text_scale(text), Some(scale), "{text}");
        }
        for text in ["", "-", "1.", ".5", "1e", "1e+-2", "abc", "\"1.5\"", "1.5x"] {
            assert_eq!(text_scale(text), None, "{text}");
        }
        // The text and the exact decimal agree wherever the decimal can hold the value.
        for text in ["1.2340", "2.0000000000000001", "5e-4", "1.5e2"] {
            let d = decimal_text(text).unwrap();
            assert_eq!(
                text_scale(text),
                Some(u64::from(d.normalize().scale())),
                "{text}"
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
        assert_eq!(
            decimal_text("007.5"),
            Some(Decimal::from_str("7.5").unwrap())
        );
        assert_eq!(
            decimal_text("2.5E-1"),
            Some(Decimal::from_str("0.25").unwrap())
        );
        for (text, d) in [(".5", "0.5"), ("5.", "5"), ("+2", "2"), ("-.5", "-0.5")] {
            assert_eq!(
                decimal_text(text),
                Some(Decimal::from_str(d).unwrap()),
                "{text}"
            );
        }
        // What the decimal parser would read as a number, but no one writes as one.
        for text in [
            "1_000", "1_5", ".", "+", "1e", "1e+", "1.5.2", "1 ", "0x10", "1e3_0", "--1",
        ] {
            assert_eq!(decimal_text(text), None, "{text}");
        }
    }
}
