//! Solvimon Event API models: the four seed endpoints and the nested objects they use.
//!
//! Policy: field presence and nullability follow the seed pages exactly ("Required", "string
//! or null", "object Optional" = absent allowed, `null` not: see `model::presence`). Nested
//! objects follow the vendor SDK (`solvimon-python-sdk` 0.0.4b0), where every nested property
//! is optional and nullable. Request bodies reject unknown top-level keys (typos, read-only
//! fields); responses accept them, because an API may add fields at any time. Where the seed
//! page and the SDK disagree the page wins and the item's docs say so.
//!
//! Layout: `common` (amounts, subscription selector, periods, meter values), `customer`,
//! `ingest` (adjustment, charge and persist events), `calculate` (calculate-cost); every item
//! is re-exported here, so paths stay `model::solvimon::X`.

mod calculate;
mod common;
mod customer;
mod ingest;

pub use calculate::*;
pub use common::*;
pub use customer::*;
pub use ingest::*;
