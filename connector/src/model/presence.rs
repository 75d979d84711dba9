//! Presence and nullability of fields, one field type per combination the pages use.
//!
//! Policy: exactly as the seed pages say, and stated by the field's type so that serde and the
//! JSON Schema cannot disagree:
//!
//! | page says | field type | absent | `null` | schema |
//! |---|---|---|---|---|
//! | "… or null", "Optional"; nested SDK objects | `Option<T>` | allowed | allowed | T or null |
//! | "object/string/boolean", "Optional" | [`OptionalNonNull<T>`] | allowed | rejected | T |
//! | "Required", "string or null" | [`NullableString`] | rejected | allowed | string or null |
//!
//! Optional fields are declared `#[serde(default, skip_serializing_if = "…")]` with
//! `Option::is_none` or [`OptionalNonNull::is_absent`], so an absent value stays absent.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

use super::fields::inline_schema;

/// An "Optional, not nullable" field: the key may be absent (`None`), but `null` is rejected.
/// Its schema is `T`'s (same name, same `$defs` entry), so it never admits `null`.
///
/// Declare it with `#[serde(default, skip_serializing_if = "OptionalNonNull::is_absent")]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct OptionalNonNull<T>(pub Option<T>);

impl<T> OptionalNonNull<T> {
    /// Whether the key is absent (for `skip_serializing_if`).
    pub fn is_absent(&self) -> bool {
        self.0.is_none()
    }
}

impl<T> Default for OptionalNonNull<T> {
    fn default() -> Self {
        Self(None)
    }
}

impl<T> Deref for OptionalNonNull<T> {
    type Target = Option<T>;
    fn deref(&self) -> &Option<T> {
        &self.0
    }
}

impl<T> From<Option<T>> for OptionalNonNull<T> {
    fn from(value: Option<T>) -> Self {
        Self(value)
    }
}

impl<T> From<OptionalNonNull<T>> for Option<T> {
    fn from(value: OptionalNonNull<T>) -> Self {
        value.0
    }
}

/// The error for `null` when `T` itself would accept it (e.g. `T = Option<U>`).
const NULL_NOT_ALLOWED: &str = "null is not allowed here (omit the key instead)";

impl<'de, T: Deserialize<'de>> Deserialize<'de> for OptionalNonNull<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct NonNull<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for NonNull<T> {
            type Value = OptionalNonNull<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a value other than null")
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                T::deserialize(d).map(|v| OptionalNonNull(Some(v)))
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                // `T`'s own "invalid type: null, expected …"; our message if `T` takes null.
                match T::deserialize(de::value::UnitDeserializer::<E>::new()) {
                    Ok(_) => Err(E::custom(NULL_NOT_ALLOWED)),
                    Err(e) => Err(e),
                }
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                self.visit_none()
            }
        }
        d.deserialize_option(NonNull(PhantomData))
    }
}

impl<T: JsonSchema> JsonSchema for OptionalNonNull<T> {
    fn inline_schema() -> bool {
        T::inline_schema()
    }
    fn schema_name() -> Cow<'static, str> {
        T::schema_name()
    }
    fn schema_id() -> Cow<'static, str> {
        T::schema_id()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        T::json_schema(generator)
    }
}

/// A "Required, string or null" field: the key must be present; its value is a string or
/// `null` (`None`). Schema `{"type": ["string", "null"]}`, listed in `required`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(transparent)]
pub struct NullableString(pub Option<String>);

impl Deref for NullableString {
    type Target = Option<String>;
    fn deref(&self) -> &Option<String> {
        &self.0
    }
}

impl From<Option<String>> for NullableString {
    fn from(value: Option<String>) -> Self {
        Self(value)
    }
}

impl<'de> Deserialize<'de> for NullableString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct StringOrNull;
        impl Visitor<'_> for StringOrNull {
            type Value = NullableString;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or null")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<NullableString, E> {
                Ok(NullableString(Some(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<NullableString, E> {
                Ok(NullableString(Some(v)))
            }
            fn visit_unit<E: de::Error>(self) -> Result<NullableString, E> {
                Ok(NullableString(None))
            }
        }
        // Not `deserialize_option`: serde answers that for an absent key with `None`, which
        // would make the key optional. `deserialize_any` reports it as a missing field.
        d.deserialize_any(StringOrNull)
    }
}

