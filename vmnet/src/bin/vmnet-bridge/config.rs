//! The interface configuration from the flags, checked by the library's own rules before
//! anything is bound, started or printed.

use vmnet::InterfaceConfig;

use crate::args::{Args, InterfaceOptions, ModeArg};

/// The configuration the flags ask for, checked: `InterfaceConfig::validate` against the
/// system's capabilities (the library's messages), and in bridged mode the interface name
/// against the ones vmnet lists as bridgeable.
///
/// # Errors
/// One line saying what is wrong and what to do.
pub(crate) fn checked(args: &Args) -> Result<InterfaceConfig, String> {
    let config = interface_config(args);
    config
        .validate(vmnet::capabilities())
        .map_err(|e| e.report().to_string())?;
    if let Some(name) = config.bridged_interface() {
        // If the list cannot be read, vmnet itself judges the name when the interface starts.
        if let Ok(names) = vmnet::bridgeable_interfaces() {
            if !names.iter().any(|n| n == name) {
                let listed = if names.is_empty() {
                    "none".to_owned()
                } else {
                    names.join(", ")
                };
                return Err(format!(
                    "--interface {name}: vmnet cannot bridge to {name:?}; the interfaces it \
                     can bridge to are: {listed}"
                ));
            }
        }
    }
    Ok(config)
}

/// The configuration of the flags, unchecked.
fn interface_config(args: &Args) -> InterfaceConfig {
    let mut config = match args.mode {
        ModeArg::Shared => InterfaceConfig::shared(),
        ModeArg::Host => InterfaceConfig::host(),
        // clap requires --interface in bridged mode; an empty name is rejected by validation.
        ModeArg::Bridged => InterfaceConfig::bridged(args.interface.clone().unwrap_or_default()),
    };
    let o: &InterfaceOptions = &args.interface_options;
    config = config
        .with_isolation(o.isolation)
        .with_tso(o.tso)
        .with_checksum_offload(o.checksum_offload)
        .with_virtio_header(o.virtio_header);
    // Options the flags leave unset stay unset, so validation sees what was asked for.
    fn set<T>(
        config: InterfaceConfig,
        value: Option<T>,
        with: fn(InterfaceConfig, T) -> InterfaceConfig,
    ) -> InterfaceConfig {
        match value {
            Some(value) => with(config, value),
            None => config,
        }
    }
    config = set(config, o.interface_id, InterfaceConfig::with_interface_id);
    config = set(config, o.start_address, InterfaceConfig::with_start_address);
    config = set(config, o.end_address, InterfaceConfig::with_end_address);
    config = set(config, o.subnet_mask, InterfaceConfig::with_subnet_mask);
    config = set(config, o.nat66_prefix, InterfaceConfig::with_nat66_prefix);
    config = set(
        config,
        o.network_identifier,
        InterfaceConfig::with_network_identifier,
    );
    config = set(config, o.host_address, InterfaceConfig::with_host_address);
    config = set(
        config,
        o.host_subnet_mask,
        InterfaceConfig::with_host_subnet_mask,
    );
    config = set(
        config,
        o.host_ipv6_address,
        InterfaceConfig::with_host_ipv6_address,
    );
    config = set(config, o.mtu, InterfaceConfig::with_mtu);
    set(
        config,
        o.allocate_mac_address,
        InterfaceConfig::with_allocate_mac_address,
    )
}
