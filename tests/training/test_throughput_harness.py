"""The throughput benchmark compares like with like, and knows each device's peak."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from train_throughput import compare, peak_flops

RESULT = {"tokens_per_s_per_gpu": 100.0, "peak_memory_gb": 10.0, "attention": "flex",
          "document_masking": True, "compile": False, "activation_checkpointing": False,
          "precision": "weights fp32, bf16 matmuls, fp32 grads"}  # fmt: skip


@pytest.mark.parametrize(
    ("name", "label", "tflops"),
    [("NVIDIA H100 80GB HBM3", "H100 SXM5", 989.5), ("NVIDIA H100 PCIe", "H100 PCIe", 756.5),
     ("NVIDIA H100 NVL", "H100 NVL", 835.5), ("NVIDIA H200", "H200 SXM", 989.5),
     ("NVIDIA H200 NVL", "H200 NVL", 835.5)],
)  # fmt: skip
def test_peak_flops_per_exact_device(name: str, label: str, tflops: float) -> None:
    assert peak_flops(name) == (label, pytest.approx(tflops * 1e12))


def test_no_ratio_unless_like_for_like() -> None:
    ours = RESULT | {"tokens_per_s_per_gpu": 150.0, "peak_memory_gb": 9.0}
    assert compare(ours, RESULT) == {"like_for_like": True, "speedup": 1.5,
                                     "memory_ratio": 0.9, "target_met": True}  # fmt: skip
    assert peak_flops("Tesla T4") is None
    for field, other in (("attention", "sdpa"), ("compile", True), ("precision", "bf16")):
        verdict = compare(ours, RESULT | {field: other})
        assert verdict == {"like_for_like": False, "why": f"differ in {field}"}
