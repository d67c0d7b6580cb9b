"""The event log (query) and the live event stream (Server-Sent Events)."""

from __future__ import annotations

import json
from typing import Annotated, Literal

import trio
from fastapi import APIRouter, Depends, Header, Query
from fastapi.responses import StreamingResponse
from pydantic import Field, StrictStr

from gateway.admin import answers, views
from gateway.admin.openapi import answer
from gateway.admin.auth import Access, CallerOf
from gateway.admin.context import Ctx
from gateway.admin.json_body import AdminRoute
from gateway.admin.schemas import Body
from gateway.registry import Invalid
from gateway.store.events import EVENT_TYPES, START, Event, Position, last_position, position_of, query_events

router = APIRouter(tags=["events"], route_class=AdminRoute, dependencies=[Depends(Access("events:read"))])
EventType = Literal[EVENT_TYPES]
REPLAY_PAGE = 500


class EventQuery(Body):
    vehicle_id: StrictStr | None = None
    occurred_after: StrictStr | None = None
    occurred_before: StrictStr | None = None
    event_types: list[EventType] | None = None
    limit: Annotated[int, Field(ge=1, le=views.MAX_LIMIT)] | None = None
    page_token: StrictStr | None = None


@router.post("/event-log-entries/query", responses=answer(answers.EventPage))
async def query(body: EventQuery, ctx: Ctx) -> dict:
    limit = body.limit or views.DEFAULT_LIMIT
    after = views.decode_token(body.page_token, (int, int))  # the log's position: events.Position
    events = await ctx.store.read(
        query_events, after=tuple(after) if after else START, vehicle_id=body.vehicle_id, types=body.event_types,
        occurred_after=views.timestamp("occurred_after", body.occurred_after),
        occurred_before=views.timestamp("occurred_before", body.occurred_before), limit=limit + 1,
    )
    result = views.page(events, limit, lambda event: [str(event.xid), str(event.id)])
    result["items"] = [event.to_api() for event in result["items"]]
    return result


def _types(value: str | None) -> frozenset[str] | None:
    if not value:
        return None
    types = frozenset(t.strip() for t in value.split(",") if t.strip())
    unknown = sorted(types - set(EVENT_TYPES))
    if unknown:
        raise Invalid(f"'event_types': unknown event type '{unknown[0]}' (known: {', '.join(EVENT_TYPES)}).",
                      "event_types")
    return types


def _sse(event: Event) -> str:
    return f"id: {event.id}\nevent: {event.type}\ndata: {json.dumps(event.to_api())}\n\n"


def _dropped(reason: str, last: Position) -> str:
    """The stream's last event: where a client resumes (the id of the last event it got)."""
    return f"event: StreamDropped\ndata: {json.dumps({'reason': reason, 'resume_after': str(last[1])})}\n\n"


class EventStream(StreamingResponse):
    media_type = "text/event-stream"  # also what the OpenAPI document says /events answers


@router.get("/events", response_class=EventStream)
async def stream(
    ctx: Ctx,
    caller: CallerOf,
    vehicle_id: Annotated[str | None, Query()] = None,
    event_types: Annotated[str | None, Query()] = None,
    after: Annotated[str | None, Query()] = None,
    last_event_id_header: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> EventStream:
    """Live events; `Last-Event-ID` (or `?after=`) replays what was missed first, so a
    reconnecting client sees every event once, in commit order. On the HTTPS door the
    stream ends once its token expired or was revoked (checked every heartbeat)."""
    types = _types(event_types)
    resume = last_event_id_header or after
    start = None if resume is None else views.row_id(resume)
    if resume is not None and start is None:
        raise Invalid("'after' / Last-Event-ID must be an event id.", "after")
    # Subscribe before reading the log: an event committed in between is then both in
    # the log and in the buffer, and the position check below delivers it once.
    subscription = ctx.events.subscribe(vehicle_id, types)
    if start is None:
        position = await ctx.store.read(last_position)
    else:
        position = await ctx.store.read(position_of, start)
    heartbeat = ctx.config.events.heartbeat

    async def lines():
        last = position
        try:
            yield ": fleetgate event stream\n\n"
            while True:  # replay from the log
                page = await ctx.store.read(query_events, after=last, vehicle_id=vehicle_id,
                                            types=None if types is None else sorted(types),
                                            occurred_after=None, occurred_before=None, limit=REPLAY_PAGE)
                for event in page:
                    yield _sse(event)
                    last = event.position
                if len(page) < REPLAY_PAGE:
                    break
            checked = trio.current_time()
            while True:  # live
                if caller.token is not None and trio.current_time() - checked >= heartbeat:
                    checked = trio.current_time()
                    if await ctx.api_clients.grant(caller.token) is None:
                        yield _dropped("token expired or revoked", last)
                        return
                events = None
                with trio.move_on_after(heartbeat):
                    events = await subscription.next_events()
                if events is None:
                    yield ": keepalive\n\n"  # keeps idle proxies from closing the stream
                    continue
                if subscription.dropped:
                    yield _dropped("too far behind", last)
                    return
                for event in events:
                    if event.position > last:
                        yield _sse(event)
                        last = event.position
        finally:
            ctx.events.unsubscribe(subscription)

    return EventStream(lines(), headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
