#[test]
fn default_port_without_the_environment() {
    std::env::remove_var("PORT");
    assert_eq!(market_core::port(8080), 8080);
}
