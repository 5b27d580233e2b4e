from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from tests.conftest import tiny_config

FIXTURES = Path(__file__).parent / "fixtures" / "fundus"


@pytest.fixture(scope="session")
def fundus_dir() -> Path:
    """Nine 96 px fundus photographs, all three classes, with a manifest (two share a patient id)."""
    return FIXTURES


@pytest.fixture(scope="session")
def paired_folder(fundus_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Nine patients with both eyes (three of each class), built from the fixture photographs: every split
    of the patient-level split then holds pairs."""
    folder = tmp_path_factory.mktemp("pairs")
    sources = {0: ["0/p00_right.jpeg", "0/p01_left.jpeg"], 1: ["1/p03_left.jpeg", "2/p04_right.jpeg"],
               2: ["3/p06_right.jpeg", "4/p07_left.jpeg"]}  # fmt: skip
    rows = []
    for label, (first, second) in sources.items():
        for n in range(3):
            patient = f"c{label}n{n}"
            for eye, original in (("right", first), ("left", second)):
                name = f"{label * 2}/{patient}_{eye}.jpeg"
                (folder / name).parent.mkdir(exist_ok=True)
                shutil.copy(fundus_dir / original, folder / name)
                rows.append([name, label * 2, eye, patient, "pairs"])
    with (folder / "manifest.csv").open("w", newline="") as handle:
        csv.writer(handle).writerows([["file", "grade", "eye", "patient_id", "source"], *rows])
    return folder


@pytest.fixture(scope="session")
def hybrid_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One epoch of the hybrid trained here on the fixture photographs, through the training entry point."""
    from ml.train import train

    root = tmp_path_factory.mktemp("hybrid-run")
    kwargs = {"backbone_layers": [1, 1], "depth": 2, "class_token": False, "global_pool": "avg"}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ML_CACHE_DIR", str(root / "cache"))
        train(tiny_config(root / "run", architecture="vit_tiny_r_conv", model_kwargs=kwargs, version="hybrid"))
    return root / "run"


@pytest.fixture(scope="session")
def pretrained_hybrid_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One epoch of the ViT on the pretrained EfficientNet-Lite0 body (the pip-installed weights), trained here
    on the fixture photographs at 64 px with the fine-tuning recipe: body rate scaled, early stages frozen."""
    from ml.train import train

    root = tmp_path_factory.mktemp("pretrained-hybrid-run")
    config = tiny_config(
        root / "run",
        architecture="vit_efficientnet_lite0",
        pretrained="efficientnet-lite0",
        model_kwargs={"depth": 1},
        body_lr_scale=0.2,
        frozen_stages=2,
        version="pretrained-hybrid",
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ML_CACHE_DIR", str(root / "cache"))
        train(config)
    return root / "run"
