"""The portal's one way of writing dates and times for people (FORMAT_MODULE_PATH): every page, report and
admin list, and Python that renders for people (django.utils.formats.date_format).

Django's own English formats mix "5 Dec 2026", "Dec. 5, 2026, 5:20 p.m." and the like; the portal writes
year-month-day, the 24-hour clock and the zone's abbreviation, so a time on paper is never read in the wrong
zone. Times are the TIME_ZONE setting's local time (templates convert aware datetimes to it). Machine output
(API, FHIR, CSV) stays ISO 8601 with its offset.
"""

from __future__ import annotations

DATE_FORMAT = "Y-m-d"
DATETIME_FORMAT = "Y-m-d H:i T"
TIME_FORMAT = "H:i"
YEAR_MONTH_FORMAT = "Y-m"
MONTH_DAY_FORMAT = "m-d"
SHORT_DATE_FORMAT = DATE_FORMAT
SHORT_DATETIME_FORMAT = DATETIME_FORMAT
