"""The server's local time zone, as an IANA name: the default of the TIME_ZONE setting.

Read by hand (as the tzlocal package does) so that no dependency is needed: the TZ variable when it names a
zone, else where /etc/localtime points (Debian, most Linux), else /etc/timezone, else UTC.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

LOCALTIME = Path("/etc/localtime")
TIMEZONE_FILE = Path("/etc/timezone")


def is_zone(name: str) -> bool:
    """Whether `name` is a time zone the zoneinfo database knows (a name, not a file path)."""
    if not name or name.startswith("/") or ".." in name:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def server_time_zone(
    environ: Mapping[str, str], localtime: Path = LOCALTIME, timezone_file: Path = TIMEZONE_FILE
) -> str:
    """The zone this machine's clocks show: TZ, /etc/localtime's target, /etc/timezone, or "UTC"."""
    for name in (environ.get("TZ", "").removeprefix(":"), _linked_zone(localtime), _file_zone(timezone_file)):
        if is_zone(name):
            return name
    return "UTC"


def _linked_zone(localtime: Path) -> str:
    # /etc/localtime -> /usr/share/zoneinfo/Europe/Berlin: the name is what follows "zoneinfo/".
    try:
        target = str(localtime.resolve(strict=True))
    except OSError:
        return ""
    _, found, name = target.rpartition("zoneinfo/")
    if not found:
        return ""
    # zoneinfo/posix/Europe/Berlin on some systems: the same zone.
    return name.removeprefix("posix/").removeprefix("right/")


def _file_zone(timezone_file: Path) -> str:
    try:
        return timezone_file.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return ""
