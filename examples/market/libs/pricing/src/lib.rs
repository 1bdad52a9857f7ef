//! Prices in cents, with an optional surge table (feature `surge`).

/// The price of `base` cents at a discount of `percent`.
pub fn discounted(base: u64, percent: u64) -> u64 {
    base - base * percent.min(100) / 100
}

/// The surge rules compiled in with feature `surge`.
#[cfg(feature = "surge")]
pub fn surge_rules() -> &'static str {
    surge_rules::RULES
}
