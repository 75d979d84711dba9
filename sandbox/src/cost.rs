//! Solvimon cost prediction (`?cost_prediction=true`): Σ over `meter_values` of (`number` |
//! `count` | `amount.quantity`) × the meter's unit price for that value reference, plus tax at
//! the meter's rate.
//!
//! Policy: exact decimals with checked arithmetic, computed from the request and the fixture
//! alone (before the store is locked). A value the decimal type cannot hold exactly, or a cost
//! beyond its range, is a 422 `INVALID_FIELD` naming the value, never priced as `0` and never
//! a panic. A value without a price in the meter is not priced.

// Error values are whole HTTP answers built once per request; boxing them buys nothing.
#![allow(clippy::result_large_err)]

use rust_decimal::Decimal;
use serde_json::Value;

use crate::decimal;
use crate::fixture::Meter;
use crate::respond::SolvimonError;

/// A predicted cost: amounts excluding and including tax, in the meter's currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cost {
    /// Σ units × unit price.
    pub excluding_tax: Decimal,
    /// `excluding_tax` plus tax at the meter's rate.
    pub including_tax: Decimal,
}

fn out_of_range(field: String, message: String) -> SolvimonError {
    SolvimonError::invalid(422, "INVALID_FIELD", message).field(field)
}

/// The field holding a meter value's units and its text: the first string of `number`,
/// `count` and `amount.quantity`.
fn units(value: &Value) -> Option<(&'static str, &str)> {
    ["number", "count"]
        .into_iter()
        .find_map(|k| value.get(k).and_then(Value::as_str).map(|t| (k, t)))
        .or_else(|| {
            let quantity = value.get("amount")?.get("quantity")?.as_str()?;
            Some(("amount.quantity", quantity))
        })
}

/// The cost of `body`'s `meter_values` at `meter`'s prices.
pub fn predict(meter: &Meter, body: &Value) -> Result<Cost, SolvimonError> {
    let overflow = |field: String| {
        out_of_range(
            field,
            format!(
                "the predicted cost is beyond the exact decimal range (±{})",
                Decimal::MAX
            ),
        )
    };
    let values = body.get("meter_values").and_then(Value::as_array);
    let mut excluding_tax = Decimal::ZERO;
    for (i, value) in values.into_iter().flatten().enumerate() {
        let Some(price) = value
            .get("reference")
            .and_then(Value::as_str)
            .and_then(|r| meter.prices.get(r))
            .and_then(|p| decimal::parse(p))
        else {
            continue;
        };
        let Some((field, text)) = units(value) else {
            continue;
        };
        let units = decimal::parse(text).ok_or_else(|| {
            out_of_range(
                format!("meter_values.{i}.{field}"),
                format!(
                    "`{text}` is not a decimal the sandbox can price exactly (at most ±{} with up to 28 decimals)",
                    Decimal::MAX
                ),
            )
        })?;
        excluding_tax = units
            .checked_mul(price)
            .and_then(|cost| excluding_tax.checked_add(cost))
            .ok_or_else(|| overflow(format!("meter_values.{i}")))?;
    }
    let including_tax = excluding_tax
        .checked_mul(meter.tax_rate)
        .and_then(|tax| excluding_tax.checked_add(tax))
        .ok_or_else(|| overflow("meter_values".into()))?;
    Ok(Cost {
        excluding_tax,
        including_tax,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture::Fixture;
    use serde_json::json;

    fn api_calls() -> Meter {
        Fixture::default_fixture()
            .meters
            .into_iter()
            .find(|m| m.reference == "api_calls")
            .unwrap()
    }

    #[test]
    fn costs_are_exact_and_keep_their_scale() {
        let body = json!({"meter_values": [{"reference": "call_count", "number": "3"},
            {"reference": "gb_stored", "amount": {"quantity": "1.5"}}, {"reference": "unpriced", "number": "x"}]});
        let cost = predict(&api_calls(), &body).unwrap();
        assert_eq!(cost.excluding_tax.to_string(), "0.3345");
        assert_eq!(cost.including_tax.to_string(), "0.404745");
    }

    #[test]
    fn values_beyond_the_range_and_overflowing_sums_are_422s_naming_the_value() {
        // 5e28 × 0.10 = 5e27 fits; 15 of them (7.5e28) fit, 16 do not; 14 (7e28) fit but not
        // with 21 % tax on top.
        let big = json!({"reference": "call_count", "number": "50000000000000000000000000000"});
        for (values, field) in [
            (
                json!([{"reference": "call_count", "number": "79228162514264337593543950336"}]),
                "meter_values.0.number",
            ),
            (
                json!([{"reference": "call_count", "count": "1e40"}]),
                "meter_values.0.count",
            ),
            (
                json!([{"reference": "gb_stored", "amount": {"quantity": "abc"}}]),
                "meter_values.0.amount.quantity",
            ),
            (Value::Array(vec![big.clone(); 16]), "meter_values.15"),
            (Value::Array(vec![big; 14]), "meter_values"),
        ] {
            let err = predict(&api_calls(), &json!({ "meter_values": values })).unwrap_err();
            assert_eq!(
                (err.status, err.code, err.field.as_deref()),
                (422, "INVALID_FIELD", Some(field)),
                "{}",
                err.message
            );
        }
    }
}
