//! Safe, idiomatic bindings to Apple's **vmnet.framework**: virtual network interfaces for
//! virtual machines on macOS, exchanging raw Ethernet frames.
//!
//! - **Typed configuration**, validated before vmnet is called: [`InterfaceConfig`] for host,
//!   shared (NAT) and bridged mode; every failure is a [`ConfigError`] saying what to fix.
//! - **Lifecycle** with bounded waits: [`Interface::start`], [`Interface::stop`], and `Drop`.
//!   An [`Interface`] is `Send`, and [`split`](Interface::split)s into halves for a reader
//!   thread and a writer thread; a [`Control`] (`Clone + Send + Sync`) manages port forwarding
//!   from any other thread, before or after the split and while a [`bridge`] runs it.
//! - **Batched, zero-copy packet I/O**: [`PacketBatch`] is allocated once and reused; reads
//!   and writes allocate nothing and copy nothing beyond vmnet's own copy. A reusable
//!   [`Descriptors`] does the same over buffers you own (guest memory, your own ring):
//!   [`Interface::read_into`] and [`Interface::write_from`], with no `unsafe`.
//! - **Events and readiness**: a coalescing callback, a pollable file descriptor (`AsFd`) for
//!   mio/tokio/poll users, and a blocking wait with timeout.
//! - **One binary from macOS 11 to 26**: newer symbols are resolved at run time;
//!   [`capabilities`] tells what the running system has, and using a missing feature is an
//!   [`Error::Unsupported`] naming the macOS release that brings it.
//! - **A simulator** (feature `sim`): the same API on an in-process Ethernet segment, on every
//!   platform, for tests of this crate and of your VMM code. See [`sim`].
//!
//! ```no_run
//! use std::time::Duration;
//! use vmnet::{Interface, InterfaceConfig, PacketBatch};
//!
//! // Needs root (or the com.apple.vm.networking entitlement) up to macOS 15.
//! let config = InterfaceConfig::shared().with_mtu(1500);
//! let mut iface = Interface::start(&config)?;
//! println!("MAC {:?}, max packet {}", iface.parameters().mac_address(),
//!          iface.parameters().max_packet_size());
//!
//! let mut batch = PacketBatch::for_interface(iface.parameters());
//! if iface.wait_readable(Some(Duration::from_secs(1)))? {
//!     let n = iface.read_batch(&mut batch)?;
//!     for frame in batch.iter().take(n) {
//!         println!("received {} bytes", frame.len());
//!     }
//! }
//! iface.stop()?;
//! # Ok::<(), vmnet::Error>(())
//! ```
//!
//! # Crate map
//!
//! The modules form three layers. **A module may import only from its own layer or from the
//! layers below it**; nothing below imports anything above, so value types can be read and
//! tested alone and the platform is swapped in one place.
//!
//! | layer | modules | holds |
//! |---|---|---|
//! | operations (top) | `control`, `interface`, `network`, `system`, [`sim`], `async_io`, [`bridge`] | what starts, moves frames and controls: [`Control`] (port forwarding and the rest of what is not packet I/O, from any thread; it reaches the interface through a trait, so it imports no module that hands it out), [`Interface`] and its halves, [`Network`], [`capabilities()`], [`bridgeable_interfaces`], the simulator's public face (segments, their fault injection and pcap tap), async I/O, the socket bridge |
//! | seam | `backend` (`apple`; `sim`, with `faults`, `impair` and `tap`; `unsupported`), `events` | one backend per platform behind the `Driver` traits, returning its own types; the simulator's segments, ports and networks, its seeded fault injection (`faults` says what to inject; `impair` applies it to each frame and feeds the taps) and its pcap capture (`tap`); the readiness notifier |
//! | values (bottom) | `config`, `network::config`, `network::interface_config`, `network::error`, `error`, `params`, `batch`, `descs`, `forwarding`, `capabilities`, `options`, `mode`, `limits`, [`keys`], `mac` | configurations and their errors, [`Error`], [`Parameters`], [`PacketBatch`], [`PortForwardingRule`] and its [`PortForwardingKey`], [`Capabilities`], [`StartOptions`], [`Mode`] and [`NetworkMode`], [`NetworkConfiguration`] and [`NetworkInterfaceConfig`], [`MacAddr`] |
//!
//! `python3 shared/tools/import-cycles.py vmnet/src` (in the project's tooling) checks that the
//! modules have no import cycle.
//!
//! # Where `unsafe` lives
//!
//! The crate is `#![deny(unsafe_code)]`. These are the only places that allow it, and what
//! their `unsafe` is for — the map for an audit:
//!
//! | where | its `unsafe` |
//! |---|---|
//! | `descs` (values) | the descriptor sets a backend reads into and writes from: `from_raw`, the one way to vouch for raw descriptors, and the safe accessors that follow a set's pointers to its packet memory (the simulator copies through them); the sets over one caller buffer (`Interface::read`, `write`) and over the caller's buffers through a [`Descriptors`] (`Interface::read_into`, `write_from`), with its `Send` and `Sync` |
//! | `batch` (values) | [`PacketBatch`]'s arena and iovecs, heap slices reached only through raw pointers (so the descriptors' pointers into them stay valid), its `Send` and `Sync`, and vouching for the descriptor sets it builds over them |
//! | `backend::apple` (seam) | vmnet.framework, XPC, blocks and libdispatch: every call into Apple's C API, `vmnet_read` and `vmnet_write` on descriptor sets included; `Send` and `Sync` for vmnet's handles |
//! | `bridge::sys` (operations) | the socket bridge's calls: `sendto`, `recvmsg`, `poll`, `setsockopt` (`SO_NOSIGPIPE`), `sockaddr_un` |
//! | `bridge::batched` (operations) | the socket bridge's batched datagram calls: `recvmmsg`/`sendmmsg` (Linux), `recvmsg_x`/`sendmsg_x` found with `dlsym` (macOS), over preallocated headers pointed at the buffers for each call, and those headers' `Send` |
//! | `async_io` (operations) | registering the notifier's descriptor with tokio's reactor (`AsyncFd`), which trusts it to stay open |
//! | the public `unsafe fn`s, item by item: [`Interface::read_raw`], [`Interface::write_raw`], [`ReadHalf::read_raw`], [`WriteHalf::write_raw`], `NetworkSerialization::from_raw` (macOS) | each turns its caller's contract into a descriptor set (`descs`) or a retained XPC object (`backend::apple`), and does nothing else unsafe |
//!
//! Packet I/O crosses the seam safely: `Driver::read` and `Driver::write` take a descriptor
//! set that carries its own validity. Test code allows `unsafe` where it builds what no safe
//! constructor does (a two-iovec descriptor, in `backend::sim`) or installs a signal handler
//! (`events`, to interrupt a wait). The readiness notifier (`events`) needs none: its pipe,
//! `poll` and `fcntl` go through `nix`.
//!
//! # Features
//!
//! | feature | what it adds |
//! |---|---|
//! | `sim` | the simulator ([`sim`]): the same API on an in-process segment, on every platform |
//! | `tokio` | `async_io`: `AsyncFd`-based interface, futures and a packet stream |
//! | `cli` | the `vmnet-bridge` binary (implies `sim`) |
//!
//! **MSRV**: Rust 1.85. **Platforms**: macOS 11 to 26 (vmnet); every platform with `sim`.
//!
//! **Out of scope**: a network stack (nothing here answers ARP, DHCP or pings — vmnet's host
//! side does that on macOS), guest device emulation (virtio-net lives in your VMM), and
//! Apple's Virtualization.framework networking (`VZNetworkDeviceAttachment`).
#![cfg_attr(docsrs, feature(doc_cfg))]
// Doctests (the README's too) compile with warnings denied, as the crate does.
#![doc(test(attr(deny(warnings))))]
// `unsafe` only where "Where `unsafe` lives" (above) says.
#![deny(unsafe_code)]
// Without vmnet and without the simulator nothing can start, so the event and I/O machinery
// below the public API is never driven; it is still compiled and type-checked.
#![cfg_attr(all(not(vmnet_framework), not(feature = "sim")), allow(dead_code))]

