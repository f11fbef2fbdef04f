//! Lists the host interfaces usable for bridged mode.
//!
//! ```sh
//! cargo run -p vmnet --example bridgeable            # macOS: asks vmnet (no root needed)
//! cargo run -p vmnet --features sim --example bridgeable   # elsewhere: the simulator's list
//! ```
#![deny(unsafe_code)]

fn main() -> std::process::ExitCode {
    #[cfg(all(not(vmnet_framework), feature = "sim"))]
    eprintln!(
        "bridgeable: {} (its stand-in interface names)",
        vmnet::sim::NOTICE
    );
    match vmnet::bridgeable_interfaces() {
        Ok(names) if names.is_empty() => {
            println!("no interface can be bridged to");
            std::process::ExitCode::SUCCESS
        }
        Ok(names) => {
            for name in names {
                println!("{name}");
            }
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {}", e.report());
            std::process::ExitCode::FAILURE
        }
    }
}
