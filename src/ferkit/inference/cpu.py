"""What this CPU can do that changes ferkit's int8 results.

ONNX Runtime's x86 int8 kernels multiply uint8 activations by int8 weights. With VNNI (``avx512_vnni``, ``avx_vnni``,
``amx_int8``) each product is summed in 32 bits. Without it (AVX2 only, or AVX-512 before Cascade Lake / Zen 4) they
use ``vpmaddubsw``, whose 16-bit sum of two products saturates unless the weights stay within 7 bits (|w| <= 64).
ferkit's int8 exports keep 7 bits (``ferkit.export.REDUCE_RANGE``) and say so in their metadata (``INT8_KEY``); an
int8 file without that mark came from an earlier ferkit, with 8-bit weights, and loses accuracy on such a CPU.
"""

from __future__ import annotations

import platform
from functools import cache
from pathlib import Path

INT8_KEY = "ferkit.int8"  # ONNX metadata of an int8 export: JSON {"weight_bits": 7, "mode": "static" | "dynamic"}
VNNI_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")
X86 = ("x86_64", "amd64", "i386", "i686", "x86")


@cache
def cpu_info() -> dict[str, str]:
    """The first processor's fields in Linux's ``/proc/cpuinfo`` (``model name``, ``flags``, ...); {} elsewhere."""
    try:
        block = Path("/proc/cpuinfo").read_text().split("\n\n")[0]
    except OSError:
        return {}
    pairs = (line.split(":", 1) for line in block.splitlines() if ":" in line)
    return {k.strip(): v.strip() for k, v in pairs}


def int8_saturates() -> bool:
    """True when this is an x86 CPU known to lack VNNI, where 8-bit int8 weights saturate in ONNX Runtime.
    False where it has VNNI, is not x86, or cannot be read (no warning is better than a wrong one)."""
    if platform.machine().lower() not in X86:
        return False
    flags = set(cpu_info().get("flags", "").split())
    return bool(flags) and not flags.intersection(VNNI_FLAGS)
