//! Build-time references made by test code: a fixture embedded by an integration test cannot
//! change a binary, so editing it affects nothing.

use crate::support::fleet::{Fleet, assert_affected};

#[test]
fn fixture_embedded_by_an_integration_test_affects_nothing() {
    let f = Fleet::new_with(|f| {
        f.write("apps/orders/tests/fixtures/order.json", "{\"id\": 1}\n");
        f.append(
            "apps/orders/tests/api.rs",
            "\nconst _FIXTURE: &str = include_str!(\"fixtures/order.json\");\n",
        );
    });
    f.write("apps/orders/tests/fixtures/order.json", "{\"id\": 2}\n");
    f.commit("change the fixture");
    let r = f.affected(&[]);
    assert_affected(&r, &[]);
    assert!(r["fail_closed"].is_null(), "{r:#}");
}

#[test]
fn file_embedded_by_a_binary_still_counts_inside_tests_dir() {
    let f = Fleet::new_with(|f| {
        f.write("apps/search/tests/data/synonyms.txt", "car auto\n");
        f.append(
            "apps/search/src/main.rs",
            "\nconst _SYNONYMS: &str = include_str!(\"../tests/data/synonyms.txt\");\n",
        );
    });
    f.write("apps/search/tests/data/synonyms.txt", "car auto vehicle\n");
    f.commit("change the synonyms");
    let r = f.affected(&[]);
    assert_affected(&r, &["search"]);
}
