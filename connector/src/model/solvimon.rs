//! Solvimon Event API models: the four seed endpoints and the nested objects they use.
//!
//! Policy: field presence and nullability follow the seed pages exactly ("Required", "string
//! or null", "object Optional" = absent allowed, `null` not). Nested objects follow the vendor
//! SDK (`solvimon-python-sdk` 0.0.4b0), where every nested property is optional and nullable.
//! Request bodies reject unknown top-level keys (typos, read-only fields); responses accept
//! them, because an API may add fields at any time. Where the seed page and the SDK disagree
//! the page wins and the item's docs say so.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::fields::{
    AdjustmentDescription, ChargeDescription, Currency, CustomerEmail, CustomerReference,
    DecimalString, EventReference, IngestReference, Timestamp,
};
use super::presence::{NullableString, OptionalNonNull};

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

/// Type of a meter property created on the fly (DYNAMIC ingest).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs)]
pub enum PropertyType {
    Number,
    Enum,
    String,
}

/// Type of a meter value created on the fly (DYNAMIC ingest).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs)]
pub enum ValueType {
    Number,
    Amount,
}

/// Validation settings of a meter property created during DYNAMIC ingest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PropertyValidation {
    /// Type; STRING when omitted.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<PropertyType>,
    /// Whether the property is required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required: Option<bool>,
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

/// A property giving context to an event (`meter_properties[]`); values are always strings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MeterProperty {
    /// Resource ID of type METER_PROPERTY.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Reference of the meter property.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// Value, always a string (also for numbers and booleans).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Used only when the property is created on the fly during DYNAMIC ingest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dynamic_validation_settings: Option<PropertyValidation>,
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
    /// A number as a decimal string, e.g. `"450"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<String>,
    /// A money amount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<Amount>,
    /// A count as a string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<String>,
    /// Used only when the value is created on the fly during DYNAMIC ingest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dynamic_validation_settings: Option<ValueValidation>,
}

/// Charge `value`: "the value/number for the related product item". Its shape is not
/// documented; inferred to be the meter-value shape, so unknown keys are passed through.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ChargeValue {
    /// A number as a decimal string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<String>,
    /// A money amount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<Amount>,
    /// A count as a string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<String>,
    /// Other keys, passed through unchanged.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// Customer lifecycle status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs)]
pub enum CustomerStatus {
    Draft,
    Active,
    Archived,
    Deprecated,
    Closed,
}

/// Customer entity type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs)]
pub enum CustomerType {
    Organization,
    Individual,
}

/// Customer role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs)]
pub enum CustomerRole {
    Default,
    NonProcessing,
    SelfBilling,
    Seller,
    ProcessingOnly,
}

/// A customer custom field value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CustomFieldValue {
    /// Custom field id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Custom field reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// Single value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Multiple values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<String>>,
    /// Integration id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integration_id: Option<String>,
}

/// The customer of an event (`customer`).
///
/// The seed page lists it as an optional request field of calculate-cost; the SDK marks it
/// read-only and never sends it. Validated as the page says. Deeply nested parts
/// (`individual`, `organization`, `notification_preferences`, `linked_integrations`,
/// `seller_details`) are passed through as objects; unknown keys are passed through too.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
pub struct Customer {
    /// The parent of the customer (only when there is a single parent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_customer_id: Option<String>,
    /// Parents of the customer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_customer_ids: Option<Vec<String>>,
    /// A custom reference assigned to the customer (`^\S+$`, 0–256).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<CustomerReference>,
    /// Lifecycle status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<CustomerStatus>,
    /// IANA time zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// The type of customer entity.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<CustomerType>,
    /// The email of the customer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<CustomerEmail>,
    /// Notification preferences (`[{type: INVOICE, channels: [{type: EMAIL, enabled}]}]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification_preferences: Option<Vec<Map<String, Value>>>,
    /// Locale, language-country (like en-US).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    /// Details of an individual customer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub individual: Option<Map<String, Value>>,
    /// Details of an organization customer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<Map<String, Value>>,
    /// Custom field values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_fields: Option<Vec<CustomFieldValue>>,
    /// Whether the customer is processing-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processing_only: Option<bool>,
    /// Settings to influence dynamically the subscription to use for the ingest data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pricing_plan_subscription_selector: Option<SubscriptionSelector>,
    /// Linked integrations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linked_integrations: Option<Vec<Map<String, Value>>>,
    /// Roles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<CustomerRole>>,
    /// Seller details (`{default_billing_entity_id}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seller_details: Option<Map<String, Value>>,
    /// Read-only in responses: object type, id and creation time, and any other key.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// Outcome of a cost prediction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs)]
pub enum CostPredictionResponse {
    Ok,
    Failed,
    NotSupported,
}

/// Status of a cost prediction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs)]
pub enum CostPredictionStatus {
    Ready,
    Pending,
    Error,
    Duplicate,
    NotMatched,
}

/// One predicted invoice effect.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CostPredictionDetails {
    /// Customer id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
    /// Invoice id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoice_id: Option<String>,
    /// Predicted amount excluding tax.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount_excluding_tax: Option<Amount>,
    /// Predicted amount including tax.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount_including_tax: Option<Amount>,
    /// Tax summary (`{base_amount, tax_amount, total_amount, local_amounts, notes, country_code}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tax_summary: Option<Map<String, Value>>,
    /// Invoice periods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub periods: Option<Vec<Map<String, Value>>>,
    /// Wallet balance before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_wallet_balance: Option<Map<String, Value>>,
    /// Wallet balance after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_wallet_balance: Option<Map<String, Value>>,
}

