//! A search index over the product names. It embeds the catalogue file of `catalog_data`
//! itself (no dependency on that crate), so it is built into the storefront alone.

const CATALOGUE: &str = include_str!("../../catalog_data/data/products.csv");

/// The names of the products whose name contains `term`.
pub fn search(term: &str) -> Vec<&'static str> {
    CATALOGUE
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').nth(1))
        .filter(|name| name.contains(term))
        .collect()
}
