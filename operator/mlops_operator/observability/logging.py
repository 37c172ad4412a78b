"""Structured logs: structlog for our code, kopf's and the stdlib's records through it.

One JSON object per line in production (what log pipelines parse); a readable console
format for a human at a terminal.
"""

from __future__ import annotations

import logging
import sys

import structlog


def configure(level: str = "INFO", fmt: str = "json") -> None:
    """Route every log record (ours, kopf's, aiohttp's) through one structlog renderer."""
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiohttp's client logs, and kopf's line per handler call (ours run per watch event),
    # are noise at INFO.
    if root.level > logging.DEBUG:
        logging.getLogger("aiohttp").setLevel(logging.WARNING)
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)


def get(name: str) -> structlog.stdlib.BoundLogger:
    """A named structured logger."""
    logger: structlog.stdlib.BoundLogger = structlog.get_logger(name)
    return logger