#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
#[allow(unsafe_code)]
pub mod async_io;
mod backend;
#[allow(unsafe_code)]
mod batch;
pub mod bridge;
mod capabilities;
mod config;
mod control;
#[allow(unsafe_code)]
mod descs;
mod error;
mod events;
mod forwarding;
mod interface;
pub mod keys;
mod limits;
mod mac;
mod mode;
mod network;
mod options;
mod params;
#[cfg(feature = "sim")]
#[cfg_attr(docsrs, doc(cfg(feature = "sim")))]
pub mod sim;
mod system;

pub use batch::{Iter, MAX_BATCH_PACKETS, MAX_SLOT_SIZE, PacketBatch};
pub use capabilities::{Capabilities, Feature};
pub use config::{ConfigError, InterfaceConfig};
pub use control::Control;
pub use descs::Descriptors;
pub use error::{Error, Operation, Report, Result, Status};
pub use events::Event;
pub use forwarding::{IpFamily, PortForwardingKey, PortForwardingRule, Protocol, RuleError};
pub use interface::{Interface, ReadHalf, WriteHalf};
pub use limits::{MAX_MTU, MIN_MTU};
pub use mac::{MacAddr, ParseMacAddrError};
pub use mode::{Mode, NetworkMode};
pub use network::{
    Network, NetworkConfigError, NetworkConfiguration, NetworkInterfaceConfig, NetworkSerialization,
};
pub use options::{
    DEFAULT_CONTROL_TIMEOUT, DEFAULT_START_TIMEOUT, DEFAULT_STOP_TIMEOUT, StartOptions,
};
pub use params::{DEFAULT_MAX_PACKETS_PER_CALL, Parameters};
pub use system::{bridgeable_interfaces, capabilities};
pub use uuid::Uuid;
/// The raw declarations of `vmnet.h` ([`vmnet_sys`]), for [`Interface::read_raw`] and
/// [`Interface::write_raw`] descriptors and for calls through [`Interface::as_raw`].
pub use vmnet_sys as ffi;

/// The README's examples, compiled and run as doctests: on the simulator (so not on Apple
/// targets, where they would start real vmnet interfaces), with the async one on tokio.
#[cfg(all(doctest, feature = "sim", feature = "tokio", not(vmnet_framework)))]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
