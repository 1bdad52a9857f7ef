//! Reprices the catalogue every hour, with the surge table when built with feature `surge`.

fn main() {
    let price = pricing::discounted(1899, 5);
    #[cfg(feature = "surge")]
    let rules = pricing::surge_rules().lines().count();
    #[cfg(not(feature = "surge"))]
    let rules = 0;
    shared::log("repricer", &format!("{price} cents, {rules} surge rule lines"));
}
