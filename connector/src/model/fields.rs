//! Constrained scalar types shared by the request and response models.
//!
//! Policy: every constraint a vendor page states is carried by a type, and the same constant
//! drives both the serde check and the emitted JSON Schema, so the two cannot drift apart.
//! Patterns copied from the pages are anchored at both ends (`^…$`): JSON Schema patterns are
//! unanchored searches, so the pages' `^[a-zA-Z0-9_\-]*` would otherwise accept any string.
//! `^.*$` additionally carries a portable "no line terminator" guard because `.` and `$` differ
//! between regex engines (Python's `$` matches before a final `\n`, Rust's `.` matches `\r`).

use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

use regex::Regex;
use rust_decimal::Decimal;
use schemars::{Schema, json_schema};
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};

use crate::decimal;

/// Characters the single-line guard forbids: the line terminators of Java's `.`
/// (`\n`, `\r`, U+0085, U+2028, U+2029), which is what `^.*$` means to the API.
pub const LINE_TERMINATORS: &str = "[\\n\\r\\u0085\\u2028\\u2029]";

/// A string rule: optional anchored pattern, length bounds in Unicode scalar values, and an
/// optional single-line guard.
#[derive(Debug)]
pub struct StringRule {
    /// Anchored regular expression (JSON Schema `pattern`).
    pub pattern: Option<&'static str>,
    /// `minLength`.
    pub min: usize,
    /// `maxLength`.
    pub max: Option<usize>,
    /// Reject line terminators (emitted as `not: {type: string, pattern: LINE_TERMINATORS}`).
    pub single_line: bool,
}

impl StringRule {
    /// Checks `s` against the rule; `Err` holds a message stating what was expected.
    pub fn check(&self, s: &str, re: Option<&Regex>) -> Result<(), String> {
        let len = s.chars().count();
        if len < self.min {
            return Err(format!(
                "expected at least {} characters, found {len}",
                self.min
            ));
        }
        if let Some(max) = self.max
            && len > max
        {
            return Err(format!("expected at most {max} characters, found {len}"));
        }
        if self.single_line && s.contains(['\n', '\r', '\u{85}', '\u{2028}', '\u{2029}']) {
            return Err("expected a single line (no line terminator)".to_owned());
        }
        if let (Some(re), Some(p)) = (re, self.pattern)
            && !re.is_match(s)
        {
            return Err(format!("expected a string matching {p}"));
        }
        Ok(())
    }

    /// The JSON Schema for this rule (a `type: string` schema).
    pub fn schema(&self) -> Schema {
        let mut s = json_schema!({ "type": "string" });
        if let Some(p) = self.pattern {
            s.insert("pattern".into(), p.into());
        }
        if self.min > 0 || self.max.is_some() {
            s.insert("minLength".into(), self.min.into());
        }
        if let Some(max) = self.max {
            s.insert("maxLength".into(), max.into());
        }
        if self.single_line {
            s.insert(
                "not".into(),
                serde_json::json!({ "type": "string", "pattern": LINE_TERMINATORS }),
            );
        }
        s
    }
}

/// Implements `JsonSchema` for `$name` as the fixed schema `$schema`, inlined (so each field
/// shows its constraint instead of a `$ref`).
macro_rules! inline_schema {
    ($name:ident, $schema:expr) => {
        impl ::schemars::JsonSchema for $name {
            fn inline_schema() -> bool {
                true
            }
            fn schema_name() -> ::std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }
            fn json_schema(_: &mut ::schemars::SchemaGenerator) -> ::schemars::Schema {
                $schema
            }
        }
    };
}
pub(crate) use inline_schema;

/// For a string newtype `$name(String)` with `new(s) -> Result<Self, String>`:
/// `as_str`, `Deserialize` through `new` (its message becomes serde's error), and the inlined
/// JSON Schema `$schema`.
macro_rules! checked_string {
    ($name:ident, $schema:expr) => {
        impl $name {
            /// The text as written.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                Self::new(String::deserialize(d)?).map_err(de::Error::custom)
            }
        }

        inline_schema!($name, $schema);
    };
}

