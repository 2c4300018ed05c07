"""Which ``malloc`` this process runs on, and where the faster one for CPU training (tcmalloc) is.

PyTorch's CPU tensors come from the C library's ``malloc``. glibc hands every block above its
mmap threshold (32 MiB at most) back to the kernel when it is freed, so each training step faults
its activations in again, page by page, and the kernel zeroes every page. On this project's 2-core
CPU, ``course_resnext`` at batch 128 took 14.3 million page faults and 22.5 s of kernel time for six
steps at 29.8 images/s; tcmalloc keeps freed memory for the next step: 0.6 million faults, 1.3 s,
48.8 images/s (1.64x; ``python benchmarks/bench_allocator.py course_resnext``), and a 5-epoch run of it
went 1.7x faster. The gain grows with the activations: ``cifar_speedrun`` 1.45x at batch 1024, 1.06x at 128.
A preload cannot be switched on from inside a running process, so the command line only says how
(:func:`allocator_tip`); ``LD_PRELOAD`` does it.

``torch.backends.xeon.run_cpu --enable-tcmalloc`` looks only for an unversioned ``libtcmalloc.so``
outside the multiarch folder, which Debian's and Ubuntu's runtime package does not install; this
module also looks where those packages put it.
"""

from __future__ import annotations

import os
import sys
import sysconfig
from collections.abc import Iterable
from pathlib import Path

TCMALLOC_NAMES = ("libtcmalloc_minimal.so.4", "libtcmalloc.so.4", "libtcmalloc_minimal.so", "libtcmalloc.so")
KNOWN = ("tcmalloc", "jemalloc", "mimalloc")
INSTALL = "Debian/Ubuntu: apt-get install libtcmalloc-minimal4; conda: conda install -c conda-forge gperftools"


def library_dirs() -> list[Path]:
    """Folders searched for tcmalloc, first hit wins: conda, the virtualenv, /usr/local, the system's."""
    multiarch = sysconfig.get_config_var("MULTIARCH") or ""
    dirs = [os.environ.get("CONDA_PREFIX"), os.environ.get("VIRTUAL_ENV"), sys.prefix]
    out = [Path(d) / "lib" for d in dirs if d]
    out += [Path(p) for p in ("/usr/local/lib", f"/usr/lib/{multiarch}", "/usr/lib64", "/usr/lib")]
    return list(dict.fromkeys(out))


def find_tcmalloc(dirs: Iterable[Path] | None = None) -> Path | None:
    """The first tcmalloc shared library in ``dirs`` (default :func:`library_dirs`), or None."""
    for d in library_dirs() if dirs is None else dirs:
        for name in TCMALLOC_NAMES:
            if (Path(d) / name).is_file():
                return Path(d) / name
    return None


def loaded_allocator(maps: str | None = None) -> str:
    """``"tcmalloc"``, ``"jemalloc"`` or ``"mimalloc"`` when one is mapped into this process (``maps``:
    the text of ``/proc/self/maps``, read when None), else ``"system"`` (glibc on Linux)."""
    if maps is None:
        try:
            maps = Path("/proc/self/maps").read_text()
        except OSError:  # not Linux
            return "system"
    libs = {Path(line.split()[-1]).name for line in maps.splitlines() if ".so" in line}
    for name in KNOWN:
        if any(lib.startswith(f"lib{name}") for lib in libs):
            return name
    return "system"


def allocator_tip(command: str) -> str | None:
    """One line for a user about to train on the CPU with glibc's malloc: how to rerun ``command`` with
    tcmalloc, or how to install it. None off Linux or when a faster allocator is already loaded."""
    if not sys.platform.startswith("linux") or loaded_allocator() != "system":
        return None
    tip = "tip: CPU training can run faster with tcmalloc (1.6x for course_resnext; benchmarks/bench_allocator.py)"
    lib = find_tcmalloc()
    if lib is None:
        return f"{tip}: install it ({INSTALL}) and rerun"
    return f"{tip}: LD_PRELOAD={lib} {command}"


def print_allocator_tip(command: str) -> None:
    """Print :func:`allocator_tip` for ``command`` on stderr, when there is one."""
    if tip := allocator_tip(command):
        print(tip, file=sys.stderr)
