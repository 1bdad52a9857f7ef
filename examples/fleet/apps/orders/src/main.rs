use std::sync::Arc;

use orders::{router, AppState, SERVICE, VERSION};

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let settings = config::Settings::from_env(SERVICE);
    common::serve(SERVICE, VERSION, router(Arc::new(AppState::new(&settings)))).await
}
