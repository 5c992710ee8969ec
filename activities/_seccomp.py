"""The code sandbox's seccomp filter: no new user namespaces, everything else allowed.

A classic BPF program over ``struct seccomp_data`` (see ``seccomp(2)``), built here as plain
``(code, jt, jf, k)`` tuples and installed by the sandbox's stage just before it execs the
code's process (``prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER)``; the filter is inherited by every
process and thread the code starts and survives ``execve``). Standard library only, like the
rest of the sandbox: the stage runs with ``python -I -S`` and could not import a binding, and
the program is a dozen instructions. It answers:

- ``unshare`` or ``clone`` with ``CLONE_NEWUSER`` in the flags: ``EPERM``;
- ``clone3``: ``ENOSYS``, as on kernels before 5.3 (its flags live in memory that a filter
  cannot read); the C library then falls back to ``clone`` for threads and processes;
- a system call of another ABI (i386 through ``int 0x80``, x32 on x86-64): ``EPERM`` (their
  numbers differ, so a filter that only knows the native ones must refuse them all);
- anything else: allowed.

Only x86-64 and AArch64 are known; elsewhere :func:`user_namespace_filter` returns None and
the sandbox runs without a filter (the worker logs it).
"""

from __future__ import annotations

import errno
import platform
from dataclasses import dataclass

CLONE_NEWUSER = 0x10000000

_LD_W_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS: A = the 32-bit word at offset k
_JEQ = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_JGE = 0x35  # BPF_JMP | BPF_JGE | BPF_K
_JSET = 0x45  # BPF_JMP | BPF_JSET | BPF_K
_RET = 0x06  # BPF_RET | BPF_K

_ALLOW = 0x7FFF0000  # SECCOMP_RET_ALLOW
_ERRNO = 0x00050000  # SECCOMP_RET_ERRNO | errno

# struct seccomp_data: int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6]
_NR, _ARCH, _ARG0_LOW = 0, 4, 16  # args[0]'s low word (both architectures are little-endian)

_X32_BIT = 0x40000000
"""x32 system calls on x86-64 are the native number plus this bit."""


@dataclass(frozen=True)
class _Arch:
    """System call numbers of one architecture (and its ``AUDIT_ARCH_*`` value)."""

    audit: int
    unshare: int
    clone: int
    clone3: int
    x32: bool


_ARCHES = {
    "x86_64": _Arch(0xC000003E, unshare=272, clone=56, clone3=435, x32=True),
    "amd64": _Arch(0xC000003E, unshare=272, clone=56, clone3=435, x32=True),
    "aarch64": _Arch(0xC00000B7, unshare=97, clone=220, clone3=435, x32=False),
    "arm64": _Arch(0xC00000B7, unshare=97, clone=220, clone3=435, x32=False),
}

Instruction = tuple[int, int, int, int]


def user_namespace_filter(machine: str | None = None) -> list[Instruction] | None:
    """The filter for this machine (``platform.machine()``), or None if it is not known."""
    arch = _ARCHES.get((machine or platform.machine()).lower())
    if arch is None:
        return None
    # Jump offsets count the instructions skipped; the three returns come last, in this order.
    body: list[tuple[int, str | int, str | int, int]] = [
        (_LD_W_ABS, 0, 0, _ARCH),
        (_JEQ, 0, "eperm", arch.audit),
        (_LD_W_ABS, 0, 0, _NR),
    ]
    if arch.x32:
        body.append((_JGE, "eperm", 0, _X32_BIT))
    body += [
        (_JEQ, "flags", 0, arch.unshare),
        (_JEQ, "flags", 0, arch.clone),
        (_JEQ, "enosys", 0, arch.clone3),
        (_RET, 0, 0, _ALLOW),
    ]
    labels = {"flags": len(body)}
    body += [(_LD_W_ABS, 0, 0, _ARG0_LOW), (_JSET, "eperm", 0, CLONE_NEWUSER), (_RET, 0, 0, _ALLOW)]
    labels["eperm"] = len(body)
    body.append((_RET, 0, 0, _ERRNO | errno.EPERM))
    labels["enosys"] = len(body)
    body.append((_RET, 0, 0, _ERRNO | errno.ENOSYS))

    def offset(at: int, target: str | int) -> int:
        return target if isinstance(target, int) else labels[target] - at - 1

    return [(code, offset(i, jt), offset(i, jf), k) for i, (code, jt, jf, k) in enumerate(body)]
