"""Entry module for ``dramatiq actors.worker``: logging, broker, then the actors."""

from actors.broker import install_broker
from heavylift.config import get_settings
from heavylift.logs import configure_logging

_settings = get_settings()
configure_logging(_settings.log_format, _settings.log_level)
broker = install_broker(_settings)

import actors.media  # noqa: E402,F401  (actors bind to the broker installed above)
