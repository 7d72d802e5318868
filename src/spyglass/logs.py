"""Logging through oslo.log, with the options operators already set for Glance: `[DEFAULT] debug`,
`log_file`, `log_dir`, `use_syslog`, `use_json`, `log_config_append` and the rest. With none
set, logs go to standard output, as oslo.log does for every OpenStack service."""
from __future__ import annotations

import os

from oslo_config import cfg
from oslo_log import log

PROGRAM = "spyglass"
# Libraries that say too much at INFO for an API service's log, on top of oslo.log's own list.
QUIET = ("alembic=WARN", "stevedore=WARN")


def register(conf: cfg.ConfigOpts) -> None:
    log.register_options(conf)  # idempotent: the same option objects every time
    levels = [*log.get_default_log_levels(), *QUIET]
    log.set_defaults(default_log_levels=levels)


def setup(conf: cfg.ConfigOpts) -> None:
    log.setup(conf, PROGRAM)


def log_file_path(conf: cfg.ConfigOpts) -> str | None:
    """The file oslo.log writes to, if any (log_file, relative to log_dir when both are set; or
    <log_dir>/spyglass.log), for the server's own messages to join it."""
    if conf.log_file:
        return os.path.join(conf.log_dir, conf.log_file) if conf.log_dir else conf.log_file
    if conf.log_dir:
        return os.path.join(conf.log_dir, f"{PROGRAM}.log")
    return None
