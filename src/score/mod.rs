//! Scoring: exact metrics on test predictions ([`metrics`]), their stored
//! form ([`predictions`]) and the statistics that compare cells ([`stats`]).

pub mod metrics;
pub mod predictions;
pub mod stats;