/// Declares a string newtype checked by a [`StringRule`] on deserialization and described by
/// the same rule in its JSON Schema (inlined, so each field shows its constraint).
macro_rules! constrained_string {
    ($(#[$meta:meta])* $name:ident, $rule:expr) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The rule this type enforces.
            pub const RULE: StringRule = $rule;

            fn regex() -> Option<&'static Regex> {
                static RE: LazyLock<Option<Regex>> = LazyLock::new(|| {
                    $name::RULE.pattern.map(|p| Regex::new(p).expect("static pattern compiles"))
                });
                RE.as_ref()
            }

            /// Validates and wraps `s`.
            pub fn new(s: impl Into<String>) -> Result<Self, String> {
                let s = s.into();
                Self::RULE.check(&s, Self::regex())?;
                Ok(Self(s))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        checked_string!($name, Self::RULE.schema());
    };
}

constrained_string!(
    /// Solvimon ingest `reference` (charge, adjustment, persist): `^[a-zA-Z0-9_\-]*`, 0–256.
    /// The page writes the pattern without `$`; it is anchored here (see module docs).
    IngestReference,
    StringRule { pattern: Some(r"^[a-zA-Z0-9_\-]*$"), min: 0, max: Some(256), single_line: false }
);

constrained_string!(
    /// Solvimon calculate-cost `reference`: `^.*$`, 10–256 characters.
    EventReference,
    StringRule { pattern: Some("^.*$"), min: 10, max: Some(256), single_line: true }
);

constrained_string!(
    /// Solvimon charge `description`: `^[a-zA-Z0-9_\-\s+]*`, 0–256 (no dots or commas).
    ChargeDescription,
    StringRule { pattern: Some(r"^[a-zA-Z0-9_\-\s+]*$"), min: 0, max: Some(256), single_line: false }
);

constrained_string!(
    /// Solvimon adjustment `description`: `^.*$`, 0–256 characters, one line.
    AdjustmentDescription,
    StringRule { pattern: Some("^.*$"), min: 0, max: Some(256), single_line: true }
);

constrained_string!(
    /// Solvimon `Amount.quantity`: a decimal string `^-?[0-9]+(\.[0-9]+)?$`, 0–256 characters
    /// (negative allowed, e.g. a credit adjustment). Kept as text so no precision is lost.
    DecimalString,
    StringRule { pattern: Some(r"^-?[0-9]+(\.[0-9]+)?$"), min: 0, max: Some(256), single_line: false }
);

constrained_string!(
    /// Rebilly identifier (`subscriptionId`, `invoiceId`, …): at most 50 characters.
    RebillyId,
    StringRule { pattern: None, min: 0, max: Some(50), single_line: false }
);

constrained_string!(
    /// Solvimon customer `reference` (nested customer object): `^\S+$`, 0–256.
    CustomerReference,
    StringRule { pattern: Some(r"^\S+$"), min: 0, max: Some(256), single_line: false }
);

constrained_string!(
    /// Solvimon customer `email`: `(\S*@\S*\..*)`, 0–256 (the SDK's unanchored pattern; a
    /// search, so it needs an `@` followed somewhere by a dot).
    CustomerEmail,
    StringRule { pattern: Some(r"\S*@\S*\..*"), min: 0, max: Some(256), single_line: false }
);

impl DecimalString {
    /// The exact decimal value (the pattern guarantees it parses unless it exceeds 28 digits).
    pub fn to_decimal(&self) -> Option<Decimal> {
        Decimal::from_str(&self.0).ok()
    }
}

/// An ISO 8601 / RFC 3339 date-time (`format: date-time`), kept as written.
///
/// Solvimon rejects fractional seconds (`…45.157Z`); the schema follows the pages
/// (`datetime`) and the executor formats timestamps to whole seconds before sending.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Timestamp(String);

impl Timestamp {
    /// Parses an RFC 3339 date-time.
    pub fn new(s: impl Into<String>) -> Result<Self, String> {
        let s = s.into();
        chrono::DateTime::parse_from_rfc3339(&s).map_err(|e| {
            format!("expected an ISO 8601 date-time like 2024-07-01T10:50:00Z: {e}")
        })?;
        if s.contains(' ') {
            return Err("expected an ISO 8601 date-time with `T` between date and time".into());
        }
        Ok(Self(s))
    }

    /// The instant.
    pub fn instant(&self) -> chrono::DateTime<chrono::FixedOffset> {
        chrono::DateTime::parse_from_rfc3339(&self.0).expect("validated on construction")
    }
}

checked_string!(
    Timestamp,
    json_schema!({ "type": "string", "format": "date-time" })
);

/// Rebilly `usageTime`: an ISO 8601 date-time, or empty ("if this value is not provided or is
/// empty, the date and time of the request is used").
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct UsageTime(String);

impl UsageTime {
    /// Accepts `""` or an RFC 3339 date-time.
    pub fn new(s: impl Into<String>) -> Result<Self, String> {
        let s = s.into();
        if !s.is_empty() {
            Timestamp::new(s.clone())?;
        }
        Ok(Self(s))
    }
}

checked_string!(
    UsageTime,
    json_schema!({
        "type": "string",
        "anyOf": [ { "format": "date-time" }, { "maxLength": 0 } ]
    })
);

/// Rebilly usage `quantity`: a JSON number, at least 0.001, at most 3 decimal places, held as
/// an exact [`Decimal`] (never `f64` arithmetic).
///
/// On the wire it is a JSON number (the API's type). It is read from the number's text as
/// written and written back so that `5.125` stays `5.125`. The schema states `minimum: 0.001`
/// and the decimals rule as the `$comment` [`decimal::scale_comment`], not as `multipleOf`
/// (validators that divide binary floats reject `2.675`); the connector's validators check
/// that comment's rule exactly (`validators::decimals`), see `docs/schemas.md`. Values beyond
/// `Decimal`'s range (about 7.9e28) are rejected by serde though the schema has no maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Quantity(Decimal);

impl Quantity {
    /// The smallest billable unit ([`decimal::MIN_QUANTITY`]).
    pub const MIN: Decimal = decimal::MIN_QUANTITY;
    /// Maximum number of decimal places ([`decimal::MAX_SCALE`]).
    pub const MAX_SCALE: u32 = decimal::MAX_SCALE;

    /// Validates an exact decimal against the API's rules.
    pub fn new(d: Decimal) -> Result<Self, String> {
        if d < Self::MIN {
            return Err(format!(
                "expected a quantity of at least {}, found {d}",
                Self::MIN
            ));
        }
        if decimal::exceeds_scale(d) {
            return Err(format!(
                "expected at most {} decimal places, found {d} ({} places)",
                Self::MAX_SCALE,
                d.normalize().scale()
            ));
        }
        Ok(Self(d))
    }

    /// The exact value.
    pub fn value(&self) -> Decimal {
        self.0
    }
}

impl FromStr for Quantity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let d =
            Decimal::from_str_exact(s).map_err(|e| format!("expected a decimal number: {e}"))?;
        Self::new(d)
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl Serialize for Quantity {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // The exact decimal as a JSON number's text (no `f64` on the way).
        match decimal::decimal_number(self.0) {
            serde_json::Value::Number(n) => n.serialize(s),
            _ => Err(serde::ser::Error::custom("a decimal is a JSON number")),
        }
    }
}

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // The number's text as written (serde_json keeps it: `arbitrary_precision`), read as
        // an exact decimal; never through `f64`.
        let n = serde_json::Number::deserialize(d).map_err(|e| {
            de::Error::custom(format!(
                "expected a number of at least {} with at most {} decimal places: {e}",
                Self::MIN,
                Self::MAX_SCALE
            ))
        })?;
        let d = decimal::decimal_text(n.as_str())
            .ok_or_else(|| de::Error::custom(format!("quantity {n} is out of range")))?;
        Quantity::new(d).map_err(de::Error::custom)
    }
}

