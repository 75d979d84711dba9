//! Rebilly usage models (`POST /usages`).
//!
//! Policy: the request carries only writable fields; the seed page (SimWorkflow's catalog)
//! also lists read-only ones (`id`, `_links`, `invoiceId`, `invoiceItemId`, `createdTime`,
//! `updatedTime`), which Rebilly's OpenAPI marks read-only: they appear only in the response
//! and a request carrying them is rejected. `acceptPartialQuantity` is write-only.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::fields::{Quantity, RebillyId, Timestamp, UsageTime};
use super::presence::OptionalNonNull;

/// Body of `POST /usages` ("Creates a usage report").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UsageRequest {
    /// Subscription ID for which the usage is reported (at most 50 characters).
    pub subscription_id: RebillyId,
    /// Quantity of consumed units for a subscription plan product. Accepts both integer and
    /// decimal values with a precision of up to 3 decimal places. The minimum billable unit is
    /// 0.001.
    pub quantity: Quantity,
    /// Date and time, in ISO 8601 format, when a usage occurred. If this value is not provided
    /// or is empty, the date and time of the request is used.
    #[serde(default, skip_serializing_if = "OptionalNonNull::is_absent")]
    pub usage_time: OptionalNonNull<UsageTime>,
    /// Specifies whether partial usage should be accepted if the reported quantity exceeds the
    /// available limit: `true` lowers the quantity to the maximum allowed and records it;
    /// `false` rejects the request (409).
    #[serde(default, skip_serializing_if = "OptionalNonNull::is_absent")]
    #[schemars(extend("default" = false))]
    pub accept_partial_quantity: OptionalNonNull<bool>,
}

/// Link relation of a usage link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LinkRel {
    /// The usage itself.
    #[serde(rename = "self")]
    SelfLink,
}

/// A related link.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Link {
    /// Link URL.
    #[serde(default, skip_serializing_if = "OptionalNonNull::is_absent")]
    pub href: OptionalNonNull<String>,
    /// Type of link.
    #[serde(default, skip_serializing_if = "OptionalNonNull::is_absent")]
    pub rel: OptionalNonNull<LinkRel>,
}

/// A usage record as Rebilly returns it (201 Created; also `GET /usages[/{id}]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UsageResponse {
    /// ID of the usage record.
    #[serde(default, skip_serializing_if = "OptionalNonNull::is_absent")]
    #[schemars(extend("readOnly" = true))]
    pub id: OptionalNonNull<RebillyId>,
    /// Subscription ID for which the usage is reported.
    pub subscription_id: RebillyId,
    /// Quantity recorded: with `acceptPartialQuantity`, what was accepted (may be less than
    /// requested).
    pub quantity: Quantity,
    /// Date and time when the usage occurred.
    #[serde(default, skip_serializing_if = "OptionalNonNull::is_absent")]
    pub usage_time: OptionalNonNull<UsageTime>,
    /// ID of the invoice to which usage is applied; set when the invoice is issued.
    #[serde(default)]
    #[schemars(extend("readOnly" = true))]
    pub invoice_id: Option<RebillyId>,
    /// ID of the invoice item to which usage is applied; set when the invoice is issued.
    #[serde(default)]
    #[schemars(extend("readOnly" = true))]
    pub invoice_item_id: Option<RebillyId>,
    /// Date and time when the resource is created.
    #[serde(default, skip_serializing_if = "OptionalNonNull::is_absent")]
    #[schemars(extend("readOnly" = true))]
    pub created_time: OptionalNonNull<Timestamp>,
    /// Date and time when the resource is updated.
    #[serde(default, skip_serializing_if = "OptionalNonNull::is_absent")]
    #[schemars(extend("readOnly" = true))]
    pub updated_time: OptionalNonNull<Timestamp>,
    /// Related links.
    #[serde(
        rename = "_links",
        default,
        skip_serializing_if = "OptionalNonNull::is_absent"
    )]
    #[schemars(extend("readOnly" = true))]
    pub links: OptionalNonNull<Vec<Link>>,
}
