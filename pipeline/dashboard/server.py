"""The on-call dashboard's web server: one static page, Server-Sent Events and a JSON API.

Routes:
    GET /                 the page (pipeline/web/dashboard.html)
    GET /static/{file}    its script and style (public: they hold no data)
    GET /events           SSE: a `snapshot` event, then coalesced updates every FLUSH_INTERVAL_S
    GET /api/state        the whole state as JSON (plus the feed's status)
    GET /api/traces/{id}  one assembled trace (memory first, then the trace index if configured)

When settings.dashboard_token is set, every route but /static needs `?token=` or
`Authorization: Bearer <token>` and answers 401 otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from pipeline.dashboard.feed import Batch, HealthPoller, TopicFeed
from pipeline.dashboard.lookup import TraceLookup, redis_trace_lookup
from pipeline.dashboard.sse import SseHub, encode_event
from pipeline.dashboard.state import DashboardState
from pipeline.errors import InfrastructureError
from pipeline.settings import Settings

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
FLUSH_INTERVAL_S = 0.5  # browser update rate: changes within it are coalesced into one event
KEEPALIVE_S = 15.0  # an SSE comment this often keeps proxies from closing an idle stream

STATE: web.AppKey[DashboardState] = web.AppKey("state")
HUB: web.AppKey[SseHub] = web.AppKey("hub")
FEED: web.AppKey[TopicFeed | None] = web.AppKey("feed")
LOOKUP: web.AppKey[TraceLookup | None] = web.AppKey("lookup")
TOKEN: web.AppKey[str | None] = web.AppKey("token")


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


def _token_of(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header[len("Bearer ") :].strip()
    return request.query.get("token")


@web.middleware
async def _auth(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> Any:
    expected = request.app[TOKEN]
    if expected is None or request.path.startswith("/static/"):
        return await handler(request)
    given = _token_of(request)
    # compare_digest: the comparison takes the same time whatever prefix matches.
    if given is None or not hmac.compare_digest(given.encode(), expected.encode()):
        return _json({"error": "unauthorized: pass ?token= or Authorization: Bearer"}, status=401)
    return await handler(request)


async def _index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(WEB_DIR / "dashboard.html", headers={"Cache-Control": "no-cache"})


async def _static(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    path = (WEB_DIR / name).resolve()
    if path.parent != WEB_DIR or not path.is_file():
        raise web.HTTPNotFound()
    return web.FileResponse(path, headers={"Cache-Control": "no-cache"})


async def _state(request: web.Request) -> web.Response:
    feed = request.app[FEED]
    return _json({**request.app[STATE].snapshot(), "feed": feed.status() if feed else None})


async def _trace(request: web.Request) -> web.Response:
    trace_id = request.match_info["trace_id"].lower()
    trace = request.app[STATE].trace(trace_id)
    lookup = request.app[LOOKUP]
    if trace is None and lookup is not None:
        try:
            trace = await lookup(trace_id)
        except Exception as exc:  # the index is optional: say it failed, keep serving
            log.warning("trace index lookup of %s failed: %s", trace_id, exc)
    if trace is None:
        return _json({"error": f"trace {trace_id} is not held by the dashboard"}, status=404)
    return _json(trace)


async def _events(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )
    await response.prepare(request)
    hub = request.app[HUB]
    queue = hub.subscribe()
    try:
        await response.write(encode_event("snapshot", request.app[STATE].snapshot()))
        while True:
            try:
                chunk = await asyncio.wait_for(queue.get(), KEEPALIVE_S)
            except TimeoutError:
                chunk = b": keepalive\n\n"
            if chunk is None:  # dropped as too slow, or shutting down: the browser reconnects
                break
            await response.write(chunk)
    except (ConnectionResetError, ConnectionError):
        pass
    finally:
        hub.unsubscribe(queue)
    return response


def build_dashboard(
    settings: Settings,
    bootstrap: str | None,
    redis_url: str | None = None,
    *,
    from_beginning: bool = False,
    trace_lookup: TraceLookup | None = None,
    metrics_urls: Sequence[str] = (),
) -> web.Application:
    """The dashboard as an aiohttp application; its Kafka feed starts with the app.

    Args:
        settings: topics, token and Kafka security come from here.
        bootstrap: Kafka to read; None serves the page with no feed (for tests of the web side).
        redis_url: the Redis holding the trace index, to open traces no longer in memory.
        from_beginning: read the output topics from their start instead of from now.
        trace_lookup: an explicit trace lookup (overrides the one built from redis_url).
        metrics_urls: worker /metrics endpoints to show, besides those announced in run_dir.
    """
    app = web.Application(middlewares=[_auth])
    token = settings.dashboard_token.get_secret_value() if settings.dashboard_token else None
    app[TOKEN] = token or None
    app[STATE] = DashboardState()
    app[HUB] = SseHub()
    app[FEED] = None
    if trace_lookup is None and redis_url is not None:
        trace_lookup = redis_trace_lookup(redis_url, settings.trace_index_prefix)
    app[LOOKUP] = trace_lookup
    app.router.add_get("/", _index)
    app.router.add_get("/static/{name}", _static)
    app.router.add_get("/events", _events)
    app.router.add_get("/api/state", _state)
    app.router.add_get("/api/traces/{trace_id}", _trace)
    app.cleanup_ctx.append(_background(settings, bootstrap, from_beginning, metrics_urls))
    app.on_shutdown.append(_close_streams)
    return app


async def _close_streams(app: web.Application) -> None:
    app[HUB].close()


def _background(
    settings: Settings, bootstrap: str | None, from_beginning: bool, metrics_urls: Sequence[str]
) -> Callable[[web.Application], Any]:
    async def context(app: web.Application) -> Any:
        loop = asyncio.get_running_loop()
        state, hub = app[STATE], app[HUB]
        feed: TopicFeed | None = None
        poller: HealthPoller | None = None

        def on_batch(batch: Batch) -> None:
            for kind, raw, ts_ms in batch:
                state.ingest(kind, raw, ts_ms)

        def on_health(lag: list[dict[str, Any]], workers: list[dict[str, Any]]) -> None:
            state.set_health(lag=lag, workers=workers, health_updated_ms=int(time.time() * 1000))

        if bootstrap is not None:
            feed = TopicFeed(settings, bootstrap, on_batch, loop, from_beginning=from_beginning)
            poller = HealthPoller(settings, bootstrap, on_health, loop, metrics_urls)
            app[FEED] = feed
            feed.start()
            poller.start()

        async def flush() -> None:
            while True:
                await asyncio.sleep(FLUSH_INTERVAL_S)
                if feed is not None:
                    state.set_health(feed=feed.status())
                events = state.drain()
                if events:
                    hub.publish(events)

        flusher = asyncio.create_task(flush(), name="dashboard-flush")
        yield
        flusher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await flusher
        for worker in (feed, poller):
            if worker is not None:
                await asyncio.to_thread(worker.stop)

    return context


@dataclass
class RunningDashboard:
    """A dashboard serving on `url`; `await stop()` shuts it down."""

    url: str
    app: web.Application
    runner: web.AppRunner

    async def stop(self) -> None:
        await self.runner.cleanup()

    async def wait_ready(self, timeout: float = 30.0) -> bool:
        """Wait until the feed has assigned its partitions (True), or `timeout` passes (False)."""
        feed = self.app[FEED]
        if feed is None:
            return True
        return await asyncio.to_thread(feed.ready.wait, timeout)


async def start_dashboard(
    settings: Settings,
    bootstrap: str | None,
    redis_url: str | None = None,
    *,
    port: int | None = None,
    from_beginning: bool = False,
    metrics_urls: Sequence[str] = (),
) -> RunningDashboard:
    """Serve the dashboard on settings.web_host:port (default settings.dashboard_port; 0 = free).

    For embedding in another program's event loop (the demo); `run_dashboard` runs it alone.

    Raises:
        InfrastructureError: the port cannot be bound (one line naming the setting).
    """
    app = build_dashboard(
        settings, bootstrap, redis_url, from_beginning=from_beginning, metrics_urls=metrics_urls
    )
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    bind_port = settings.dashboard_port if port is None else port
    site = web.TCPSite(runner, settings.web_host, bind_port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise InfrastructureError(
            f"dashboard cannot listen on {settings.web_host}:{bind_port} ({exc.strerror or exc}); "
            "choose another with --port or OBSPIPE_DASHBOARD_PORT (0 = any free port)"
        ) from None
    bound = runner.addresses[0][1]
    return RunningDashboard(f"http://{settings.web_host}:{bound}/", app, runner)


async def run_dashboard(
    settings: Settings,
    bootstrap: str | None,
    redis_url: str | None = None,
    *,
    port: int | None = None,
    from_beginning: bool = False,
    metrics_urls: Sequence[str] = (),
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve the dashboard until cancelled; `on_ready(url)` is called once it listens."""
    running = await start_dashboard(
        settings, bootstrap, redis_url, port=port, from_beginning=from_beginning, metrics_urls=metrics_urls
    )
    try:
        await running.wait_ready()
        if on_ready is not None:
            on_ready(running.url)
        await asyncio.Event().wait()
    finally:
        await running.stop()
