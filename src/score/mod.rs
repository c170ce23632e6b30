//! Scoring: exact metrics on test predictions ([`metrics`]) and the
//! statistics that compare cells ([`stats`]).

pub mod metrics;
pub mod stats;
