"""Process and build metrics every qbsync process exports on its own ``/metrics``:
``qbsync_build_info{version, revision, python_version}`` (value 1) and the standard
``process_*`` and ``python_info`` families (each process has its own registry, not the
client library's global one)."""

from __future__ import annotations

import os
import platform

from prometheus_client import CollectorRegistry, Info, PlatformCollector, ProcessCollector

from core import __version__

__all__ = ["build_labels", "register_process_metrics"]


def build_labels() -> dict[str, str]:
    """What is running: the package version, the source revision the image was built from
    (``QBSYNC_BUILD_REVISION``, set by the Containerfile), the Python version."""
    return {
        "version": __version__,
        "revision": os.environ.get("QBSYNC_BUILD_REVISION", "") or "unknown",
        "python_version": platform.python_version(),
    }


def register_process_metrics(registry: CollectorRegistry, *, own_process: bool = True) -> None:
    """``own_process`` False: the registry answers for a group of processes (the gateway's
    ``processes``), where the ``process_*`` of whichever one was asked would pass for the
    group's; only the build is exported (the pod's CPU and memory are the kubelet's
    container metrics)."""
    Info("qbsync_build", "The qbsync build this process runs.", registry=registry).info(
        build_labels()
    )
    if own_process:
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
