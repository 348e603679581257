"""The sample Grafana dashboard uses only metrics the service exports, so it cannot drift."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from freqtrade_mem0.security.keys import KeyFile
from tests.conftest import REPO
from tests.service_helpers import ADMIN_HEADERS, UNKNOWN_ID, memory_service, seed

DASHBOARD = REPO / "docs" / "grafana" / "freqtrade-mem0.json"
METRIC = re.compile(r"\bmem0_[a-z_]+")
HISTOGRAM_SERIES = re.compile(r"_(bucket|sum|count)$")


def panels(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every panel, those inside rows too."""
    for panel in items:
        yield panel
        yield from panels(panel.get("panels", []))


def dashboard_metrics() -> set[str]:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    exprs = [
        target["expr"]
        for panel in panels(dashboard["panels"])
        for target in panel.get("targets", [])
        if "expr" in target
    ]
    assert exprs
    for expr in exprs:
        assert expr.count("(") == expr.count(")"), expr
    return {HISTOGRAM_SERIES.sub("", name) for e in exprs for name in METRIC.findall(e)}


def test_the_dashboard_is_importable() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert dashboard["schemaVersion"] >= 36
    assert [i["name"] for i in dashboard["__inputs"]] == ["DS_PROMETHEUS"]
    ids = [panel["id"] for panel in panels(dashboard["panels"])]
    assert len(ids) == len(set(ids))
    for panel in panels(dashboard["panels"]):
        if panel.get("targets"):
            assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]


def test_every_metric_of_the_dashboard_is_exported(tmp_path: Path) -> None:
    _, reader_key = KeyFile(tmp_path / "keys.json").create("prometheus", "reader")
    with memory_service(tmp_path) as service:
        with httpx.Client(base_url=service.url, headers=ADMIN_HEADERS) as http:
            seed(http)
            assert http.get(f"/memory/{UNKNOWN_ID}").status_code == 404
        assert httpx.get(service.url + "/stats").status_code == 401  # a refused credential
        service.app.state.mem0_backups.run_once()  # the backup gauges appear after one
        # the scrape job of docs/operations.md: a reader key as a bearer credential
        scrape = httpx.get(
            service.url + "/metrics", headers={"Authorization": f"Bearer {reader_key}"}
        )
    assert scrape.status_code == 200
    families = {line.split()[2] for line in scrape.text.splitlines() if line.startswith("# TYPE")}
    missing = dashboard_metrics() - families
    assert not missing, f"the dashboard uses metrics the service does not export: {missing}"
    assert 'status="401"' in scrape.text and 'kind="client"' in scrape.text


def test_the_dashboard_is_linked_from_the_operations_page() -> None:
    page = (REPO / "docs" / "operations.md").read_text(encoding="utf-8")
    assert "](grafana/freqtrade-mem0.json)" in page
