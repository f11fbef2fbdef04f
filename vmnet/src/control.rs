//! [`Control`]: a cloneable handle for an interface's operations that are not packet I/O —
//! port forwarding, parameters, capabilities, whether it is stopped — usable from any thread,
//! whoever holds the interface or its halves.
//!
//! Layering: an operation-layer module below `interface` and `bridge`. It reaches the
//! interface's state only through the [`Controlled`] trait, which `interface` implements, so
//! it imports nothing from the modules that hand controls out.

use std::fmt;
use std::sync::{Arc, PoisonError, RwLock, Weak};

use crate::backend::Driver;
use crate::capabilities::{Capabilities, Feature};
use crate::error::{Error, Result};
use crate::forwarding::{IpFamily, PortForwardingKey, PortForwardingRule};
use crate::params::Parameters;

/// Orders control operations before an interface's stop: operations run under the read lock
/// and refuse to start once the flag is set; the stop sets it under the write lock, so it
/// waits for running operations and none reaches the driver afterwards.
#[derive(Debug, Default)]
pub(crate) struct Gate {
    stopped: RwLock<bool>,
}

impl Gate {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Marks the interface stopped, once every control operation in progress has returned.
    pub(crate) fn close(&self) {
        *self.stopped.write().unwrap_or_else(PoisonError::into_inner) = true;
    }

    pub(crate) fn is_closed(&self) -> bool {
        *self.stopped.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `op` unless the interface is stopped ([`Error::Stopped`]); a stop waits for it.
    fn run<T>(&self, op: impl FnOnce() -> Result<T>) -> Result<T> {
        let stopped = self.stopped.read().unwrap_or_else(PoisonError::into_inner);
        if *stopped {
            return Err(Error::Stopped);
        }
        op()
    }
}

/// An interface's state as control operations see it (implemented by the state its halves
/// share).
pub(crate) trait Controlled: Send + Sync {
    fn driver(&self) -> &dyn Driver;
    fn gate(&self) -> &Gate;
}

/// Adds `rule` after checking it (zero ports) and the system (IPv6 before macOS 12).
pub(crate) fn add_port_forwarding_rule(
    target: &dyn Controlled,
    rule: &PortForwardingRule,
) -> Result<()> {
    rule.validate()?;
    require_family(target.driver(), rule.family())?;
    target
        .gate()
        .run(|| target.driver().add_port_forwarding_rule(rule))
}

/// Removes the rule with `key`.
pub(crate) fn remove_port_forwarding_rule(
    target: &dyn Controlled,
    key: PortForwardingKey,
) -> Result<()> {
    require_family(target.driver(), key.family)?;
    target
        .gate()
        .run(|| target.driver().remove_port_forwarding_rule(key))
}

/// Lists the rules, both families.
pub(crate) fn port_forwarding_rules(target: &dyn Controlled) -> Result<Vec<PortForwardingRule>> {
    target
        .gate()
        .run(|| target.driver().port_forwarding_rules())
}

fn require_family(driver: &dyn Driver, family: IpFamily) -> Result<()> {
    if family == IpFamily::V6 {
        driver.capabilities().require(Feature::IpPortForwarding)?;
    }
    Ok(())
}

/// A handle for an interface's operations that are not packet I/O: port forwarding
/// ([`add_port_forwarding_rule`](Self::add_port_forwarding_rule),
/// [`remove_port_forwarding_rule`](Self::remove_port_forwarding_rule),
/// [`port_forwarding_rules`](Self::port_forwarding_rules)), its
/// [`parameters`](Self::parameters) and [`capabilities`](Self::capabilities), and whether it
/// [`is_stopped`](Self::is_stopped).
///
/// It is `Clone + Send + Sync`, so any thread can manage the interface while others move
/// frames, and it comes from wherever the interface is: [`Interface::control`] before a split,
/// [`ReadHalf::control`] or [`WriteHalf::control`] after it, and
/// [`RunningBridge::control`](crate::bridge::RunningBridge::control) while a bridge runs it.
///
/// # It observes the interface, it does not keep it running
///
/// A `Control` holds the interface weakly: dropping the [`Interface`] (or its last half, or
/// the interface a bridge gives back), or [`Interface::stop`], still stops it, whatever controls
/// exist. From then on every operation returns [`Error::Stopped`] and
/// [`is_stopped`](Self::is_stopped) is `true`; [`parameters`](Self::parameters) and
/// [`capabilities`](Self::capabilities), which were fixed at start, stay readable.
///
/// An operation in progress holds the interface for its duration (it is never stopped under
/// a call to vmnet): a stop waits for it to return, and if the last half is dropped meanwhile,
/// the interface stops when the operation returns, on the thread that called it (bounded by
/// the stop timeout, as any drop). Operations wait for vmnet's completion, at most
/// [`StartOptions::control_timeout`](crate::StartOptions::control_timeout).
///
/// ```
/// # #[cfg(feature = "sim")] {
/// use vmnet::{Error, InterfaceConfig, PortForwardingRule, Protocol};
/// # let segment = vmnet::sim::Segment::new();
/// # let iface = segment.start(&InterfaceConfig::shared())?;
/// // let iface = vmnet::Interface::start(&InterfaceConfig::shared())?;
/// let control = iface.control();
/// let (reader, writer) = iface.split(); // to the I/O threads
///
/// let ssh = PortForwardingRule::new(Protocol::Tcp, 2222, "192.168.105.2:22".parse().unwrap());
/// std::thread::spawn({
///     let control = control.clone();
///     move || control.add_port_forwarding_rule(&ssh)
/// })
/// .join()
/// .unwrap()?;
/// assert_eq!(control.port_forwarding_rules()?, [ssh]);
/// control.remove_port_forwarding_rule(&ssh)?; // by the rule's key
///
/// drop((reader, writer)); // the last half stops the interface
/// assert!(control.is_stopped());
/// assert!(matches!(control.port_forwarding_rules(), Err(Error::Stopped)));
/// # }
/// # Ok::<(), vmnet::Error>(())
/// ```
///
/// [`Interface`]: crate::Interface
/// [`Interface::control`]: crate::Interface::control
/// [`Interface::stop`]: crate::Interface::stop
/// [`ReadHalf::control`]: crate::ReadHalf::control
/// [`WriteHalf::control`]: crate::WriteHalf::control
#[derive(Clone)]
pub struct Control {
    inner: Arc<Inner>,
}

struct Inner {
    target: Weak<dyn Controlled>,
    params: Parameters,
    caps: Capabilities,
}

impl Control {
    /// A control of `target` (held weakly), whose parameters are `params`.
    pub(crate) fn new<T: Controlled + 'static>(target: &Arc<T>, params: Parameters) -> Self {
        let caps = target.driver().capabilities();
        let weak: Weak<T> = Arc::downgrade(target);
        let target: Weak<dyn Controlled> = weak;
        Self {
            inner: Arc::new(Inner {
                target,
                params,
                caps,
            }),
        }
    }

