"""What glibc's malloc does in this process, read from chunk headers, for the benchmarks' PyTorch
workers: both sides of a comparison must run under the same allocator setting (llp's addon sets
M_MMAP_THRESHOLD 32 MiB, M_TRIM_THRESHOLD 1 GiB and M_MMAP_MAX 0 at load; see native/addon.cc)."""

import ctypes

_IS_MMAPPED = 0x2  # bit of a chunk's size field


def _mmapped(size):
    libc = ctypes.CDLL("libc.so.6")
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    p = libc.malloc(size)
    size_field = ctypes.c_size_t.from_address(p - ctypes.sizeof(ctypes.c_size_t)).value
    libc.free(p)
    return (size_field & _IS_MMAPPED) != 0


def allocator_state():
    """threshold_raised: a 1 MiB block comes from the heap (glibc's default threshold, 128 KiB,
    would mmap it). mmap_off: so does a 64 MiB block, above the 32 MiB maximum threshold, which
    only M_MMAP_MAX = 0 keeps off mmap."""
    return {"threshold_raised": not _mmapped(1 << 20), "mmap_off": not _mmapped(64 << 20)}
