"""Atomic swap of two local paths (Linux ``renameat2(RENAME_EXCHANGE)``).

Replacing a non-empty folder is not atomic with plain ``rename``: the old one must go first, and a process
killed in between leaves no folder at all. Exchanging the staged and the live folder in one system call
means a reader sees either the old or the new folder, whatever happens; the old data then sits at the staged
path and is deleted after. Where the call is missing (not Linux, old glibc, a file system without support),
:func:`exchange` returns False and the caller falls back to delete + rename.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from functools import cache
from typing import Any

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


@cache
def _renameat2() -> Any:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    libc = ctypes.CDLL(name, use_errno=True)
    func = getattr(libc, "renameat2", None)
    if func is not None:
        func.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
        func.restype = ctypes.c_int
    return func


def exchange(a: str, b: str) -> bool:
    """Atomically swap the existing paths ``a`` and ``b``; False if this platform cannot (nothing changed)."""
    func = _renameat2()
    if func is None:
        return False
    if func(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (38, 22, 95):  # ENOSYS, EINVAL (flag unsupported by the file system), EOPNOTSUPP
        return False
    raise OSError(err, os.strerror(err), a)
