//! The surge pricing table, embedded at build time.

/// `data/rules.conf`, as built.
pub const RULES: &str = include_str!("../data/rules.conf");
