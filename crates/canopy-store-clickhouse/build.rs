//! Rebuilds the crate when a migration file changes, since they are embedded with `include_str!`.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
