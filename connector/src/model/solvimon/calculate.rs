//! "Calculate the costs for an event": the request, its answer, and the objects only it uses
//! (meter properties, cost prediction, processed details).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::common::{Amount, MeterValue, SubscriptionSelector};
use super::customer::Customer;
use crate::model::fields::{EventReference, Timestamp};
use crate::model::presence::OptionalNonNull;

/// Type of a meter property created on the fly (DYNAMIC ingest).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs)]
pub enum PropertyType {
    Number,
    Enum,
    String,
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