/// An exchange rate used by a prediction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[allow(missing_docs)]
pub struct UsedExchangeRate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_currency: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_timestamp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// The cost prediction returned with `?cost_prediction=true` (an estimate).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CostPrediction {
    /// Whether the prediction could be made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<CostPredictionResponse>,
    /// Prediction status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<CostPredictionStatus>,
    /// Predicted invoice effects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Vec<CostPredictionDetails>>,
    /// Exchange rates used (the API spells it `used_change_rates`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub used_change_rates: Option<Vec<UsedExchangeRate>>,
}

/// How an event was processed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs)]
pub enum ProcessedType {
    Default,
    NotMatched,
    Duplicate,
}

/// Details of the result of processing an event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ProcessedDetails {
    /// DEFAULT, NOT_MATCHED or DUPLICATE.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<ProcessedType>,
    /// The event this one duplicates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate_of_meter_data_id: Option<String>,
    /// `{of_meter_data_id}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate: Option<Map<String, Value>>,
    /// `{variant}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_matched: Option<Map<String, Value>>,
}

/// Type of meter data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs)]
pub enum MeterDataType {
    Ingest,
    Calculation,
}

// ---------------------------------------------------------------------------------------------
// Ingest adjustment events
// ---------------------------------------------------------------------------------------------

/// Body of `POST /v{version}/ingest/adjustment-data` ("Ingest adjustment events").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AdjustmentRequest {
    /// The resource ID of the associated product item.
    pub product_item_id: String,
    /// The resource ID of the associated customer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
    /// A custom reference assigned to the customer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_reference: Option<String>,
    /// The resource ID of the associated pricing plan subscription.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pricing_plan_subscription_id: Option<String>,
    /// A custom reference assigned to the pricing plan subscription.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pricing_plan_subscription_reference: Option<String>,
    /// A selector to dynamically determine the subscription to use.
    #[serde(default, skip_serializing_if = "OptionalNonNull::is_absent")]
    pub pricing_plan_subscription_selector: OptionalNonNull<SubscriptionSelector>,
    /// Unique reference of the event (`^[a-zA-Z0-9_\-]*`, 0–256).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<IngestReference>,
    /// Description (`^.*$`, 0–256).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<AdjustmentDescription>,
    /// The associated timestamp presented in the ISO 8601 standard of the charge event, if not
    /// provided it will be set to 'now'.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<Timestamp>,
    /// Amount of the adjustment (shape inferred: `Amount`).
    #[serde(default, skip_serializing_if = "OptionalNonNull::is_absent")]
    pub amount: OptionalNonNull<Amount>,
    /// Fixed amount of the adjustment (shape inferred: `Amount`).
    #[serde(default, skip_serializing_if = "OptionalNonNull::is_absent")]
    pub fixed_amount: OptionalNonNull<Amount>,
}