    /// Runs `op` on the interface if it still exists (else [`Error::Stopped`]).
    fn with<T>(&self, op: impl FnOnce(&dyn Controlled) -> Result<T>) -> Result<T> {
        let target = self.inner.target.upgrade().ok_or(Error::Stopped)?;
        op(&*target)
    }

    /// Adds a port-forwarding rule: traffic to `rule.external_port` on the host reaches the
    /// guest at `rule.internal` (shared mode). Waits (bounded) for vmnet's completion.
    ///
    /// Wraps `vmnet_interface_add_ip_port_forwarding_rule` (macOS 12 and later), else
    /// `vmnet_interface_add_port_forwarding_rule` (IPv4 only).
    ///
    /// # Errors
    /// [`Error::Rule`] for a zero port; [`Error::Unsupported`] for an IPv6 rule before
    /// macOS 12 (the older call is IPv4-only); [`Error::Stopped`] once the interface is
    /// stopped; [`Error::Vmnet`] when vmnet refuses (a rule with the same
    /// [`key`](PortForwardingRule::key) exists, for instance); [`Error::Timeout`] when vmnet
    /// does not complete within
    /// [`StartOptions::control_timeout`](crate::StartOptions::control_timeout).
    #[doc(alias = "vmnet_interface_add_port_forwarding_rule")]
    #[doc(alias = "vmnet_interface_add_ip_port_forwarding_rule")]
    pub fn add_port_forwarding_rule(&self, rule: &PortForwardingRule) -> Result<()> {
        self.with(|target| add_port_forwarding_rule(target, rule))
    }

