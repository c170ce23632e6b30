//! Scoring: metrics and statistics. (Being built: issues 5, 7.)

pub mod metrics;
