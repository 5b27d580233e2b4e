from __future__ import annotations

from pathlib import Path

import pytest

from ml.train import TrainConfig, train

FIXTURES = Path(__file__).parent / "fixtures" / "fundus"


@pytest.fixture(scope="session")
def fundus_dir() -> Path:
    """Nine 96 px fundus photographs, all three classes, with a manifest (two share a patient id)."""
    return FIXTURES


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory, fundus_dir: Path) -> Path:
    """A run folder from one epoch of a tiny ViT trained here (seconds), with model.safetensors in it."""
    root = tmp_path_factory.mktemp("tiny-run")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ML_CACHE_DIR", str(root / "cache"))
        config = TrainConfig(
            data=[str(fundus_dir)],
            out=str(root / "run"),
            architecture="vit_tiny_patch16_224",
            image_size=64,
            model_kwargs={"depth": 2, "patch_size": 8},
            epochs=1,
            batch_size=4,
            samples_per_epoch=8,
            version="tiny-test",
        )
        train(config)
    return root / "run"


@pytest.fixture(scope="session")
def tiny_checkpoint(tiny_run: Path) -> Path:
    return tiny_run / "model.safetensors"