/// Answer of "Ingest adjustment events" (201 Created).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AdjustmentResponse {
    /// The resource ID of the associated product item.
    #[serde(default, skip_serializing_if = "OptionalNonNull::is_absent")]
    pub product_item_id: OptionalNonNull<String>,
    /// Object type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("readOnly" = true))]
    pub object_type: Option<String>,
    /// Resource id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("readOnly" = true))]
    pub id: Option<String>,
    /// The resource ID of the associated customer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
    /// A custom reference assigned to the customer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_reference: Option<String>,
    /// The resource ID of the associated pricing plan subscription.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pricing_plan_subscription_id: Option<String>,
    /// A custom reference assigned to the pricing plan subscription.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pricing_plan_subscription_reference: Option<String>,
    /// A selector to dynamically determine the subscription to use.
    #[serde(default, skip_serializing_if = "OptionalNonNull::is_absent")]
    pub pricing_plan_subscription_selector: OptionalNonNull<SubscriptionSelector>,
    /// Reference (`^[a-zA-Z0-9_\-]*`, 0–256).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<IngestReference>,
    /// Description (`^.*$`, 0–256).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<AdjustmentDescription>,
    /// Timestamp of the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<Timestamp>,
    /// Amount.
    #[serde(default, skip_serializing_if = "OptionalNonNull::is_absent")]
    pub amount: OptionalNonNull<Amount>,
    /// Fixed amount.
    #[serde(default, skip_serializing_if = "OptionalNonNull::is_absent")]
    pub fixed_amount: OptionalNonNull<Amount>,
}

// ---------------------------------------------------------------------------------------------
// Ingest charge events
// ---------------------------------------------------------------------------------------------

/// Body of `POST /v{version}/ingest/charge-data` ("Ingest charge events").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChargeRequest {
    /// The resource ID of the associated product item.
    pub product_item_id: String,
    /// The resource ID of the associated pricing.
    pub pricing_id: String,
    /// The resource ID of the associated pricing item.
    pub pricing_item_id: String,
    /// The resource ID of the associated pricing item config.
    pub pricing_item_config_id: String,
    /// The resource ID of the associated customer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
    /// A custom reference assigned to the customer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_reference: Option<String>,
    /// The resource ID of the associated pricing plan subscription.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pricing_plan_subscription_id: Option<String>,
    /// A custom reference assigned to the pricing plan subscription.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pricing_plan_subscription_reference: Option<String>,
    /// A selector to dynamically determine the subscription to use.
    #[serde(default, skip_serializing_if = "OptionalNonNull::is_absent")]
    pub pricing_plan_subscription_selector: OptionalNonNull<SubscriptionSelector>,
    /// Unique reference of the event (`^[a-zA-Z0-9_\-]*`, 0–256).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<IngestReference>,
    /// Description (`^[a-zA-Z0-9_\-\s+]*`, 0–256: letters, digits, `_`, `-`, `+`, spaces).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<ChargeDescription>,
    /// The value/number for the related product item.
    #[serde(default, skip_serializing_if = "OptionalNonNull::is_absent")]
    pub value: OptionalNonNull<ChargeValue>,
    /// Period the charge covers (shape inferred: `ChargeDataPeriod`).
    #[serde(default, skip_serializing_if = "OptionalNonNull::is_absent")]
    pub period: OptionalNonNull<Period>,
    /// The associated timestamp presented in the ISO 8601 standard of the charge event, if not
    /// provided it will be set to 'now'.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<Timestamp>,
}

/// Answer of "Ingest charge events" (201 Created).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ChargeResponse {
    /// The resource ID of the associated product item.
    #[serde(default, skip_serializing_if = "OptionalNonNull::is_absent")]
    pub product_item_id: OptionalNonNull<String>,
    /// The resource ID of the associated pricing.
    #[serde(default, skip_serializing_if = "OptionalNonNull::is_absent")]
    pub pricing_id: OptionalNonNull<String>,
    /// The resource ID of the associated pricing item.
    #[serde(default, skip_serializing_if = "OptionalNonNull::is_absent")]
    pub pricing_item_id: OptionalNonNull<String>,
    /// The resource ID of the associated pricing item config.
    #[serde(default, skip_serializing_if = "OptionalNonNull::is_absent")]
    pub pricing_item_config_id: OptionalNonNull<String>,
    /// Object type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("readOnly" = true))]
    pub object_type: Option<String>,
    /// Resource id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("readOnly" = true))]
    pub id: Option<String>,
    /// The resource ID of the associated customer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
    /// A custom reference assigned to the customer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_reference: Option<String>,
    /// The resource ID of the associated pricing plan subscription.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pricing_plan_subscription_id: Option<String>,
    /// A custom reference assigned to the pricing plan subscription.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pricing_plan_subscription_reference: Option<String>,
    /// A selector to dynamically determine the subscription to use.
    #[serde(default, skip_serializing_if = "OptionalNonNull::is_absent")]
    pub pricing_plan_subscription_selector: OptionalNonNull<SubscriptionSelector>,
    /// Reference (`^[a-zA-Z0-9_\-]*`, 0–256).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<IngestReference>,
    /// Description (`^[a-zA-Z0-9_\-\s+]*`, 0–256).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<ChargeDescription>,
    /// The value/number for the related product item.
    #[serde(default, skip_serializing_if = "OptionalNonNull::is_absent")]
    pub value: OptionalNonNull<ChargeValue>,
    /// Period.
    #[serde(default, skip_serializing_if = "OptionalNonNull::is_absent")]
    pub period: OptionalNonNull<Period>,
    /// Timestamp of the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<Timestamp>,
}

