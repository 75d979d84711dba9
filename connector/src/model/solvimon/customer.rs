//! The customer object (`customer` of calculate-cost), in the SDK's shape.
//!
//! Policy: every property optional and nullable, as in the SDK; deeply nested parts and unknown
//! keys pass through unchanged.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::common::SubscriptionSelector;
use crate::model::fields::{CustomerEmail, CustomerReference};

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
