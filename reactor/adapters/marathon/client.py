"""MarathonClient: the typed async REST client the reactor uses for reads, writes and resyncs.

Owns the calls of the blue-green procedure and their Marathon semantics: scale is a PUT of
`{"instances": n}` only (never a full definition), kill-and-scale is `POST /v2/tasks/delete?scale=true`,
a snapshot is two reads. Non-idempotent calls (create, kill-and-scale) are never blindly re-sent:
after an ambiguous failure the client reads state to learn whether the call took effect. Transport
concerns (leader, retries, auth, TLS) live in `transport`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from types import TracebackType
from typing import Any
from urllib.parse import quote

import aiohttp
import structlog
from pydantic import TypeAdapter

from reactor.adapters.marathon.dcos_auth import DcosToken
from reactor.adapters.marathon.errors import (
    AmbiguousOutcome,
    AppExists,
    MarathonError,
    MarathonUnreachable,
    NotFound,
)
from reactor.adapters.marathon.transport import Guard, OnRequest, Response, SentButUnanswered, Transport
from reactor.core.appdef import kept_definition
from reactor.core.ids import normalize_app_id
from reactor.core.models import App, Deployment, DeploymentRef, Snapshot, Task, TaskState

log = structlog.get_logger(__name__)
_APPS = TypeAdapter(list[App])
_TASKS = TypeAdapter(list[Task])
_DEPLOYMENTS = TypeAdapter(list[Deployment])
SNAPSHOT_EMBED = ("apps.tasks", "apps.deployments", "apps.readiness")


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _app_path(app_id: str) -> str:
    return "/v2/apps" + quote(normalize_app_id(app_id), safe="/")


def _json(resp: Response, key: str | None = None) -> Any:
    try:
        data = json.loads(resp.body)
    except ValueError as exc:
        raise MarathonError(f"response is not JSON: {exc}", status=resp.status) from None
    if key is not None:
        if not isinstance(data, dict) or key not in data:
            raise MarathonError(f"response has no {key!r} field", status=resp.status)
        return data[key]
    return data


class MarathonClient:
    """`async with MarathonClient(["http://127.0.0.1:8080"]) as m: apps = await m.list_apps()`."""

    def __init__(
        self,
        urls: Sequence[str],
        *,
        username: str | None = None,
        password: str | None = None,
        token: str | None = None,
        token_file: str | None = None,
        ca_file: str | None = None,
        verify_tls: bool = True,
        request_timeout_s: float = 10.0,
        session: aiohttp.ClientSession | None = None,
        on_request: OnRequest | None = None,
        max_attempts: int = 4,
        dcos: DcosToken | None = None,
        on_auth_failure: Callable[[str], None] | None = None,
    ) -> None:
        self.transport = Transport(
            urls,
            username=username,
            password=password,
            token=token,
            token_file=token_file,
            ca_file=ca_file,
            verify_tls=verify_tls,
            request_timeout_s=request_timeout_s,
            session=session,
            on_request=on_request,
            max_attempts=max_attempts,
            dcos=dcos,
            on_auth_failure=on_auth_failure,
        )
        self._started = False

    def __repr__(self) -> str:
        return f"MarathonClient({self.transport!r})"

    async def start(self) -> None:
        if self._started:
            return
        await self.transport.start()
        self._started = True
        try:  # a refused DC/OS login fails the start (nothing the reactor can fix); a down IAM does not
            await self.transport.ensure_auth(report=False)
        except MarathonUnreachable as exc:
            log.warning("dcos login failed; retried on the next request", error=str(exc))
        except BaseException:
            await self.close()
            raise
        if len(self.transport.urls) > 1:
            try:
                self.transport.prefer_leader(await self.leader())
            except MarathonError as exc:
                log.warning("marathon leader lookup failed", error=str(exc))

    @property
    def auth_error(self) -> str | None:
        """Why Marathon refuses our credentials (a 401 the reactor cannot fix), or None."""
        return self.transport.auth_error

    async def close(self) -> None:
        if self._started:
            await self.transport.close()
            self._started = False

    async def __aenter__(self) -> MarathonClient:
        await self.start()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    # ---- reads ---------------------------------------------------------------------------------------
    async def list_apps(
        self, *, label: str | None = None, embed: Iterable[str] = SNAPSHOT_EMBED[:2]
    ) -> list[App]:
        params = [("embed", e) for e in embed] + ([("label", label)] if label else [])
        resp = await self.transport.request("GET", "/v2/apps", "/v2/apps", params=params)
        return _APPS.validate_python(_json(resp, "apps"))

    async def get_app(self, app_id: str, embed: Iterable[str] = ("app.tasks", "app.deployments")) -> App:
        params = [("embed", e) for e in embed]
        resp = await self.transport.request("GET", "/v2/apps/{id}", _app_path(app_id), params=params)
        return App.model_validate(_json(resp, "app"))

    async def app_definition(self, app_id: str) -> dict[str, Any]:
        """The app's definition as Marathon keeps it, without its runtime fields (what a POST of
        the same app would send)."""
        resp = await self.transport.request("GET", "/v2/apps/{id}", _app_path(app_id))
        data = _json(resp, "app")
        if not isinstance(data, dict):
            raise MarathonError(f"GET /v2/apps{app_id} did not return an app object", status=resp.status)
        return kept_definition(data)

    async def list_tasks(self, app_id: str) -> list[Task]:
        resp = await self.transport.request("GET", "/v2/apps/{id}/tasks", _app_path(app_id) + "/tasks")
        return _TASKS.validate_python(_json(resp, "tasks"))

    async def list_deployments(self) -> list[Deployment]:
        resp = await self.transport.request("GET", "/v2/deployments", "/v2/deployments")
        return _DEPLOYMENTS.validate_python(_json(resp))

    async def leader(self) -> str:
        resp = await self.transport.request("GET", "/v2/leader", "/v2/leader")
        return str(_json(resp, "leader"))

    async def info(self) -> dict[str, Any]:
        resp = await self.transport.request("GET", "/v2/info", "/v2/info")
        data = _json(resp)
        if not isinstance(data, dict):
            raise MarathonError("/v2/info did not return an object", status=resp.status)
        return data

    async def snapshot(self) -> Snapshot:
        """Everything the view needs: apps with tasks, deployment ids and readiness, then deployments."""
        apps = await self.list_apps(embed=SNAPSHOT_EMBED)
        deployments = await self.list_deployments()
        return Snapshot(apps=tuple(apps), deployments=tuple(deployments))

    # ---- writes --------------------------------------------------------------------------------------
    async def scale_app(self, app_id: str, instances: int, *, force: bool = False,
                        guard: Guard | None = None) -> DeploymentRef:
        if instances < 0:
            raise ValueError(f"scale {app_id}: instances must be >= 0, got {instances}")
        resp = await self.transport.request(
            "PUT",
            "/v2/apps/{id}",
            _app_path(app_id),
            params=[("force", _flag(force))],
            json_body={"instances": instances},  # absolute, so a retry is harmless
            guard=guard,
        )
        return DeploymentRef.model_validate(_json(resp))

    async def delete_app(self, app_id: str, *, force: bool = False,
                         guard: Guard | None = None) -> DeploymentRef:
        resp = await self.transport.request(
            "DELETE", "/v2/apps/{id}", _app_path(app_id), params=[("force", _flag(force))], guard=guard
        )
        return DeploymentRef.model_validate(_json(resp))

    async def cancel_deployment(self, deployment_id: str, *, force: bool = False) -> DeploymentRef | None:
        """force=False: Marathon starts a revert plan (its ref is returned); force=True: just stops it."""
        resp = await self.transport.request(
            "DELETE",
            "/v2/deployments/{id}",
            "/v2/deployments/" + quote(deployment_id, safe=""),
            params=[("force", _flag(force))],
        )
        return DeploymentRef.model_validate(_json(resp)) if resp.body.strip() else None

    async def create_app(self, definition: dict[str, Any]) -> App:
        app_id = definition.get("id")
        if not isinstance(app_id, str):
            raise ValueError("create_app: the definition needs a string 'id'")
        for attempt in range(2):
            try:
                resp = await self.transport.request(
                    "POST", "/v2/apps", "/v2/apps", json_body=definition, idempotent=False
                )
                return App.model_validate(_json(resp))
            except SentButUnanswered as exc:
                log.warning("create_app outcome unknown; reading state", app=app_id, error=str(exc))
                try:
                    return await self.get_app(app_id)  # it happened
                except NotFound:
                    continue  # it did not: sending again is safe
            except AppExists:
                if attempt == 0:
                    raise
                return await self.get_app(app_id)  # our first, unanswered attempt got through
        raise AmbiguousOutcome(
            f"creating {app_id} failed twice without an answer", method="POST", route="/v2/apps"
        )

    async def kill_and_scale(self, task_ids: Sequence[str], *, force: bool = False,
                             guard: Guard | None = None) -> DeploymentRef:
        """Kill these tasks and lower their apps' instance counts in one deployment (no relaunch)."""
        ids = list(dict.fromkeys(task_ids))
        if not ids:
            raise ValueError("kill_and_scale: no task ids given")
        params = [("scale", "true"), ("force", _flag(force))]
        for _ in range(2):
            try:
                resp = await self.transport.request(
                    "POST",
                    "/v2/tasks/delete",
                    "/v2/tasks/delete",
                    params=params,
                    json_body={"ids": ids},
                    idempotent=False,
                    guard=guard,  # also before the resend once the first one is known not to have run
                )
                return DeploymentRef.model_validate(_json(resp))
            except SentButUnanswered as exc:
                log.warning("kill_and_scale outcome unknown; reading state", tasks=ids, error=str(exc))
                ref = await self._kill_outcome(ids)
                if ref is not None:
                    return ref
        raise AmbiguousOutcome(
            f"kill_and_scale of {len(ids)} task(s) failed twice without an answer",
            method="POST",
            route="/v2/tasks/delete",
        )

    async def _kill_outcome(self, ids: list[str]) -> DeploymentRef | None:
        """A ref if the kill took effect (tasks gone/killing or a deployment on their apps), else None."""
        snap = await self.snapshot()
        present = {t.id: t for a in snap.apps for t in a.tasks}
        apps = {present[i].app_id for i in ids if i in present}
        happened = any(
            i not in present or present[i].state is TaskState.TASK_KILLING or present[i].state.is_terminal
            for i in ids
        )
        dep = next((d for d in snap.deployments if apps & set(d.affected_apps)), None)
        if not happened and dep is None:
            return None
        return DeploymentRef(deployment_id=dep.id if dep else None, version=dep.version if dep else None)

    # ---- for the event watcher -------------------------------------------------------------------------
    def event_stream_urls(self, event_types: Sequence[str] | None = None) -> list[str]:
        """`/v2/events` under every configured URL (prefix kept), leader first, with the type filter."""
        query = "&".join("event_type=" + quote(t, safe="") for t in event_types or ())
        return [u + "/v2/events" + ("?" + query if query else "") for u in self.transport.ordered_urls()]
