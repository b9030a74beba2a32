"""Kafka TLS, mutual TLS and SASL for the worker (Faust) from the same settings as every
other client (librdkafka's client_config)."""

from __future__ import annotations

import ssl
import subprocess
from pathlib import Path

import faust
import pytest
from pydantic import SecretStr

from core.settings import KafkaSettings
from streams.app import broker_credentials


@pytest.fixture
def pem(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate and its key (stand-ins for the CA and the client's pair)."""
    cert, key = tmp_path / "client.pem", tmp_path / "client.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=qbsync-test-ca",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def test_plaintext_needs_no_credentials() -> None:
    assert broker_credentials(KafkaSettings(bootstrap_servers="k:9092")) is None


def test_mutual_tls_loads_the_ca_and_the_client_certificate(pem: tuple[Path, Path]) -> None:
    cert, key = pem
    kafka = KafkaSettings(
        bootstrap_servers="k:9093",
        security_protocol="SSL",
        ssl_ca_location=str(cert),
        ssl_certificate_location=str(cert),
        ssl_key_location=str(key),
    )
    credentials = broker_credentials(kafka)
    assert isinstance(credentials, faust.SSLCredentials)
    context = credentials.context
    assert context.verify_mode == ssl.CERT_REQUIRED
    subjects = [dict(item[0] for item in ca["subject"]) for ca in context.get_ca_certs()]
    assert {"commonName": "qbsync-test-ca"} in subjects
    assert kafka.client_config() == {
        "bootstrap.servers": "k:9093",
        "security.protocol": "SSL",
        "ssl.ca.location": str(cert),
        "ssl.certificate.location": str(cert),
        "ssl.key.location": str(key),
    }


def test_sasl_over_tls_carries_both(pem: tuple[Path, Path]) -> None:
    cert, _ = pem
    kafka = KafkaSettings(
        bootstrap_servers="k:9094",
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="qbsync",
        sasl_password=SecretStr("s3cret"),
        ssl_ca_location=str(cert),
    )
    credentials = broker_credentials(kafka)
    assert isinstance(credentials, faust.SASLCredentials)
    assert (credentials.username, credentials.password) == ("qbsync", "s3cret")
    assert str(credentials.mechanism.value) == "SCRAM-SHA-512"
    assert credentials.ssl_context is not None
    assert "s3cret" not in repr(kafka)


def test_a_missing_ca_file_names_the_setting(tmp_path: Path) -> None:
    kafka = KafkaSettings(
        bootstrap_servers="k:9093",
        security_protocol="SSL",
        ssl_ca_location=str(tmp_path / "nowhere.pem"),
    )
    with pytest.raises(ValueError, match="QBSYNC_KAFKA_SSL_CA_LOCATION"):
        broker_credentials(kafka)
