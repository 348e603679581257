"""The memory service (`freqtrade-mem0 serve`): one memory that many bots, hyperopt workers,
n8n workflows and a controller share over HTTP. Needs the `server` extra (FastAPI, uvicorn).

    from freqtrade_mem0.service import create_app, load_service_settings

    app = create_app(load_service_settings("service.yaml"))
"""

from freqtrade_mem0.service.app import create_app
from freqtrade_mem0.service.settings import ServiceSettings, load_service_settings

__all__ = ["ServiceSettings", "create_app", "load_service_settings"]
