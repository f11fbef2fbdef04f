//! Dropping root: once the interface has started, the bridge runs as an unprivileged user
//! and group (`--user`/`--group`, else the user who ran `sudo`), before it touches any VM
//! socket.
//!
//! The drop is `setgroups` (only the target group), `setgid`, `setuid`, then checked: the
//! real and effective ids must be the target's, and `setuid(0)` must fail. If any step fails
//! the bridge stops rather than go on with privileges.

use nix::unistd::{Gid, Group, Uid, User, getegid, geteuid, getgid, getuid, setgid, setuid};

/// Who privileges are dropped to.
#[derive(Clone, Debug)]
pub(crate) struct Target {
    pub(crate) uid: Uid,
    pub(crate) gid: Gid,
    user: String,
    group: String,
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "user {} (uid {}), group {} (gid {})",
            self.user, self.uid, self.group, self.gid
        )
    }
}

/// The user and group to drop to: `--user` and `--group`; without them, when running as root
/// through sudo, `SUDO_UID` and `SUDO_GID`; otherwise `None` (nothing to drop to).
///
/// # Errors
/// An unknown user or group, a numeric user without a user-database entry and without
/// `--group`, `--group` alone, or a malformed `SUDO_UID`/`SUDO_GID`.
pub(crate) fn target(user: Option<&str>, group: Option<&str>) -> Result<Option<Target>, String> {
    let sudo = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let (uid, primary) = match user {
        Some(user) => {
            let (uid, entry) = lookup_user(user)?;
            (uid, entry.map(|u| u.gid))
        }
        None => match sudo("SUDO_UID").filter(|_| geteuid().is_root()) {
            Some(text) => {
                let uid = Uid::from_raw(number("SUDO_UID", &text)?);
                if uid.is_root() {
                    // sudo run by root: root is who asked.
                    return Ok(None);
                }
                let gid = match sudo("SUDO_GID") {
                    Some(text) => Some(Gid::from_raw(number("SUDO_GID", &text)?)),
                    None => user_entry(uid).map(|u| u.gid),
                };
                (uid, gid)
            }
            None if group.is_some() => {
                return Err(
                    "--group needs --user: a process that keeps its user keeps its privileges \
                     whatever its group; give --user too"
                        .to_owned(),
                );
            }
            None => return Ok(None),
        },
    };
    let gid = match group {
        Some(group) => lookup_group("--group", group)?,
        None => primary.ok_or_else(|| {
            format!(
                "uid {uid} has no entry in the user database to take a primary group from: \
                 give --group too"
            )
        })?,
    };
    Ok(Some(Target {
        uid,
        gid,
        user: user_entry(uid).map_or_else(|| uid.to_string(), |u| u.name),
        group: Group::from_gid(gid)
            .ok()
            .flatten()
            .map_or_else(|| gid.to_string(), |g| g.name),
    }))
}

/// A group given by name or number, for `flag`.
///
/// # Errors
/// No such group name.
pub(crate) fn lookup_group(flag: &str, group: &str) -> Result<Gid, String> {
    if let Ok(gid) = group.parse::<u32>() {
        return Ok(Gid::from_raw(gid));
    }
    match Group::from_name(group) {
        Ok(Some(entry)) => Ok(entry.gid),
        Ok(None) => Err(format!("{flag} {group}: no such group")),
        Err(e) => Err(format!("{flag} {group}: looking up the group: {e}")),
    }
}

/// A user given by name or number, with its user-database entry if it has one.
fn lookup_user(user: &str) -> Result<(Uid, Option<User>), String> {
    if let Ok(uid) = user.parse::<u32>() {
        let uid = Uid::from_raw(uid);
        return Ok((uid, user_entry(uid)));
    }
    match User::from_name(user) {
        Ok(Some(entry)) => Ok((entry.uid, Some(entry))),
        Ok(None) => Err(format!("--user {user}: no such user")),
        Err(e) => Err(format!("--user {user}: looking up the user: {e}")),
    }
}

fn user_entry(uid: Uid) -> Option<User> {
    User::from_uid(uid).ok().flatten()
}

fn number(name: &str, text: &str) -> Result<u32, String> {
    text.parse()
        .map_err(|_| format!("{name}={text} is not a number: unset it or give --user"))
}

/// Whether the process already runs as `target` (real and effective ids): nothing to drop.
pub(crate) fn already(target: &Target) -> bool {
    getuid() == target.uid
        && geteuid() == target.uid
        && getgid() == target.gid
        && getegid() == target.gid
}

/// Checks, before anything starts, that this process can drop to `target`: it is root, or it
/// runs as `target` already.
///
/// # Errors
/// The drop is impossible.
pub(crate) fn check_possible(target: &Target) -> Result<(), String> {
    if geteuid().is_root() || already(target) {
        Ok(())
    } else {
        Err(format!(
            "cannot drop privileges to {target}: only root can change its user and group; run \
             vmnet-bridge as root (or through sudo), or without --user/--group"
        ))
    }
}

/// Drops to `target` and checks that the drop took.
///
/// # Errors
/// The step that failed (with the OS error), or the check that found privileges left.
pub(crate) fn drop_to(target: &Target) -> Result<(), String> {
    let failed =
        |step: &str, e: nix::Error| format!("cannot drop privileges to {target}: {step}: {e}");
    set_groups(target.gid).map_err(|e| failed("setgroups", e))?;
    setgid(target.gid).map_err(|e| failed("setgid", e))?;
    setuid(target.uid).map_err(|e| failed("setuid", e))?;
    if !already(target) {
        return Err(format!(
            "dropping privileges to {target} did not take: now uid {}/{} (real/effective), gid \
             {}/{}",
            getuid(),
            geteuid(),
            getgid(),
            getegid()
        ));
    }
    if !target.uid.is_root() && setuid(Uid::from_raw(0)).is_ok() {
        return Err(format!(
            "dropping privileges to {target} did not take: setuid(0) still succeeds"
        ));
    }
    Ok(())
}

/// `setgroups([gid])`: the supplementary groups become the target group alone.
#[cfg(not(target_vendor = "apple"))]
fn set_groups(gid: Gid) -> nix::Result<()> {
    nix::unistd::setgroups(&[gid])
}

/// `setgroups([gid])` through libc: nix does not offer `setgroups` on Apple targets (whose
/// group count is an `int` and whose limit differs).
#[cfg(target_vendor = "apple")]
#[allow(unsafe_code)]
fn set_groups(gid: Gid) -> nix::Result<()> {
    let groups = [gid.as_raw()];
    // SAFETY: setgroups(2) reads exactly `1` gid_t from `groups`, a live array of one.
    let rc = unsafe { libc::setgroups(1, groups.as_ptr()) };
    nix::errno::Errno::result(rc).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_alone_or_unknown_names_are_refused() {
        if std::env::var_os("SUDO_UID").is_none() {
            let e = target(None, Some("0")).unwrap_err();
            assert!(e.contains("--group needs --user"), "{e}");
        }
        let e = target(Some("no-such-user-vmnet"), None).unwrap_err();
        assert_eq!(e, "--user no-such-user-vmnet: no such user");
        let e = lookup_group("--socket-group", "no-such-group-vmnet").unwrap_err();
        assert_eq!(e, "--socket-group no-such-group-vmnet: no such group");
    }

    #[test]
    fn numbers_name_users_and_groups() {
        let t = target(Some("0"), Some("0")).unwrap().unwrap();
        assert_eq!((t.uid.as_raw(), t.gid.as_raw()), (0, 0));
        assert_eq!(t.to_string(), "user root (uid 0), group root (gid 0)");
    }
}
