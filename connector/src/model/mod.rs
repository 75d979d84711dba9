//! Typed requests and responses of the five endpoints, and the constrained field types they use.

pub mod fields;
pub mod presence;
pub mod rebilly;
pub mod solvimon;
