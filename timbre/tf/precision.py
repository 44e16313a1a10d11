"""The Keras precision policy of a training run, from ``TrainConfig.mixed_precision``.

``bf16`` halves the cost of a step only where the hardware computes bfloat16 itself: a GPU
of compute capability 8.0 or newer, an x86 CPU with AVX512-BF16 or AMX. Elsewhere
TensorFlow emulates it, and on a 2-core AMD EPYC without AVX512 (``bench/bench_train.py``)
the CPU demo model trained 8 times slower in bf16 than in float32 (GAN: 1.50 against 12.33
samples/s). ``auto``, the presets' and adaptation's choice, is bf16 where it is native and
float32 elsewhere; an explicit ``bf16`` on hardware that emulates it is kept, with a warning.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import tensorflow as tf

POLICIES = {"off": "float32", "bf16": "mixed_bfloat16", "fp16": "mixed_float16"}
CPU_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})  # /proc/cpuinfo flags of native bf16
GPU_BF16_CAPABILITY = (8, 0)  # Ampere and newer
CPUINFO = Path("/proc/cpuinfo")


def cpu_has_bf16(cpuinfo: str) -> bool:
    """Whether a ``/proc/cpuinfo`` text names an x86 flag of native bfloat16 arithmetic."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags" and CPU_BF16_FLAGS & set(value.split()):
            return True
    return False


def native_bf16() -> bool:
    """Whether training here computes bfloat16 natively: every visible GPU of compute
    capability 8.0 or newer, or with no GPU a CPU with AVX512-BF16 or AMX (read from
    ``/proc/cpuinfo``; False where there is none, as on macOS and Windows)."""
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        capabilities = [
            tf.config.experimental.get_device_details(gpu).get("compute_capability") or (0, 0)
            for gpu in gpus
        ]
        return all(tuple(c) >= GPU_BF16_CAPABILITY for c in capabilities)
    try:
        return cpu_has_bf16(CPUINFO.read_text(errors="replace"))
    except OSError:
        return False


def policy(mixed_precision: str) -> str:
    """The Keras policy of ``mixed_precision`` (a :data:`timbre.settings.MIXED_PRECISION`
    value) on this machine: ``auto`` resolved by :func:`native_bf16`; an explicit ``bf16``
    where it is emulated warns."""
    if mixed_precision == "auto":
        return POLICIES["bf16" if native_bf16() else "off"]
    if mixed_precision == "bf16" and not native_bf16():
        warnings.warn(
            "mixed_precision='bf16': this machine emulates bfloat16 (no GPU of compute "
            "capability 8.0+, no CPU with AVX512-BF16 or AMX), which trains several times "
            "slower than float32; use 'auto' or 'off'",
            stacklevel=3,
        )
    return POLICIES[mixed_precision]
