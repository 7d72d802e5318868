"""Config files at start and on SIGHUP: one written for Glance has what Spyglass does not read
named, not dropped without a word; one that cannot work stops the start, or leaves the running
configuration in place on reload."""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from spyglass_testing import SPYGLASS, write_config


def test_settings_spyglass_does_not_read_are_named_at_start(new_server, tmp_path):
    server = new_server({
        "debug": "false", "workers": 2, "image_location_quota": "10",                # DEFAULT
        "glance_store.filesystem_store_file_perm": 0, "glance_store.swift_store_auth_address": "http://swift",
        "keystone_authtoken.auth_url": "http://keystone", "keystone_authtoken.password": "secret",
        "taskflow_executor.conversion_format": "raw",
        "oslo_policy.policy_file": tmp_path / "policy.yaml", "healthcheck.detailed": "false",
        "cors.allow_credentials": "true", "image_format.require_image_format_match": "true",
    })
    config_file = server.config_file
    warnings = [line for line in server.log().splitlines() if " WARNING spyglass.serve " in line]
    said = [line.split("[-] ", 1)[1] for line in warnings]
    assert said == [
        f"{config_file}: [DEFAULT] image_location_quota is ignored: not an option Spyglass reads",
        f"{config_file}: [glance_store] swift_store_auth_address is ignored: not an option Spyglass reads",
        (f"{config_file}: [keystone_authtoken] is ignored: Keystone authentication is not in this release: "
         "identity comes from the X-Project-Id/X-User-Id/X-Roles headers"),
        f"{config_file}: [taskflow_executor] is ignored: Spyglass reads nothing in it",
    ], server.log()
    assert "secret" not in server.log()  # values are never repeated
    assert server.session().get("/v2/images").status_code == 200


def test_config_dir_snippets_are_read_in_name_order_and_checked(new_server, tmp_path):
    # As /etc/glance/glance-api.conf.d: *.conf files after the config file, later ones winning.
    snippets = tmp_path / "spyglass.conf.d"
    snippets.mkdir()
    store = tmp_path / "elsewhere"
    (snippets / "10-store.conf").write_text(f"[glance_store]\nfilesystem_store_datadir = {tmp_path / 'first'}\n")
    (snippets / "20-store.conf").write_text(f"[glance_store]\nfilesystem_store_datadir = {store}\n")
    (snippets / "30-extra.conf").write_text("[DEFAULT]\nimage_cache_dir = /var/lib/glance/cache\n")
    (snippets / "README").write_text("[DEFAULT]\nnot_read = 1\n")  # not *.conf
    server = new_server({"image_size_cap": 1024 * 1024}, config_dir=snippets)
    session = server.session()
    image = session.post("/v2/images", json={"name": "d", "disk_format": "raw", "container_format": "bare"}).json()
    resp = session.put(f"/v2/images/{image['id']}/file", data=b"x" * 1000,
                       headers={"Content-Type": "application/octet-stream"})
    assert resp.status_code == 204
    assert (store / image["id"]).read_bytes() == b"x" * 1000
    assert not (tmp_path / "first").exists() or not any((tmp_path / "first").iterdir())
    # The config file's own settings still apply alongside.
    big = session.post("/v2/images", json={"name": "big", "disk_format": "raw", "container_format": "bare"}).json()
    assert session.put(f"/v2/images/{big['id']}/file", data=b"x" * (1024 * 1024 + 1),
                       headers={"Content-Type": "application/octet-stream"}).status_code == 413
    log = server.log()
    assert f"{snippets / '30-extra.conf'}: [DEFAULT] image_cache_dir is ignored" in log, log
    assert "not_read" not in log


@pytest.mark.parametrize(("text", "message"), [
    ("[DEFAULT]\nworkers = many\n", "Value for option workers"),
    ("[DEFAULT]\nworkers = 0\n", "Value for option workers"),
    ("[image_format]\nrequire_image_format_match = perhaps\n", "Value for option require_image_format_match"),
    ("[DEFAULT\nworkers = 2\n", "Failed to parse"),
    (None, "Failed to find some config files"),
])
def test_a_config_that_does_not_parse_stops_the_start_with_one_line(tmp_path, text, message):
    config_file = tmp_path / "spyglass.conf"
    if text is not None:
        config_file.write_text(text)
    data_dir = tmp_path / "data"
    subprocess.run([*SPYGLASS, "db", "sync", "--data-dir", str(data_dir)], check=True, capture_output=True)
    done = subprocess.run([*SPYGLASS, "serve", "--config-file", str(config_file), "--data-dir", str(data_dir),
                           "--bind", "127.0.0.1:1"], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.startswith(f"spyglass: {message}"), done.stderr
    assert "Traceback" not in done.stdout + done.stderr


def _workers(server) -> set[int]:
    children = Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children")
    return {int(p) for p in children.read_text().split()}


def _hup_and_wait_for_new_workers(server) -> None:
    before = _workers(server)
    os.kill(server.process.pid, signal.SIGHUP)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        now = _workers(server)
        if now and not now & before:
            return
        time.sleep(0.1)
    raise AssertionError(f"workers not replaced after SIGHUP:\n{server.log()}")


def _tag(session, image_id: str, tag: str) -> int:
    return session.put(f"/v2/images/{image_id}/tags/{tag}").status_code


def test_sighup_reloads_the_config_files_without_a_stop(new_server):
    server = new_server({"image_tag_quota": 1})
    session = server.session()
    image = session.post("/v2/images", json={"name": "t"}).json()
    assert _tag(session, image["id"], "one") == 204
    assert _tag(session, image["id"], "two") == 413

    write_config(server.config_file, {"image_tag_quota": 3})
    _hup_and_wait_for_new_workers(server)
    assert _tag(session, image["id"], "two") == 204
    assert "Configuration reloaded from its files" in server.log()

    # A config that cannot work is refused on reload: the running one stays, and so does the server.
    write_config(server.config_file, {"image_tag_quota": "plenty"})
    _hup_and_wait_for_new_workers(server)
    assert _tag(session, image["id"], "three") == 204
    assert _tag(session, image["id"], "four") == 413  # still 3
    assert "Configuration not reloaded, the running one stays: Value for option image_tag_quota" in server.log()
    assert server.process.poll() is None
