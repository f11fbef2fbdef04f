//! The VM's address on a bound (unconnected) datagram socket: the newest sender, learnt by
//! the VM-to-vmnet thread and followed by the vmnet-to-VM thread. See the module docs'
//! "Datagram peers".

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use super::sys::Address;

/// The newest sender, shared. Locked only when it changes.
#[derive(Default)]
pub(super) struct Peer {
    addr: Mutex<Option<Address>>,
    /// Bumped after each change of `addr`, so readers look at it only then.
    version: AtomicU64,
}

impl std::fmt::Debug for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peer")
            .field("version", &self.version.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// The receiving thread's side: the sender it last published.
#[derive(Default)]
pub(super) struct Learner {
    current: Option<Address>,
}

impl Learner {
    /// `from` sent the newest datagram: if it is named and not the current VM, it becomes the
    /// VM. Returns whether the VM changed (the first VM is learnt, not a change).
    pub(super) fn saw(&mut self, from: &Address, peer: &Peer) -> bool {
        if !from.is_named() || self.current.as_ref() == Some(from) {
            return false;
        }
        let changed = self.current.is_some();
        self.current = Some(*from);
        *peer.addr.lock().unwrap_or_else(PoisonError::into_inner) = Some(*from);
        peer.version.fetch_add(1, Ordering::Release);
        changed
    }
}

/// The sending thread's side: its copy of the VM's address.
#[derive(Default)]
pub(super) struct Follower {
    version: u64,
    addr: Option<Address>,
}

impl Follower {
    /// The VM's address now (`None`: no VM has sent anything yet).
    pub(super) fn current(&mut self, peer: &Peer) -> Option<&Address> {
        let version = peer.version.load(Ordering::Acquire);
        if version != self.version {
            self.addr = *peer.addr.lock().unwrap_or_else(PoisonError::into_inner);
            self.version = version;
        }
        self.addr.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(path: &[u8]) -> Address {
        let mut a = Address::new();
        for (d, &s) in a.addr.sun_path.iter_mut().zip(path) {
            *d = s as libc::c_char;
        }
        a.len = (std::mem::offset_of!(libc::sockaddr_un, sun_path) + path.len()) as _;
        a
    }

    #[test]
    fn the_follower_sees_the_newest_named_sender() {
        let peer = Peer::default();
        let (mut learner, mut follower) = (Learner::default(), Follower::default());
        assert!(follower.current(&peer).is_none());
        let (a, b) = (named(b"/tmp/a"), named(b"/tmp/b"));
        assert!(
            !learner.saw(&a, &peer),
            "the first VM is learnt, not a change"
        );
        assert!(follower.current(&peer) == Some(&a));
        assert!(!learner.saw(&a, &peer), "the same VM again");
        assert!(
            !learner.saw(&Address::new(), &peer),
            "an unnamed sender cannot be answered"
        );
        assert!(follower.current(&peer) == Some(&a));
        assert!(learner.saw(&b, &peer));
        assert!(follower.current(&peer) == Some(&b));
        assert!(learner.saw(&a, &peer), "back to the first");
        assert!(follower.current(&peer) == Some(&a));
    }
}
