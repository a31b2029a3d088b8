"""The console's search forms (cash-outs, cash-ins, refunds): each field read once, every
bad one named in a single ``ValidationFailed``. Blank fields are not searched."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import TypeVar

from connectpsp.domain.clock import SAO_PAULO
from connectpsp.domain.errors import FieldError, ValidationFailed

__all__ = ["ID_MAX", "SearchForm"]

_E = TypeVar("_E", bound=StrEnum)
ID_MAX = 64  # longer than any internalCode, txid, externalReference or endToEndId


class SearchForm:
    def __init__(self, form: dict[str, str]) -> None:
        self.given = {k: v.strip() for k, v in form.items() if v.strip()}
        self.errors: list[FieldError] = []

    def ident(self, name: str) -> str | None:
        """An identifier, matched exactly."""
        value = self.given.get(name)
        if value is not None and (len(value) > ID_MAX or not value.isprintable()):
            self.errors.append(FieldError(name, f"at most {ID_MAX} printable characters"))
            return None
        return value

    def document(self, name: str) -> str | None:
        """A CPF or CNPJ (alphanumeric ones too), its punctuation ignored."""
        value = self.given.get(name)
        if value is None:
            return None
        value = "".join(c for c in value if c not in ".-/ ").upper()
        cpf = len(value) == 11 and value.isdigit()
        cnpj = len(value) == 14 and value.isalnum()
        if not value.isascii() or not (cpf or cnpj):
            self.errors.append(FieldError(name, "a CPF (11 digits) or a CNPJ (14)"))
            return None
        return value

    def choice(self, name: str, kind: type[_E]) -> _E | None:
        value = self.given.get(name)
        if value is None:
            return None
        if value not in kind.__members__:
            names = [m.value for m in kind]
            wording = ", ".join(names[:-1]) + " or " + names[-1]
            self.errors.append(FieldError(name, wording))
            return None
        return kind(value)

    def days(self) -> tuple[datetime | None, datetime | None]:
        """``from`` and ``to``, São Paulo's days, both whole: the start (inclusive) and
        the end (exclusive) of the moments searched."""
        start, last = self._day("from"), self._day("to")
        if start and last and last < start:
            self.errors.append(FieldError("to", "on or after from"))
        return (
            datetime.combine(start, time(), SAO_PAULO) if start else None,
            datetime.combine(last + timedelta(days=1), time(), SAO_PAULO) if last else None,
        )

    def check(self) -> None:
        """Raise what was found wrong, all of it at once."""
        if self.errors:
            detail = "; ".join(f"{e.field}: {e.message}" for e in self.errors)
            raise ValidationFailed(self.errors, f"Invalid search: {detail}.")

    def _day(self, name: str) -> date | None:
        if name not in self.given:
            return None
        try:
            return date.fromisoformat(self.given[name])
        except ValueError:
            self.errors.append(FieldError(name, "a day, as YYYY-MM-DD"))
            return None
