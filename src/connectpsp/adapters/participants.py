"""The shipped snapshot of real Pix participant data (see data/PARTICIPANTS.md)."""

from __future__ import annotations

import csv
import io
from functools import cache
from importlib import resources

from connectpsp.domain.participants import Participant, ParticipantDirectory

__all__ = ["load_participants"]


@cache
def load_participants() -> ParticipantDirectory:
    text = (resources.files("connectpsp") / "data" / "participants.csv").read_text("utf-8")
    rows = csv.DictReader(io.StringIO(text))
    return ParticipantDirectory(
        [
            Participant(
                ispb=row["ispb"],
                compe=row["compe"] or None,
                short_name=row["short_name"],
                name=row["name"],
                pix=row["pix"] == "1",
            )
            for row in rows
        ]
    )
