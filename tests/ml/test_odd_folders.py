"""Folders in the arranged layout as people make them (Excel's manifests, other formats, folders of one
name, files listed twice): read right, or refused in one line naming the fault; never a traceback."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
from PIL import Image

from ml.__main__ import main
from ml.data import eye_from_filename, load_dataset, load_datasets, normalised_eye, patient_from_filename

HEADER = "file,grade,eye,patient_id"


def _folder(tmp_path: Path, fundus_dir: Path, manifest: str | None = None, name: str = "set") -> Path:
    root = tmp_path / name
    shutil.copytree(fundus_dir, root)
    (root / "manifest.csv").unlink()
    if manifest is not None:
        (root / "manifest.csv").write_bytes(manifest.encode("utf-8") if isinstance(manifest, str) else manifest)
    return root


def test_a_manifest_saved_by_excel_with_a_byte_order_mark_is_read(tmp_path: Path, fundus_dir: Path) -> None:
    root = _folder(
        tmp_path, fundus_dir, "\ufeff" + HEADER + "\r\n0/p00_right.jpeg,0,right,a\r\n1/p03_left.jpeg,1,left,b\r\n"
    )
    assert [(s.grade, s.eye, s.patient_id) for s in load_dataset(root)] == [(0, "right", "a"), (1, "left", "b")]


@pytest.mark.parametrize("separator", [";", "\t"])
def test_a_manifest_separated_by_semicolons_or_tabs_with_a_capitalised_header_is_read(
    tmp_path: Path, fundus_dir: Path, separator: str
) -> None:
    text = (
        separator.join(["File", " Grade", "Eye ", "Patient_ID"])
        + "\n"
        + separator.join(["2/p04_right.jpeg", "2", "OD", "c"])
    )
    root = _folder(tmp_path, fundus_dir, text + "\n")
    assert [(s.grade, s.eye, s.patient_id) for s in load_dataset(root)] == [(2, "right", "c")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name,grade\n0/p00_right.jpeg,0\n", "has no column file (its header: name, grade)"),
        ("file,level\n0/p00_right.jpeg,0\n", "has no column grade"),
        (HEADER + "\n0/p00_right.jpeg\n", "line 2: grade '' is not a whole number 0-4"),
        (HEADER + "\n0/p00_right.jpeg,x,right,a\n", "line 2: grade 'x' is not a whole number 0-4"),
        (HEADER + "\n0/p00_right.jpeg,0,right,a\n0/p01_left.jpeg,5,left,b\n", "line 3: grade must be 0-4, got 5"),
    ],
)
def test_a_malformed_manifest_is_one_line_naming_it_and_the_fault(
    tmp_path: Path, fundus_dir: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    root = _folder(tmp_path, fundus_dir, text)
    assert main(["evaluate", "--data", str(root), "--out", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith(f"error: {root / 'manifest.csv'}") and message in error and "Traceback" not in error
    assert not (tmp_path / "out").exists()  # nothing written for a run that could not start


def test_a_manifest_in_latin_1_is_refused_in_one_line(tmp_path: Path, fundus_dir: Path) -> None:
    root = _folder(tmp_path, fundus_dir, (HEADER + "\n0/p00_right.jpeg,0,right,M\u00fcller\n").encode("latin-1"))
    with pytest.raises(ValueError, match="is not UTF-8 text"):
        load_dataset(root)


def test_a_file_listed_twice_is_one_photograph_and_unlisted_ones_are_named(
    tmp_path: Path, fundus_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rows = "0/p00_right.jpeg,0,right,a\n"
    root = _folder(tmp_path, fundus_dir, HEADER + "\n" + rows + rows)
    with caplog.at_level(logging.WARNING):
        samples = load_dataset(root)
    assert len(samples) == 1
    assert "lists 1 file(s) more than once" in caplog.text
    assert "8 photograph(s) in" in caplog.text and "are not listed in manifest.csv" in caplog.text


def test_a_folder_given_twice_is_read_once(tmp_path: Path, fundus_dir: Path) -> None:
    root = _folder(tmp_path, fundus_dir)
    assert len(load_datasets([root, f"{root}/"])) == len(load_dataset(root)) == 9


def test_two_folders_of_one_name_stay_two_sources(tmp_path: Path, fundus_dir: Path) -> None:
    first = _folder(tmp_path / "a", fundus_dir, name="data")
    second = _folder(tmp_path / "b", fundus_dir, name="data")
    samples = load_datasets([first, second])
    # Merged, patient p00 of one set was pooled and counted with p00 of the other.
    assert {s.source for s in samples} == {str(first), str(second)}
    assert len({(s.source, s.patient_id) for s in samples}) == 18


def test_every_image_format_pil_reads_is_taken_from_the_grade_folders(tmp_path: Path, fundus_dir: Path) -> None:
    root = tmp_path / "formats"
    (root / "0").mkdir(parents=True)
    photo = Image.open(fundus_dir / "0" / "p00_right.jpeg")
    for suffix in (".png", ".tif", ".TIFF", ".bmp", ".webp", ".gif", ".JPG"):
        photo.save(root / "0" / f"x{suffix}")
    (root / "0" / "notes.txt").write_text("not a photograph")
    assert sorted(s.path.suffix for s in load_dataset(root)) == sorted(
        [".png", ".tif", ".TIFF", ".bmp", ".webp", ".gif", ".JPG"]
    )


def test_eyes_are_read_however_written_and_only_as_their_own_word() -> None:
    assert [normalised_eye(v) for v in ("L", "os", " Right ", "OD", "r", "both")] == [
        "left",
        "left",
        "right",
        "right",
        "right",
        "",
    ]
    assert eye_from_filename("1000-r.jpeg") == "right" and patient_from_filename("1000-r.jpeg") == "1000"
    assert eye_from_filename("Patient010_L.jpg") == "left" and eye_from_filename("bright.jpg") == ""
    assert (patient_from_filename("1000_left.jpeg"), eye_from_filename("1000_left.jpeg")) == ("1000", "left")


def test_a_manifest_grade_against_its_folder_is_used_and_named(
    tmp_path: Path, fundus_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = _folder(tmp_path, fundus_dir, HEADER + "\n4/p07_left.jpeg,0,left,a\n0/p00_right.jpeg,0,right,b\n")
    with caplog.at_level(logging.WARNING):
        samples = load_dataset(root)
    assert [s.grade for s in samples] == [0, 0]
    assert "1 file(s) of" in caplog.text and "p07_left.jpeg" in caplog.text
