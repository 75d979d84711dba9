//! "Did you mean": the field an unknown one most likely misspells.
//!
//! Policy: a guess is made only when it is likely right. The name must be close to one the
//! object allows (and has not been given), one candidate must be closer than the rest, and
//! the unknown name must not be a field of another object of the same schema (put in the
//! wrong place, not misspelt). Otherwise no guess: a wrong one costs more than none.

use serde_json::Value;

/// The field among `allowed` that `key` misspells, per the module's policy; `schema` is the
/// whole schema the object's rules come from.
pub(super) fn misspelt<'a>(
    key: &str,
    allowed: impl Iterator<Item = &'a String>,
    schema: &Value,
) -> Option<&'a str> {
    if field_anywhere(schema, key) {
        return None;
    }
    nearest(key, allowed)
}

/// The field among `allowed` that `key` most likely misspells: the same name but for case,
/// `_` and `-` (`usage_time` → `usageTime`), else the one closest by edit distance
/// (transpositions count once) within a third of the name's length (`_`/`-` not counted), at
/// least one edit and at most three. No guess when two are equally close.
fn nearest<'a>(key: &str, allowed: impl Iterator<Item = &'a String>) -> Option<&'a str> {
    let fold = |s: &str| -> String {
        s.chars()
            .filter(|c| *c != '_' && *c != '-')
            .flat_map(char::to_lowercase)
            .collect()
    };
    let folded = fold(key);
    let limit = (folded.chars().count() / 3).clamp(1, 3);
    let mut best: Option<(usize, &str)> = None;
    let mut tied = false;
    for name in allowed {
        let distance = strsim::damerau_levenshtein(&folded, &fold(name));
        match best {
            _ if distance > limit => {}
            Some((d, _)) if distance > d => {}
            Some((d, _)) if distance == d => tied = true,
            _ => (best, tied) = (Some((distance, name.as_str())), false),
        }
    }
    best.filter(|_| !tied).map(|(_, name)| name)
}

/// Whether `key` is a field of some object anywhere in `schema` (a field put in the wrong
/// object is misplaced, not misspelt: no guess is made for it).
pub(super) fn field_anywhere(schema: &Value, key: &str) -> bool {
    match schema {
        Value::Object(map) => {
            map.get("properties")
                .and_then(Value::as_object)
                .is_some_and(|p| p.contains_key(key))
                || map.values().any(|v| field_anywhere(v, key))
        }
        Value::Array(items) => items.iter().any(|v| field_anywhere(v, key)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn a_guess_is_made_only_when_one_name_is_clearly_meant() {
        let allowed = names(&["subscriptionId", "quantity", "usageTime"]);
        let guess = |key: &str| nearest(key, allowed.iter());
        assert_eq!(guess("quantiy"), Some("quantity"));
        assert_eq!(
            guess("qunatity"),
            Some("quantity"),
            "a transposition is one edit"
        );
        assert_eq!(guess("usage_time"), Some("usageTime"));
        assert_eq!(guess("SUBSCRIPTION-ID"), Some("subscriptionId"));
        assert_eq!(guess("colour"), None);
        // Long names are not stretched into other long names (at most three edits).
        let solvimon = names(&["product_item_id"]);
        assert_eq!(nearest("pricing_item_id", solvimon.iter()), None);
        // Two names equally close: no guess.
        let both = names(&["value", "values"]);
        assert_eq!(nearest("valuez", both.iter()), None);
    }

    #[test]
    fn a_field_of_another_object_is_misplaced_not_misspelt() {
        let schema = json!({
            "properties": {"selector": {"properties": {"rules": {}}, "additionalProperties": false}},
            "$defs": {"Customer": {"properties": {"roles": {}}}}
        });
        let rules = names(&["rules"]);
        assert_eq!(misspelt("rulez", rules.iter(), &schema), Some("rules"));
        assert_eq!(misspelt("roles", rules.iter(), &schema), None);
    }
}
