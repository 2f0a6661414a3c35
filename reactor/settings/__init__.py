"""The one `Settings` object: TOML file + `BLUEGREEN_<SECTION>__<KEY>` environment overrides.

Owns the configuration schema of interface.md and its validation (unknown keys are errors that
name their key path). Built once at the entry point and passed down; nothing here reads a
global or performs I/O beyond reading the config file and the environment when asked to.
"""

from __future__ import annotations

import json
import os
import tomllib
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, ClassVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict
from pydantic_settings.exceptions import SettingsError

from reactor.core.config_rules import env_names, http_url, known_events, log_level
from reactor.core.listen import is_loopback, parse_listen
from reactor.settings.problems import (
    ENV_DELIMITER,
    ENV_PREFIX,
    ConfigError,
    env_problem,
    file_problems,
    unknown_sections,
    validation_problems,
)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MarathonSettings(_Section):
    # NoDecode: BLUEGREEN_MARATHON__URLS may be a plain URL as well as a JSON list (see _split)
    urls: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["http://127.0.0.1:8080"],
                                                 min_length=1)
    username: str | None = None
    password: SecretStr | None = None
    token: SecretStr | None = None
    token_file: Path | None = None
    ca_file: Path | None = None
    verify_tls: bool = True
    request_timeout_s: float = Field(10.0, gt=0)
    resync_interval_s: float = Field(300.0, gt=0)
    event_idle_timeout_s: float = Field(30.0, gt=0)
    # DC/OS service account (strict mode): RS256 login, token refreshed before expiry and on 401
    dcos_uid: str | None = None
    dcos_private_key_file: Path | None = None
    dcos_login_url: str | None = None  # default: <scheme>://<host of urls[0]>/acs/api/v1/auth/login

    @model_validator(mode="after")
    def _one_kind_of_auth(self) -> MarathonSettings:
        if (self.dcos_uid is None) != (self.dcos_private_key_file is None):
            raise ValueError("dcos_uid and dcos_private_key_file go together")
        if self.dcos_login_url is not None and not self.dcos_login_url.startswith(("http://", "https://")):
            raise ValueError(f"dcos_login_url {self.dcos_login_url!r} is not an http:// or https:// URL")
        return self

    @field_validator("urls", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        """A JSON list, or one URL, or URLs separated by commas (as people write them in env)."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                try:
                    return json.loads(text)
                except ValueError:
                    raise ValueError(f"not a JSON list of URLs: {text[:80]!r}") from None
            return [u.strip() for u in text.split(",") if u.strip()]
        return value

    @field_validator("urls")
    @classmethod
    def _urls_are_http(cls, urls: list[str]) -> list[str]:
        return [http_url(u).rstrip("/") for u in urls]


class LbDriver(StrEnum):
    HAPROXY = "haproxy"
    COMMAND = "command"
    NONE = "none"


class HaproxySettings(_Section):
    socket: str = "/run/haproxy/admin.sock"
    backend: str = "{group}"
    timeout_s: float = Field(5.0, gt=0)


class LbCommandSettings(_Section):
    argv: list[str] = Field(default_factory=list)
    timeout_s: float = Field(10.0, gt=0)
    # the command gets PATH, HOME, LANG and only these variables of the reactor's environment
    env_passthrough: list[str] = Field(default_factory=list)
    _names = field_validator("env_passthrough")(env_names)


class LbSettings(_Section):
    driver: LbDriver = LbDriver.HAPROXY
    haproxy: HaproxySettings = Field(default_factory=HaproxySettings)
    command: LbCommandSettings = Field(default_factory=LbCommandSettings)
    # backends the reactor may touch (names after templating; fnmatch patterns); empty = any
    allowed_backends: list[str] = Field(default_factory=list)
    # which of a task's ports takes the traffic (None: [drain] port_index, the same port)
    port_index: int | None = Field(None, ge=0)


class DrainSource(StrEnum):
    PROMETHEUS = "prometheus"
    JSON = "json"
    STREAM = "stream"
    NONE = "none"


class OnDrainTimeout(StrEnum):
    PAUSE = "pause"
    ROLLBACK = "rollback"
    FORCE = "force"


class DrainSettings(_Section):
    source: DrainSource = DrainSource.PROMETHEUS
    path: str = "/metrics"
    metric: str = "pending_operations"
    port_index: int = Field(0, ge=0)
    interval_s: float = Field(0.25, gt=0)
    request_timeout_s: float = Field(2.0, gt=0)
    timeout_s: float = Field(300.0, gt=0)
    on_timeout: OnDrainTimeout = OnDrainTimeout.PAUSE
    require_lb_idle: bool = True


class DeploySettings(_Section):
    batch_size: int = Field(1, ge=1)
    health_timeout_s: float = Field(300.0, gt=0)
    min_healthy_s: float = Field(0.0, ge=0)
    auto_promote: bool = True
    max_green_failures: int = Field(3, ge=0)
    # after the last traffic shift BLUE's app stays at 0 instances this long; GREEN failing
    # within it rolls back automatically; 0 = delete BLUE at once (the guide's step 11)
    rollback_window_s: float = Field(60.0, ge=0)
    # BLUE tasks kept running through the window as a warm standby (HAProxy backup servers, which
    # serve only while no GREEN server is up), capped at the target; 0 = BLUE at 0 instances
    rollback_window_standby: int = Field(1, ge=0)
    # groups the reactor may act on (fnmatch patterns, e.g. "web-*"); empty = any
    allowed_groups: list[str] = Field(default_factory=list)
    # labels GREEN is created without (exact names or fnmatch patterns such as "HAPROXY_*"):
    # marathon-lb routes every app with HAPROXY_GROUP, which would bypass our drain
    strip_labels: list[str] = Field(default_factory=lambda: ["HAPROXY_GROUP"])


class ApiSettings(_Section):
    listen: str = "127.0.0.1:9090"
    token: SecretStr | None = None
    token_file: Path | None = None
    max_event_subscribers: int = Field(32, ge=1)  # more /v1/events clients get 503
    tls_cert_file: Path | None = None  # both set: the API speaks HTTPS only
    tls_key_file: Path | None = None

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        parse_listen(value)
        return value

    @model_validator(mode="after")
    def _guarded(self) -> ApiSettings:
        host, _ = parse_listen(self.listen)
        if self.token is not None and not self.token.get_secret_value().strip():
            raise ValueError("api.token is empty: an empty token would turn authentication off")
        if not is_loopback(host) and self.token is None and self.token_file is None:
            raise ValueError(f"api.token (or api.token_file) is required: listen {self.listen!r} "
                             "is not a loopback address, and the API would be open to the network")
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("api.tls_cert_file and api.tls_key_file go together: set both or neither")
        return self


def default_state_path() -> Path:
    """$XDG_STATE_HOME/bluegreen/bluegreen.db (~/.local/state/...): one absolute file per user, so
    the daemon and `bluegreen deploy` from any directory share the same leases. The directory is
    created when missing (a failure shows later as the store's own error)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    path = Path(base).expanduser().absolute() / "bluegreen" / "bluegreen.db"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError:
        pass
    return path


class StateSettings(_Section):
    # always absolute once loaded: a relative path in a config file is taken relative to that
    # file's directory (load_settings), any other relative path to the working directory
    path: Path = Field(default_factory=default_state_path)
    lease_ttl_s: float = Field(15.0, gt=0)
    history_max: int = Field(1000, ge=0)  # finished deployments kept per group; 0 = no limit
    history_days: float = Field(90.0, ge=0)  # and not older than this; 0 = no limit

    @field_validator("path")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().absolute()


class CoordinationBackend(StrEnum):
    SQLITE = "sqlite"
    ZOOKEEPER = "zookeeper"


class CoordinationSettings(_Section):
    """One actor per group: SQLite leases (one host) or ZooKeeper (any number of replicas)."""

    backend: CoordinationBackend = CoordinationBackend.SQLITE
    hosts: str = "127.0.0.1:2181"
    root: str = "/bluegreen"
    session_timeout_s: float = Field(10.0, gt=0)

    @field_validator("hosts")
    @classmethod
    def _hosts(cls, value: str) -> str:
        hosts = [h.strip() for h in value.split(",")]
        if not value.strip() or any(not h for h in hosts):
            raise ValueError("must be a ZooKeeper connect string, e.g. 'zk-1:2181,zk-2:2181'")
        return ",".join(hosts)

    @field_validator("root")
    @classmethod
    def _root(cls, value: str) -> str:
        if not value.startswith("/") or (value != "/" and value.endswith("/")) or "//" in value:
            raise ValueError("must be an absolute ZooKeeper path like '/bluegreen' (starts with '/')")
        return value


class WebhookSettings(_Section):
    url: str
    events: list[str] = Field(default_factory=list)
    _url = field_validator("url")(http_url)
    _events = field_validator("events")(known_events)
    secret: SecretStr | None = None
    timeout_s: float = Field(5.0, gt=0)
    retries: int = Field(3, ge=0)
    gate: bool = False
    at_least_once: bool = False


class CommandHookSettings(_Section):
    argv: list[str] = Field(min_length=1)
    events: list[str] = Field(default_factory=list)
    # the command gets PATH, HOME, LANG, BLUEGREEN_EVENT* and only these of the reactor's variables
    env_passthrough: list[str] = Field(default_factory=list)
    _events = field_validator("events")(known_events)
    _names = field_validator("env_passthrough")(env_names)
    timeout_s: float = Field(10.0, gt=0)
    gate: bool = False
    at_least_once: bool = False


class HooksSettings(_Section):
    modules: list[str] = Field(default_factory=list)
    webhooks: list[WebhookSettings] = Field(default_factory=list)
    commands: list[CommandHookSettings] = Field(default_factory=list)
    gate_timeout_s: float = Field(30.0, gt=0)


class LogFormat(StrEnum):
    JSON = "json"
    CONSOLE = "console"
    AUTO = "auto"


class LogSettings(_Section):
    format: LogFormat = LogFormat.AUTO
    level: str = "info"

    @field_validator("level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        return log_level(value)


class Settings(BaseSettings):
    """Every key of config/reactor.toml; environment variables override the file."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter=ENV_DELIMITER, extra="forbid", frozen=True
    )
    from_environment: ClassVar[bool] = True  # BLUEGREEN_* variables override the file

    marathon: MarathonSettings = Field(default_factory=MarathonSettings)
    lb: LbSettings = Field(default_factory=LbSettings)
    drain: DrainSettings = Field(default_factory=DrainSettings)
    deploy: DeploySettings = Field(default_factory=DeploySettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    state: StateSettings = Field(default_factory=StateSettings)
    coordination: CoordinationSettings = Field(default_factory=CoordinationSettings)
    hooks: HooksSettings = Field(default_factory=HooksSettings)
    log: LogSettings = Field(default_factory=LogSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment first (it overrides), then the file's values passed as init kwargs.
        return (env_settings, init_settings) if cls.from_environment else (init_settings,)


class _FileOnly(Settings):
    """`load_settings(env=False)`: the file's values alone. (`model_validate` of a BaseSettings
    still read the environment, so BLUEGREEN_* variables reached callers that asked for none.)"""

    from_environment: ClassVar[bool] = False


def load_settings(path: str | Path | None = None, *, env: bool = True,
                  check_files: bool = True) -> Settings:
    """Read the TOML file (if any) and the environment into a validated `Settings`.

    Raises `ConfigError` naming every problem with its key path; with `check_files`, also every
    `*_file` key naming a file that cannot be read.
    """
    data: dict[str, Any] = {}
    source = str(path) if path else "(defaults)"
    if path is not None:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(source, [("(file)", "no such file")]) from None
        except UnicodeDecodeError as exc:
            raise ConfigError(source, [("(file)", f"not UTF-8 text (byte {exc.start})")]) from None
        except OSError as exc:  # a directory, no permission, an I/O error
            raise ConfigError(source, [("(file)", f"cannot read: {exc.strerror or exc}")]) from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(source, [("(file)", f"not valid TOML: {exc}")]) from None
        _state_path_relative_to(data, Path(path).absolute().parent)
    if env and (problems := unknown_sections(set(Settings.model_fields))):
        raise ConfigError(source, problems)
    try:
        settings = Settings(**data) if env else _FileOnly(**data)
    except ValidationError as exc:
        raise ConfigError(source, validation_problems(exc)) from None
    except SettingsError as exc:  # an environment override that is not valid JSON
        raise ConfigError(source, [env_problem(exc)]) from None
    if check_files and (problems := file_problems(settings)):
        raise ConfigError(source, problems)
    return settings


def _state_path_relative_to(data: dict[str, Any], base: Path) -> None:
    state = data.get("state")
    if isinstance(state, dict) and isinstance(state.get("path"), str):
        given = Path(state["path"]).expanduser()
        if not given.is_absolute():
            state["path"] = str(base / given)


def secret_value(value: SecretStr | None, file: Path | None) -> str | None:
    """A secret from its value or from a file (stripped); None when neither is set.
    Raises OSError when the file cannot be read."""
    if value is not None:
        return value.get_secret_value()
    if file is not None:
        return Path(file).read_text(encoding="utf-8").strip()
    return None
