use std::sync::Arc;

use orders::{router, AppState, SERVICE, VERSION};

fn main() -> std::io::Result<()> {
    let settings = config::Settings::from_env(SERVICE);
    common::run(SERVICE, VERSION, router(Arc::new(AppState::new(&settings))))
}
