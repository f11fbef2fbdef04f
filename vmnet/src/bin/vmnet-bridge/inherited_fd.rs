//! `--fd N`: a connected unix socket the VMM passed down as descriptor N (one end of a
//! socketpair, as vfkit, krunkit and softnet-style helpers do). Its type gives the framing.

use std::os::fd::{OwnedFd, RawFd};

use vmnet::bridge::{Framing, SocketError, VmSocket};

use crate::args::FramingArg;

/// Takes descriptor `n` as the VM's socket and checks it: open, a unix socket, stream (not
/// listening) or datagram (the library's checks), agreeing with `framing` if given.
///
/// Call it first thing, before the process opens any descriptor of its own (see the safety
/// argument inside).
///
/// # Errors
/// One line saying what descriptor `n` is instead, and what to pass.
pub(crate) fn take(n: RawFd, framing: Option<FramingArg>) -> Result<VmSocket, String> {
    if !(3..).contains(&n) {
        let what = match n {
            0 => "standard input",
            1 => "standard output",
            2 => "standard error",
            _ => "not a descriptor number",
        };
        return Err(format!(
            "--fd {n} is {what}: pass the socket as descriptor 3 or above"
        ));
    }
    let socket = VmSocket::try_from(own(n)?).map_err(|e| format!("--fd {n}: {}", report(&e)))?;
    let actual = socket.framing();
    if let Some(given) = framing.map(Framing::from).filter(|&f| f != actual) {
        return Err(format!(
            "--fd {n} is a {actual} socket but --framing {given} was given: leave --framing \
             out (the socket's type decides) or pass a {given} socket"
        ));
    }
    Ok(socket)
}

/// The error and its cause, on one line.
fn report(e: &SocketError) -> String {
    match std::error::Error::source(e) {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}

/// Descriptor `n` as owned, if it is open.
#[allow(unsafe_code)]
fn own(n: RawFd) -> Result<OwnedFd, String> {
    use std::os::fd::FromRawFd;
    // SAFETY: fcntl(F_GETFD) on any number only reads the descriptor table; an unused number
    // gives EBADF. No memory is passed.
    let flags = unsafe { libc::fcntl(n, libc::F_GETFD) };
    if flags == -1 {
        return Err(format!(
            "--fd {n} is not an open descriptor: the VMM must pass it open (without \
             close-on-exec)"
        ));
    }
    // SAFETY: `n` is open (just checked) and nothing else in this process owns it: `n` is 3
    // or above (not a standard stream, which std treats as its own), and `take` runs before
    // the process opens any descriptor of its own, so an open `n` was inherited from the
    // VMM; --fd is parsed once, so it is taken once.
    Ok(unsafe { OwnedFd::from_raw_fd(n) })
}
