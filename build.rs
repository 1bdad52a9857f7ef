fn main() {
    // The triple this binary was built for: the default platform used to filter
    // target-specific dependencies when no `--target` is configured.
    println!(
        "cargo:rustc-env=MONOSHIP_HOST_TARGET={}",
        std::env::var("TARGET").unwrap_or_default()
    );
}
