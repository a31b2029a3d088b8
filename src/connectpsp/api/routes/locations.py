"""Dynamic BR Codes' locations: the keys that verify them, public as BCB asks.

``GET /.well-known/jwks.json`` publishes the public keys (a JWK Set, RFC 7517) that verify
the JWS a location serves; a payer's PSP finds it on the location's host, or through the
JWS header's ``jku``. No authentication: anyone who can read a code must be able to check
it. Cached for 5 minutes: a rotated-in key is published 10 minutes before it signs
(``adapters/location_signing.py``), so no cache misses it.

``render_location`` is what ``GET /qr/{locationId}`` answers with, once it has the
charge's payload (``domain.pix_location.location_payload``).
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel

from connectpsp.api.deps import errors, json_response, services_of
from connectpsp.api.services import LocationSigner
from connectpsp.domain.pix_location import JWKS_PATH

__all__ = ["JOSE", "render_location", "router"]

router = APIRouter(tags=["locations"])

JOSE = "application/jose"  # a compact JWS, as BCB's API Pix serves a location
_CACHE = "public, max-age=300"


class Jwk(BaseModel):
    kty: Literal["RSA"]
    kid: str
    use: Literal["sig"]
    alg: Literal["RS256"]
    n: str
    e: str


class JwkSet(BaseModel):
    keys: list[Jwk]


def render_location(signer: LocationSigner, payload: dict[str, Any]) -> tuple[bytes, str]:
    """The body and media type of a location's answer: ``payload`` signed as a JWS.
    ``GET /qr/{locationId}``: ``Response(*render_location(services_of(request).locations,
    payload))``; sign at each fetch, since ``calendario.apresentacao`` is the fetch's
    time."""
    return signer.sign(payload).encode("ascii"), JOSE


@router.get(
    JWKS_PATH,
    summary="The public keys that verify dynamic codes' locations (JWK Set)",
    response_model=JwkSet,
    responses=errors(),
)
def jwks(request: Request) -> Response:
    return json_response(services_of(request).locations.jwks(), headers={"Cache-Control": _CACHE})


@router.get(
    "/qr/{locationId}",
    summary="A dynamic code's location: the charge as a JWS (application/jose), public",
    responses={**errors(400, 404), 200: {"content": {JOSE: {"schema": {"type": "string"}}}}},
)
def location(
    request: Request, location_id: str = Path(alias="locationId", pattern=r"^[0-9a-f]{32}$")
) -> Response:
    services = services_of(request)
    payload = services.cash_ins.location_payload(location_id)
    body, media_type = render_location(services.locations, payload)
    # Signed at each fetch: calendario.apresentacao is when it was read.
    return Response(body, media_type=media_type, headers={"Cache-Control": "no-store"})
