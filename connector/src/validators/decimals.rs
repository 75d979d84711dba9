//! The exact-decimals keyword: how the connector's own validators check "at most
//! [`decimal::MAX_SCALE`] decimals" on a number's text.
//!
//! Policy: the published schemas state the rule only as a `$comment`
//! ([`decimal::scale_comment`]), so external validators in their default modes neither misjudge
//! it (`multipleOf` on doubles rejects `2.675`) nor fail on an unknown keyword. At compile time
//! [`mark`] adds [`KEYWORD`] to every subschema carrying that exact comment, and [`register`]
//! makes jsonschema check it on the number as written (`arbitrary_precision`), never through
//! `f64`: `1.2345` and `2.0000000000000001` are rejected.

use jsonschema::paths::Location;
use jsonschema::{Keyword, ValidationError, ValidationOptions};
use serde_json::{Map, Value};

use crate::decimal;

/// The internal keyword (never published): `"maxDecimalPlaces": 3` rejects a number with more
/// decimals; other instance types pass, as with any numeric keyword.
pub const KEYWORD: &str = "maxDecimalPlaces";

/// Adds [`KEYWORD`] (= [`decimal::MAX_SCALE`]) to every subschema of `schema` whose `$comment`
/// is [`decimal::scale_comment`].
pub fn mark(schema: &mut Value) {
    mark_with(schema, &decimal::scale_comment());
}

fn mark_with(schema: &mut Value, comment: &str) {
    match schema {
        Value::Object(obj) => {
            if obj.get("$comment").and_then(Value::as_str) == Some(comment) {
                obj.insert(KEYWORD.into(), decimal::MAX_SCALE.into());
            }
            obj.values_mut().for_each(|v| mark_with(v, comment));
        }
        Value::Array(list) => list.iter_mut().for_each(|v| mark_with(v, comment)),
        _ => {}
    }
}

/// Registers [`KEYWORD`] with jsonschema's options.
pub fn register<R>(options: ValidationOptions<'_, R>) -> ValidationOptions<'_, R> {
    options.with_keyword(KEYWORD, factory)
}

fn factory<'a>(
    _parent: &'a Map<String, Value>,
    value: &'a Value,
    _path: Location,
) -> Result<Box<dyn for<'i> Keyword<'i>>, ValidationError<'a>> {
    match value.as_u64() {
        Some(max) => Ok(Box::new(MaxDecimalPlaces(max))),
        None => Err(ValidationError::schema(format!(
            "{KEYWORD} must be a non-negative integer, found {value}"
        ))),
    }
}

/// At most `.0` decimals, counted on the number's text ([`decimal::text_scale`]).
struct MaxDecimalPlaces(u64);

impl<'i> Keyword<'i> for MaxDecimalPlaces {
    fn validate(&self, instance: &'i Value) -> Result<(), ValidationError<'i>> {
        if self.is_valid(instance) {
            return Ok(());
        }
        Err(ValidationError::custom(format!(
            "{instance} has more than {} decimal places",
            self.0
        )))
    }

    fn is_valid(&self, instance: &'i Value) -> bool {
        match instance {
            Value::Number(n) => decimal::text_scale(n.as_str()).is_some_and(|s| s <= self.0),
            _ => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn marked() -> Value {
        let mut schema = json!({
            "type": "object",
            "properties": {
                "q": { "$comment": decimal::scale_comment(), "type": "number" },
                "other": { "$comment": "something else", "type": "number" },
                "list": { "items": { "anyOf": [{ "$comment": decimal::scale_comment() }] } }
            }
        });
        mark(&mut schema);
        schema
    }

    #[test]
    fn only_subschemas_with_the_exact_comment_are_marked() {
        let schema = marked();
        assert_eq!(schema["properties"]["q"][KEYWORD], decimal::MAX_SCALE);
        assert_eq!(schema["properties"]["other"].get(KEYWORD), None);
        assert_eq!(
            schema["properties"]["list"]["items"]["anyOf"][0][KEYWORD],
            decimal::MAX_SCALE
        );
        assert_eq!(schema.get(KEYWORD), None);
    }

    #[test]
    fn the_keyword_reads_the_number_as_written() {
        let v = register(jsonschema::draft202012::options())
            .build(&marked())
            .unwrap();
        let with = |q: &str| serde_json::from_str::<Value>(&format!(r#"{{"q": {q}}}"#)).unwrap();
        for ok in [
            "1.001",
            "2.675",
            "1070468.14",
            "9999999.999",
            "1.2340",
            "3",
            "1.5e2",
        ] {
            assert!(v.is_valid(&with(ok)), "{ok}");
        }
        for bad in ["1.2345", "2.0000000000000001", "5e-4", "0.0005"] {
            let instance = with(bad);
            assert!(!v.is_valid(&instance), "{bad}");
            let errors: Vec<_> = v.iter_errors(&instance).collect();
            assert_eq!(errors.len(), 1, "{bad}");
            assert_eq!(errors[0].kind().keyword(), KEYWORD);
            assert_eq!(errors[0].instance_path().as_str(), "/q");
            assert_eq!(
                errors[0].to_string(),
                format!("{bad} has more than 3 decimal places")
            );
        }
    }

    #[test]
    fn other_instance_types_are_left_to_other_keywords() {
        let v = register(jsonschema::draft202012::options())
            .build(&json!({ KEYWORD: 3 }))
            .unwrap();
        assert!(v.is_valid(&json!("1.23456")));
        assert!(v.is_valid(&json!(null)));
        assert!(!v.is_valid(&json!(1.2345)));
    }

    #[test]
    fn a_malformed_keyword_value_is_a_compile_error() {
        let schema = json!({ KEYWORD: "three" });
        assert!(
            register(jsonschema::draft202012::options())
                .build(&schema)
                .is_err()
        );
    }
}
