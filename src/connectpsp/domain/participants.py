"""Pix participants: institutions on BCB's lists, by ISPB."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Participant", "ParticipantDirectory"]


@dataclass(frozen=True)
class Participant:
    ispb: str
    compe: str | None
    short_name: str
    name: str
    pix: bool


class ParticipantDirectory:
    def __init__(self, participants: list[Participant]) -> None:
        self._by_ispb = {p.ispb: p for p in participants}

    def get(self, ispb: str) -> Participant | None:
        return self._by_ispb.get(ispb)

    def is_pix_participant(self, ispb: str) -> bool:
        found = self._by_ispb.get(ispb)
        return found is not None and found.pix

    def all(self) -> list[Participant]:
        return list(self._by_ispb.values())

    def __len__(self) -> int:
        return len(self._by_ispb)
