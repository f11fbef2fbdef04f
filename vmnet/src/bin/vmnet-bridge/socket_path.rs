//! A socket path vmnet-bridge binds, safe to share a host with.
//!
//! - **A lock beside it**, `PATH.lock`, held (`flock`) for the bridge's life with the holder's
//!   PID inside: a second bridge on the same path fails, naming that PID.
//! - **A stale socket is replaced, a live one never**: with the lock held, a socket file left
//!   at the path is removed only if nothing is bound to it any more (connecting to it is
//!   refused); a socket another process serves is left alone and the bridge refuses to start.
//! - **Created private**: bound under umask 077 (no window in which others may connect), then
//!   given its owner (the user privileges are dropped to), its group and its mode.
//! - **Appears ready**: bound at a staged name beside the path (`PATH.new`), made ready
//!   (listening, owner, group, mode), then renamed into place, so the path appears only when
//!   it accepts connections: a launcher may wait for the file and connect at once (binding
//!   the path itself leaves a moment between `bind` and `listen` in which a connection is
//!   refused). A path too long to stage (socket addresses hold about 104 bytes) is bound
//!   directly.
//! - **Removed at exit**, the socket and then the lock file (the lock still held, so no
//!   other bridge can be between the two).

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use nix::sys::stat::{Mode, umask};
use nix::unistd::{Gid, Uid};

use crate::output::log;

/// The mode a bound socket gets unless `--socket-mode` says otherwise: its owner only.
pub(crate) const DEFAULT_MODE: u32 = 0o600;

/// Who may use a bound socket.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Access {
    /// Permission bits.
    pub(crate) mode: u32,
    /// The new owner (the user privileges are dropped to), if any.
    pub(crate) owner: Option<Uid>,
    /// The new group, if any.
    pub(crate) group: Option<Gid>,
}

/// A socket path this process bound and holds the lock of; dropping it removes both files.
#[derive(Debug)]
pub(crate) struct BoundPath {
    path: PathBuf,
    lock: Option<PathLock>,
}

impl BoundPath {
    /// Locks `path`, replaces a stale socket there, runs `bind` on a staged name beside it
    /// with umask 077, sets `access`, and renames the socket into place.
    ///
    /// # Errors
    /// A one-line message: the path is served by another bridge (its PID) or another
    /// process, is not a socket, or a step failed.
    pub(crate) fn bind<S>(
        path: &Path,
        access: Access,
        bind: impl Fn(&Path) -> io::Result<S>,
    ) -> Result<(S, BoundPath), String> {
        let shown = path.display();
        let lock = PathLock::acquire(path)?;
        replace_stale(path, &lock.path)?;
        let mut staged = OsString::from(path.as_os_str());
        staged.push(".new");
        let staged = PathBuf::from(staged);
        // Left by a bridge that died between bind and rename; the lock says it is ours now.
        replace_stale(&staged, &lock.path)?;
        // Only this thread runs yet (the interface has not started), so the process-wide
        // umask changes for this bind alone.
        let old = umask(Mode::from_bits_truncate(0o077));
        let (bound, at) = match bind(&staged) {
            Err(e) if e.kind() == io::ErrorKind::InvalidInput => (bind(path), path),
            other => (other, staged.as_path()),
        };
        umask(old);
        let socket = bound.map_err(|e| format!("binding {shown}: {e}"))?;
        // From here on the path's files are ours to remove, whatever fails next.
        let mut bound = BoundPath {
            path: at.to_owned(),
            lock: Some(lock),
        };
        set_access(at, access, bound.lock.as_ref().map(|l| l.path.as_path()))?;
        if at != path {
            std::fs::rename(at, path)
                .map_err(|e| format!("moving the socket into place at {shown}: {e}"))?;
            bound.path = path.to_owned();
        }
        Ok((socket, bound))
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for BoundPath {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_file(&self.path) {
            if e.kind() != io::ErrorKind::NotFound {
                log(&format!(
                    "could not remove {}: {e} (the next vmnet-bridge on this path replaces it)",
                    self.path.display()
                ));
            }
        }
        // The lock file, then the lock: see PathLock's Drop.
        self.lock.take();
    }
}

/// Gives the socket at `at` its owner, group and mode, and the lock file (if any) its owner.
fn set_access(at: &Path, access: Access, lock: Option<&Path>) -> Result<(), String> {
    let shown = at.display();
    if access.owner.is_some() || access.group.is_some() {
        let (uid, gid) = (access.owner.map(Uid::as_raw), access.group.map(Gid::as_raw));
        std::os::unix::fs::chown(at, uid, gid)
            .map_err(|e| format!("giving {shown} its owner and group: {e}"))?;
        // The lock file goes with the socket, so the same user can take the path over.
        if let Some(lock) = lock {
            std::os::unix::fs::chown(lock, uid, gid)
                .map_err(|e| format!("giving {} its owner: {e}", lock.display()))?;
        }
    }
    std::fs::set_permissions(at, std::fs::Permissions::from_mode(access.mode))
        .map_err(|e| format!("setting the mode of {shown}: {e}"))
}

/// The lock beside a socket path: `PATH.lock`, `flock`ed, with the holder's PID inside.
#[derive(Debug)]
struct PathLock {
    path: PathBuf,
    /// Held (locked) for the bridge's life; unlocked when dropped.
    _held: Flock<File>,
}

impl PathLock {
    fn acquire(socket: &Path) -> Result<Self, String> {
        let mut path = OsString::from(socket.as_os_str());
        path.push(".lock");
        let path = PathBuf::from(path);
        let shown = path.display();
        // A holder that exits removes the file: the inode locked may then be gone from the
        // path; lock again what the path names now. Twice in a row is a race lost twice.
        for _ in 0..3 {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o644)
                .open(&path)
                .map_err(|e| format!("opening the lock {shown}: {e}"))?;
            let mut file = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(file) => file,
                Err((mut file, Errno::EWOULDBLOCK)) => {
                    return Err(format!(
                        "{} is served by vmnet-bridge pid {} (which holds {shown}): stop it, or \
                         choose another path",
                        socket.display(),
                        holder(&mut file)
                    ));
                }
                Err((_, e)) => return Err(format!("locking {shown}: {e}")),
            };
            let same = match (file.metadata(), std::fs::metadata(&path)) {
                (Ok(locked), Ok(named)) => {
                    locked.dev() == named.dev() && locked.ino() == named.ino()
                }
                _ => false,
            };
            if !same {
                continue;
            }
            let pid = format!("{}\n", std::process::id());
            file.set_len(0)
                .and_then(|()| file.rewind())
                .and_then(|()| file.write_all(pid.as_bytes()))
                .map_err(|e| format!("writing the PID into {shown}: {e}"))?;
            return Ok(PathLock { path, _held: file });
        }
        Err(format!(
            "{shown} keeps changing under vmnet-bridge: try again"
        ))
    }
}