    /// Removes the port-forwarding rule with `key`: a [`PortForwardingKey`], or a
    /// `&PortForwardingRule`, which stands for its [`key`](PortForwardingRule::key) — so the
    /// rule given to [`add_port_forwarding_rule`](Self::add_port_forwarding_rule) or read from
    /// [`port_forwarding_rules`](Self::port_forwarding_rules) removes that rule. Waits
    /// (bounded) for vmnet's completion. Wraps
    /// `vmnet_interface_remove_ip_port_forwarding_rule` (macOS 12 and later), else
    /// `vmnet_interface_remove_port_forwarding_rule`.
    ///
    /// ```
    /// # #[cfg(feature = "sim")] {
    /// use vmnet::{IpFamily, PortForwardingKey, PortForwardingRule, Protocol};
    /// # let segment = vmnet::sim::Segment::new();
    /// # let iface = segment.start(&vmnet::InterfaceConfig::shared())?;
    /// let control = iface.control();
    /// let web = PortForwardingRule::new(Protocol::Tcp, 8080, "192.168.105.2:80".parse().unwrap());
    /// control.add_port_forwarding_rule(&web)?;
    /// control.remove_port_forwarding_rule(PortForwardingKey::new(Protocol::Tcp, 8080, IpFamily::V4))?;
    /// assert!(control.port_forwarding_rules()?.is_empty());
    /// # }
    /// # Ok::<(), vmnet::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Unsupported`] for an IPv6 key before macOS 12; [`Error::Stopped`] once the
    /// interface is stopped; [`Error::Vmnet`] when vmnet refuses (no such rule, for
    /// instance); [`Error::Timeout`] as for
    /// [`add_port_forwarding_rule`](Self::add_port_forwarding_rule).
    #[doc(alias = "vmnet_interface_remove_port_forwarding_rule")]
    #[doc(alias = "vmnet_interface_remove_ip_port_forwarding_rule")]
    pub fn remove_port_forwarding_rule(&self, key: impl Into<PortForwardingKey>) -> Result<()> {
        let key = key.into();
        self.with(|target| remove_port_forwarding_rule(target, key))
    }

    /// The interface's port-forwarding rules, IPv4 and IPv6 (IPv4 only before macOS 12), in
    /// no particular order. Wraps `vmnet_interface_get_ip_port_forwarding_rules` and
    /// `vmnet_ip_port_forwarding_rule_get_details` (macOS 12 and later), else
    /// `vmnet_interface_get_port_forwarding_rules` and
    /// `vmnet_port_forwarding_rule_get_details`. Rules whose details cannot be read are
    /// skipped.
    ///
    /// # Errors
    /// [`Error::Stopped`] once the interface is stopped; [`Error::Vmnet`] when vmnet refuses
    /// the listing; [`Error::UnreadableRules`] when vmnet listed rules and none of them could
    /// be read; [`Error::Timeout`] as for
    /// [`add_port_forwarding_rule`](Self::add_port_forwarding_rule).
    #[doc(alias = "vmnet_interface_get_port_forwarding_rules")]
    #[doc(alias = "vmnet_interface_get_ip_port_forwarding_rules")]
    #[doc(alias = "vmnet_port_forwarding_rule_get_details")]
    #[doc(alias = "vmnet_ip_port_forwarding_rule_get_details")]
    pub fn port_forwarding_rules(&self) -> Result<Vec<PortForwardingRule>> {
        self.with(port_forwarding_rules)
    }

    /// What vmnet reported about the interface at start (MAC address, MTU, packet limits,
    /// range…); still available once it is stopped.
    pub fn parameters(&self) -> &Parameters {
        &self.inner.params
    }

    /// The features of the system (or simulated segment) the interface runs on.
    pub fn capabilities(&self) -> Capabilities {
        self.inner.caps
    }

    /// Whether the interface has been stopped (or dropped): every operation then returns
    /// [`Error::Stopped`]. A `false` may be outdated as soon as it is returned, if another
    /// thread is stopping the interface.
    pub fn is_stopped(&self) -> bool {
        self.inner
            .target
            .upgrade()
            .is_none_or(|target| target.gate().is_closed())
    }

    /// Whether `self` and `other` control the same interface.
    pub fn same_interface(&self, other: &Control) -> bool {
        Weak::ptr_eq(&self.inner.target, &other.inner.target)
    }
}

impl fmt::Debug for Control {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Control")
            .field("mac_address", &self.inner.params.mac_address())
            .field("stopped", &self.is_stopped())
            .finish_non_exhaustive()
    }
}
