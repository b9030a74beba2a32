"""The chart's QBO sender (issue 19): its own Deployment running ``qbsync qbo send``, a
Service, an optional TLS Ingress for Intuit's redirect and webhooks (off by default)."""

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

QBO: dict[str, Any] = {
    "qbo": {
        "enabled": True,
        "clientId": "ABc123",
        "redirectUri": "https://sync.example.com/qbo/callback",
    }
}
QBO_INGRESS: dict[str, Any] = {
    "qbo": {
        "enabled": True,
        "replicas": 2,
        "clientId": "ABc123",
        "webhookVerifierKey": "qbo-webhook-verifier",
        "ingress": {"enabled": True, "host": "qbo.example.com", "className": "nginx"},
    }
}


@pytest.fixture(scope="module")
def chart() -> Iterator[helm.Chart]:
    with helm.Chart.load(CHART_DIR) as loaded:
        yield loaded


def test_the_sender_is_off_by_default(chart: helm.Chart) -> None:
    names = {name for _, name in index(render(chart, REQUIRED))}
    assert f"{FULLNAME}-qbo" not in names


def test_the_sender_runs_qbo_send_with_its_secrets_from_the_existing_secret(
    chart: helm.Chart,
) -> None:
    docs = index(render(chart, merged(REQUIRED, QBO)))
    deployment = docs[("Deployment", f"{FULLNAME}-qbo")]
    service = docs[("Service", f"{FULLNAME}-qbo")]
    assert ("Ingress", f"{FULLNAME}-qbo") not in docs
    ctr = container(deployment)
    assert ctr["command"] + ctr["args"] == ["qbsync", "qbo", "send"]
    env = env_by_name(ctr)
    assert env["QBSYNC_QBO_LISTEN"]["value"] == "0.0.0.0:8091"
    assert env["QBSYNC_QBO_CLIENT_ID"]["value"] == "ABc123"
    assert env["QBSYNC_QBO_REDIRECT_URI"]["value"] == "https://sync.example.com/qbo/callback"
    assert env["QBSYNC_QBO_API_BASE_URL"]["value"] == "https://quickbooks.api.intuit.com"
    for name, key in (
        ("QBSYNC_QBO_CLIENT_SECRET", "qbo-client-secret"),
        ("QBSYNC_QBO_TOKEN_KEYS", "qbo-token-keys"),
        ("QBSYNC_DATABASE_URL", "database-url"),
    ):
        assert env[name]["valueFrom"]["secretKeyRef"] == {"name": "qbsync-secrets", "key": key}
    assert "QBSYNC_QBO_WEBHOOK_VERIFIER" not in env
    assert ctr["ports"] == [{"name": "http", "containerPort": 8091, "protocol": "TCP"}]
    assert ctr["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert ctr["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert ctr["securityContext"]["readOnlyRootFilesystem"] is True
    assert deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 60
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    for doc in (deployment, service):
        assert kubernetes_validate.validate(doc, KUBE_VERSION, strict=True) == KUBE_VERSION


def test_the_ingress_is_tls_on_the_callback_and_webhooks_and_names_the_redirect(
    chart: helm.Chart,
) -> None:
    docs = index(render(chart, merged(REQUIRED, QBO_INGRESS)))
    ingress = docs[("Ingress", f"{FULLNAME}-qbo")]
    assert ingress["spec"]["tls"] == [{"hosts": ["qbo.example.com"]}]
    paths = [p["path"] for p in ingress["spec"]["rules"][0]["http"]["paths"]]
    assert paths == ["/qbo/callback", "/qbo/webhooks"]
    deployment = docs[("Deployment", f"{FULLNAME}-qbo")]
    assert deployment["spec"]["replicas"] == 2
    env = env_by_name(container(deployment))
    assert env["QBSYNC_QBO_REDIRECT_URI"]["value"] == "https://qbo.example.com/qbo/callback"
    assert env["QBSYNC_QBO_WEBHOOK_VERIFIER"]["valueFrom"]["secretKeyRef"]["key"] == (
        "qbo-webhook-verifier"
    )
    assert kubernetes_validate.validate(ingress, KUBE_VERSION, strict=True) == KUBE_VERSION


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"qbo": {"enabled": True, "redirectUri": "https://x/qbo/callback"}}, "qbo.clientId"),
        ({"qbo": {"enabled": True, "clientId": "A"}}, "qbo.redirectUri"),
    ],
    ids=["no-client-id", "no-redirect"],
)
def test_an_enabled_sender_needs_the_app_and_a_redirect(
    chart: helm.Chart, values: dict[str, Any], message: str
) -> None:
    with pytest.raises(helm.HelmError, match=message):
        chart.render(merged(REQUIRED, values), name="qb", namespace="qbsync")


def test_helm_lint_is_clean_with_the_sender() -> None:
    report = helm.lint(
        CHART_DIR, merged(REQUIRED, QBO_INGRESS), strict=True, kube_version=f"v{KUBE_VERSION}.0"
    )
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] >= 2] == []
