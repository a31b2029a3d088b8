"""Regenerate src/connectpsp/data/participants.csv from the `bancos-brasileiros` npm package.

Usage (from the repository root):

    d=$(mktemp -d) && (cd "$d" && npm pack bancos-brasileiros && tar xzf bancos-brasileiros-*.tgz) \
        && python3 scripts/update_participants.py "$d/package/bancos.json"

Standard library only. Reads the package's JSON list (one object per institution, with the
fields COMPE, ISPB, ShortName, LongName, PixType, ...) and writes one CSV row per institution
whose ISPB is 8 digits, sorted by ISPB, with the header ``ispb,compe,short_name,name,pix``.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import Any

HEADER = ("ispb", "compe", "short_name", "name", "pix")
DEFAULT_OUTPUT = (
    Path(__file__).resolve().parent.parent / "src" / "connectpsp" / "data" / "participants.csv"
)


def _text(value: Any) -> str:
    """Return a stripped string for a JSON scalar, or '' for null."""
    if value is None:
        return ""
    return str(value).strip()


def _ispb(value: Any) -> str | None:
    """The 8-digit ISPB, or None if the record has no usable one."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = f"{value:08d}"
    text = _text(value)
    return text if len(text) == 8 and text.isdigit() else None


def _compe(value: Any) -> str:
    """The 3-digit COMPE code, or '' if there is none (null, 'n/a', ...)."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = f"{value:03d}"
    text = _text(value)
    return text if len(text) == 3 and text.isdigit() else ""


def build_rows(records: list[dict[str, Any]]) -> tuple[list[tuple[str, ...]], bool]:
    """Turn the package's records into sorted CSV rows.

    Returns the rows and whether the source had a Pix-participation field at all. If it has
    none, every institution is marked pix=1 (and the caller warns).
    """
    has_pix_field = any("PixType" in record for record in records)
    by_ispb: dict[str, tuple[str, ...]] = {}
    for record in records:
        ispb = _ispb(record.get("ISPB"))
        if ispb is None:
            continue
        name = _text(record.get("LongName")) or _text(record.get("ShortName"))
        short_name = _text(record.get("ShortName")) or name
        # PixType is DRCT (direct) or IDRT/INDR (indirect) for participants, null otherwise.
        in_pix = bool(_text(record.get("PixType"))) or not has_pix_field
        pix = "1" if in_pix else "0"
        if ispb in by_ispb:
            raise SystemExit(f"duplicate ISPB {ispb} in source data")
        by_ispb[ispb] = (ispb, _compe(record.get("COMPE")), short_name, name, pix)
    return [by_ispb[key] for key in sorted(by_ispb)], has_pix_field


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="path to the unpacked package's bancos.json")
    parser.add_argument(
        "-o", "--output", type=Path, default=DEFAULT_OUTPUT, help="CSV file to write"
    )
    args = parser.parse_args(argv)

    # The published file starts with a UTF-8 byte order mark; utf-8-sig accepts either form.
    with args.source.open(encoding="utf-8-sig") as handle:
        records = json.load(handle)
    if not isinstance(records, list):
        raise SystemExit(f"{args.source}: expected a JSON list of institutions")

    rows, has_pix_field = build_rows(records)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    with args.output.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(HEADER)
        writer.writerows(rows)

    if not has_pix_field:
        print("warning: source has no PixType field; pix=1 for every row", file=sys.stderr)
    participants = sum(1 for row in rows if row[4] == "1")
    print(
        f"wrote {len(rows)} rows ({participants} Pix participants) to {args.output}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