impl Drop for PathLock {
    fn drop(&mut self) {
        // Removed while still locked: a bridge that opened it before waits for nothing (it
        // locks without blocking) and a later one creates a new file. Failing to remove it
        // (privileges dropped, directory not writable) leaves a lock nobody holds: harmless.
        // The lock itself goes with `_held`, dropped after this.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The PID the lock's holder wrote, or `unknown`.
fn holder(file: &mut File) -> String {
    let mut text = String::new();
    let _ = file.rewind().and_then(|()| file.read_to_string(&mut text));
    match text.trim().parse::<u32>() {
        Ok(pid) => pid.to_string(),
        Err(_) => "unknown".to_owned(),
    }
}

/// With the path's lock held: removes a socket file nothing serves any more, leaves anything
/// else.
fn replace_stale(path: &Path, lock: &Path) -> Result<(), String> {
    let shown = path.display();
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("checking {shown}: {e}")),
        Ok(meta) if !std::os::unix::fs::FileTypeExt::is_socket(&meta.file_type()) => {
            return Err(format!(
                "{shown} exists and is not a socket; choose another path"
            ));
        }
        Ok(_) => {}
    }
    // A datagram connect reaches whatever is bound there without sending anything: refused
    // means nothing is (stale); success (a datagram socket) or "wrong type" (a stream socket)
    // means a live process serves it.
    let probe = UnixDatagram::unbound().and_then(|s| s.connect(path));
    match probe {
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => std::fs::remove_file(path)
            .map_err(|e| format!("removing the stale socket {shown}: {e}")),
        Ok(()) => Err(in_use(path, lock)),
        Err(e) if e.raw_os_error() == Some(Errno::EPROTOTYPE as i32) => Err(in_use(path, lock)),
        Err(e) => Err(format!(
            "cannot tell whether a process serves {shown} ({e}): remove it if none does, or \
             choose another path"
        )),
    }
}

fn in_use(path: &Path, lock: &Path) -> String {
    format!(
        "{} is a socket another process serves (not a vmnet-bridge: none holds {}): stop that \
         process, or choose another path",
        path.display(),
        lock.display()
    )
}
