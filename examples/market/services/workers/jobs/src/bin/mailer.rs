//! Sends the catalogue digest by mail.

fn main() {
    let products = catalog_data::ids().len();
    shared::log("mailer", &format!("{}: digest of {products} products", jobs::queue("mail")));
}
