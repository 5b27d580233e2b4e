"""Odd photographs and odd arguments given to the ml commands: graded right, skipped with a warning, or
refused in one line; never a traceback, never a silently wrong figure."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ml.__main__ import main
from ml.cache import load_images
from ml.data import load_dataset
from ml.export import export
from ml.metrics import classification_metrics
from ml.preprocess import as_rgb


def test_a_16_bit_greyscale_photograph_is_scaled_not_clipped_white(fundus_dir: Path) -> None:
    grey = np.asarray(Image.open(fundus_dir / "0" / "p00_right.jpeg").convert("L"), dtype=np.uint16)
    wide = Image.fromarray(grey * 257)  # the same levels in 16 bits (255 -> 65535)
    assert wide.mode.startswith("I")
    # convert("RGB") turned nearly every pixel white; scaled, the levels are the 8-bit photograph's.
    assert np.abs(np.asarray(as_rgb(wide))[..., 0].astype(int) - grey).max() <= 1


def test_a_decompression_bomb_in_a_folder_is_skipped_with_a_warning(
    tmp_path: Path, fundus_dir: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)  # the 96 px fixtures pass; 200 x 200 is a bomb
    bomb = tmp_path / "bomb.png"
    Image.new("RGB", (200, 200)).save(bomb)
    samples = [*load_dataset(fundus_dir)[:2], load_dataset(fundus_dir)[0].__class__(bomb, 0, 0, "b", "", "t")]
    with caplog.at_level(logging.WARNING):
        _, kept = load_images(samples, 32, cache_dir=tmp_path, workers=1, persist=False)
    assert len(kept) == 2 and "bomb.png" in caplog.text


def test_a_photograph_replaced_under_its_name_is_decoded_again(tmp_path: Path, fundus_dir: Path) -> None:
    sample = load_dataset(fundus_dir)[0]
    copy = tmp_path / "eye.jpeg"
    copy.write_bytes(sample.path.read_bytes())
    first, _ = load_images([sample.__class__(copy, 0, 0, "p", "", "t")], 32, cache_dir=tmp_path, workers=1)
    Image.open(fundus_dir / "4" / "p07_left.jpeg").save(copy)
    later = time.time() + 5
    os.utime(copy, (later, later))
    second, _ = load_images([sample.__class__(copy, 0, 0, "p", "", "t")], 32, cache_dir=tmp_path, workers=1)
    assert not np.array_equal(first, second)  # the cache kept the old pixels before


def test_predict_grades_the_readable_files_lists_the_rest_and_overwrites_no_heatmap(
    tiny_checkpoint: Path, fundus_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "in" / "broken.jpg"
    broken.parent.mkdir()
    broken.write_text("not a photograph")
    one, other = tmp_path / "in" / "eye.jpeg", tmp_path / "in" / "eye.png"
    one.write_bytes((fundus_dir / "0" / "p00_right.jpeg").read_bytes())
    Image.open(fundus_dir / "4" / "p07_left.jpeg").save(other)
    args = ["predict", str(one), str(broken), str(other), "--checkpoint", str(tiny_checkpoint)]
    assert main([*args, "--out", str(tmp_path / "out")]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [row.get("error") for row in rows] == [None, None, "unreadable image: skipped"]
    overlays = [row["heatmap_overlay"] for row in rows[:2]]
    assert len(set(overlays)) == 2 and all(Path(path).is_file() for path in overlays)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["evaluate", "--batch-size", "0"], "must be at least 1"),
        (["tsne", "--max-images", "0"], "must be at least 1"),
    ],
)
def test_a_count_below_one_is_refused_by_the_argument_parser(
    fundus_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as caught:
        main([*args, "--data", str(fundus_dir), "--out", str(tmp_path / "o")])
    assert caught.value.code == 2 and message in capsys.readouterr().err


def test_an_out_path_that_is_a_file_is_one_line(
    tiny_checkpoint: Path, fundus_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    taken = tmp_path / "taken"
    taken.write_text("a file")
    args = ["evaluate", "--data", str(fundus_dir), "--checkpoint", str(tiny_checkpoint), "--bootstrap", "0"]
    assert main([*args, "--out", str(taken)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error:") and "taken" in error and "Traceback" not in error


def test_tsne_of_too_few_images_says_so(tiny_checkpoint: Path, tmp_path: Path, fundus_dir: Path) -> None:
    from ml.tsne import tsne_figure

    few = tmp_path / "few" / "0"
    few.mkdir(parents=True)
    for name in ("p00_right.jpeg", "p01_left.jpeg"):
        (few / name).write_bytes((fundus_dir / "0" / name).read_bytes())
    with pytest.raises(ValueError, match="t-SNE needs at least 4 readable images, got 2"):
        tsne_figure([few.parent], tmp_path / "tsne", tiny_checkpoint)


def test_a_figure_named_without_a_suffix_is_reported_where_it_was_written(
    tiny_checkpoint: Path, tmp_path: Path, fundus_dir: Path
) -> None:
    from ml.tsne import tsne_figure

    result = tsne_figure([fundus_dir], tmp_path / "tsne", tiny_checkpoint)
    assert result["figure"] == str(tmp_path / "tsne.png") and Path(result["figure"]).is_file()


def test_macro_f1_leaves_out_a_class_no_one_has_nor_was_given() -> None:
    metrics = classification_metrics([0, 0, 2], [0, 0, 2])
    # A faultless grading of a folder without Mild: 1.0, where an absent class counted as 0 gave 0.67.
    assert metrics["macro_f1"] == 1.0 and metrics["balanced_accuracy"] == 1.0
    assert metrics["per_class"]["Mild"] == {"precision": None, "recall": None, "f1": None, "support": 0}
    wrong = classification_metrics([0, 0], [0, 1])  # Mild given but absent: a real error, counted
    assert wrong["macro_f1"] == pytest.approx((2 / 3 + 0) / 2) and wrong["per_class"]["Mild"]["precision"] == 0.0


def test_export_keeps_two_photographs_that_differ_only_in_their_format(tmp_path: Path, fundus_dir: Path) -> None:
    root = tmp_path / "stems"
    (root / "0").mkdir(parents=True)
    (root / "0" / "eye.jpg").write_bytes((fundus_dir / "0" / "p00_right.jpeg").read_bytes())
    Image.open(fundus_dir / "4" / "p07_left.jpeg").save(root / "0" / "eye.png")
    assert export([root], tmp_path / "copy", 32) == 2
    files = sorted(p.name for p in (tmp_path / "copy" / "stems" / "0").iterdir())
    assert files == ["eye-png.jpeg", "eye.jpeg"]
    with pytest.raises(ValueError, match="two dataset folders have one name"):
        export([root, root], tmp_path / "copy2", 32)
