//! The Apple backend under the stand-in framework's injected faults (`cargo xtask standin`):
//! late and failed completions, events raised while stopping, failed listings. Each test
//! ends, through the harness, by checking that every stand-in object was released.
#![cfg(all(feature = "sim", vmnet_standin))]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::backend::{Net, fault};
use common::{SOON, frame, within};
use vmnet::{
    Error, Feature, InterfaceConfig, Operation, PortForwardingRule, Protocol, StartOptions, Status,
};

/// `vmnet_standin_live` kind: interfaces started and not yet stopped.
const LIVE_INTERFACES: u32 = 4;

/// Waits (bounded) until `done()` holds.
fn eventually(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + SOON;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within {SOON:?}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A start completion that arrives after the start timeout: start reports the timeout, and
/// the interface vmnet started late is stopped — from another queue, never from inside the
/// start completion — and everything released (the harness checks at the end).
#[test]
fn a_start_completion_after_the_timeout_stops_the_late_interface() {
    let net = Net::new();
    net.fault(fault::LATE_COMPLETION, 300);
    let options = StartOptions::new().with_start_timeout(Duration::from_millis(30));
    let started = net.start_with(&InterfaceConfig::shared(), &options);
    assert!(
        matches!(
            started,
            Err(Error::Timeout {
                operation: Operation::Start,
                ..
            })
        ),
        "{started:?}"
    );
    // The stand-in counts the interface until its stop completed.
    assert_eq!(net.live(LIVE_INTERFACES), 1, "vmnet still starts it");
    eventually("the late interface is stopped", || {
        net.live(LIVE_INTERFACES) == 0
    });
    // And the next start works normally.
    let iface = net.start(&InterfaceConfig::shared()).unwrap();
    iface.stop().unwrap();
}

/// vmnet raising one more event while the callback is being disabled for a stop: the user's
/// callback does not run again once stop has returned.
#[test]
fn an_event_raised_during_stop_reaches_no_callback_after_stop_returns() {
    let net = Net::new();
    let host = net.host();
    let iface = net.start(&InterfaceConfig::shared()).unwrap();
    let mac = iface.parameters().mac_address().unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let (entered_tx, entered) = std::sync::mpsc::channel();
    let entered_tx = std::sync::Mutex::new(entered_tx);
    let seen = calls.clone();
    iface.set_event_callback(move |_| {
        let _ = entered_tx.lock().unwrap().send(());
        std::thread::sleep(Duration::from_millis(100));
        seen.fetch_add(1, Ordering::SeqCst);
    });
    host.send(&frame(mac, host.mac(), 60, 1)).unwrap();
    entered.recv_timeout(SOON).expect("the callback ran");
    net.fault(fault::EVENT_DURING_STOP, 0);
    within(SOON, move || iface.stop()).unwrap();
    let at_return = calls.load(Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        calls.load(Ordering::SeqCst),
        at_return,
        "the callback ran after stop returned"
    );
}

/// One failed listing call does not throw away the rules of the other family.
#[test]
fn a_failed_listing_keeps_the_rules_of_the_other_family() {
    let net = Net::new();
    if !net.capabilities().has(Feature::IpPortForwarding) {
        return; // One listing call only: see the next test.
    }
    let iface = net.start(&InterfaceConfig::shared()).unwrap();
    let v6 = PortForwardingRule::new(Protocol::Tcp, 8023, "[fd00::5]:22".parse().unwrap());
    iface.add_port_forwarding_rule(&v6).unwrap();
    // The first listing call (IPv4) fails; the IPv6 one works.
    net.fault(
        fault::FORWARDING_FAILS,
        u64::from(vmnet::ffi::VMNET_FAILURE),
    );
    assert_eq!(iface.port_forwarding_rules().unwrap(), [v6]);
    iface.stop().unwrap();
}

/// When nothing could be listed, the failure is reported, with vmnet's status.
#[test]
fn a_listing_that_reads_nothing_reports_the_failure() {
    let net = Net::new();
    let iface = net.start(&InterfaceConfig::shared()).unwrap();
    let v4 = PortForwardingRule::new(Protocol::Udp, 5353, "192.168.105.6:53".parse().unwrap());
    iface.add_port_forwarding_rule(&v4).unwrap();
    net.fault(
        fault::FORWARDING_FAILS,
        u64::from(vmnet::ffi::VMNET_FAILURE),
    );
    let listed = iface.port_forwarding_rules();
    if net.capabilities().has(Feature::IpPortForwarding) {
        // The IPv4 listing failed and IPv6 has no rule: nothing was read.
        assert!(
            matches!(
                listed,
                Err(Error::Vmnet {
                    operation: Operation::ListPortForwardingRules,
                    status: Status::Failure
                })
            ),
            "{listed:?}"
        );
    } else {
        assert!(matches!(
            listed,
            Err(Error::Vmnet {
                status: Status::Failure,
                ..
            })
        ));
    }
    assert_eq!(iface.port_forwarding_rules().unwrap(), [v4]);
    iface.stop().unwrap();
}

/// A port-forwarding completion that arrives after the wait gave up: the call reports the
/// timeout, and the late completion finds everything it uses alive (the change it reports
/// still happened), with nothing left behind.
#[test]
fn a_late_forwarding_completion_after_the_timeout_is_harmless() {
    let net = Net::new();
    let options = StartOptions::new().with_control_timeout(Duration::from_millis(30));
    let iface = net
        .start_with(&InterfaceConfig::shared(), &options)
        .unwrap();
    let rule = PortForwardingRule::new(Protocol::Tcp, 8022, "192.168.105.5:22".parse().unwrap());
    net.fault(fault::LATE_COMPLETION, 200);
    let added = iface.add_port_forwarding_rule(&rule);
    assert!(
        matches!(
            added,
            Err(Error::Timeout {
                operation: Operation::AddPortForwardingRule,
                ..
            })
        ),
        "{added:?}"
    );
    // Completions run in order on one queue: after the late one, a listing sees its rule.
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(iface.port_forwarding_rules().unwrap(), [rule]);
    iface.stop().unwrap();
}

/// vmnet hands the event callback an object that is not a dictionary: the backend checks the
/// XPC type before reading it (dictionary functions on another type are API misuse, which
/// libxpc traps and the stand-in aborts on), and events and reads go on.
#[test]
fn an_event_object_that_is_not_a_dictionary_is_not_read_as_one() {
    let net = Net::new();
    let host = net.host();
    let mut iface = net.start(&InterfaceConfig::shared()).unwrap();
    let mac = iface.parameters().mac_address().unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    iface.set_event_callback(move |_| {
        seen.fetch_add(1, Ordering::SeqCst);
    });
    net.fault(fault::EVENT_NOT_A_DICTIONARY, 0);
    host.send(&frame(mac, host.mac(), 60, 1)).unwrap();
    eventually("the callback ran", || calls.load(Ordering::SeqCst) > 0);
    let mut batch = vmnet::PacketBatch::for_interface(iface.parameters());
    assert_eq!(iface.read_batch(&mut batch).unwrap(), 1);
    iface.clear_event_callback();
    iface.stop().unwrap();
}

/// vmnet reports a packet longer than the buffer it was given: reads refuse to hand out a
/// length past the buffer, through a batch and through caller-built descriptors alike.
#[test]
fn a_read_length_past_the_buffer_is_refused() {
    let net = Net::new();
    let host = net.host();
    let mut iface = net.start(&InterfaceConfig::shared()).unwrap();
    let mac = iface.parameters().mac_address().unwrap();
    let mut batch = vmnet::PacketBatch::for_interface(iface.parameters());

    net.fault(fault::READ_SIZE_PAST_BUFFER, 0);
    host.send(&frame(mac, host.mac(), 60, 1)).unwrap();
    assert!(iface.wait_readable(Some(SOON)).unwrap());
    match iface.read_batch(&mut batch) {
        Err(Error::PacketTooBig { len, max, .. }) => assert_eq!(len, max + 1),
        other => panic!("expected PacketTooBig, got {other:?}"),
    }
    assert!(batch.is_empty(), "nothing of that read is exposed");

    net.fault(fault::READ_SIZE_PAST_BUFFER, 0);
    host.send(&frame(mac, host.mac(), 60, 2)).unwrap();
    assert!(iface.wait_readable(Some(SOON)).unwrap());
    let mut buf = vec![0u8; iface.parameters().buffer_len()];
    let mut iov = vmnet::ffi::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut descs = [vmnet::ffi::vmpktdesc {
        vm_pkt_size: buf.len(),
        vm_pkt_iov: &raw mut iov,
        vm_pkt_iovcnt: 1,
        vm_flags: 0,
    }];
    // SAFETY: one descriptor with one iovec over `buf`, sizes equal, flags zero; nothing else
    // touches them during the call.
    match unsafe { iface.read_raw(&mut descs) } {
        Err(Error::PacketTooBig { len, max, .. }) => assert_eq!(len, max + 1),
        other => panic!("expected PacketTooBig, got {other:?}"),
    }
    iface.stop().unwrap();
}
