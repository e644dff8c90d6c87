"""How a submission's child shuts itself in before any student code runs, so that no student reaches the fork
server or leaves anything for the student graded next.

- ``private_world``: its own user, mount and IPC namespaces, nested inside bubblewrap's, with fresh size- and
  inode-capped tmpfs mounted on /tmp and /dev/shm, and the host's device nodes on read-only mounts. What it
  writes there is capped, vanishes with it, and nothing an earlier student did can be waiting there. Needs
  nested user namespaces (``nested_namespaces_work`` probes).
- ``drop_capabilities``: the new user namespace grants every capability in it, needed only for those mounts.
- ``install_filter``: no_new_privs, then a classic-BPF seccomp filter that refuses with EPERM the system calls
  that reach other processes (ptrace, process_vm_readv/writev, pidfd_open/getfd, kcmp...), change namespaces or
  mounts, or open kernel interfaces no coursework needs: bpf, perf, io_uring, keys, modules; SysV and POSIX
  message IPC (they would outlive the child in a shared IPC namespace); memfd (memory no rlimit bounds).
  clone3 answers ENOSYS (its flags sit in memory a filter cannot read), so glibc falls back to clone, whose
  namespace flags are refused. A system call of another ABI than the machine's (i386 or x32 on x86_64, arm32 on
  aarch64) is refused whole, since its numbers mean other calls.
- ``undumpable``: the fork server's own protection: no ptrace, /proc/1/mem or /proc/1/fd for its uid.

Standard library only (ctypes, struct): this file is copied into the sandbox beside worker.py.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import os
import struct
import sys
from collections.abc import Sequence

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
# Looked up once here, in the fork server, rather than by every child on its first call.
_prctl, _unshare, _mount, _capset, _syscall = _libc.prctl, _libc.unshare, _libc.mount, _libc.capset, _libc.syscall

# System call numbers, from the kernel's tables (x86_64: arch/x86/entry/syscalls/syscall_64.tbl; aarch64 uses the
# generic include/uapi/asm-generic/unistd.h). A name missing for a machine does not exist there.
SYSCALLS: dict[str, dict[str, int]] = {
    # reaching another process
    "ptrace": {"x86_64": 101, "aarch64": 117},
    "process_vm_readv": {"x86_64": 310, "aarch64": 270},
    "process_vm_writev": {"x86_64": 311, "aarch64": 271},
    "process_madvise": {"x86_64": 440, "aarch64": 440},
    "process_mrelease": {"x86_64": 448, "aarch64": 448},
    "pidfd_open": {"x86_64": 434, "aarch64": 434},
    "pidfd_getfd": {"x86_64": 438, "aarch64": 438},
    "pidfd_send_signal": {"x86_64": 424, "aarch64": 424},
    "kcmp": {"x86_64": 312, "aarch64": 272},
    "migrate_pages": {"x86_64": 256, "aarch64": 238},
    "move_pages": {"x86_64": 279, "aarch64": 239},
    # namespaces and mounts
    "unshare": {"x86_64": 272, "aarch64": 97},
    "setns": {"x86_64": 308, "aarch64": 268},
    "mount": {"x86_64": 165, "aarch64": 40},
    "umount2": {"x86_64": 166, "aarch64": 39},
    "pivot_root": {"x86_64": 155, "aarch64": 41},
    "chroot": {"x86_64": 161, "aarch64": 51},
    "open_tree": {"x86_64": 428, "aarch64": 428},
    "move_mount": {"x86_64": 429, "aarch64": 429},
    "fsopen": {"x86_64": 430, "aarch64": 430},
    "fsconfig": {"x86_64": 431, "aarch64": 431},
    "fsmount": {"x86_64": 432, "aarch64": 432},
    "fspick": {"x86_64": 433, "aarch64": 433},
    "mount_setattr": {"x86_64": 442, "aarch64": 442},
    "open_tree_attr": {"x86_64": 467, "aarch64": 467},  # Linux 6.15
    "open_by_handle_at": {"x86_64": 304, "aarch64": 265},
    "name_to_handle_at": {"x86_64": 303, "aarch64": 264},
    # kernel interfaces
    "bpf": {"x86_64": 321, "aarch64": 280},
    "perf_event_open": {"x86_64": 298, "aarch64": 241},
    "userfaultfd": {"x86_64": 323, "aarch64": 282},
    "io_uring_setup": {"x86_64": 425, "aarch64": 425},
    "io_uring_enter": {"x86_64": 426, "aarch64": 426},
    "io_uring_register": {"x86_64": 427, "aarch64": 427},
    "keyctl": {"x86_64": 250, "aarch64": 219},
    "add_key": {"x86_64": 248, "aarch64": 217},
    "request_key": {"x86_64": 249, "aarch64": 218},
    "kexec_load": {"x86_64": 246, "aarch64": 104},
    "kexec_file_load": {"x86_64": 320, "aarch64": 294},
    "init_module": {"x86_64": 175, "aarch64": 105},
    "finit_module": {"x86_64": 313, "aarch64": 273},
    "delete_module": {"x86_64": 176, "aarch64": 106},
    "fanotify_init": {"x86_64": 300, "aarch64": 262},
    "acct": {"x86_64": 163, "aarch64": 89},
    "swapon": {"x86_64": 167, "aarch64": 224},
    "swapoff": {"x86_64": 168, "aarch64": 225},
    "reboot": {"x86_64": 169, "aarch64": 142},
    "quotactl": {"x86_64": 179, "aarch64": 60},
    "quotactl_fd": {"x86_64": 443, "aarch64": 443},
    "lookup_dcookie": {"x86_64": 212, "aarch64": 18},
    "syslog": {"x86_64": 103, "aarch64": 116},
    "vhangup": {"x86_64": 153, "aarch64": 58},
    "uselib": {"x86_64": 134},
    "iopl": {"x86_64": 172},
    "ioperm": {"x86_64": 173},
    # memory no rlimit counts (written, never mapped: RLIMIT_AS does not see it) and the host pays for
    "memfd_create": {"x86_64": 319, "aarch64": 279},
    "memfd_secret": {"x86_64": 447, "aarch64": 447},
    # IPC objects that outlive their creator
    "shmget": {"x86_64": 29, "aarch64": 194},
    "semget": {"x86_64": 64, "aarch64": 190},
    "msgget": {"x86_64": 68, "aarch64": 186},
    "mq_open": {"x86_64": 240, "aarch64": 180},
    # checked, not refused outright
    "clone": {"x86_64": 56, "aarch64": 220},
    "clone3": {"x86_64": 435, "aarch64": 435},
    # an inode's owner, mode, times and extended attributes (ACLs among them): refused only where the child
    # cannot have the host's device nodes on read-only mounts of its own (see METADATA_CALLS)
    "chmod": {"x86_64": 90},
    "fchmod": {"x86_64": 91, "aarch64": 52},
    "fchmodat": {"x86_64": 268, "aarch64": 53},
    "fchmodat2": {"x86_64": 452, "aarch64": 452},  # Linux 6.6
    "chown": {"x86_64": 92},
    "fchown": {"x86_64": 93, "aarch64": 55},
    "lchown": {"x86_64": 94},
    "fchownat": {"x86_64": 260, "aarch64": 54},
    "utime": {"x86_64": 132},
    "utimes": {"x86_64": 235},
    "futimesat": {"x86_64": 261},
    "utimensat": {"x86_64": 280, "aarch64": 88},
    "setxattr": {"x86_64": 188, "aarch64": 5},
    "lsetxattr": {"x86_64": 189, "aarch64": 6},
    "fsetxattr": {"x86_64": 190, "aarch64": 7},
    "setxattrat": {"x86_64": 463, "aarch64": 463},  # Linux 6.13
    "removexattr": {"x86_64": 197, "aarch64": 14},
    "lremovexattr": {"x86_64": 198, "aarch64": 15},
    "fremovexattr": {"x86_64": 199, "aarch64": 16},
    "removexattrat": {"x86_64": 466, "aarch64": 466},  # Linux 6.13
}
# The device nodes in bubblewrap's /dev are the host's own, bound in, and where bubblewrap runs as root the
# sandbox's uid owns what root owns: a chmod, utime or ACL there would change the host's /dev/null for every
# program on it and every later child. A private world remounts them read-only (a device on a read-only mount
# still reads and writes); without one, the calls that change an inode's metadata are refused instead.
METADATA_CALLS = ("chmod", "fchmod", "fchmodat", "fchmodat2", "chown", "fchown", "lchown", "fchownat", "utime",
                  "utimes", "futimesat", "utimensat", "setxattr", "lsetxattr", "fsetxattr", "setxattrat",
                  "removexattr", "lremovexattr", "fremovexattr", "removexattrat")
REFUSED = tuple(name for name in SYSCALLS if name not in ("clone", "clone3", *METADATA_CALLS))
HOST_DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty", "/dev/pts")

# linux/audit.h: the ABI a system call came in through, as seccomp reports it.
AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
X32_SYSCALL_BIT = 0x40000000  # x32 calls arrive with the x86_64 arch and this bit in their number
CLONE_NEW_NAMESPACES = 0x7E020000  # CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET
CLONE_NEWNS, CLONE_NEWIPC, CLONE_NEWUSER = 0x00020000, 0x08000000, 0x10000000

# linux/filter.h, linux/seccomp.h
_BPF_LD_W_ABS, _BPF_JEQ_K, _BPF_JGE_K, _BPF_JSET_K, _BPF_RET_K = 0x20, 0x15, 0x35, 0x45, 0x06
_RET_ALLOW, _RET_ERRNO = 0x7FFF0000, 0x00050000
_NR, _ARCH = 0, 4  # offsets in struct seccomp_data
_ARG0_LOW = 16 if sys.byteorder == "little" else 20  # the low 32 bits of args[0] (clone's flags)
_PR_SET_DUMPABLE, _PR_SET_SECCOMP, _PR_SET_NO_NEW_PRIVS, _SECCOMP_MODE_FILTER = 4, 22, 38, 2
_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_REMOUNT, _MS_BIND, _MS_REC = 0x1, 0x2, 0x4, 0x20, 0x1000, 0x4000
_MS_PRIVATE, _MS_RELATIME = 0x40000, 0x200000
_MOUNT_ATTR_RDONLY, _AT_RECURSIVE, _AT_FDCWD = 0x1, 0x8000, -100
_O_PATH = getattr(os, "O_PATH", 0o10000000)
_CAPABILITY_VERSION_3 = 0x20080522


class _SockFprog(ctypes.Structure):  # linux/filter.h
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


class _CapHeader(ctypes.Structure):  # linux/capability.h
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


class ConfinementError(OSError):
    """The child could not shut itself in: it must not run student code."""


def machine() -> str:
    """This machine's name as the tables spell it ('x86_64', 'aarch64'); other names are not supported."""
    name = os.uname().machine
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(name, name)


