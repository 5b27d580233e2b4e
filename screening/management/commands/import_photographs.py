"""Bulk import: a folder in the arranged layout with a manifest becomes patients and examinations, graded."""

from __future__ import annotations

import time
from argparse import ArgumentParser, ArgumentTypeError
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from patients.selectors import clinical_membership_for, membership_for
from screening.bulk_import import Manifest, ManifestError, PhotographPair, manifest_read, photograph_pair_import
from screening.dicom_import import NoDicomFiles, dicom_folder_read
from screening.models import Examination, Status


class Command(BaseCommand):
    help = (
        "Import a folder of fundus photographs (<grade>/<file> plus manifest.csv with file,grade,eye,patient_id) "
        "into a clinic: one patient per patient_id, one examination per right + left pair, each sent for grading. "
        "A folder without manifest.csv is read as DICOM files: one examination per Patient ID and Study Instance "
        "UID, its eyes by laterality, the Patient ID as the record number. Re-running it imports nothing twice."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("folder", type=Path)
        parser.add_argument("--clinic", required=True, help="The clinic the patients belong to")
        parser.add_argument("--username", required=True, help="A member of that clinic, recorded as the uploader")
        parser.add_argument(
            "--mrn-prefix",
            help="Medical record number = prefix + patient_id (default: the folder's name and a dash)",
        )
        parser.add_argument("--limit", type=_positive_int, help="Import at most this many pairs")
        parser.add_argument("--wait", action="store_true", help="Then wait until every imported examination is graded")
        parser.add_argument("--wait-timeout", type=_positive_float, default=3600.0, help="Seconds --wait waits at most")

    def handle(self, *args: Any, **options: Any) -> None:
        folder: Path = options["folder"]
        user = self._uploader(options["username"], options["clinic"])
        manifest, prefix = _read(folder, options["mrn_prefix"])
        for problem in manifest.problems:
            self.stderr.write(f"skipped {problem}")
        pairs = manifest.pairs[: options["limit"]] if options["limit"] else manifest.pairs
        created, refused = self._import(pairs, user, prefix, show=options["verbosity"] >= 1)
        skipped = len(pairs) - len(created) - refused
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {len(created)} examination(s); {skipped} already imported, {refused} refused, "
                f"{len(manifest.problems)} manifest problem(s)."
            )
        )
        if options["wait"] and created:
            self._wait(created, options["wait_timeout"], show=options["verbosity"] >= 1)
        if refused or manifest.problems:
            # Exit status 1: a cron job or script must notice what was left out, not only a person reading.
            raise CommandError(
                f"{refused + len(manifest.problems)} photograph pair(s) or manifest row(s) were not imported "
                "(listed above); correct them and run the import again: what was imported is not imported twice."
            )

    def _import(self, pairs: list[PhotographPair], user: Any, prefix: str, *, show: bool) -> tuple[list[int], int]:
        created: list[int] = []
        refused = 0
        for pair in tqdm(pairs, desc="Importing", unit="exam", disable=not show):
            try:
                examination = photograph_pair_import(user=user, pair=pair, mrn_prefix=prefix)
            except ValidationError as exc:
                # One bad photograph must not stop a night's import: report it and go on.
                refused += 1
                tqdm.write(f"refused patient {pair.patient_id}: {' '.join(exc.messages)}", file=self.stderr)
                continue
            if examination is not None:
                created.append(examination.pk)
        return created, refused

    def _uploader(self, username: str, clinic: str) -> Any:
        user = get_user_model().objects.filter(username=username).first()
        membership = membership_for(user) if user is not None else None
        if user is None or membership is None or membership.clinic.name != clinic:
            raise CommandError(f"{username!r} is not a member of the clinic {clinic!r}.")
        if not user.is_active:
            raise CommandError(f"{username!r} is deactivated: name an active member of {clinic!r}.")
        if clinical_membership_for(user) is None:
            # A clinic admin sees no patient data (least privilege): the import would fail at its first patient.
            raise CommandError(f"{username!r} is a {membership.get_role_display()}: name a staff member or doctor.")
        return user

    def _wait(self, ids: list[int], timeout: float, *, show: bool) -> None:
        deadline = time.monotonic() + timeout
        finished = {Status.DONE, Status.FAILED}
        with tqdm(total=len(ids), desc="Grading", unit="exam", disable=not show) as bar:
            while True:
                statuses = list(Examination.objects.filter(pk__in=ids).values_list("status", flat=True))
                bar.update(sum(status in finished for status in statuses) - bar.n)
                if bar.n == len(ids) or time.monotonic() > deadline:
                    break
                time.sleep(2)
        failed = statuses.count(Status.FAILED)
        pending = len(ids) - bar.n
        if pending:
            raise CommandError(f"{pending} examination(s) still not graded after {timeout:.0f}s; {failed} failed.")
        self.stdout.write(f"Graded {len(ids) - failed}; {failed} failed.")


def _read(folder: Path, mrn_prefix: str | None) -> tuple[Manifest, str]:
    """The folder's pairs and the record-number prefix: a manifest's, or, without one, its DICOM files'."""
    if (folder / "manifest.csv").is_file() or not folder.is_dir():
        try:
            manifest = manifest_read(folder)
        except ManifestError as exc:
            raise CommandError(str(exc)) from exc
        return manifest, mrn_prefix if mrn_prefix is not None else f"{folder.resolve().name}-"
    if mrn_prefix:
        # The upload refuses a DICOM file whose Patient ID is not the patient's record number.
        raise CommandError(
            "--mrn-prefix is for a manifest's patient ids: a DICOM file's Patient ID is the record number."
        )
    try:
        return dicom_folder_read(folder), ""
    except NoDicomFiles as exc:
        raise CommandError(str(exc)) from exc


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        # 0 was read as "no limit" and imported everything; a negative one everything but the last pairs.
        raise ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise ArgumentTypeError(f"must be more than 0, not {text}")
    return value
