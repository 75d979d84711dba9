//! Response bodies: kept as the bytes the API sent and read without building a DOM.
//!
//! Policy: a JSON body serializes as the JSON the API sent; any other body is a string (lossy
//! UTF-8) and an empty one is `null` — the same values [`ResponseBody::json`] gives. The
//! executor reads the few fields that decide an outcome (`id`, `quantity`,
//! `processed_details.type`) straight from the text; a `Value` is built only when someone needs
//! one (an error, a lookup, a runtime passing JSON values on), not for every answer.

use std::borrow::Cow;

use bytes::Bytes;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::decimal::{decimal_text, number_decimal};

/// A response body, as received.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResponseBody(Bytes);

impl ResponseBody {
    /// The body of an answer.
    pub fn new(bytes: Bytes) -> Self {
        ResponseBody(bytes)
    }

    /// The body that serializes as `value`.
    pub fn from_value(value: &Value) -> Self {
        ResponseBody(Bytes::from(
            serde_json::to_vec(value).expect("JSON values serialize"),
        ))
    }

    /// The bytes as received.
    pub fn bytes(&self) -> &Bytes {
        &self.0
    }

    /// The body as a JSON value: parsed JSON, else the text as a string; `null` when empty.
    pub fn json(&self) -> Value {
        if self.0.is_empty() {
            return Value::Null;
        }
        serde_json::from_slice(&self.0)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&self.0).into_owned()))
    }

    /// The fields of the answer that decide an outcome.
    pub(crate) fn facts(&self) -> Facts<'_> {
        match serde_json::from_slice::<Peek<'_>>(&self.0) {
            Ok(peek) => Facts {
                id: peek.id.and_then(raw_str),
                quantity: peek.quantity.and_then(|q| decimal_text(q.get())),
                processed_type: peek
                    .processed_details
                    .and_then(|d| serde_json::from_str::<Details<'_>>(d.get()).ok())
                    .and_then(|d| d.kind)
                    .and_then(raw_str),
            },
            // Not a JSON object (or one with repeated keys): read it as `json()` does.
            Err(_) => Facts::of(&self.json()).into_owned(),
        }
    }
}

impl Serialize for ResponseBody {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.0.is_empty() {
            return serializer.serialize_unit();
        }
        match serde_json::from_slice::<&RawValue>(&self.0) {
            Ok(raw) => raw.serialize(serializer),
            Err(_) => serializer.serialize_str(&String::from_utf8_lossy(&self.0)),
        }
    }
}

/// What decides an outcome, as far as the answer says.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Facts<'a> {
    /// `id`, when a string.
    pub id: Option<Cow<'a, str>>,
    /// `quantity`, when a number.
    pub quantity: Option<Decimal>,
    /// `processed_details.type`, when a string (Solvimon's `DUPLICATE`).
    pub processed_type: Option<Cow<'a, str>>,
}

impl<'a> Facts<'a> {
    /// The facts of a parsed answer.
    pub fn of(value: &'a Value) -> Self {
        Facts {
            id: value["id"].as_str().map(Cow::Borrowed),
            quantity: number_decimal(&value["quantity"]),
            processed_type: value["processed_details"]["type"]
                .as_str()
                .map(Cow::Borrowed),
        }
    }

    fn into_owned(self) -> Facts<'static> {
        Facts {
            id: self.id.map(|c| Cow::Owned(c.into_owned())),
            quantity: self.quantity,
            processed_type: self.processed_type.map(|c| Cow::Owned(c.into_owned())),
        }
    }
}

#[derive(Deserialize)]
struct Peek<'a> {
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    quantity: Option<&'a RawValue>,
    #[serde(borrow, default)]
    processed_details: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Details<'a> {
    #[serde(borrow, default, rename = "type")]
    kind: Option<&'a RawValue>,
}

/// A JSON string's text (borrowed unless it has escapes); `None` for other values.
fn raw_str(raw: &RawValue) -> Option<Cow<'_, str>> {
    serde_json::from_str::<&str>(raw.get())
        .map(Cow::Borrowed)
        .or_else(|_| serde_json::from_str::<String>(raw.get()).map(Cow::Owned))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(text: &str) -> ResponseBody {
        ResponseBody::new(Bytes::copy_from_slice(text.as_bytes()))
    }

    #[test]
    fn serializes_as_the_value_it_parses_to() {
        for text in [
            r#"{"id": "a", "quantity": 1.5, "_links": [{"rel": "self"}]}"#,
            "[1, 2]",
            "\"text\"",
            "not json",
            "",
            "{\"a\": 1} trailing",
        ] {
            let b = body(text);
            assert_eq!(serde_json::to_value(&b).unwrap(), b.json(), "{text:?}");
        }
        assert_eq!(body("").json(), Value::Null);
        assert_eq!(body("not json").json(), json!("not json"));
    }

    #[test]
    fn facts_read_from_the_text_match_facts_of_the_value() {
        for text in [
            r#"{"id": "sub_usg_1", "quantity": 2.5, "usageTime": "2025-05-01T12:00:00Z"}"#,
            r#"{"id": "a\"b\u0041", "quantity": 1e3}"#,
            r#"{"processed_details": {"type": "DUPLICATE", "x": [1]}, "quantity": "3"}"#,
            r#"{"id": 7, "quantity": null, "processed_details": "DUPLICATE"}"#,
            r#"{"id": "first", "id": "second"}"#,
            r#"[{"id": "x"}]"#,
            "not json",
            "",
        ] {
            let b = body(text);
            let value = b.json();
            assert_eq!(b.facts(), Facts::of(&value), "{text:?}");
        }
        let b = body(r#"{"quantity": 1070468.14, "id": "u"}"#);
        assert_eq!(b.facts().quantity, Some(Decimal::new(107046814, 2)));
    }
}
