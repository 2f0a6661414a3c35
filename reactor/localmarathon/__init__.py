"""The embedded Marathon-1.11-compatible server (`bluegreen local-marathon`) for the demo and tests.

Imports nothing of the engine, adapters, core or settings, and writes Marathon's JSON from its own
definitions (model.py, catalogue.py), checked against /work/shared/reference/marathon-api.md
(tests/localmarathon/ hold one conformance test per fact of its §10 and per row of §4.5).

In-process use (inside a running asyncio loop):

    from reactor.localmarathon.server import LocalMarathon
    async with LocalMarathon(host="127.0.0.1", port=0, executor="virtual", heartbeat_s=10.0,
                             standby_port=None, credentials=None) as lm:
        lm.url, lm.standby_url

Modules: model (shapes, ids, timestamps), validation, catalogue (event builders), events (bus),
cluster (apps, instances, task lifecycle), executors (+ probes), health, deployments, routes_*,
web (middleware), standby, faults, timeline, server, cli.

Marathon 1.11 by default (never kinder than the real one): kills show no TASK_KILLING unless
`features=("task_killing",)` (Marathon's `--enable_features task_killing`); TASK_STARTING and the
conditions Scheduled/Provisioned appear; fractional check seconds are a 422 unless `lenient=True`;
`api_post_event` follows the plan's first `deployment_info`; a failover fault opens an election
window and the new leader has no Marathon-level health results until its first checks.

Extensions beyond Marathon (documented so nobody mistakes them for Marathon behaviour):
- `lenient=True` / `--lenient`: health and readiness check seconds may be fractional, e.g.
  `"intervalSeconds": 0.2` (fast unit tests only; Marathon accepts integers only).
- `taskKillGracePeriodSeconds` may be fractional (default 3 s when absent, like Mesos).
- Virtual tasks are scripted by app labels `LOCALMARATHON_STAGING_S`, `LOCALMARATHON_HEALTH`,
  `LOCALMARATHON_READY`, `LOCALMARATHON_EXIT`, `LOCALMARATHON_KILL_S` (see executors.py).
- MESOS_HTTP/MESOS_HTTPS/MESOS_TCP checks run like their Marathon-level twins (same "+1" kill rule).
- `/_localmarathon/stats` and `/_localmarathon/faults` (see faults.py and routes_misc.py);
  `/_localmarathon/timeline`: when each event was published and each write arrived (timeline.py).
Read-only: `/v2/groups`, `/v2/queue`, `/v2/pods` (no pods). Not emulated: group/pod writes,
`/v2/leader` DELETE, `--max_running_deployments` (403),
Mesos-only states (TASK_LOST, TASK_UNREACHABLE, …), multi-app `PUT/PATCH /v2/apps`.
"""
