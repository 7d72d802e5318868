"""The `spyglass` command: argument parsing only; the work is done by the packages it calls."""
from __future__ import annotations

import argparse
import logging
import sys

from oslo_config import cfg

from spyglass import config, logs, version

LOG = logging.getLogger("spyglass.serve")


def _load(args: argparse.Namespace) -> cfg.ConfigOpts:
    conf = config.load(config_files=args.config_file, config_dirs=args.config_dir)
    if getattr(args, "data_dir", None):
        conf.set_override("data_dir", args.data_dir)
    if getattr(args, "bind", None):
        host, _, port = args.bind.rpartition(":")
        if not host or not port.isdigit():
            raise SystemExit(f"--bind must be HOST:PORT, got {args.bind!r}")
        conf.set_override("bind_host", host.strip("[]"))
        conf.set_override("bind_port", int(port))
    return conf


def _serving_conf(args: argparse.Namespace, conf: cfg.ConfigOpts | None = None) -> cfg.ConfigOpts:
    """The configuration `serve` runs on, checked whole before any worker uses it: at start, and
    again on SIGHUP, where a configuration that fails the check leaves the running one in place."""
    from spyglass.app import register_middleware_options
    from spyglass.config_check import unused_settings
    from spyglass.stores import registry

    conf = conf or _load(args)
    register_middleware_options(conf)
    config.check_values(conf)
    registry.from_config(conf)  # store settings that cannot work fail here, not in a worker
    for line in unused_settings(conf, config.files_read(args.config_file, args.config_dir)):
        LOG.warning("%s", line)
    return conf


def _serve(args: argparse.Namespace) -> int:
    from spyglass import server
    from spyglass.app import recover_after_crash
    from spyglass.db import migrate

    conf = _load(args)
    logs.setup(conf)
    url = config.database_url(conf)
    if not migrate.is_current(url):
        print("The database schema is not current: run `spyglass db sync` "
              "(or `spyglass db check` to see what is pending).", file=sys.stderr)
        return 2
    conf = _serving_conf(args, conf)
    recover_after_crash(conf)
    return server.serve(conf, reload_conf=lambda: _serving_conf(args))


def _db(args: argparse.Namespace) -> int:
    from spyglass.db import migrate

    conf = _load(args)
    logs.setup(conf)
    url = config.database_url(conf)
    if args.db_command == "version":
        for branch, revision in migrate.version(url).items():
            print(f"{branch}: {revision or 'none'}")
        return 0
    if args.db_command == "check":
        return migrate.check(url)
    getattr(migrate, {"sync": "sync", "expand": "expand", "migrate": "migrate_data",
                      "contract": "contract"}[args.db_command])(url)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="spyglass", description="OpenStack Images API v2 service.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config-file", action="append", default=[], metavar="FILE",
                        help="oslo.config INI file; may be repeated, later files win.")
    common.add_argument("--config-dir", action="append", default=[], metavar="DIR",
                        help="Directory whose *.conf files are read after the config files, in "
                             "name order; may be repeated.")
    common.add_argument("--data-dir", help="Directory of the embedded SQLite database and file store.")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", parents=[common], help="Run the API server.")
    serve.add_argument("--bind", metavar="HOST:PORT", help="Address to listen on (default 127.0.0.1:9292).")
    serve.set_defaults(func=_serve)

    db = sub.add_parser("db", help="Database schema: version, sync, check, and the upgrade phases.")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    for name, text in (("version", "Show the schema revision of each branch."),
                       ("sync", "Bring the schema up to date (expand, migrate, contract)."),
                       ("check", "Exit 0 if current; 3, 4 or 5 if expand, migrate or contract is pending."),
                       ("expand", "Apply additive schema changes (safe while older nodes serve)."),
                       ("migrate", "Run pending data migrations."),
                       ("contract", "Remove what no running version needs any more.")):
        p = db_sub.add_parser(name, parents=[common], help=text)
        p.set_defaults(func=_db)

    args = parser.parse_args(argv)
    from spyglass.db.migrate import MigrationError
    from spyglass.stores.base import StoreConfigError

    try:
        return int(args.func(args))
    except (MigrationError, StoreConfigError, cfg.Error) as exc:
        print(f"spyglass: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
