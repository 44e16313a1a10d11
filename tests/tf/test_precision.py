"""timbre.tf.precision: bf16 where the hardware computes it, float32 where it would emulate it."""

import warnings

import pytest

pytest.importorskip("tensorflow")

from timbre.tf import precision  # noqa: E402

EPYC = "processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma\n\nprocessor\t: 1\nflags\t\t: avx2\n"
SAPPHIRE = "processor\t: 0\nflags\t\t: avx2 avx512f avx512_bf16 amx_tile amx_bf16\n"


def test_cpu_flags_of_native_bf16_are_found():
    assert precision.cpu_has_bf16(SAPPHIRE)
    assert precision.cpu_has_bf16("flags : avx2 amx_bf16\n")
    assert not precision.cpu_has_bf16(EPYC)
    assert not precision.cpu_has_bf16("model name : bf16 avx512_bf16 in a name\n")
    assert not precision.cpu_has_bf16("")


def test_the_cpu_decides_where_no_gpu_is_seen(tmp_path, monkeypatch):
    monkeypatch.setattr(precision.tf.config, "list_physical_devices", lambda kind: [])
    cpuinfo = tmp_path / "cpuinfo"
    monkeypatch.setattr(precision, "CPUINFO", cpuinfo)
    assert not precision.native_bf16()  # unreadable: not native
    cpuinfo.write_text(EPYC)
    assert not precision.native_bf16()
    cpuinfo.write_text(SAPPHIRE)
    assert precision.native_bf16()


@pytest.mark.parametrize(
    "capabilities, native", [([(8, 0)], True), ([(9, 0), (8, 6)], True), ([(8, 0), (7, 5)], False)]
)
def test_every_gpu_must_compute_bf16(monkeypatch, capabilities, native):
    gpus = [f"gpu{i}" for i in range(len(capabilities))]
    details = dict(zip(gpus, capabilities))
    monkeypatch.setattr(precision.tf.config, "list_physical_devices", lambda kind: gpus)
    monkeypatch.setattr(
        precision.tf.config.experimental,
        "get_device_details",
        lambda gpu: {"compute_capability": details[gpu]},
    )
    monkeypatch.setattr(precision, "CPUINFO", precision.Path("/nonexistent/cpuinfo"))
    assert precision.native_bf16() is native


@pytest.mark.parametrize("native, expected", [(True, "mixed_bfloat16"), (False, "float32")])
def test_auto_is_bf16_only_where_native(monkeypatch, native, expected):
    monkeypatch.setattr(precision, "native_bf16", lambda: native)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert precision.policy("auto") == expected
        assert precision.policy("off") == "float32"
        assert precision.policy("fp16") == "mixed_float16"


def test_an_explicit_bf16_is_kept_and_warns_where_emulated(monkeypatch):
    monkeypatch.setattr(precision, "native_bf16", lambda: False)
    with pytest.warns(UserWarning, match="emulates bfloat16.*use 'auto' or 'off'"):
        assert precision.policy("bf16") == "mixed_bfloat16"
    monkeypatch.setattr(precision, "native_bf16", lambda: True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert precision.policy("bf16") == "mixed_bfloat16"
