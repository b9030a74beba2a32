"""The qbsync Grafana dashboard, as code (grafana-foundation-sdk), one row per question an
SRE asks. The chart ships the JSON this writes (deploy/helm/qbsync/files/); a test checks the
checked-in file equals this output. After a change:

    python deploy/grafana/dashboard.py            # rewrite the JSON
    python deploy/grafana/dashboard.py --check    # exit 1 if the JSON is stale
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import dashboard, prometheus, stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import DataSourceRef

OUTPUT = Path(__file__).resolve().parents[1] / "helm/qbsync/files/grafana-dashboard.json"
DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")

# (question, [(panel kind, title, unit, [(expr, legend)], description)])
Panel = tuple[str, str, str, list[tuple[str, str]], str]
ROWS: list[tuple[str, list[Panel]]] = [
    (
        "Is every company file being served?",
        [
            (
                "stat",
                "Files silent (> 3x schedule)",
                "short",
                [("max(qbsync_gateway_profiles_stalled)", "silent")],
                "Enabled files whose Web Connector has not called for 3x its schedule.",
            ),
            (
                "stat",
                "Web Connector sessions now",
                "short",
                [("max(qbsync_gateway_sessions_active)", "sessions")],
                "Live sessions, all gateway replicas.",
            ),
            (
                "stat",
                "Broker reachable",
                "short",
                [("min(qbsync_kafka_up)", "up")],
                "1 when every gateway reached Kafka at its last backlog read.",
            ),
        ],
    ),
    (
        "How far behind are the company files?",
        [
            (
                "timeseries",
                "Files by commands waiting",
                "short",
                [
                    (
                        'max(qbsync_file_backlog_commands_bucket{le="0.0"})',
                        "none waiting",
                    ),
                    (
                        'max(qbsync_file_backlog_commands_bucket{le="25.0"})'
                        ' - max(qbsync_file_backlog_commands_bucket{le="0.0"})',
                        "1-25",
                    ),
                    (
                        'max(qbsync_file_backlog_commands_bucket{le="1000.0"})'
                        ' - max(qbsync_file_backlog_commands_bucket{le="25.0"})',
                        "26-1000",
                    ),
                    (
                        'max(qbsync_file_backlog_commands_bucket{le="+Inf"})'
                        ' - max(qbsync_file_backlog_commands_bucket{le="1000.0"})',
                        "> 1000",
                    ),
                ],
                "How many files have how much queued (a distribution: no file ids).",
            ),
            (
                "timeseries",
                "Oldest waiting command",
                "s",
                [("max(qbsync_oldest_command_age_seconds)", "oldest")],
                "Age of the oldest undelivered command of any file (alert: 6 h).",
            ),
            (
                "timeseries",
                "Commands waiting, all files",
                "short",
                [("max(qbsync_file_backlog_commands_sum)", "commands")],
                "Every command not yet delivered to its Web Connector.",
            ),
        ],
    ),
    (
        "Are the workers keeping up?",
        [
            (
                "timeseries",
                "Consumer lag by agent",
                "short",
                [("sum by (agent) (qbsync_worker_consumer_lag_messages)", "{{agent}}")],
                "Messages waiting in the workers' partitions (alert: 10,000 for 15 m).",
            ),
            (
                "timeseries",
                "Messages in by topic role",
                "ops",
                [("sum by (role) (rate(qbsync_worker_messages_in_total[5m]))", "{{role}}")],
                "What the workers read per second.",
            ),
            (
                "stat",
                "Partitions assigned",
                "short",
                [("sum(qbsync_worker_assigned_partitions)", "partitions")],
                "Across all worker replicas; 0 means no worker consumes.",
            ),
        ],
    ),
    (
        "How long does a change take to reach QuickBooks?",
        [
            (
                "timeseries",
                "Event to QuickBooks (p50, p95, p99)",
                "s",
                [
                    (
                        f"histogram_quantile({q}, sum by (le)"
                        " (rate(qbsync_event_to_quickbooks_seconds_bucket[30m])))",
                        f"p{round(q * 100)}",
                    )
                    for q in (0.5, 0.95, 0.99)
                ],
                "From the event's occurred_at to QuickBooks' answer; includes the wait for"
                " the Web Connector's schedule.",
            ),
        ],
    ),
    (
        "What is failing, and why?",
        [
            (
                "timeseries",
                "Dead letters by code",
                "short",
                [("sum by (code) (increase(qbsync_dead_letters_total[1h]))", "{{code}}")],
                "Per hour; `qbsync dlq list --code C` shows them (alert: > 1 a minute).",
            ),
            (
                "timeseries",
                "Dead letters by category",
                "short",
                [
                    (
                        "sum by (category) (increase(qbsync_dead_letters_total[1h]))",
                        "{{category}}",
                    )
                ],
                "Per hour, by the catalog's category.",
            ),
            (
                "timeseries",
                "Parked events by reason; retries waiting",
                "short",
                [
                    ("sum by (kind) (qbsync_worker_parked)", "{{kind}}"),
                    ("sum(qbsync_worker_retries_waiting)", "retries waiting"),
                ],
                "Waiting for a dependency, paused, or a retry after backoff.",
            ),
        ],
    ),
    (
        "Is the gateway answering the Web Connectors?",
        [
            (
                "timeseries",
                "SOAP p99 by operation",
                "s",
                [
                    (
                        "histogram_quantile(0.99, sum by (le, operation)"
                        " (rate(qbsync_gateway_soap_call_seconds_bucket[5m])))",
                        "{{operation}}",
                    )
                ],
                "Alert: p99 over 2 s for 10 m.",
            ),
            (
                "timeseries",
                "HTTP responses by class",
                "reqps",
                [
                    (
                        "sum by (status_class) (rate(qbsync_gateway_http_responses_total[5m]))",
                        "{{status_class}}",
                    )
                ],
                "Alert: more than 5% 5xx for 5 m.",
            ),
            (
                "timeseries",
                "Authentications by outcome",
                "short",
                [
                    (
                        "sum by (outcome) (increase(qbsync_gateway_authentications_total[1h]))",
                        "{{outcome}}",
                    )
                ],
                "session (work), none, busy, nvu (wrong password), throttled.",
            ),
        ],
    ),
    (
        "What is running?",
        [
            (
                "timeseries",
                "Builds running",
                "short",
                [("count by (version, revision) (qbsync_build_info)", "{{version}} {{revision}}")],
                "Processes by qbsync version and source revision (a rollout shows two).",
            ),
            (
                "timeseries",
                "Resident memory by pod",
                "bytes",
                [('process_resident_memory_bytes{job=~".*qbsync.*"}', "{{pod}}")],
                "Every qbsync process.",
            ),
        ],
    ),
]


def _panel(kind: str, title: str, unit: str, targets: list[tuple[str, str]], about: str) -> Any:
    panel: Any = stat.Panel() if kind == "stat" else timeseries.Panel()
    panel = panel.title(title).unit(unit).description(about).datasource(DATASOURCE)
    panel = panel.height(8).span(24 // 3 if kind == "stat" else 8)
    for index, (expr, legend) in enumerate(targets):
        panel = panel.with_target(
            prometheus.Dataquery()
            .expr(expr)
            .legend_format(legend)
            .ref_id(chr(ord("A") + index))
            .datasource(DATASOURCE)
        )
    return panel


def build() -> dict[str, Any]:
    board = (
        dashboard.Dashboard("qbsync")
        .uid("qbsync-overview")
        .description("qbsync: company files' backlog, workers, latency, failures, gateway.")
        .tags(["qbsync"])
        .timezone("utc")
        .time("now-6h", "now")
        .refresh("1m")
        .with_variable(
            dashboard.DatasourceVariable("datasource").label("Prometheus").type("prometheus")
        )
    )
    for question, panels in ROWS:
        board = board.with_row(dashboard.Row(question))
        for kind, title, unit, targets, about in panels:
            board = board.with_panel(_panel(kind, title, unit, targets, about))
    encoded: dict[str, Any] = json.loads(json.dumps(board.build(), cls=JSONEncoder))
    return encoded


def render() -> str:
    return json.dumps(build(), indent=2, sort_keys=True) + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not OUTPUT.exists() or OUTPUT.read_text() != text:
            sys.stderr.write(f"{OUTPUT} is stale: run python deploy/grafana/dashboard.py\n")
            return 1
        return 0
    OUTPUT.write_text(text)
    sys.stderr.write(f"wrote {OUTPUT}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
