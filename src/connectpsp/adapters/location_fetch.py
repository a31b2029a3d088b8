"""Reading a dynamic BR Code's location over HTTP, as a payer's PSP does: the JWS at the
location, the issuer's JWKS (on the location's own origin), the signature verified and
the payload read strictly (``adapters/location_verify.py``, ``domain/pix_location.py``).

Both fetches go through the webhooks' SSRF guard: a code is anyone's input, and its
host must not reach our private network. The connection is made to the one address the
guard validated (not to a second DNS answer), with the host name kept for TLS and the
Host header; no redirects, small bodies, a short timeout."""

from __future__ import annotations

import json
from typing import Any

import httpx

from connectpsp.adapters.location_verify import jws_header, verify_location
from connectpsp.adapters.webhook_http import AddressGuard
from connectpsp.domain.pix_location import (
    LocationCharge,
    LocationError,
    jwks_url_for,
    read_location_payload,
)
from connectpsp.service.brcode_payments import LocationUnreadable
from connectpsp.service.ports import BlockedUrl

__all__ = ["HttpLocationReader"]

_MAX_BODY = 64 * 1024


class HttpLocationReader:
    def __init__(
        self, guard: AddressGuard, *, allow_loopback_http: bool, timeout: float = 5.0
    ) -> None:
        self._guard = guard
        self._loopback_http = allow_loopback_http
        self._timeout = timeout

    def read(self, location: str) -> LocationCharge:
        try:
            origin_jwks = jwks_url_for(location, allow_loopback_http=self._loopback_http)
            scheme = origin_jwks.split("://", 1)[0]
            token = self._get(f"{scheme}://{location}").decode("ascii", "replace").strip()
            jku = jws_header(token).get("jku")
            keys_url = jwks_url_for(
                location,
                jku=jku if isinstance(jku, str) else None,
                allow_loopback_http=self._loopback_http,
            )
            keys: Any = json.loads(self._get(keys_url))
            if not isinstance(keys, dict):
                raise LocationError("BAD_KEY", "The JWKS is not a JSON object.")
            return read_location_payload(verify_location(token, keys))
        except LocationError as error:
            raise LocationUnreadable(
                f"The dynamic BR Code's location was refused: {error.message}",
                {"reason": error.reason},
            ) from None
        except ValueError:  # a JWKS that is not JSON
            raise LocationUnreadable(details={"reason": "BAD_KEY"}) from None

    def _get(self, url: str) -> bytes:
        try:
            parts, address = self._guard.resolve(url)
        except BlockedUrl as blocked:
            raise LocationUnreadable(
                f"The dynamic BR Code's location may not be fetched: {blocked}.",
                {"reason": "BLOCKED"},
            ) from None
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        target = f"[{address}]" if ":" in address else address
        pinned = parts._replace(netloc=f"{target}:{port}").geturl()
        headers = {"Host": parts.netloc, "Accept": "application/jose, application/json"}
        try:
            with (
                httpx.Client(timeout=self._timeout, follow_redirects=False, verify=True) as client,
                client.stream(
                    "GET", pinned, headers=headers, extensions={"sni_hostname": host}
                ) as reply,
            ):
                body = b""
                for chunk in reply.iter_bytes():
                    body += chunk
                    if len(body) > _MAX_BODY:
                        raise LocationUnreadable(details={"reason": "TOO_LARGE"})
                if reply.status_code != 200:
                    raise LocationUnreadable(
                        f"The dynamic BR Code's location answered {reply.status_code}.",
                        {"reason": "UNREACHABLE"},
                    )
                return body
        except httpx.HTTPError:
            raise LocationUnreadable(
                "The dynamic BR Code's location did not answer.", {"reason": "UNREACHABLE"}
            ) from None
