"""The database itself refuses UPDATE and DELETE on the audit trail, whatever the application does.

PostgreSQL (the services mode) gets a trigger function; SQLite (the embedded mode) gets two RAISE(ABORT)
triggers, so a newcomer's database is protected too. TRUNCATE is left alone on purpose: it needs table
ownership (the production application role should not own its tables) and the test runner's flush uses it.
A later migration that makes Django rebuild this table on SQLite (remake-table) must re-create the triggers.
"""

from __future__ import annotations

from django.db import migrations

POSTGRES_FORWARD = """
CREATE OR REPLACE FUNCTION audit_auditevent_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_auditevent is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_auditevent_append_only
    BEFORE UPDATE OR DELETE ON audit_auditevent
    FOR EACH ROW EXECUTE FUNCTION audit_auditevent_append_only();
"""
POSTGRES_BACKWARD = """
DROP TRIGGER IF EXISTS audit_auditevent_append_only ON audit_auditevent;
DROP FUNCTION IF EXISTS audit_auditevent_append_only();
"""
SQLITE_FORWARD = [
    """CREATE TRIGGER audit_auditevent_no_update BEFORE UPDATE ON audit_auditevent
       BEGIN SELECT RAISE(ABORT, 'audit_auditevent is append-only: UPDATE refused'); END;""",
    """CREATE TRIGGER audit_auditevent_no_delete BEFORE DELETE ON audit_auditevent
       BEGIN SELECT RAISE(ABORT, 'audit_auditevent is append-only: DELETE refused'); END;""",
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS audit_auditevent_no_update;",
    "DROP TRIGGER IF EXISTS audit_auditevent_no_delete;",
]


def _run(schema_editor, postgres: list[str], sqlite: list[str]) -> None:
    vendor = schema_editor.connection.vendor
    statements = {"postgresql": postgres, "sqlite": sqlite}.get(vendor)
    if statements is None:
        raise RuntimeError(f"No append-only rule for the {vendor} database: add one before using it.")
    for sql in statements:
        schema_editor.execute(sql, params=None)  # no placeholders: the "%" in RAISE is literal


def forward(apps, schema_editor):
    _run(schema_editor, [POSTGRES_FORWARD], SQLITE_FORWARD)


def backward(apps, schema_editor):
    _run(schema_editor, [POSTGRES_BACKWARD], SQLITE_BACKWARD)


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [migrations.RunPython(forward, backward)]