def supported() -> bool:
    return machine() in AUDIT_ARCH


@functools.cache  # built once by the fork server, before it forks
def filter_program(arch: str, metadata: bool = True) -> bytes:
    """The seccomp filter for ``arch``, as the bytes of an array of struct sock_filter (code, jt, jf, k).
    ``metadata``: allow METADATA_CALLS (the host's device nodes are on read-only mounts)."""
    names = REFUSED if metadata else REFUSED + METADATA_CALLS
    refused = sorted({SYSCALLS[name][arch] for name in names if arch in SYSCALLS[name]})
    code: list[tuple[int, int | str, int | str, int]] = [
        (_BPF_LD_W_ABS, 0, 0, _ARCH),
        (_BPF_JEQ_K, 0, "deny", AUDIT_ARCH[arch]),  # another ABI: its numbers mean other calls
        (_BPF_LD_W_ABS, 0, 0, _NR),
    ]
    if arch == "x86_64":
        code.append((_BPF_JGE_K, "deny", 0, X32_SYSCALL_BIT))
    code += [(_BPF_JEQ_K, "deny", 0, number) for number in refused]
    code += [
        (_BPF_JEQ_K, "enosys", 0, SYSCALLS["clone3"][arch]),
        (_BPF_JEQ_K, 0, "allow", SYSCALLS["clone"][arch]),
        (_BPF_LD_W_ABS, 0, 0, _ARG0_LOW),
        (_BPF_JSET_K, "deny", "allow", CLONE_NEW_NAMESPACES),
    ]
    labels = {"allow": len(code), "deny": len(code) + 1, "enosys": len(code) + 2}
    code += [(_BPF_RET_K, 0, 0, _RET_ALLOW), (_BPF_RET_K, 0, 0, _RET_ERRNO | errno.EPERM),
             (_BPF_RET_K, 0, 0, _RET_ERRNO | errno.ENOSYS)]

    def offset(at: int, target: int | str) -> int:
        jump = target if isinstance(target, int) else labels[target] - at - 1
        assert 0 <= jump < 256, "a classic BPF jump reaches at most 255 instructions forward"
        return jump

    return b"".join(struct.pack("=HBBI", op, offset(at, jt), offset(at, jf), k)
                    for at, (op, jt, jf, k) in enumerate(code))


