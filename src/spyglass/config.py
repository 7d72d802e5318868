"""Configuration through oslo.config, with Glance's section and option names where the concept is
the same, so that an operator's glance-api.conf habits carry over."""
from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from oslo_config import cfg

DEFAULT_DATA_DIR = "./spyglass-data"
# user_storage_quota as Glance reads it: "10GB", "512MB", "1000" (bytes); "10G" is not accepted.
STORAGE_QUOTA = re.compile(r"(\d+)(([KMGT])?B)?")

def _hash_algorithms() -> list[str]:
    """hashlib's algorithms with a fixed digest that fits os_hash_value (128 hex digits); the
    shake_* ones need a length at every call and are left out."""
    names = []
    for name in sorted(hashlib.algorithms_available):
        try:
            digest_size = hashlib.new(name).digest_size
        except ValueError:  # listed but disabled, as md5 may be under FIPS
            continue
        if 0 < digest_size <= 64:
            names.append(name)
    return names


core_opts = [
    cfg.StrOpt("bind_host", default="127.0.0.1", help="Address the API listens on."),
    cfg.PortOpt("bind_port", default=9292, help="Port the API listens on."),
    cfg.IntOpt("workers", default=(os.cpu_count() or 1) + 1, min=1,
               sample_default="number of CPUs + 1",
               help="Number of worker processes serving the API. Each runs Python with its own "
                    "interpreter lock, so one more than the CPUs keeps every core busy (measured "
                    "in docs/BENCHMARKS.md)."),
    cfg.IntOpt("threads", default=16, min=1,
               help="Threads per worker: each serves one request at a time, so this bounds the "
                    "number of concurrent uploads and downloads a worker can stream."),
    cfg.StrOpt("data_dir", default=DEFAULT_DATA_DIR,
               help="Directory for the embedded defaults: the SQLite database and the filesystem "
                    "store live below it unless [database] connection or "
                    "[glance_store] filesystem_store_datadir say otherwise."),
    cfg.IntOpt("limit_param_default", default=25, min=1,
               help="Page size of image listings when the request gives no limit."),
    cfg.IntOpt("api_limit_max", default=1000, min=1,
               help="Largest page size a listing may ask for."),
    cfg.IntOpt("image_property_quota", default=128,
               help="Maximum number of custom properties on one image (negative: unlimited)."),
    cfg.IntOpt("image_tag_quota", default=128,
               help="Maximum number of tags on one image (negative: unlimited)."),
    cfg.IntOpt("image_member_quota", default=128,
               help="Maximum number of members of one image (negative: unlimited)."),
    cfg.IntOpt("image_size_cap", default=1099511627776, min=1,
               help="Largest image, in bytes, that may be uploaded."),
    cfg.StrOpt("user_storage_quota", default="0", regex=f"^{STORAGE_QUOTA.pattern}$",
               help="Bytes of image data a project may keep in the stores, counted as Glance counts "
                    "them (the size of each of its images once per location); 0 means unlimited. A "
                    "number, optionally followed by B, KB, MB, GB or TB (powers of 1024), no space."),
    cfg.StrOpt("hashing_algorithm", default="sha512", choices=_hash_algorithms(),
               help="Secure hash computed over uploaded data besides md5, shown as os_hash_algo "
                    "and os_hash_value; images keep the algorithm they were uploaded with."),
    cfg.BoolOpt("show_image_direct_url", default=False,
                help="Show the image's store location as direct_url. It never carries credentials."),
    cfg.BoolOpt("show_multiple_locations", default=False,
                help="Show the image's locations list to those the policy allows."),
    cfg.StrOpt("public_endpoint",
               help="Public URL of the API, used in version discovery instead of the request's "
                    "host URL (set it behind a load balancer or TLS terminator)."),
    cfg.ListOpt("enabled_import_methods", default=[],
                help="Interoperable image import methods offered in /v2/info/import. None are "
                     "implemented yet, so the list is empty."),
    cfg.IntOpt("graceful_shutdown_timeout", default=60, min=0,
               help="Seconds a stopping server waits for in-flight requests (uploads and downloads "
                    "included) before it exits anyway."),
    cfg.BoolOpt("http_keepalive", default=True,
                help="Keep client connections open between requests. Off, every answer says "
                     "'Connection: close'."),
    cfg.IntOpt("max_header_line", default=16384, min=1024,
               help="Largest request header field, in bytes (Keystone tokens with large service "
                    "catalogs need more than the usual 8 KiB)."),
    cfg.IntOpt("client_socket_timeout", default=900, min=0,
               help="Seconds a client may stay silent in the middle of a request body before the "
                    "request is dropped and its thread freed (0: wait forever). Uploads that keep "
                    "sending are never affected."),
    cfg.BoolOpt("log_requests", default=False,
                help="Log one line per request (address, method, path, status, length, time and "
                     "request ID) at INFO, under the logger spyglass.requests. Off by default: "
                     "through oslo.log a line costs about as much as a seventh of a small GET "
                     "(docs/BENCHMARKS.md), and a load balancer in front usually logs requests."),
    cfg.IntOpt("drain_delay", default=0, min=0,
               help="Seconds a stopping server keeps accepting requests while /healthcheck answers "
                    "503, so a load balancer takes it out of rotation before it stops listening."),
]

