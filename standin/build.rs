//! Links the system BlocksRuntime (for `_Block_copy` and `_Block_release`) and names the
//! shared library `libvmnet.so`, on non-Apple targets only: on Apple targets the crate is
//! empty. Decisions use `CARGO_CFG_TARGET_VENDOR`, since this script runs on the host.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    let apple = std::env::var("CARGO_CFG_TARGET_VENDOR").is_ok_and(|v| v == "apple");
    if !apple {
        println!("cargo::rustc-link-lib=dylib=BlocksRuntime");
        println!("cargo::rustc-cdylib-link-arg=-Wl,-soname,libvmnet.so");
    }
}
