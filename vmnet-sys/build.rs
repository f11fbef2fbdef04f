//! Chooses the bindings and links the frameworks.
//!
//! Bindings are generated from the macOS SDK at build time when all of these hold: the target
//! is an Apple one, the `bindgen` feature is on, this is not a docs.rs build, and a macOS SDK of
//! version 26.0 or newer is found (`SDKROOT`, else `xcrun`). Otherwise the checked-in
//! `src/bindings.rs` is used. Decisions use `CARGO_CFG_TARGET_*`: this script runs on the host.

#[cfg(feature = "bindgen")]
#[path = "bindgen/config.rs"]
#[allow(dead_code)]
mod config;

use std::env;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(vmnet_sys_generated)");
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=bindgen");
    println!("cargo::rerun-if-env-changed=SDKROOT");
    println!("cargo::rerun-if-env-changed=DOCS_RS");
    println!("cargo::rerun-if-env-changed=VMNET_STANDIN_DIR");

    let apple = env::var("CARGO_CFG_TARGET_VENDOR").is_ok_and(|v| v == "apple");
    let macos = env::var("CARGO_CFG_TARGET_OS").is_ok_and(|v| v == "macos");
    if apple && macos && env::var_os("DOCS_RS").is_none() {
        // vmnet and CoreFoundation are frameworks; XPC and dlsym live in libSystem, which
        // every Apple target links anyway.
        println!("cargo::rustc-link-lib=framework=vmnet");
        println!("cargo::rustc-link-lib=framework=CoreFoundation");
        generate_if_possible();
    } else if env::var_os("CARGO_CFG_VMNET_STANDIN").is_some() {
        link_standin();
    }
}

/// Built with `--cfg vmnet_standin` (by `cargo xtask standin`, never by users) on a system
/// without vmnet: link the stand-in framework, one shared library that exports vmnet's,
/// XPC's, CoreFoundation's and libdispatch's functions, from `VMNET_STANDIN_DIR`.
fn link_standin() {
    let Some(dir) = env::var_os("VMNET_STANDIN_DIR") else {
        panic!(
            "vmnet-sys: built with --cfg vmnet_standin but VMNET_STANDIN_DIR is not set; \
             run `cargo xtask standin`, which builds the stand-in framework and sets both"
        );
    };
    println!(
        "cargo::rustc-link-search=native={}",
        std::path::Path::new(&dir).display()
    );
    println!("cargo::rustc-link-lib=dylib=vmnet");
}

#[cfg(not(feature = "bindgen"))]
fn generate_if_possible() {}

#[cfg(feature = "bindgen")]
fn generate_if_possible() {
    use std::path::PathBuf;

    let Some(sdk) = config::default_sdk() else {
        // Checking or documenting for macOS from another host is normal; only a Mac without
        // an SDK deserves a word.
        if env::var("HOST").is_ok_and(|h| h.contains("apple")) {
            println!(
                "cargo::warning=vmnet-sys: no macOS SDK found (set SDKROOT or install Xcode's \
             command line tools); using the checked-in bindings"
            );
        }
        return;
    };
    let version = config::sdk_version(&sdk);
    let parsed = version.as_deref().and_then(config::parse_version);
    match parsed {
        Some(v) if v >= config::MIN_SDK => {}
        _ => {
            println!(
                "cargo::warning=vmnet-sys: the macOS SDK at {} is version {}, older than {}.{}; \
                 using the checked-in bindings (they need no SDK)",
                sdk.display(),
                version.as_deref().unwrap_or("unknown"),
                config::MIN_SDK.0,
                config::MIN_SDK.1,
            );
            return;
        }
    }
    let crate_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let text = match config::generate(&sdk, &crate_dir.join(config::WRAPPER)) {
        Ok(text) => text,
        Err(e) => {
            println!("cargo::warning=vmnet-sys: {e}; using the checked-in bindings");
            return;
        }
    };
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo")).join("bindings.rs");
    std::fs::write(&out, text).expect("OUT_DIR is writable");
    println!("cargo::rustc-cfg=vmnet_sys_generated");
}
