"""glibc's default allocator against ml.runtime.keep_freed_memory: a training step and an examination graded.

Each setting runs in a fresh interpreter (mallopt settings last for the process), the two alternating,
on the shipped architecture; the step uses random batches, the Predictor two real photographs.
Prints figures; asserts nothing. Usage: python bench/bench_allocator.py [--batch 32] [--steps 4] [--rounds 2]
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script from anywhere: make the repository root importable.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import json
import subprocess

ROOT = Path(__file__).resolve().parent.parent

CHILD = """
import json, resource, sys, time
import torch
from ml.runtime import keep_freed_memory

kept = keep_freed_memory() if sys.argv[1] == "kept" else False
batch, steps = int(sys.argv[2]), int(sys.argv[3])
torch.set_num_threads(2)
from bench.bench_predictor import _examination
from ml.checkpoint import load_checkpoint
from ml.predictor import Predictor
from ml.train import OrdinalCostLoss, TrainConfig, make_optimizer, place_model, training_step

def timed(run, repeats):
    run()  # warm-up: the first pass maps the memory either way
    usage, started = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    for _ in range(repeats):
        run()
    after = resource.getrusage(resource.RUSAGE_SELF)
    per = lambda value: value / repeats
    return {"s": per(time.perf_counter() - started), "kernel_s": per(after.ru_stime - usage.ru_stime),
            "faults": per(after.ru_minflt - usage.ru_minflt)}

model, _ = load_checkpoint("ml/weights/dr-vit.safetensors")
model = place_model(model, torch.device("cpu")).train()
optimizer = make_optimizer(model, TrainConfig(data=[], lr=1e-6))
x, y = torch.randn(batch, 3, 256, 256), torch.randint(0, 3, (batch,))
step = timed(lambda: training_step(model, x, y, optimizer, OrdinalCostLoss(0.1), 1.0), steps)
predictor, images = Predictor(), _examination()
grade = timed(lambda: predictor.predict(images, heatmaps=True, eyes=["right", "left"]), steps * 5)
print(json.dumps({"kept": kept, "step": step, "grade": grade}))
"""


def _run(setting: str, batch: int, steps: int) -> dict:
    command = [sys.executable, "-c", CHILD, setting, str(batch), str(steps)]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    results: dict[str, list[dict]] = {"default": [], "kept": []}
    for _ in range(args.rounds):  # alternate, so load from other processes hits both alike
        for setting in results:
            results[setting].append(_run(setting, args.batch, args.steps))
    best = {
        setting: {part: min((r[part] for r in runs), key=lambda f: f["s"]) for part in ("step", "grade")}
        for setting, runs in results.items()
    }
    print(f"2 CPU threads; best of {args.rounds} fresh processes per setting")
    for part, label in (("step", f"training step, batch {args.batch}"), ("grade", "examination with heatmaps")):
        default, kept = best["default"][part], best["kept"][part]
        for name, figures in (("glibc default", default), ("kept", kept)):
            print(
                f"{label:32s} {name:14s} {figures['s'] * 1000:9.1f} ms   kernel {figures['kernel_s'] * 1000:8.1f} ms"
                f"   page faults {figures['faults']:9.0f}"
            )
        print(f"{label:32s} kept / default: {kept['s'] / default['s']:.2f}x time")


if __name__ == "__main__":
    main()
