"""Marathon's error responses (reference §4.5): one exception type carrying status and body.

Owns: the exact messages of MarathonExceptionMapper as the reference records them.
Must not: build HTTP responses itself (the routes' middleware turns ApiError into one).
"""

from __future__ import annotations

from typing import Any

LOCKED_MESSAGE = (
    "App is locked by one or more deployments. Override with the option '?force=true'. "
    "View details at '/v2/deployments/<DEPLOYMENT_ID>'."
)
CANCELLED_REASON = "The upgrade has been cancelled"


class ApiError(Exception):
    """An error answer: HTTP status and JSON body."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body.get("message", ""))
        self.status = status
        self.body = body


def app_not_found(app_id: str, version: str | None = None) -> ApiError:
    suffix = f" in version {version}" if version else ""
    return ApiError(404, {"message": f"App '{app_id}' does not exist{suffix}"})


def app_exists(app_id: str) -> ApiError:
    return ApiError(409, {"message": f"An app with id [{app_id}] already exists."})


def locked(deployment_ids: list[str]) -> ApiError:
    return ApiError(409, {"message": LOCKED_MESSAGE, "deployments": [{"id": d} for d in deployment_ids]})


def invalid(details: list[dict[str, Any]]) -> ApiError:
    return ApiError(422, {"message": "Object is not valid", "details": details})


def invalid_json_types(details: list[dict[str, Any]]) -> ApiError:
    return ApiError(422, {"message": "Invalid JSON", "details": details})


def malformed_json(parser_message: str) -> ApiError:
    return ApiError(400, {"message": "Invalid JSON", "details": parser_message})


def empty_body() -> ApiError:
    return ApiError(
        400,
        {
            "message": "Please specify data in JSON format",
            "details": "No content to map due to end-of-input",
        },
    )


def bad_request(message: str) -> ApiError:
    return ApiError(400, {"message": message})


def task_not_found(task_id: str) -> ApiError:
    return ApiError(404, {"message": f"Task '{task_id}' does not exist"})


def deployment_not_found(plan_id: str) -> ApiError:
    return ApiError(404, {"message": f"DeploymentPlan {plan_id} does not exist"})


def uri_not_found() -> ApiError:
    return ApiError(500, {"message": "URI not found"})
