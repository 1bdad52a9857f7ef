//! The product catalogue, embedded at build time from `data/products.csv`.

/// `data/products.csv`, as built.
pub const PRODUCTS: &str = include_str!("../data/products.csv");

/// The products' ids (the first column, without the header).
pub fn ids() -> Vec<&'static str> {
    PRODUCTS
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').next())
        .collect()
}
