//! User profiles.

fn main() {
    let port = shared::port(8082);
    shared::log("user-profile", &format!("listening on {port}"));
}