// ---------------------------------------------------------------------------------------------
// Ingest persist events
// ---------------------------------------------------------------------------------------------

/// Body of `POST /v{version}/ingest/persist-data` ("Ingest persist events").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PersistRequest {
    /// The resource ID of the associated customer (required key, `null` allowed).
    pub customer_id: NullableString,
    /// The resource ID of the associated pricing.
    pub pricing_id: String,
    /// The resource ID of the associated pricing item.
    pub pricing_item_id: String,
    /// The resource ID of the associated pricing item config.
    pub pricing_item_config_id: String,
    /// The resource ID of the associated pricing plan subscription (required key, `null`
    /// allowed).
    pub pricing_plan_subscription_id: NullableString,
    /// A custom reference assigned to the customer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_reference: Option<String>,
    /// A custom reference assigned to the pricing plan subscription.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pricing_plan_subscription_reference: Option<String>,
    /// A selector to dynamically determine the subscription to use.
    #[serde(default, skip_serializing_if = "OptionalNonNull::is_absent")]
    pub pricing_plan_subscription_selector: OptionalNonNull<SubscriptionSelector>,
    /// Unique reference of the event (`^[a-zA-Z0-9_\-]*`, 0–256).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<IngestReference>,
    /// Period to persist (`ChargeDataPeriod`).
    #[serde(default, skip_serializing_if = "OptionalNonNull::is_absent")]
    pub period: OptionalNonNull<Period>,
    /// Persist usage (a string, not a boolean).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persist_usage: Option<String>,
    /// Persist included volume (a string, not a boolean).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persist_included_volume: Option<String>,
    /// Persist charged volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persist_charged_volume: Option<bool>,
    /// Persist rollover volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persist_rollover_volume: Option<bool>,
    /// Set rollover volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_rollover_volume: Option<bool>,
    /// Included volume (meter-value shape).
    #[serde(default, skip_serializing_if = "OptionalNonNull::is_absent")]
    pub included_volume: OptionalNonNull<MeterValue>,
    /// The associated timestamp presented in the ISO 8601 standard of the persist event, if
    /// not provided it will be set to 'now'.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<Timestamp>,
    /// Reprocess id (optional, not nullable).
    #[serde(default, skip_serializing_if = "OptionalNonNull::is_absent")]
    pub reprocess_id: OptionalNonNull<String>,
    /// Whether this is the last item of a reprocess (optional, not nullable).
    #[serde(default, skip_serializing_if = "OptionalNonNull::is_absent")]
    pub is_last_reprocess_item: OptionalNonNull<bool>,
}

/// Answer of "Ingest persist events" (201 Created).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PersistResponse {
    /// Object type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("readOnly" = true))]
    pub object_type: Option<String>,
    /// Resource id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("readOnly" = true))]
    pub id: Option<String>,
    /// The resource ID of the associated customer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
    /// A custom reference assigned to the customer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_reference: Option<String>,
    /// The resource ID of the associated pricing.
    #[serde(default, skip_serializing_if = "OptionalNonNull::is_absent")]
    pub pricing_id: OptionalNonNull<String>,
    /// The resource ID of the associated pricing item.
    #[serde(default, skip_serializing_if = "OptionalNonNull::is_absent")]
    pub pricing_item_id: OptionalNonNull<String>,
    /// The resource ID of the associated pricing item config.
    #[serde(default, skip_serializing_if = "OptionalNonNull::is_absent")]
    pub pricing_item_config_id: OptionalNonNull<String>,
    /// The resource ID of the associated pricing plan subscription.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pricing_plan_subscription_id: Option<String>,
    /// A custom reference assigned to the pricing plan subscription.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pricing_plan_subscription_reference: Option<String>,
    /// A selector to dynamically determine the subscription to use.
    #[serde(default, skip_serializing_if = "OptionalNonNull::is_absent")]
    pub pricing_plan_subscription_selector: OptionalNonNull<SubscriptionSelector>,
    /// Reference (`^[a-zA-Z0-9_\-]*`, 0–256).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<IngestReference>,
    /// Period.
    #[serde(default, skip_serializing_if = "OptionalNonNull::is_absent")]
    pub period: OptionalNonNull<Period>,
    /// Persist usage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persist_usage: Option<String>,
    /// Persist included volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persist_included_volume: Option<String>,
    /// Persist charged volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persist_charged_volume: Option<bool>,
    /// Persist rollover volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persist_rollover_volume: Option<bool>,
    /// Set rollover volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_rollover_volume: Option<bool>,
    /// Included volume.
    #[serde(default, skip_serializing_if = "OptionalNonNull::is_absent")]
    pub included_volume: OptionalNonNull<MeterValue>,
    /// Timestamp of the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<Timestamp>,
    /// Reprocess id.
    #[serde(default, skip_serializing_if = "OptionalNonNull::is_absent")]
    pub reprocess_id: OptionalNonNull<String>,
    /// Whether this is the last item of a reprocess.
    #[serde(default, skip_serializing_if = "OptionalNonNull::is_absent")]
    pub is_last_reprocess_item: OptionalNonNull<bool>,
}

