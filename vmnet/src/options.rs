//! [`StartOptions`]: how long to wait for vmnet, and on which queue events arrive.

use std::time::Duration;

/// How long [`Interface::start`](crate::Interface::start) waits for vmnet's completion by default.
pub const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long stopping (explicitly or on drop) waits for vmnet's completion by default.
pub const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long port-forwarding calls wait for vmnet's completion by default.
pub const DEFAULT_CONTROL_TIMEOUT: Duration = Duration::from_secs(10);

/// Options for [`Interface::start_with`](crate::Interface::start_with).
///
/// ```
/// use std::time::Duration;
/// let options = vmnet::StartOptions::new().with_start_timeout(Duration::from_secs(5));
/// # let _ = options;
/// ```
#[derive(Clone, Debug)]
pub struct StartOptions {
    pub(crate) start_timeout: Duration,
    pub(crate) stop_timeout: Duration,
    pub(crate) control_timeout: Duration,
    #[cfg(vmnet_framework)]
    pub(crate) queue: Option<dispatch2::DispatchRetained<dispatch2::DispatchQueue>>,
}

impl Default for StartOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl StartOptions {
    /// The defaults: [`DEFAULT_START_TIMEOUT`], [`DEFAULT_STOP_TIMEOUT`],
    /// [`DEFAULT_CONTROL_TIMEOUT`], a private queue.
    pub fn new() -> Self {
        Self {
            start_timeout: DEFAULT_START_TIMEOUT,
            stop_timeout: DEFAULT_STOP_TIMEOUT,
            control_timeout: DEFAULT_CONTROL_TIMEOUT,
            #[cfg(vmnet_framework)]
            queue: None,
        }
    }

    /// How long to wait for the start to complete before giving up with
    /// [`Error::Timeout`](crate::Error::Timeout). An interface that completes later is stopped.
    #[must_use]
    pub fn with_start_timeout(mut self, timeout: Duration) -> Self {
        self.start_timeout = timeout;
        self
    }

    /// How long stopping waits for vmnet's completion.
    #[must_use]
    pub fn with_stop_timeout(mut self, timeout: Duration) -> Self {
        self.stop_timeout = timeout;
        self
    }

    /// How long port-forwarding calls wait for vmnet's completion.
    #[must_use]
    pub fn with_control_timeout(mut self, timeout: Duration) -> Self {
        self.control_timeout = timeout;
        self
    }

    /// How long a start waits for vmnet's completion.
    pub fn start_timeout(&self) -> Duration {
        self.start_timeout
    }

    /// How long a stop waits for vmnet's completion.
    pub fn stop_timeout(&self) -> Duration {
        self.stop_timeout
    }

    /// How long port-forwarding calls wait for vmnet's completion.
    pub fn control_timeout(&self) -> Duration {
        self.control_timeout
    }

    /// The serial dispatch queue on which vmnet delivers this interface's events (default: a
    /// private serial queue labelled `rs.vmnet.interface`). Completions of start and stop
    /// always run on a private queue, so waiting for them never blocks this one.
    #[cfg(vmnet_framework)]
    #[must_use]
    pub fn with_queue(
        mut self,
        queue: dispatch2::DispatchRetained<dispatch2::DispatchQueue>,
    ) -> Self {
        self.queue = Some(queue);
        self
    }
}
