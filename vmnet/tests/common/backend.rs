//! The backend a behaviour test runs on, so that one test body serves both:
//!
//! - by default, the simulator: every [`Net`] is a fresh [`Segment`](vmnet::sim::Segment);
//! - built with `--cfg vmnet_standin` (`cargo xtask standin`), the Apple backend driving the
//!   stand-in vmnet.framework: [`Net`] is the stand-in's one network, so the tests of a binary
//!   take turns (a lock), and each ends by checking that every XPC, CoreFoundation, dispatch
//!   and block object the test made has been released.
//!
//! A test starts interfaces with [`Net::start`] and plays the outside network with
//! [`Net::host`] (`send`, `recv_timeout`, `mac`), on either backend.

#[allow(unused_imports)] // not every test file names the host's type
pub use imp::{Host, Net};
#[cfg(vmnet_standin)]
#[allow(unused_imports)] // only the stand-in's own tests name these
pub use imp::{LIVE_KINDS, fault};

#[cfg(not(vmnet_standin))]
mod imp {
    use vmnet::sim::{HostPort, Segment};
    use vmnet::{Capabilities, Feature, Interface, InterfaceConfig, Network, NetworkConfiguration};

    /// The simulator's host endpoint has the methods the tests use.
    pub type Host = HostPort;

    /// A fresh simulated segment.
    pub struct Net {
        seg: Segment,
    }

    impl Net {
        pub fn new() -> Self {
            Self {
                seg: Segment::new(),
            }
        }

        /// A network on a system without `feature`, where the backend can give one (`None`
        /// where it cannot: the stand-in at a level that has the feature). The simulator
        /// always can: a segment with every capability but that one.
        pub fn without(feature: Feature) -> Option<Self> {
            Some(Self {
                seg: Segment::builder()
                    .capabilities(Capabilities::ALL.without(feature))
                    .build(),
            })
        }

        /// Which backend runs the test, for messages.
        pub fn name(&self) -> &'static str {
            "simulator"
        }

        /// Interfaces started on this network and not yet stopped.
        pub fn running_interfaces(&self) -> usize {
            self.seg.stats().interfaces
        }

        /// Frames dropped on this network so far (full receive queues, frames too large for
        /// their receiver).
        pub fn dropped(&self) -> u64 {
            self.seg.stats().dropped
        }

        pub fn start(&self, config: &InterfaceConfig) -> vmnet::Result<Interface> {
            self.seg.start(config)
        }

        pub fn start_with(
            &self,
            config: &InterfaceConfig,
            options: &vmnet::StartOptions,
        ) -> vmnet::Result<Interface> {
            self.seg.start_with(config, options)
        }

        pub fn host(&self) -> Host {
            self.seg.host()
        }

        pub fn capabilities(&self) -> Capabilities {
            self.seg.capabilities()
        }

        pub fn bridgeable_interfaces(&self) -> Vec<String> {
            self.seg.bridgeable_interfaces()
        }

        /// The network `config` describes, on this test's own segment.
        pub fn network(&self, config: &NetworkConfiguration) -> vmnet::Result<Network> {
            self.seg.network(config)
        }
    }
}

#[cfg(vmnet_standin)]
mod imp {
    use std::ffi::{CStr, c_char};
    use std::sync::{Mutex, MutexGuard, PoisonError};
    use std::time::{Duration, Instant};

    use vmnet::{
        Capabilities, Feature, Interface, InterfaceConfig, MacAddr, Network, NetworkConfiguration,
    };

    use super::super::SOON;

    // The stand-in framework's test-control functions (standin/src/control.rs), linked from
    // the same library as vmnet's.
    unsafe extern "C" {
        fn vmnet_standin_live(kind: u32) -> u64;
        fn vmnet_standin_reset();
        fn vmnet_standin_host_send(frame: *const u8, len: usize) -> u32;
        fn vmnet_standin_host_recv(buf: *mut u8, cap: usize, timeout_ms: u32) -> isize;
        fn vmnet_standin_host_mac(out: *mut u8);
        fn vmnet_standin_fault(kind: u32, arg: u64);
        fn vmnet_standin_level() -> *const c_char;
        fn vmnet_standin_dropped() -> u64;
    }

    /// Live-object kinds of `vmnet_standin_live`.
    pub const LIVE_KINDS: [(u32, &str); 5] = [
        (0, "XPC objects"),
        (1, "CoreFoundation objects"),
        (2, "dispatch queues"),
        (3, "blocks"),
        (4, "interfaces"),
    ];
    const LIVE_INTERFACES: u32 = 4;
    const LIVE_ALL: u32 = 5;

    /// Fault kinds of `vmnet_standin_fault` (standin/src/faults.rs).
    pub mod fault {
        pub const START_FAILS: u32 = 1;
        pub const START_RETURNS_NULL: u32 = 2;
        pub const LATE_COMPLETION: u32 = 3;
        pub const NEVER_COMPLETES: u32 = 4;
        pub const EVENT_DURING_STOP: u32 = 5;
        pub const READ_BUFFER_EXHAUSTED: u32 = 6;
        pub const WRITE_PARTIAL: u32 = 7;
        pub const FORWARDING_FAILS: u32 = 8;
        pub const NETWORK_FAILS: u32 = 9;
        pub const EVENT_NOT_A_DICTIONARY: u32 = 10;
        pub const READ_SIZE_PAST_BUFFER: u32 = 11;
    }

    /// The stand-in has one network per process: tests take turns.
    static TURN: Mutex<()> = Mutex::new(());

    /// The stand-in's network, held for one test.
    pub struct Net {
        _turn: MutexGuard<'static, ()>,
    }

