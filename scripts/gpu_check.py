"""The shipped model on a GPU grades as it does on the CPU: same labels, confidences within bf16/TF32 noise.

Run on a GPU machine from the repository root: python scripts/gpu_check.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import torch
from PIL import Image

from ml.data import load_dataset
from ml.predictor import Predictor

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "ml" / "fixtures" / "fundus"


def main() -> int:
    if not torch.cuda.is_available():
        print("no CUDA device here")
        return 1
    images = [Image.open(s.path).convert("RGB") for s in load_dataset(FIXTURES)]
    cpu, gpu = Predictor(device="cpu"), Predictor(device="cuda")
    on_cpu, on_gpu = cpu.predict(images), gpu.predict(images)
    confidence_gap = max(
        abs(a.confidences[k] - b.confidences[k]) for a, b in zip(on_cpu, on_gpu, strict=True) for k in a.confidences
    )
    same_labels = sum(a.label == b.label for a, b in zip(on_cpu, on_gpu, strict=True))
    correlations = [
        np.corrcoef(a.heatmap.ravel(), b.heatmap.ravel())[0, 1] for a, b in zip(on_cpu, on_gpu, strict=True)
    ]
    print(f"{torch.cuda.get_device_name()}: {len(images)} photographs, model {gpu.version}")
    print(f"same label on CPU and GPU: {same_labels}/{len(images)}")
    print(f"largest confidence difference: {confidence_gap:.2e}")
    print(f"heatmap correlation CPU vs GPU: min {min(correlations):.4f}")
    return 0 if same_labels == len(images) and confidence_gap < 1e-2 else 1


if __name__ == "__main__":
    sys.exit(main())
