//! The storefront: product search and prices.

fn main() {
    let port = shared::port(8081);
    let hits = search_index::search("t");
    let price = pricing::discounted(2999, 10);
    shared::log("storefront", &format!("port {port}: {} hits, {price} cents", hits.len()));
}
