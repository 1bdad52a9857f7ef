//! Rebuilds the search index from the catalogue.

fn main() {
    let ids = catalog_data::ids();
    shared::log("indexer", &format!("{}: indexed {}", jobs::queue("index"), ids.join(" ")));
}
