"""The service's log: who submitted what and when, and what became of it, on stderr and in
<course>/.dlgrade/service/service.log (both processes append to it, one line per event)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

LOG_FILE = "service.log"


def setup_logging(folder: Path, process: str) -> logging.Logger:
    """The 'dlgrade.service' logger, to stderr and the log file, lines tagged with ``process`` (web, grader)."""
    logger = logging.getLogger("dlgrade.service")
    if getattr(logger, "_dlgrade_configured", False):
        return logger
    form = logging.Formatter(f"%(asctime)s {process} %(levelname)s %(message)s")
    for handler in (logging.StreamHandler(sys.stderr), logging.FileHandler(Path(folder) / LOG_FILE, "a", "utf-8")):
        handler.setFormatter(form)
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    logger._dlgrade_configured = True  # type: ignore[attr-defined]
    return logger
