//! `migtest --identity`: the program first becomes an ordinary user with
//! a few capabilities kept, so that migration must carry every part of a
//! process's identity (ids, groups, capability sets, securebits,
//! no_new_privs, umask, dumpable), none of them root's or the default.
//! It reads its identity back at the end and fails if any part changed.

use std::io;

/// What `--identity` becomes (tests/guest-lib.sh `check_identity` expects
/// the same in /proc/PID/status).
pub const UIDS: [u32; 4] = [1000, 1000, 1001, 1000];
pub const GIDS: [u32; 4] = [1000, 1000, 1001, 1002];
pub const GROUPS: [u32; 2] = [100, 1000];
/// Capabilities (bit n: capability n): CAP_CHOWN 0, CAP_KILL 5,
/// CAP_NET_BIND_SERVICE 10, CAP_NET_RAW 13.
pub const INHERITABLE: u64 = 1 << 10 | 1 << 13;
pub const PERMITTED: u64 = 1 << 5 | 1 << 10 | 1 << 13;
pub const EFFECTIVE: u64 = 1 << 5 | 1 << 10;
pub const BOUNDING: u64 = 1 | 1 << 5 | 1 << 10 | 1 << 13;
pub const AMBIENT: u64 = 1 << 10;
/// SECBIT_NOROOT, its lock, SECBIT_KEEP_CAPS.
pub const SECUREBITS: i32 = 0x13;
pub const UMASK: u32 = 0o027;

const LAST_CAP: u32 = 40;

#[repr(C)]
#[derive(Default, Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

const CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// A process's identity as it sees it itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    uids: [u32; 4],
    gids: [u32; 4],
    groups: Vec<u32>,
    /// Inheritable, permitted, effective, bounding, ambient.
    caps: [u64; 5],
    securebits: i32,
    no_new_privs: i32,
    dumpable: i32,
    umask: u32,
}

fn check(ret: libc::c_long, what: &str) -> io::Result<()> {
    if ret < 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(e.kind(), format!("{what}: {e}")));
    }
    Ok(())
}

fn prctl(option: libc::c_int, arg: libc::c_ulong, arg3: libc::c_ulong) -> libc::c_long {
    // SAFETY: prctl with integer arguments only.
    unsafe { libc::prctl(option, arg, arg3, 0 as libc::c_ulong, 0 as libc::c_ulong) as libc::c_long }
}

fn capset(inheritable: u64, permitted: u64, effective: u64) -> io::Result<()> {
    let mut header = CapHeader { version: CAPABILITY_VERSION_3, pid: 0 };
    let data = [0, 32].map(|shift| CapData {
        effective: (effective >> shift) as u32,
        permitted: (permitted >> shift) as u32,
        inheritable: (inheritable >> shift) as u32,
    });
    // SAFETY: a version 3 header and its two data records.
    check(unsafe { libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) }, "capset")
}

/// Becomes the identity above (from root).
pub fn become_user() -> io::Result<()> {
    for cap in (0..=LAST_CAP).filter(|c| BOUNDING & 1 << c == 0) {
        check(prctl(libc::PR_CAPBSET_DROP, cap.into(), 0), "PR_CAPBSET_DROP")?;
    }
    check(prctl(libc::PR_SET_SECUREBITS, SECUREBITS as libc::c_ulong, 0), "PR_SET_SECUREBITS")?;
    // SAFETY: plain syscalls on valid arguments.
    unsafe {
        check(libc::setgroups(GROUPS.len(), GROUPS.as_ptr()).into(), "setgroups")?;
        check(libc::setresgid(GIDS[0], GIDS[1], GIDS[2]).into(), "setresgid")?;
        libc::setfsgid(GIDS[3]);
        // SECBIT_KEEP_CAPS: the permitted set stays.
        check(libc::setresuid(UIDS[0], UIDS[1], UIDS[2]).into(), "setresuid")?;
        libc::setfsuid(UIDS[3]);
        libc::umask(UMASK);
    }
    capset(INHERITABLE, PERMITTED, EFFECTIVE)?;
    for cap in (0..=LAST_CAP).filter(|c| AMBIENT & 1 << c != 0) {
        check(
            prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong, cap.into()),
            "PR_CAP_AMBIENT_RAISE",
        )?;
    }
    // Changing ids made it undumpable; an ordinary user's process is not.
    check(prctl(libc::PR_SET_DUMPABLE, 1, 0), "PR_SET_DUMPABLE")?;
    check(prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0), "PR_SET_NO_NEW_PRIVS")?;
    Ok(())
}

impl Identity {
    pub fn now() -> Identity {
        let (mut r, mut e, mut s) = (0, 0, 0);
        let mut uids = [0; 4];
        let mut gids = [0; 4];
        let mut groups = vec![0u32; 1024];
        let mut header = CapHeader { version: CAPABILITY_VERSION_3, pid: 0 };
        let mut data = [CapData::default(); 2];
        // SAFETY: syscalls writing into locals of the right sizes; setfsuid
        // and setfsgid with -1 change nothing and return the current id;
        // umask is set back at once (one thread).
        let umask = unsafe {
            libc::getresuid(&mut r, &mut e, &mut s);
            uids[..3].copy_from_slice(&[r, e, s]);
            uids[3] = libc::setfsuid(u32::MAX) as u32;
            libc::getresgid(&mut r, &mut e, &mut s);
            gids[..3].copy_from_slice(&[r, e, s]);
            gids[3] = libc::setfsgid(u32::MAX) as u32;
            let n = libc::getgroups(groups.len() as i32, groups.as_mut_ptr());
            groups.truncate(n.max(0) as usize);
            libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr());
            let mask = libc::umask(0);
            libc::umask(mask);
            mask
        };
        let set = |f: fn(&CapData) -> u32| u64::from(f(&data[0])) | u64::from(f(&data[1])) << 32;
        let mut caps = [set(|d| d.inheritable), set(|d| d.permitted), set(|d| d.effective), 0, 0];
        for cap in 0..=LAST_CAP {
            caps[3] |= u64::from(prctl(libc::PR_CAPBSET_READ, cap.into(), 0) == 1) << cap;
            let ambient = prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_IS_SET as libc::c_ulong, cap.into());
            caps[4] |= u64::from(ambient == 1) << cap;
        }
        Identity {
            uids,
            gids,
            groups,
            caps,
            securebits: prctl(libc::PR_GET_SECUREBITS, 0, 0) as i32,
            no_new_privs: prctl(libc::PR_GET_NO_NEW_PRIVS, 0, 0) as i32,
            dumpable: prctl(libc::PR_GET_DUMPABLE, 0, 0) as i32,
            umask,
        }
    }
}

impl std::fmt::Display for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let c = &self.caps;
        write!(
            f,
            "uids {:?} gids {:?} groups {:?} caps inh {:x} prm {:x} eff {:x} bnd {:x} amb {:x} \
             securebits {:#x} no_new_privs {} dumpable {} umask {:03o}",
            self.uids, self.gids, self.groups, c[0], c[1], c[2], c[3], c[4], self.securebits,
            self.no_new_privs, self.dumpable, self.umask
        )
    }
}
