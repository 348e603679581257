"""The sample Grafana dashboard uses only metrics the service exports, so it cannot drift."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx

from freqtrade_mem0.service import create_app
from tests.conftest import REPO
from tests.service_helpers import ADMIN_HEADERS, running, seed, service_settings

DASHBOARD = REPO / "docs" / "grafana" / "freqtrade-mem0.json"
METRIC = re.compile(r"\bmem0_[a-z_]+")
HISTOGRAM_SERIES = re.compile(r"_(bucket|sum|count)$")


def dashboard_metrics() -> set[str]:
    panels = json.loads(DASHBOARD.read_text(encoding="utf-8"))["panels"]
    exprs = [target["expr"] for panel in panels for target in panel["targets"]]
    assert exprs
    for expr in exprs:
        assert expr.count("(") == expr.count(")"), expr
    return {HISTOGRAM_SERIES.sub("", name) for e in exprs for name in METRIC.findall(e)}


def test_every_metric_of_the_dashboard_is_exported(tmp_path: Path) -> None:
    app = create_app(service_settings(tmp_path))
    with running(app) as url, httpx.Client(base_url=url, headers=ADMIN_HEADERS) as http:
        seed(http)
        assert httpx.get(url + "/stats").status_code == 401  # an error to count
        app.state.mem0_backups.run_once()
        exported = http.get("/metrics").text
    families = {line.split()[2] for line in exported.splitlines() if line.startswith("# TYPE")}
    missing = dashboard_metrics() - families
    assert not missing, f"the dashboard uses metrics the service does not export: {missing}"


def test_the_dashboard_is_linked_from_the_operations_page() -> None:
    page = (REPO / "docs" / "operations.md").read_text(encoding="utf-8")
    assert "grafana/freqtrade-mem0.json" in page