inline_schema!(
    Quantity,
    json_schema!({ "type": "number", "minimum": 0.001, "$comment": decimal::scale_comment() })
);

/// ISO 4217 currency codes the Solvimon API accepts (the SDK's `Amount.currency` enum).
pub const CURRENCIES: [&str; 176] = [
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT",
    "BGN", "BHD", "BIF", "BMD", "BND", "BOB", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD",
    "CDF", "CHF", "CLF", "CLP", "CNY", "COP", "CRC", "CUC", "CUP", "CVE", "CZK", "DJF", "DKK",
    "DOP", "DZD", "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD",
    "GNF", "GTQ", "GYD", "HKD", "HNL", "HRK", "HTG", "HUF", "IDR", "ILS", "INR", "IQD", "IRR",
    "ISK", "JMD", "JOD", "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD", "KZT",
    "LAK", "LBP", "LKR", "LRD", "LSL", "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP",
    "MRO", "MRU", "MUR", "MVR", "MWK", "MXN", "MXV", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK",
    "NPR", "NZD", "OMR", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "PYG", "QAR", "RON", "RSD",
    "RUB", "RWF", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SOS", "SRD", "SSP",
    "STN", "SVC", "SYP", "SZL", "THB", "TJS", "TMT", "TND", "TOP", "TRY", "TTD", "TWD", "TZS",
    "UAH", "UGX", "USD", "USN", "UYI", "UYU", "UZS", "VEF", "VES", "VND", "VUV", "WST", "XAF",
    "XAG", "XAU", "XBA", "XBB", "XBC", "XBD", "XCD", "XDR", "XOF", "XPD", "XPF", "XPT", "XSU",
    "XTS", "XUA", "XXX", "YER", "ZAR", "ZMW", "ZWL",
];

/// An ISO 4217 currency code from [`CURRENCIES`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Currency(String);

impl Currency {
    /// Checks `code` against [`CURRENCIES`].
    pub fn new(code: impl Into<String>) -> Result<Self, String> {
        let code = code.into();
        if CURRENCIES.contains(&code.as_str()) {
            Ok(Self(code))
        } else {
            Err(format!(
                "expected an ISO 4217 currency code such as EUR or USD, found {code:?}"
            ))
        }
    }
}

checked_string!(
    Currency,
    json_schema!({ "type": "string", "enum": CURRENCIES.as_slice() })
);
