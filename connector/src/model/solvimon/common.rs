//! Objects several Solvimon endpoints share: amounts, the subscription selector, periods and
//! meter values.
//!
//! Policy: these are nested objects, so they follow the SDK: every property is optional and
//! nullable; unknown keys are rejected.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::fields::{Currency, DecimalString, Timestamp};

/// A money amount: an exact decimal string and an ISO 4217 currency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Amount {
    /// Decimal string, e.g. `"12.50"` or `"-10.00"` (pattern `^-?[0-9]+(\.[0-9]+)?$`, 0–256).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<DecimalString>,
    /// ISO 4217 currency code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<Currency>,
}

/// Field a subscription selector looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SelectorField {
    /// Country of the billing entity's registered address.
    BillingEntityRegisteredAddressCountry,
    /// Reference of the pricing plan.
    PricingPlanReference,
}

/// Comparison a selector rule or filter applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs)]
pub enum SelectorComparison {
    Equals,
    NotEquals,
    In,
    NotIn,
    GreaterThan,
    GreaterThanOrEquals,
    LessThan,
    LessThanOrEquals,
    Empty,
    NotEmpty,
    Contains,
    NotContains,
}

/// What to do when no subscription is found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SelectorFallback {
    /// Use the latest subscription (the API's default).
    Latest,
    /// Use none.
    None,
}

/// A `{field, value}` pair of a subscription selector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SelectorData {
    /// Field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<SelectorField>,
    /// Value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// A `{field, type}` rule of a subscription selector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SelectorRule {
    /// Field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<SelectorField>,
    /// Comparison.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<SelectorComparison>,
}

/// A `{field, type, value}` filter of a subscription selector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SelectorFilter {
    /// Field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<SelectorField>,
    /// Comparison.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<SelectorComparison>,
    /// Value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// A selector to dynamically determine the subscription to use.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionSelector {
    /// Data pairs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Vec<SelectorData>>,
    /// Rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules: Option<Vec<SelectorRule>>,
    /// Filters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filters: Option<Vec<SelectorFilter>>,
    /// The fallback logic when no subscription is found; LATEST by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<SelectorFallback>,
}

/// A billing period (`ChargeDataPeriod`): start, end and an optional ratio.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Period {
    /// Start of the period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_at: Option<Timestamp>,
    /// End of the period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_at: Option<Timestamp>,
    /// Ratio of the period (a decimal string, e.g. `"1"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ratio: Option<String>,
}

/// Type of a meter value created on the fly (DYNAMIC ingest).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs)]
pub enum ValueType {
    Number,
    Amount,
}

/// Validation settings of a meter value created during DYNAMIC ingest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ValueValidation {
    /// Type; derived from the value when omitted (an amount implies AMOUNT).
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<ValueType>,
    /// Whether the value is required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required: Option<bool>,
}

/// A value used to calculate billable units (`meter_values[]`, `included_volume`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MeterValue {
    /// Resource ID of type METER_VALUE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Reference of the meter value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// A number as a decimal string, e.g. `"450"` (its pattern inferred: `Amount.quantity`'s;
    /// the units are priced).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<DecimalString>,
    /// A money amount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<Amount>,
    /// A count as a decimal string (its pattern inferred, as `number`'s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<DecimalString>,
    /// Used only when the value is created on the fly during DYNAMIC ingest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dynamic_validation_settings: Option<ValueValidation>,
}
