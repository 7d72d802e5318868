"""The Spyglass WSGI application for granian (bench/server_compare.py): granian imports a module
and takes an attribute, so the application is built here from SPYGLASS_BENCH_CONFIG."""
import os

from spyglass import config
from spyglass.app import build_app

_conf = config.load(config_files=[os.environ["SPYGLASS_BENCH_CONFIG"]])
_conf.set_override("data_dir", os.environ["SPYGLASS_BENCH_DATA_DIR"])
app = build_app(_conf)
