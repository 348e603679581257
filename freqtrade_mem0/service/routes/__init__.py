"""One router per resource; `freqtrade_mem0.service.app` mounts them."""
