"""A searched list across clients, keyset-paged, newest first: the cash-outs, cash-ins
and refunds pages read their form, page and links alike; and a record's timeline page.

**Older** continues after the last row shown (``?after=`` its id, which the reader
turns into its time and id), so a page never repeats or skips a row while new ones
arrive; **Newest** starts again from the top, with the same search.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from connectpsp.console.web import ConsoleWeb, Refused, status_of
from connectpsp.domain.errors import ValidationFailed

__all__ = ["list_page", "timeline_page"]

_Q = TypeVar("_Q")
_T = TypeVar("_T")
_AFTER_MAX = 64  # longer than any id a list links to


async def list_page(
    web: ConsoleWeb,
    request: Request,
    *,
    template: str,
    active: str,
    fields: Sequence[str],
    parse: Callable[[dict[str, str]], _Q],
    read: Callable[[_Q, str | None, int], list[_T]],
    key: Callable[[_T], str],
    page: int,
) -> Response:
    """The page of ``template``: the form's ``fields`` parsed (a bad one answered with
    its status and message), then ``page`` rows that ``read`` finds, with the clients'
    names and the links to the next page (by ``key``, a row's id) and the first."""
    who = await web.signed_in(request)
    form = {name: request.query_params.get(name, "")[:200] for name in fields}
    after = request.query_params.get("after") or None
    if after is not None and len(after) > _AFTER_MAX:
        raise Refused(400, "?after= takes the id of a listed row.")
    shown: dict[str, Any] = {"who": who, "form": form, "active": active, "names": {}}
    try:
        query = parse(form)
    except ValidationFailed as error:
        return web.page(
            template,
            status=status_of(error),
            error=error.message,
            items=[],
            more=None,
            newest=None,
            searched=True,
            **shown,
        )

    def load() -> tuple[list[_T], dict[str, str]]:
        found = read(query, after, page + 1)
        return found, {c.id: c.name for c in web.services.clients.list()}

    found, shown["names"] = await run_in_threadpool(load)
    items = found[:page]
    kept = {k: v for k, v in form.items() if v}
    path = request.url.path
    more = f"{path}?" + urlencode({**kept, "after": key(items[-1])}) if len(found) > page else None
    return web.page(
        template,
        error=None,
        items=items,
        more=more,
        newest=f"{path}?" + urlencode(kept) if after is not None else None,
        searched=any(v.strip() for v in form.values()),
        **shown,
    )


async def timeline_page(
    web: ConsoleWeb,
    request: Request,
    *,
    template: str,
    active: str,
    read: Callable[[], _T | None],
    subject: Callable[[_T], Any],
    missing: str,
    retried: str | None,
) -> Response:
    """The page of ``template``: the timeline ``read`` finds as ``t``, its ``subject``
    (the cash-out, the cash-in) as ``c``; ``missing`` (404) when there is none."""
    who = await web.signed_in(request)
    found = await run_in_threadpool(read)
    if found is None:
        raise Refused(404, missing)
    return web.page(template, who=who, t=found, c=subject(found), retried=retried, active=active)
