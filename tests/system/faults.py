"""Helpers shared by the fault tests (test_crash.py, test_limits.py)."""
import os
import struct
import subprocess

from conftest import BIN


def writer_supports(option):
    """Whether this build's writer knows a command-line option."""
    out = subprocess.run([os.path.join(BIN, "roost-writer"), "--help"], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, timeout=30).stdout
    return option in out


def fnv(vec):
    """roost-dump's hash of a vector: FNV-1a over its float32 bytes."""
    h = 0xcbf29ce484222325
    for b in struct.pack("<%df" % len(vec), *vec):
        h = ((h ^ b) * 0x100000001b3) & ((1 << 64) - 1)
    return h
