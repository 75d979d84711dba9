//! The three ingest endpoints (adjustment, charge and persist events): request bodies and
//! their 201 answers.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::common::{Amount, MeterValue, Period, SubscriptionSelector};
use crate::model::fields::{
    AdjustmentDescription, ChargeDescription, DecimalString, IngestReference, Timestamp,
};
use crate::model::presence::{NullableString, OptionalNonNull};

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

/// Charge `value`: "the value/number for the related product item". Its shape is not
/// documented; inferred to be the meter-value shape, so unknown keys are passed through.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ChargeValue {
    /// A number as a decimal string (its pattern inferred, as a meter value's `number`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<DecimalString>,
    /// A money amount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<Amount>,
    /// A count as a decimal string (its pattern inferred).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<DecimalString>,
    /// Other keys, passed through unchanged.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

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