def _check(result: int, what: str) -> None:
    if result != 0:
        number = ctypes.get_errno()
        raise ConfinementError(number, f"{what}: {os.strerror(number)}")


def install_filter(metadata: bool = True) -> None:
    """no_new_privs, then the filter for this machine; for this thread and everything it starts from now on."""
    if not supported():
        raise ConfinementError(errno.ENOSYS, f"no seccomp filter for the {machine()} architecture")
    program = filter_program(machine(), metadata)
    instructions = ctypes.create_string_buffer(program, len(program))
    fprog = _SockFprog(len(program) // 8, ctypes.addressof(instructions))
    _check(_prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    _check(_prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0), "seccomp filter")


def undumpable() -> None:
    """No core dumps, and /proc/<pid>/{mem,fd,environ,...} and ptrace closed to processes of our own uid."""
    _check(_prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0), "PR_SET_DUMPABLE")


def _write(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def _mount_tmpfs(target: str, size: int, inodes: int, uid: int, gid: int) -> None:
    options = f"size={size},nr_inodes={inodes},mode=0700,uid={uid},gid={gid}".encode()
    _check(_mount(b"tmpfs", target.encode(), b"tmpfs", _MS_NOSUID | _MS_NODEV, options), f"tmpfs on {target}")


def private_world(tmp_bytes: int, shm_bytes: int, inodes: int, keep: Sequence[str] = ()) -> None:
    """New user, mount and IPC namespaces for this process, with fresh capped tmpfs on /tmp and /dev/shm, owned
    by our own uid mapped onto itself. ``keep``: mounts inside /tmp (read-only Python trees of a checkout that
    lives there) bound again, whole, into the new /tmp. The caller then leaves its cwd, which is not in the new
    /tmp."""
    uid, gid = os.geteuid(), os.getegid()
    kept = [(path, os.open(path, _O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW)) for path in keep]
    # Our /proc/self files belong to root while we are not dumpable (forked from the fork server), and the maps
    # below must be written by their owner.
    _check(_prctl(_PR_SET_DUMPABLE, 1, 0, 0, 0), "PR_SET_DUMPABLE")
    _check(_unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWIPC), "unshare")
    _write("/proc/self/setgroups", "deny")
    _write("/proc/self/uid_map", f"{uid} {uid} 1")
    _write("/proc/self/gid_map", f"{gid} {gid} 1")
    undumpable()
    # Nothing we mount may propagate back to the fork server's mount namespace.
    _check(_mount(None, b"/", None, _MS_REC | _MS_PRIVATE, None), "private mount propagation")
    _devices_read_only()
    _mount_tmpfs("/tmp", tmp_bytes, inodes, uid, gid)
    _mount_tmpfs("/dev/shm", shm_bytes, inodes, uid, gid)
    for path, fd in kept:  # reached through the descriptor opened before the new /tmp hid it
        os.mkdir(path, 0o755)
        _check(_mount(f"/proc/self/fd/{fd}".encode(), path.encode(), None, _MS_BIND | _MS_REC, None),
               f"bind {path}")
        os.close(fd)