inline_schema!(NullableString, json_schema!({ "type": ["string", "null"] }));

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    struct Probe {
        #[serde(default, skip_serializing_if = "OptionalNonNull::is_absent")]
        amount: OptionalNonNull<u32>,
        customer_id: NullableString,
    }

    fn probe(body: Value) -> Result<Probe, String> {
        serde_path_to_error::deserialize(&body).map_err(|e| e.to_string())
    }

    #[test]
    fn optional_non_null_absent_is_none_and_stays_absent() {
        let p = probe(json!({"customer_id": "c"})).unwrap();
        assert_eq!(p.amount, OptionalNonNull(None));
        assert_eq!(
            serde_json::to_value(&p).unwrap(),
            json!({"customer_id": "c"})
        );
    }

    #[test]
    fn optional_non_null_rejects_null_naming_the_field() {
        let err = probe(json!({"amount": null, "customer_id": "c"})).unwrap_err();
        assert_eq!(err, "amount: invalid type: null, expected u32");
        // Also when the inner type would take `null`.
        let err = serde_json::from_value::<OptionalNonNull<Option<u32>>>(Value::Null);
        assert_eq!(err.unwrap_err().to_string(), NULL_NOT_ALLOWED);
    }

    #[test]
    fn optional_non_null_value_is_some_and_serializes_back_the_same() {
        let body = json!({"amount": 7, "customer_id": "c"});
        let p = probe(body.clone()).unwrap();
        assert_eq!(p.amount, OptionalNonNull(Some(7)));
        assert_eq!(p.amount.as_ref(), Some(&7));
        assert_eq!(serde_json::to_value(&p).unwrap(), body);
        // The inner type's own errors come through unchanged.
        let err = probe(json!({"amount": "7", "customer_id": "c"})).unwrap_err();
        assert!(err.starts_with("amount: invalid type: string"), "{err}");
    }

    #[test]
    fn nullable_string_requires_the_key_and_keeps_null() {
        let err = probe(json!({})).unwrap_err();
        assert_eq!(err, "missing field `customer_id`");
        let p = probe(json!({"customer_id": null})).unwrap();
        assert_eq!(p.customer_id, NullableString(None));
        assert_eq!(
            serde_json::to_value(&p).unwrap(),
            json!({"customer_id": null})
        );
        let err = probe(json!({"customer_id": 5})).unwrap_err();
        assert!(
            err.starts_with("customer_id: invalid type: integer"),
            "{err}"
        );
    }

    #[test]
    fn schemas_are_the_inner_type_and_nullable_string() {
        #[derive(Deserialize, JsonSchema)]
        #[allow(dead_code)]
        struct Inner {
            n: u32,
        }
        #[derive(Deserialize, JsonSchema)]
        #[allow(dead_code)]
        struct Outer {
            #[serde(default, skip_serializing_if = "OptionalNonNull::is_absent")]
            inner: OptionalNonNull<Inner>,
            #[serde(default, skip_serializing_if = "OptionalNonNull::is_absent")]
            flag: OptionalNonNull<bool>,
            id: NullableString,
        }
        let schema = schemars::schema_for!(Outer).to_value();
        assert_eq!(
            schema["properties"],
            json!({
                "inner": {"$ref": "#/$defs/Inner"},
                "flag": {"type": "boolean"},
                "id": {"type": ["string", "null"]}
            })
        );
        assert_eq!(schema["required"], json!(["id"]));
        let defs: Vec<&String> = schema["$defs"].as_object().unwrap().keys().collect();
        assert_eq!(defs, ["Inner"]);
    }

    #[test]
    fn a_solvimon_request_names_the_null_field() {
        use crate::catalog::EndpointId;
        use crate::validators::deserialize_request;
        let body = json!({"product_item_id": "p", "amount": null});
        let err = deserialize_request(EndpointId::SolvimonIngestAdjustment, &body).unwrap_err();
        assert_eq!(err, "amount: invalid type: null, expected struct Amount");
    }
}
