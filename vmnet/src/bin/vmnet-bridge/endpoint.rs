//! Where the VM's socket comes from: a path listened on, a path connected to, or a descriptor
//! the VMM passed.
//!
//! Two steps, on either side of the interface's start and the privilege drop:
//! [`Endpoint::prepare`] binds what has to be bound (so socket errors need no privileges and
//! come before vmnet starts), [`Endpoint::next`] accepts or connects (as the user privileges
//! were dropped to, so the VM socket's own permissions apply).

use std::io;
use std::os::unix::net::{UnixDatagram, UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use vmnet::bridge::{Framing, VmSocket};

use crate::args::{Args, FramingArg};
use crate::output::{SocketInfo, log};
use crate::socket_path::{Access, BoundPath};
use crate::stop_signal;

/// The VM's socket, or where it comes from.
pub(crate) struct Endpoint {
    source: Source,
    /// The path bound (listened on, or the local end of a connecting datagram socket).
    bound: Option<BoundPath>,
    info: SocketInfo,
}

enum Source {
    /// A listening stream socket: connections are served one after another.
    Listener(UnixListener),
    /// One socket, handed out once: a bound datagram socket, or an inherited descriptor.
    Ready(Option<VmSocket>),
    /// A stream socket to connect to, once.
    ConnectStream(Option<PathBuf>),
    /// A bound datagram socket to connect to the VM's path, once.
    ConnectDatagram(Option<(UnixDatagram, PathBuf)>),
}

impl Endpoint {
    /// Binds what the flags ask to bind (locked, with `access`), or takes the inherited
    /// socket; connects nothing yet.
    ///
    /// # Errors
    /// One line: the path is in use, cannot be bound, or --socket-mode/--socket-group were
    /// given where nothing is bound.
    pub(crate) fn prepare(
        args: &Args,
        inherited: Option<VmSocket>,
        access: Access,
        access_given: bool,
    ) -> Result<Self, String> {
        if let Some(socket) = inherited {
            refuse_access(access_given, "--fd")?;
            let info = SocketInfo {
                framing: socket.framing().to_string(),
                fd: args.fd,
                ..SocketInfo::default()
            };
            return Ok(Endpoint {
                source: Source::Ready(Some(socket)),
                bound: None,
                info,
            });
        }
        // clap requires --socket and --framing without --fd.
        let (Some(path), Some(framing)) = (args.socket.clone(), args.framing) else {
            return Err("give --socket PATH and --framing, or --fd N".to_owned());
        };
        let mut info = SocketInfo {
            framing: Framing::from(framing).to_string(),
            path: Some(path.display().to_string()),
            listen: Some(args.listen),
            ..SocketInfo::default()
        };
        let (source, bound) = match (framing, args.listen) {
            (FramingArg::Stream, true) => {
                let (listener, bound) = BoundPath::bind(&path, access, |p| {
                    let listener = UnixListener::bind(p)?;
                    listener.set_nonblocking(true)?;
                    Ok(listener)
                })?;
                (Source::Listener(listener), Some(bound))
            }
            (FramingArg::Stream, false) => {
                refuse_access(access_given, "--socket without --listen (stream)")?;
                (Source::ConnectStream(Some(path)), None)
            }
            (FramingArg::Datagram, true) => {
                let (socket, bound) = BoundPath::bind(&path, access, |p| UnixDatagram::bind(p))?;
                (Source::Ready(Some(socket.into())), Some(bound))
            }
            (FramingArg::Datagram, false) => {
                let local = args.bind.clone().unwrap_or_else(|| {
                    std::env::temp_dir().join(format!("vmnet-bridge-{}.sock", std::process::id()))
                });
                let (socket, bound) = BoundPath::bind(&local, access, |p| UnixDatagram::bind(p))?;
                info.bind = Some(local.display().to_string());
                (Source::ConnectDatagram(Some((socket, path))), Some(bound))
            }
        };
        Ok(Endpoint {
            source,
            bound,
            info,
        })
    }

    /// The socket, for the `"started"` JSON object.
    pub(crate) fn info(&self) -> &SocketInfo {
        &self.info
    }

    /// Says, once the bridge is ready, what it waits for.
    pub(crate) fn announce(&self) {
        let bound = self.bound.as_ref().map(|b| b.path().display().to_string());
        let bound = bound.unwrap_or_default();
        match &self.source {
            Source::Listener(_) => log(&format!("listening on {bound} (stream)")),
            Source::Ready(_) if self.bound.is_some() => log(&format!(
                "bound {bound} (datagram); the VM is the newest sender"
            )),
            Source::Ready(_) => log(&format!(
                "using descriptor {} ({} framing)",
                self.info.fd.unwrap_or_default(),
                self.info.framing
            )),
            Source::ConnectStream(_) | Source::ConnectDatagram(_) => {}
        }
    }

    /// Whether one VM connection after another is served.
    pub(crate) fn serves_many(&self) -> bool {
        matches!(self.source, Source::Listener(_))
    }

    /// The next VM connection; `None` when there is none to come or a signal arrived.
    ///
    /// # Errors
    /// A failed accept or connect, on one line.
    pub(crate) fn next(&mut self) -> Result<Option<VmSocket>, String> {
        if stop_signal::requested() {
            return Ok(None);
        }
        match &mut self.source {
            Source::Ready(socket) => Ok(socket.take()),
            Source::ConnectStream(path) => {
                let Some(path) = path.take() else {
                    return Ok(None);
                };
                let stream = UnixStream::connect(&path).map_err(|e| connecting(&path, &e))?;
                log(&format!("connected to {} (stream)", path.display()));
                Ok(Some(stream.into()))
            }
            Source::ConnectDatagram(pending) => {
                let Some((socket, path)) = pending.take() else {
                    return Ok(None);
                };
                socket.connect(&path).map_err(|e| connecting(&path, &e))?;
                log(&format!(
                    "sending to {} from {} (datagram)",
                    path.display(),
                    self.info.bind.as_deref().unwrap_or_default()
                ));
                Ok(Some(socket.into()))
            }
            Source::Listener(listener) => loop {
                if stop_signal::requested() {
                    return Ok(None);
                }
                match listener.accept() {
                    Ok((stream, _)) => {
                        log("VM connected");
                        return Ok(Some(stream.into()));
                    }
                    Err(e)
                        if e.kind() == io::ErrorKind::WouldBlock
                            || e.kind() == io::ErrorKind::Interrupted =>
                    {
                        std::thread::sleep(Duration::from_millis(50));
                    }
                    Err(e) => return Err(format!("accepting a connection: {e}")),
                }
            },
        }
    }
}

fn connecting(path: &Path, e: &io::Error) -> String {
    format!("connecting to {}: {e}", path.display())
}

/// `--socket-mode`/`--socket-group` are for a socket vmnet-bridge binds.
fn refuse_access(given: bool, what: &str) -> Result<(), String> {
    if given {
        Err(format!(
            "--socket-mode and --socket-group apply to a socket vmnet-bridge binds (--listen, \
             or --bind with datagrams), not to {what}"
        ))
    } else {
        Ok(())
    }
}
