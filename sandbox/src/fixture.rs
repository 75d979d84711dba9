//! The sandbox's fixture: API keys with permissions, customers, subscriptions with hard limits,
//! and meter prices. `fixture.json` is the default (documented in `docs/sandbox.md`);
//! `--fixture FILE` replaces it.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::Deserialize;

use crate::decimal::{self, MAX_QUANTITY};

/// An API key and what it may do.
#[derive(Debug, Clone, Deserialize)]
pub struct ApiKey {
    /// The secret.
    pub key: String,
    /// Permissions, e.g. `METER_DATA.INGEST`, `USAGES.CREATE`.
    pub permissions: Vec<String>,
}

impl ApiKey {
    /// Whether this key holds `permission` (exact name).
    pub fn holds(&self, permission: &str) -> bool {
        self.permissions.iter().any(|p| p == permission)
    }
}

/// A Solvimon customer.
#[derive(Debug, Clone, Deserialize)]
pub struct Customer {
    /// Resource id.
    pub id: String,
    /// Custom reference.
    pub reference: String,
}

/// A Rebilly subscription and its usage limit.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    /// Subscription id.
    pub id: String,
    /// Hard limit on the total quantity; `None` = unlimited.
    #[serde(default, with = "rust_decimal::serde::str_option")]
    pub hard_limit_quantity: Option<Decimal>,
    /// Quantity already used when the sandbox starts.
    #[serde(default, with = "rust_decimal::serde::str_option")]
    pub used_quantity: Option<Decimal>,
}

/// A Solvimon meter with a price per unit of each meter value.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Meter {
    /// Resource id.
    pub id: String,
    /// Reference.
    pub reference: String,
    /// ISO 4217 currency of the prices.
    pub currency: String,
    /// Tax rate, e.g. `0.21`.
    #[serde(with = "rust_decimal::serde::str")]
    pub tax_rate: Decimal,
    /// Unit price by meter value reference (exact decimal strings).
    pub prices: BTreeMap<String, String>,
}

/// Everything the sandbox knows before the first request.
#[derive(Debug, Clone, Deserialize)]
pub struct Fixture {
    /// API keys.
    pub keys: Vec<ApiKey>,
    /// Customers.
    #[serde(default)]
    pub customers: Vec<Customer>,
    /// Subscriptions.
    #[serde(default)]
    pub subscriptions: Vec<Subscription>,
    /// Meters.
    #[serde(default)]
    pub meters: Vec<Meter>,
}

/// The default fixture's text.
pub const DEFAULT_FIXTURE: &str = include_str!("../fixture.json");

impl Fixture {
    /// Parses a fixture; checks prices are exact decimals and subscription quantities are
    /// from 0 to [`MAX_QUANTITY`].
    pub fn parse(text: &str) -> Result<Self, String> {
        let fixture: Fixture =
            serde_json::from_str(text).map_err(|e| format!("invalid fixture: {e}"))?;
        for meter in &fixture.meters {
            for (value, price) in &meter.prices {
                if decimal::parse(price).is_none() {
                    return Err(format!(
                        "meter {} price of {value}: `{price}` is not an exact decimal",
                        meter.reference
                    ));
                }
            }
        }
        for s in &fixture.subscriptions {
            for (name, q) in [
                ("hardLimitQuantity", s.hard_limit_quantity),
                ("usedQuantity", s.used_quantity),
            ] {
                if q.is_some_and(|q| q.is_sign_negative() || q > MAX_QUANTITY) {
                    return Err(format!(
                        "subscription {}: {name} must be from 0 to {MAX_QUANTITY}",
                        s.id
                    ));
                }
            }
        }
        if fixture.keys.is_empty() {
            return Err("invalid fixture: no API keys".into());
        }
        Ok(fixture)
    }

    /// The built-in fixture.
    pub fn default_fixture() -> Self {
        Self::parse(DEFAULT_FIXTURE).expect("the default fixture parses")
    }
}