database_opts = [
    cfg.StrOpt("connection", secret=True,
               help="SQLAlchemy URL of the database. Default: SQLite in data_dir."),
    cfg.IntOpt("busy_timeout", default=30,
               help="SQLite only: seconds a writer waits for the database lock before failing."),
]

store_opts = [
    cfg.ListOpt("stores", default=["file"], help="Store types enabled."),
    cfg.StrOpt("default_store", default="file", help="Store new image data goes to."),
    cfg.StrOpt("filesystem_store_datadir",
               help="Directory of the filesystem store. Default: images/ below data_dir."),
    cfg.IntOpt("filesystem_store_chunk_size", default=1024 * 1024, min=4096,
               help="Bytes read or written per call by the filesystem store."),
    cfg.IntOpt("filesystem_store_file_perm", default=0,
               help="Permissions of stored image files, as octal digits (644, 640): for other "
                    "services (Nova) that read images straight from the store's directory, whose "
                    "group or other bits then also open the directory. 0 or less: left as "
                    "created (0640 less the umask). Must keep owner read."),
    cfg.BoolOpt("filesystem_store_direct_io", default=True,
                help="Write uploads to the filesystem store with O_DIRECT, past the page cache, "
                     "where the filesystem allows it (it falls back by itself where not, as on "
                     "tmpfs). Turn it off where each direct write is a synchronous round trip, "
                     "as on NFS."),
]

noauth_opts = [
    cfg.StrOpt("project_id", default="admin",
               help="Project of requests that carry no X-Project-Id header (no Keystone)."),
    cfg.StrOpt("user_id", default="admin",
               help="User of requests that carry no X-User-Id header (no Keystone)."),
    cfg.ListOpt("roles", default=["admin", "member", "reader"],
                help="Roles of requests that carry no X-Roles header (no Keystone)."),
]


def register(conf: cfg.ConfigOpts) -> None:
    """Register every option Spyglass reads; safe to call more than once."""
    from spyglass import logs
    from spyglass.images import inspection

    logs.register(conf)
    conf.register_opts(core_opts)
    conf.register_opts(database_opts, group="database")
    conf.register_opts(store_opts, group="glance_store")
    conf.register_opts(noauth_opts, group="noauth")
    conf.register_opts(inspection.OPTS, group="image_format")


def load(argv: list[str] | None = None, config_files: list[str] | None = None,
         config_dirs: list[str] | None = None) -> cfg.ConfigOpts:
    """config_dirs: directories whose *.conf files are read after config_files, in name order
    (oslo.config's --config-dir, as in /etc/glance/glance-api.conf.d)."""
    conf = cfg.ConfigOpts()
    register(conf)
    conf(args=argv or [], project="spyglass", default_config_files=config_files or [],
         default_config_dirs=config_dirs or [])
    return conf


def storage_quota(conf: cfg.ConfigOpts) -> int:
    """user_storage_quota in bytes (0: unlimited)."""
    match = STORAGE_QUOTA.fullmatch(conf.user_storage_quota)
    assert match is not None  # the option's regex
    number, _, prefix = match.groups()
    return int(number) * 1024 ** " KMGT".index(prefix or " ")


def check_values(conf: cfg.ConfigOpts) -> None:
    """Read every registered option once, so that a value that does not parse fails the start
    with oslo.config's message (ConfigFileValueError) instead of failing a worker, or a request,
    whenever the option is first used."""
    for name in conf:
        value = getattr(conf, name)
        if isinstance(value, cfg.ConfigOpts.GroupAttr):
            for option in value:
                getattr(value, option)


def files_read(config_files: list[str], config_dirs: list[str]) -> list[str]:
    """The files load() reads, in its order."""
    in_dirs = [str(path) for d in config_dirs for path in sorted(Path(d).glob("*.conf"))]
    return [*config_files, *in_dirs]


def data_dir(conf: cfg.ConfigOpts) -> Path:
    return Path(os.path.abspath(conf.data_dir))


def database_url(conf: cfg.ConfigOpts) -> str:
    return conf.database.connection or f"sqlite:///{data_dir(conf) / 'spyglass.sqlite'}"


def filesystem_store_dir(conf: cfg.ConfigOpts) -> Path:
    configured = conf.glance_store.filesystem_store_datadir
    return Path(configured) if configured else data_dir(conf) / "images"