    /// Objects still alive, as "3 XPC objects, 1 blocks", or `None` when there are none.
    fn live_report() -> Option<String> {
        // SAFETY: a plain query of the stand-in's counters.
        if unsafe { vmnet_standin_live(LIVE_ALL) } == 0 {
            return None;
        }
        let parts: Vec<String> = LIVE_KINDS
            .iter()
            // SAFETY: as above.
            .map(|&(kind, name)| (unsafe { vmnet_standin_live(kind) }, name))
            .filter(|&(n, _)| n > 0)
            .map(|(n, name)| format!("{n} {name}"))
            .collect();
        Some(parts.join(", "))
    }

    /// Waits (bounded) until every object is released: some are released by the stand-in's
    /// queues after a completion ran, a little after the call that caused it returned.
    fn wait_all_released() -> Option<String> {
        let deadline = Instant::now() + SOON;
        loop {
            let report = live_report()?;
            if Instant::now() >= deadline {
                return Some(report);
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    impl Net {
        pub fn new() -> Self {
            let turn = TURN.lock().unwrap_or_else(PoisonError::into_inner);
            // SAFETY: resets faults and the host endpoint's queue; no object is touched.
            unsafe { vmnet_standin_reset() };
            if let Some(left) = wait_all_released() {
                panic!("a previous test left objects alive on the stand-in: {left}");
            }
            Self { _turn: turn }
        }

        /// The stand-in's network if its level lacks `feature`, else `None` (the test has
        /// nothing to check at this level).
        pub fn without(feature: Feature) -> Option<Self> {
            let net = Self::new();
            (!net.capabilities().has(feature)).then_some(net)
        }

        /// Which backend runs the test, for messages.
        pub fn name(&self) -> &'static str {
            "Apple backend on the stand-in framework"
        }

        /// Interfaces started and not yet stopped (the stand-in's count).
        pub fn running_interfaces(&self) -> usize {
            usize::try_from(self.live(LIVE_INTERFACES)).expect("a count")
        }

        /// Frames the stand-in dropped since this test began (full receive queues, frames
        /// too large for their receiver).
        pub fn dropped(&self) -> u64 {
            // SAFETY: a plain query of the stand-in's counters.
            unsafe { vmnet_standin_dropped() }
        }

        /// The macOS level the stand-in library in use was built for ("11.0" … "26.0").
        pub fn level(&self) -> &'static str {
            // SAFETY: the stand-in returns a static NUL-terminated string.
            unsafe { CStr::from_ptr(vmnet_standin_level()) }
                .to_str()
                .expect("ASCII level")
        }

        pub fn start(&self, config: &InterfaceConfig) -> vmnet::Result<Interface> {
            Interface::start(config)
        }

        pub fn start_with(
            &self,
            config: &InterfaceConfig,
            options: &vmnet::StartOptions,
        ) -> vmnet::Result<Interface> {
            Interface::start_with(config, options)
        }

        pub fn host(&self) -> Host {
            Host
        }

        pub fn capabilities(&self) -> Capabilities {
            vmnet::capabilities()
        }

        pub fn bridgeable_interfaces(&self) -> Vec<String> {
            vmnet::bridgeable_interfaces().expect("bridgeable interfaces")
        }

        /// The network `config` describes.
        pub fn network(&self, config: &NetworkConfiguration) -> vmnet::Result<Network> {
            Network::new(config)
        }

        /// Switches on one of the stand-in's faults (see [`fault`]).
        pub fn fault(&self, kind: u32, arg: u64) {
            // SAFETY: a plain setting of the stand-in.
            unsafe { vmnet_standin_fault(kind, arg) }
        }

        /// Live objects of `kind` (see [`LIVE_KINDS`]).
        pub fn live(&self, kind: u32) -> u64 {
            // SAFETY: a plain query of the stand-in's counters.
            unsafe { vmnet_standin_live(kind) }
        }
    }

    impl Drop for Net {
        fn drop(&mut self) {
            let left = wait_all_released();
            // SAFETY: as in `new`.
            unsafe { vmnet_standin_reset() };
            if let Some(left) = left {
                if !std::thread::panicking() {
                    panic!("objects still alive on the stand-in after the test: {left}");
                }
            }
        }
    }

    /// The stand-in's outside network (`Clone`, not `Copy`, like the simulator's host port,
    /// so that one test body fits both).
    #[derive(Clone, Debug)]
    pub struct Host;

    impl Host {
        pub fn mac(&self) -> MacAddr {
            let mut octets = [0u8; 6];
            // SAFETY: the stand-in writes 6 bytes.
            unsafe { vmnet_standin_host_mac(octets.as_mut_ptr()) };
            MacAddr::new(octets)
        }

        /// Sends `frame` as the outside network; `Err` is vmnet's status code.
        pub fn send(&self, frame: &[u8]) -> Result<(), u32> {
            // SAFETY: `frame` is valid for reads of its length for the call.
            let status = unsafe { vmnet_standin_host_send(frame.as_ptr(), frame.len()) };
            if status == vmnet::ffi::VMNET_SUCCESS {
                Ok(())
            } else {
                Err(status)
            }
        }

        pub fn recv_timeout(&self, timeout: Duration) -> Option<Vec<u8>> {
            let mut buf = vec![0u8; 65536 + 64];
            let ms = u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX);
            // SAFETY: `buf` is valid for writes of its length for the call.
            let n = unsafe { vmnet_standin_host_recv(buf.as_mut_ptr(), buf.len(), ms) };
            let n = usize::try_from(n).ok()?;
            buf.truncate(n);
            Some(buf)
        }

        pub fn recv(&self) -> Option<Vec<u8>> {
            self.recv_timeout(Duration::ZERO)
        }
    }
}
