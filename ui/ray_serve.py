"""``qa serve --ray``: the REST API (ui/server.py) as a Ray Serve deployment of N replicas.

Each replica opens the index itself, from its path (memory-mapped, on a filesystem every node sees), and
answers ``/v1`` exactly as ``qa serve`` does, token included; new commit points are seen by every replica
on its next request (``Index.snapshot`` re-reads CURRENT each time). The chat (Gradio) is not served here:
its sessions live in one process. Ray is imported here only (the ``ray`` extra).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from index import Index, QAError
from qa import QA, QAConfig
from ui.service import DEFAULT_MAX_UPLOAD_BYTES, Service

APP_NAME = "news-qa"


@dataclass(frozen=True, kw_only=True)
class RayServeConfig:
    """Where the deployment runs: the cluster (None: ``$RAY_ADDRESS``, one on this machine, else a new local
    one), replicas and CPUs per replica, and the HTTP address of Serve's proxy (127.0.0.1 by default)."""

    address: str | None = None
    replicas: int = 1
    cpus_per_replica: float = 1.0
    host: str = "127.0.0.1"
    port: int = 8000

    def __post_init__(self) -> None:
        if self.replicas < 1:
            raise ValueError(f"replicas must be positive, got {self.replicas}")
        if self.cpus_per_replica < 0:
            raise ValueError(f"cpus_per_replica must be >= 0, got {self.cpus_per_replica}")


def app_builder(index_path: str, config: QAConfig, *, token: str | None,
                max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES) -> Callable[[], Any]:
    """A function that builds, on a replica, the REST app over its own ``QA(Index(index_path), config)``."""

    def build() -> Any:
        from ui.server import create_app  # on the replica: FastAPI and the models load there

        service = Service(QA(Index(index_path), config), max_upload_bytes=max_upload_bytes)
        return create_app(service, token=token, chat=False)

    return build


def deploy(index_path: str | Path, config: QAConfig, serve_config: RayServeConfig, *, token: str | None = None,
           max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES) -> str:
    """Start (or update) the deployment on the cluster this process is connected to; returns its base URL.

    Raises QAError where Ray is not installed. The caller connects (``ray.init``) and shuts down.

    Example:
        >>> ray.init(); url = deploy("qa-index", QAConfig(), RayServeConfig(replicas=2), token="s3cret")
    """
    try:
        from ray import serve
    except ImportError:
        raise QAError("Ray Serve is not installed (pip install 'news-qa[ray]')") from None
    build = app_builder(str(Path(index_path).resolve()), config, token=token, max_upload_bytes=max_upload_bytes)
    serve.start(http_options={"host": serve_config.host, "port": serve_config.port})
    deployment = serve.deployment(serve.ingress(build)(), name="qa", num_replicas=serve_config.replicas,
                                  ray_actor_options={"num_cpus": serve_config.cpus_per_replica})
    serve.run(deployment.bind(), name=APP_NAME, route_prefix="/")
    host = serve_config.host
    return f"http://{f'[{host}]' if ':' in host else host}:{serve_config.port}"


def serve_on_ray(index_path: str | Path, config: QAConfig, serve_config: RayServeConfig, *,
                 token: str | None = None, max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES) -> None:
    """Join the cluster, deploy, and serve until interrupted; then remove the deployment and leave.

    Raises QAError where Ray is not installed or the cluster cannot be joined.
    """
    try:
        import ray
    except ImportError:
        raise QAError("Ray is not installed (pip install 'news-qa[ray]')") from None
    try:
        ray.init(address=serve_config.address, include_dashboard=False, log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise QAError(f"cannot join the Ray cluster {serve_config.address or '(local)'}: "
                      f"{' '.join(str(exc).split())[:300]}") from None
    from ray import serve

    try:
        url = deploy(index_path, config, serve_config, token=token, max_upload_bytes=max_upload_bytes)
        print(f"News QA on Ray Serve ({serve_config.replicas} replica(s)): REST API at {url}/v1 "
              f"(docs at {url}/docs); no chat", file=sys.stderr)
        while True:
            time.sleep(3600)
    finally:
        serve.delete(APP_NAME)
        serve.shutdown()
        ray.shutdown()
