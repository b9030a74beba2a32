"""The chart's console: its own Deployment, Service and Ingress (off by default)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest

from tests.deploy.test_helm_chart import (
    CHART_DIR,
    FULLNAME,
    KUBE_VERSION,
    REQUIRED,
    container,
    env_by_name,
    index,
    merged,
    render,
)

CONSOLE: dict[str, Any] = {"console": {"enabled": True}}
CONSOLE_INGRESS: dict[str, Any] = {
    "console": {
        "enabled": True,
        "replicas": 2,
        "ingress": {"enabled": True, "host": "support.example.com", "className": "nginx"},
    }
}


@pytest.fixture(scope="module")
def chart() -> Iterator[helm.Chart]:
    with helm.Chart.load(CHART_DIR) as loaded:
        yield loaded


def test_the_console_is_off_by_default(chart: helm.Chart) -> None:
    names = {name for _, name in index(render(chart, REQUIRED))}
    assert f"{FULLNAME}-console" not in names


def test_the_console_runs_qbsync_console_behind_its_service(chart: helm.Chart) -> None:
    docs = index(render(chart, merged(REQUIRED, CONSOLE)))
    deployment = docs[("Deployment", f"{FULLNAME}-console")]
    service = docs[("Service", f"{FULLNAME}-console")]
    assert ("Ingress", f"{FULLNAME}-console") not in docs
    ctr = container(deployment)
    assert ctr["command"] + ctr["args"] == [
        "qbsync", "console", "--host", "0.0.0.0", "--port", "8090",
    ]  # fmt: skip
    env = env_by_name(ctr)
    assert env["QBSYNC_CONSOLE_PATH_PREFIX"]["value"] == "/console"
    assert env["QBSYNC_CONSOLE_PUBLIC_URL"]["value"] == ""
    assert "secretKeyRef" in env["QBSYNC_DATABASE_URL"]["valueFrom"]
    assert ctr["readinessProbe"]["httpGet"]["path"] == "/healthz"
    assert ctr["securityContext"]["readOnlyRootFilesystem"] is True
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    for doc in (deployment, service):
        assert kubernetes_validate.validate(doc, KUBE_VERSION, strict=True) == KUBE_VERSION


def test_the_console_ingress_is_tls_on_its_path_and_names_the_setup_links_base(
    chart: helm.Chart,
) -> None:
    docs = index(render(chart, merged(REQUIRED, CONSOLE_INGRESS)))
    ingress = docs[("Ingress", f"{FULLNAME}-console")]
    assert ingress["spec"]["tls"] == [{"hosts": ["support.example.com"]}]
    (path,) = ingress["spec"]["rules"][0]["http"]["paths"]
    assert path["path"] == "/console"
    assert path["backend"]["service"]["name"] == f"{FULLNAME}-console"
    env = env_by_name(container(docs[("Deployment", f"{FULLNAME}-console")]))
    assert env["QBSYNC_CONSOLE_PUBLIC_URL"]["value"] == "https://support.example.com/console"
    assert kubernetes_validate.validate(ingress, KUBE_VERSION, strict=True) == KUBE_VERSION


def test_the_console_ingress_needs_a_host(chart: helm.Chart) -> None:
    bad = merged(REQUIRED, CONSOLE, {"console": {"ingress": {"enabled": True}}})
    with pytest.raises(helm.HelmValuesError):
        chart.render(bad, name="qb", namespace="qbsync")


def test_helm_lint_is_clean_with_the_console() -> None:
    values = merged(REQUIRED, CONSOLE_INGRESS)
    report = helm.lint(CHART_DIR, values, strict=True, kube_version=f"v{KUBE_VERSION}.0")
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


def test_single_sign_on_reaches_the_console_with_its_secret_from_the_secret(
    chart: helm.Chart,
) -> None:
    off = env_by_name(
        container(
            index(render(chart, merged(REQUIRED, CONSOLE)))[("Deployment", f"{FULLNAME}-console")]
        )
    )
    assert not any(name.startswith("QBSYNC_CONSOLE_OIDC_") for name in off)
    values = merged(
        REQUIRED,
        {
            "console": {
                "enabled": True,
                "oidc": {
                    "issuer": "https://id.example.com/realms/acme",
                    "clientId": "qbsync-console",
                    "roleClaim": "roles",
                },
            }
        },
    )
    docs = index(render(chart, values))
    env = env_by_name(container(docs[("Deployment", f"{FULLNAME}-console")]))
    assert env["QBSYNC_CONSOLE_OIDC_ISSUER"]["value"] == "https://id.example.com/realms/acme"
    assert env["QBSYNC_CONSOLE_OIDC_CLIENT_ID"]["value"] == "qbsync-console"
    assert env["QBSYNC_CONSOLE_OIDC_ROLE_CLAIM"]["value"] == "roles"
    secret = env["QBSYNC_CONSOLE_OIDC_CLIENT_SECRET"]["valueFrom"]["secretKeyRef"]
    assert secret["key"] == "console-oidc-client-secret"
    assert "value" not in env["QBSYNC_CONSOLE_OIDC_CLIENT_SECRET"]
    # The settings the console reads accept what the chart renders.
    from core.settings import ConsoleSettings

    names = {
        name.removeprefix("QBSYNC_CONSOLE_").lower()
        for name in env
        if name.startswith("QBSYNC_CONSOLE_OIDC_")
    }
    assert names <= set(ConsoleSettings.model_fields)
    with pytest.raises(Exception, match="clientId"):
        render(
            chart, merged(REQUIRED, {"console": {"enabled": True, "oidc": {"issuer": "https://x"}}})
        )


def test_connect_to_quickbooks_reaches_the_console_without_secrets(chart: helm.Chart) -> None:
    """With the QBO sender on, the console gets what its "Connect to QuickBooks" button
    needs: the app's client id, Intuit's authorize URL and the sender's callback; never the
    client secret or the token keys."""
    alone = env_by_name(
        container(
            index(render(chart, merged(REQUIRED, CONSOLE)))[("Deployment", f"{FULLNAME}-console")]
        )
    )
    assert not any(name.startswith("QBSYNC_QBO_") for name in alone)
    qbo = {
        "qbo": {
            "enabled": True,
            "clientId": "ABc123",
            "ingress": {"enabled": True, "host": "qbo.example.com"},
        }
    }
    docs = index(render(chart, merged(REQUIRED, CONSOLE, qbo)))
    env = env_by_name(container(docs[("Deployment", f"{FULLNAME}-console")]))
    qbo_env = {name: e.get("value") for name, e in env.items() if name.startswith("QBSYNC_QBO_")}
    assert qbo_env == {
        "QBSYNC_QBO_CLIENT_ID": "ABc123",
        "QBSYNC_QBO_AUTHORIZE_URL": "https://appcenter.intuit.com/connect/oauth2",
        "QBSYNC_QBO_REDIRECT_URI": "https://qbo.example.com/qbo/callback",
    }
    sender = env_by_name(container(docs[("Deployment", f"{FULLNAME}-qbo")]))
    assert sender["QBSYNC_QBO_REDIRECT_URI"]["value"] == qbo_env["QBSYNC_QBO_REDIRECT_URI"]
