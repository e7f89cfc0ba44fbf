"""The opt-out and do-not-call registers filled straight into the tables, for tests of the
rules that read them (the registers' own pages and imports have tests of their own)."""

from __future__ import annotations

from collections.abc import Iterable

from flask import Flask
from sqlalchemy import insert, update

from smspanel.models import DncImport, DncImportStatus, DncNumber, OptOut, db, utcnow


def opt_out(app: Flask, *phones: str) -> None:
    with app.app_context():
        db.session.execute(
            insert(OptOut),
            [{"phone": p, "reason": "asked by SMS", "source": "web"} for p in phones],
        )
        db.session.commit()


def dnc_register(app: Flask, phones: Iterable[str], status: str = DncImportStatus.ACTIVE) -> int:
    """A copy of the register holding `phones`; as the active one, the previous is replaced."""
    with app.app_context():
        if status == DncImportStatus.ACTIVE:
            db.session.execute(
                update(DncImport)
                .where(DncImport.status == DncImportStatus.ACTIVE)
                .values(status=DncImportStatus.REPLACED)
            )
        import_id = db.session.execute(
            insert(DncImport).values(
                status=status, filename="dnc.txt", started_at=utcnow(), imported_at=utcnow()
            )
        ).inserted_primary_key[0]
        rows = [{"import_id": import_id, "phone": p} for p in phones]
        if rows:
            db.session.execute(insert(DncNumber), rows)
        db.session.commit()
        return int(import_id)
