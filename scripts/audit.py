"""``make audit``: pip-audit over every package installed in the project's environment,
against the first vulnerability service this machine can reach (OSV, then PyPI's JSON
API). ``--strict``: a package that cannot be audited fails the run, so a partial answer
never reads as a clean one.

``--if-reachable`` (what ``make lint`` passes) turns "no service reachable" into a loud
notice and exit status 0, for machines that reach only a package index; ``make audit``
itself fails then."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

# Each service, and a request that any working instance of it answers with 200 (a
# mirror that serves only the index answers 404 for a version's JSON, as pip-audit asks).
SERVICES = {
    "osv": ("POST", "https://api.osv.dev/v1/query", {"package": {"name": "pip"}}),
    "pypi": ("GET", "https://pypi.org/pypi/pip/24.0/json", None),
}
UNREACHABLE = 3


def reachable_service() -> str | None:
    for name, (method, url, body) in SERVICES.items():
        try:
            reply = httpx.request(method, url, json=body, timeout=10)
        except httpx.HTTPError:
            continue
        if reply.status_code == 200:
            return name
    return None


def main(arguments: list[str]) -> int:
    service = reachable_service()
    if service is None:
        print(
            "pip-audit: NOT RUN - no vulnerability service is reachable from this machine "
            f"({', '.join(url for _, url, _ in SERVICES.values())}).",
            file=sys.stderr,
        )
        return 0 if "--if-reachable" in arguments else UNREACHABLE
    pip_audit = Path(sys.executable).with_name("pip-audit")
    command = [str(pip_audit), "--strict", "--skip-editable", "--progress-spinner", "off"]
    return subprocess.call([*command, "--vulnerability-service", service])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