def _devices_read_only() -> None:
    """Every mount under /dev read-only: in one call where the kernel has mount_setattr (Linux 5.12), else the
    host's device nodes one by one."""
    attributes = struct.pack("=QQQQ", _MOUNT_ATTR_RDONLY, 0, 0, 0)  # struct mount_attr: set, clear, propagation, userns
    machine_name = machine()
    if machine_name in SYSCALLS["mount_setattr"] and _syscall(
            ctypes.c_long(SYSCALLS["mount_setattr"][machine_name]), ctypes.c_int(_AT_FDCWD), b"/dev",
            ctypes.c_uint(_AT_RECURSIVE), attributes, ctypes.c_size_t(len(attributes))) == 0:
        return
    for device in HOST_DEVICES:
        if os.path.exists(device):
            _remount_read_only(device)


def _remount_read_only(path: str) -> None:
    """Make the mount at ``path`` read-only for us, keeping every other flag it has (flags a more privileged
    namespace set are locked: a remount that dropped one would be refused)."""
    flags = os.statvfs(path).f_flag
    kept = flags & (os.ST_NOSUID | os.ST_NODEV | os.ST_NOEXEC | os.ST_NOATIME | os.ST_NODIRATIME)
    if flags & os.ST_RELATIME:
        kept |= _MS_RELATIME
    _check(_mount(None, path.encode(), None, _MS_REMOUNT | _MS_BIND | _MS_RDONLY | kept, None),
           f"read-only {path}")


def drop_capabilities() -> None:
    """Empty effective, permitted and inheritable sets (ambient ones go with the permitted)."""
    _check(_capset(ctypes.byref(_CapHeader(_CAPABILITY_VERSION_3, 0)), ctypes.byref((_CapData * 2)())), "capset")


def nested_namespaces_work(keep: Sequence[str] = ()) -> bool:
    """Whether a child can have a private world here (nested user namespaces allowed): tried in a throwaway
    process, so the fork server itself stays as it is."""
    pid = os.fork()
    if pid == 0:
        try:
            private_world(1 << 16, 1 << 16, 16, keep)
            drop_capabilities()
            code = 0
        except BaseException:
            code = 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) == 0