// ---------------------------------------------------------------------------------------------
// Calculate the costs for an event
// ---------------------------------------------------------------------------------------------

/// Body of `POST /v{version}/events/calculate` ("Calculate the costs for an event").
///
/// Differences from the SDK/spec (validated as the page says): `reference` is optional here
/// but required by the SDK and spec (the connector derives one when absent); `customer`,
/// `cost_prediction` and `processed_details` are request fields on the page, read-only in the
/// SDK (the API ignores them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CalculateRequest {
    /// Unique reference of the event (`^.*$`, 10–256 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<EventReference>,
    /// The resource ID of the associated customer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
    /// A custom reference assigned to the customer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_reference: Option<String>,
    /// The customer (optional, `null` allowed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<Customer>,
    /// The resource ID of the meter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meter_id: Option<String>,
    /// A custom reference assigned to the meter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meter_reference: Option<String>,
    /// The resource ID of the associated pricing plan subscription.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pricing_plan_subscription_id: Option<String>,
    /// A custom reference assigned to the pricing plan subscription.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pricing_plan_subscription_reference: Option<String>,
    /// A selector to dynamically determine the subscription to use.
    #[serde(default, skip_serializing_if = "OptionalNonNull::is_absent")]
    pub pricing_plan_subscription_selector: OptionalNonNull<SubscriptionSelector>,
    /// The associated timestamp presented in the ISO 8601 standard of the charge event, if not
    /// provided it will be set to 'now'.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<Timestamp>,
    /// The properties that provide information to give context to an event, used in the meter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meter_properties: Option<Vec<MeterProperty>>,
    /// The values used as input to calculate billable units, used in the meter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meter_values: Option<Vec<MeterValue>>,
    /// The cost prediction (read-only in the SDK; ignored by the API).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_prediction: Option<CostPrediction>,
    /// Details of the result of processing the event (read-only in the SDK).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processed_details: Option<ProcessedDetails>,
}

/// Answer of "Calculate the costs for an event" (201 Created per page and spec; the SDK
/// expects 200, so any 2xx is success).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CalculateResponse {
    /// Object type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("readOnly" = true))]
    pub object_type: Option<String>,
    /// Resource id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("readOnly" = true))]
    pub id: Option<String>,
    /// Reference (`^.*$`, 10–256 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<EventReference>,
    /// The type of meter data.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    #[schemars(extend("readOnly" = true))]
    pub kind: Option<MeterDataType>,
    /// The resource ID of the associated customer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
    /// A custom reference assigned to the customer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_reference: Option<String>,
    /// The customer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<Customer>,
    /// The resource ID of the meter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meter_id: Option<String>,
    /// A custom reference assigned to the meter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meter_reference: Option<String>,
    /// The resource ID of the associated pricing plan subscription.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pricing_plan_subscription_id: Option<String>,
    /// A custom reference assigned to the pricing plan subscription.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pricing_plan_subscription_reference: Option<String>,
    /// A selector to dynamically determine the subscription to use.
    #[serde(default, skip_serializing_if = "OptionalNonNull::is_absent")]
    pub pricing_plan_subscription_selector: OptionalNonNull<SubscriptionSelector>,
    /// Timestamp of the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<Timestamp>,
    /// The ISO 8601 time the event was created in Solvimon.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("readOnly" = true))]
    pub created_at: Option<String>,
    /// Meter properties.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meter_properties: Option<Vec<MeterProperty>>,
    /// Meter values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meter_values: Option<Vec<MeterValue>>,
    /// The cost prediction (with `?cost_prediction=true`), else `null`.
    #[serde(default)]
    pub cost_prediction: Option<CostPrediction>,
    /// Details of the result of processing the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processed_details: Option<ProcessedDetails>,
    /// Is MeterData marked as deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("readOnly" = true))]
    pub deleted: Option<bool>,
}
