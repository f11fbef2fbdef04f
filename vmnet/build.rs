//! Chooses the platform backend, in one place.
//!
//! `vmnet_framework` is set when the backend is vmnet.framework: on Apple targets, and on
//! other systems built with `--cfg vmnet_standin`, where `vmnet-sys` links the stand-in
//! framework instead (set by `cargo xtask standin`, never by users). Decided from
//! `CARGO_CFG_*`: this script runs on the host.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(vmnet_framework)");
    println!("cargo::rustc-check-cfg=cfg(vmnet_standin)");
    println!("cargo::rerun-if-changed=build.rs");
    let apple = std::env::var("CARGO_CFG_TARGET_VENDOR").is_ok_and(|v| v == "apple");
    let standin = std::env::var_os("CARGO_CFG_VMNET_STANDIN").is_some();
    if apple || standin {
        println!("cargo::rustc-cfg=vmnet_framework");
    }
}
