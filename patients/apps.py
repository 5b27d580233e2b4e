from __future__ import annotations

from django.apps import AppConfig


class PatientsConfig(AppConfig):
    name = "patients"
    verbose_name = "Clinics and patients"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        from .sqlite import register_unicode_like

        connection_created.connect(register_unicode_like, dispatch_uid="patients.unicode_like")
