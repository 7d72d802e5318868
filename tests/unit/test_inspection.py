from __future__ import annotations

from collections.abc import Iterator

import pytest
from oslo_config import cfg

from spyglass.images import inspection
from spyglass.images.inspection import ContentInspector, ImageFormatRejected

import sample_images as s

GiB = 1024 * s.MiB
ALLOWED_VMDK = ["streamOptimized", "monolithicSparse"]


def pieces(data: bytes, step: int) -> Iterator[bytes]:
    for at in range(0, len(data), step):
        yield data[at : at + step]


def inspect(
    data: bytes,
    disk_format: str,
    *,
    enforce: bool = True,
    step: int | None = None,
    vmdk_allowed_types: list[str] = ALLOWED_VMDK,
    **kwargs,
) -> ContentInspector:
    """Run an upload of data through a ContentInspector; raises ImageFormatRejected."""
    ci = ContentInspector(
        disk_format, require_format_match=enforce, vmdk_allowed_types=vmdk_allowed_types,
        **kwargs,
    )
    for chunk in pieces(data, step or max(len(data), 1)):
        ci.feed(chunk)
    ci.finish()
    return ci


def rejected(data: bytes, disk_format: str, **kwargs) -> str:
    with pytest.raises(ImageFormatRejected) as exc:
        inspect(data, disk_format, **kwargs)
    return str(exc.value)


# --- each format, declared as what it is ------------------------------------------------------

MATCHING = [
    ("qcow2", lambda: s.qcow2(), 64 * s.MiB),
    ("qcow2", lambda: s.qcow2(version=2), 64 * s.MiB),
    ("qcow2", lambda: s.qcow2(10 * GiB), 10 * GiB),
    ("vmdk", lambda: s.vmdk_sparse(), 64 * s.MiB),
    ("vmdk", lambda: s.vmdk_stream_optimized(2 * GiB), 2 * GiB),
    ("vhd", lambda: s.vhd_dynamic(), 64 * s.MiB),
    ("vhdx", lambda: s.vhdx(3 * GiB), 3 * GiB),
    ("vdi", lambda: s.vdi(), 64 * s.MiB),
    ("iso", lambda: s.iso9660(blocks=40), 40 * 2048),
    ("iso", lambda: s.hybrid_iso(blocks=40), 40 * 2048),
]


@pytest.mark.parametrize(("disk_format", "build", "virtual_size"), MATCHING)
def test_declared_format_accepted_with_virtual_size(disk_format, build, virtual_size):
    ci = inspect(build(), disk_format)
    assert ci.detected_format == disk_format
    assert ci.virtual_size == virtual_size


@pytest.mark.parametrize(("disk_format", "build", "virtual_size"), MATCHING)
def test_result_does_not_depend_on_chunking(disk_format, build, virtual_size):
    data = build()
    for step in (1, 333, 4096, 65535, s.MiB + 1):
        if step == 1 and len(data) > 512 * s.KiB:
            continue  # byte at a time only for the small samples
        ci = inspect(data, disk_format, step=step)
        assert (ci.detected_format, ci.virtual_size) == (disk_format, virtual_size), step


@pytest.mark.parametrize("metadata_at", [1 * s.MiB, 2 * s.MiB])
def test_vhdx_metadata_right_after_header_section(metadata_at):
    # The inspectors see the first MiB in one piece; VHDX metadata can start right after it.
    data = s.vhdx(5 * GiB, metadata_at=metadata_at)
    for step in (None, 4096, 65536 * 3 + 5, s.MiB - 1, s.MiB + 1, 3 * s.MiB):
        ci = inspect(data, "vhdx", step=step)
        assert ci.virtual_size == 5 * GiB, step


def test_vhdx_without_virtual_size_accepted_unsized():
    # As in Glance: oslo finds nothing unsafe, only no size (qemu would refuse to open it).
    ci = inspect(s.vhdx(size_item=False), "vhdx")
    assert (ci.detected_format, ci.virtual_size) == ("vhdx", None)


def test_incomplete_inspector_not_fed_past_limit(monkeypatch):
    # A structure not found within INSPECT_LIMIT is not searched for to the end of the stream:
    # the inspector stays incomplete and the upload is refused (fail closed).
    monkeypatch.setattr(inspection, "INSPECT_LIMIT", 2 * s.MiB)  # VHDX metadata is at 3 MiB
    seen: list[int] = []
    eat_chunk = inspection.fi.VHDXInspector.eat_chunk

    def counting(self, chunk):
        seen.append(len(chunk))
        eat_chunk(self, chunk)

    monkeypatch.setattr(inspection.fi.VHDXInspector, "eat_chunk", counting)
    data = s.vhdx(padding=20 * s.MiB)
    assert "Incomplete" in rejected(data, "vhdx", step=s.MiB)
    assert sum(seen) == 2 * s.MiB


def test_iso_signature_position():
    data = s.iso9660()
    assert data[0x8001:0x8006] == b"CD001"
    assert inspect(data, "iso").detected_format == "iso"


def test_raw_declared_raw():
    data = s.raw(100_000)
    ci = inspect(data, "raw")
    assert (ci.detected_format, ci.virtual_size) == ("raw", 100_000)


def test_fat_filesystem_is_raw_not_mbr():
    ci = inspect(s.fat_boot_sector(), "raw")
    assert ci.detected_format == "raw"


# --- content that is not the declared format ----------------------------------------------------

def test_qcow2_declared_but_raw_data_rejected():
    message = rejected(s.raw(), "qcow2")
    assert "qcow2" in message and "raw" in message


@pytest.mark.parametrize(
    ("declared", "build"),
    [
        ("vhd", lambda: s.qcow2()),
        ("qcow2", lambda: s.vmdk_sparse()),
        ("vmdk", lambda: s.vdi()),
        ("vdi", lambda: s.vhdx()),
        ("vhdx", lambda: s.vhd_dynamic()),
        ("iso", lambda: s.gpt_disk()),
        ("qcow2", lambda: s.iso9660()),
    ],
)
def test_other_format_than_declared_rejected(declared, build):
    message = rejected(build(), declared)
    assert declared in message


def test_mismatch_accepted_when_enforcement_off():
    ci = inspect(s.raw(), "qcow2", enforce=False)
    assert ci.detected_format == "raw"
    assert ci.virtual_size is None


def test_raw_declared_but_qcow2_data_accepted_as_raw():
    # Glance 33 compatibility: an image declared raw is used as raw, so a qcow2 header inside is
    # harmless; its size is the byte count, not the qcow2 virtual size.
    data = s.qcow2()
    ci = inspect(data, "raw")
    assert ci.detected_format == "qcow2"
    assert ci.virtual_size == len(data)


@pytest.mark.parametrize("enforce", [True, False])
def test_raw_declared_but_unsafe_qcow2_rejected(enforce):
    message = rejected(s.qcow2(backing_file="/etc/passwd"), "raw", enforce=enforce)
    assert "backing_file" in message


def test_raw_declared_but_qed_rejected():
    assert "banned" in rejected(s.qed(), "raw")


def test_several_formats_in_one_file_rejected():
    # A qcow2 header in an ISO's system area: both inspectors match.
    data = s.iso9660(system_area=s.qcow2()[: 32 * s.KiB])
    for declared in ("iso", "qcow2", "raw"):
        message = rejected(data, declared)
        assert "iso" in message and "qcow2" in message


def test_several_formats_unsafe_one_rejected_even_when_enforcement_off():
    data = s.iso9660(system_area=s.qcow2(backing_file="/etc/passwd")[: 32 * s.KiB])
    assert "backing_file" in rejected(data, "iso", enforce=False)
    clean = s.iso9660(system_area=s.qcow2()[: 32 * s.KiB])
    assert inspect(clean, "iso", enforce=False).virtual_size is None


# --- qcow2 safety checks apply whatever require_image_format_match says -------------------------

@pytest.mark.parametrize("enforce", [True, False])
@pytest.mark.parametrize("version", [2, 3])
def test_qcow2_backing_file_rejected(enforce, version):
    data = s.qcow2(version=version, backing_file="/etc/passwd")
    assert "backing_file" in rejected(data, "qcow2", enforce=enforce)


@pytest.mark.parametrize("enforce", [True, False])
def test_qcow2_external_data_file_rejected(enforce):
    assert "data_file" in rejected(s.qcow2(data_file="/dev/sda"), "qcow2", enforce=enforce)


def test_qcow2_unknown_incompatible_feature_rejected():
    assert "unknown_features" in rejected(s.qcow2(incompatible=1 << 5), "qcow2")


def test_unsafe_qcow2_declared_as_other_format_rejected_even_when_enforcement_off():
    # Glance skips the safety checks on a mismatch it lets through; Spyglass does not.
    assert "backing_file" in rejected(s.qcow2(backing_file="/etc/passwd"), "vhd", enforce=False)


def test_unsafe_qcow2_rejected_byte_by_byte():
    assert "backing_file" in rejected(s.qcow2(backing_file="/etc/passwd"), "qcow2", step=1)


# --- VMDK ------------------------------------------------------------------------------------

def test_vmdk_extent_with_path_rejected():
    data = s.vmdk_sparse(extent_file="/etc/shadow")
    assert "descriptor" in rejected(data, "vmdk")
    assert "descriptor" in rejected(data, "vmdk", enforce=False)


@pytest.mark.parametrize("declared", ["vmdk", "raw"])
@pytest.mark.parametrize("step", [None, 1])
def test_vmdk_flat_descriptor_pointing_at_host_file_rejected(declared, step):
    data = s.vmdk_text("monolithicFlat", ['RW 2048 FLAT "/etc/passwd" 0'])
    message = rejected(data, declared, step=step)
    assert "monolithicflat" in message


def test_vmdk_text_descriptor_of_sparse_type_rejected():
    # Only the descriptor, naming a sparse extent in another file: nothing oslo can size.
    data = s.vmdk_text("monolithicSparse", ['RW 2048 SPARSE "other.vmdk"'])
    assert "inspection failed" in rejected(data, "vmdk")


def test_vmdk_create_type_outside_allowed_list_rejected():
    data = s.vmdk_sparse()
    message = rejected(data, "vmdk", vmdk_allowed_types=["streamOptimized"])
    assert "monolithicsparse" in message
    assert inspect(data, "vmdk", vmdk_allowed_types=["MONOLITHICSPARSE"]).detected_format == "vmdk"


def test_vmdk_refused_when_allowed_list_empty():
    message = rejected(s.vmdk_stream_optimized(), "vmdk", vmdk_allowed_types=[])
    assert "vmdk_allowed_types" in message


def test_vmdk_stream_optimized_bad_footer_rejected():
    assert "footer" in rejected(s.vmdk_stream_optimized(footer_marker=1), "vmdk", step=4096)


def test_vmdk_footer_checked_beyond_inspection_limit(monkeypatch):
    # The footer sits at the very end, far past where the other inspectors stop being fed.
    monkeypatch.setattr(inspection, "INSPECT_LIMIT", 2 * s.MiB)
    good = s.vmdk_stream_optimized(padding=5 * s.MiB)
    bad = s.vmdk_stream_optimized(padding=5 * s.MiB, footer_marker=1)
    for step in (65536, s.MiB + 7):
        assert inspect(good, "vmdk", step=step).virtual_size == 64 * s.MiB
        assert "footer" in rejected(bad, "vmdk", step=step)


# --- formats nothing can recognise ------------------------------------------------------------

@pytest.mark.parametrize("declared", ["ami", "ari", "aki", "ploop"])
def test_uninspectable_formats_accept_unrecognised_data(declared):
    ci = inspect(s.raw(), declared)
    assert ci.detected_format == "raw"
    assert ci.virtual_size is None


@pytest.mark.parametrize("declared", ["ami", "aki", "ploop"])
def test_uninspectable_formats_reject_recognised_data(declared):
    assert "qcow2" in rejected(s.qcow2(), declared)
    assert "gpt" in rejected(s.gpt_disk(), declared)


# --- partitioned disks ---------------------------------------------------------------------------

@pytest.mark.parametrize("build", [s.gpt_disk, s.mbr_disk, lambda: s.mbr_disk(partitions=3)])
def test_partitioned_disk_declared_raw_accepted(build):
    data = build()
    ci = inspect(data, "raw")
    assert ci.detected_format == "gpt"
    assert ci.virtual_size == len(data)


def test_mbr_without_partitions_rejected():
    assert "mbr" in rejected(s.mbr_without_partitions(), "raw")
    assert "mbr" in rejected(s.mbr_without_partitions(), "raw", enforce=False)


def test_gpt_safety_checks_nonfatal():
    ci = inspect(s.mbr_without_partitions(), "raw", gpt_safety_checks_nonfatal=["mbr"])
    assert ci.detected_format == "gpt"


def test_kernel_with_invalid_mbr():
    data = s.mbr_without_partitions()
    # Declared aki, MBR-looking content is a format mismatch...
    assert "gpt" in rejected(data, "aki")
    # ... but a kernel may carry an invalid MBR on purpose, so that check is not what refuses it.
    assert inspect(data, "aki", enforce=False).virtual_size is None
    assert "mbr" in rejected(data, "ami", enforce=False)


def test_gpt_declared_gpt_sized_by_bytes():
    data = s.gpt_disk(3 * s.MiB)
    ci = inspect(data, "gpt", step=65536)
    assert (ci.detected_format, ci.virtual_size) == ("gpt", len(data))


# --- short, truncated and empty uploads ---------------------------------------------------------

def test_empty_upload():
    assert inspect(b"", "raw").virtual_size is None
    assert inspect(b"", "ami").detected_format == "raw"
    rejected(b"", "qcow2")


@pytest.mark.parametrize("size", [1, 3, 4, 100, 511])
def test_truncated_qcow2_header(size):
    data = s.qcow2()[:size]
    rejected(data, "qcow2", step=1)
    assert inspect(data, "raw").virtual_size == size


def test_truncated_iso_is_not_iso():
    data = s.iso9660()[: 33 * s.KiB]
    rejected(data, "iso")


def test_tiny_uploads_feed_byte_by_byte():
    assert inspect(b"hello", "raw", step=1).virtual_size == 5
    assert inspect(s.vdi(), "vdi", step=1).virtual_size == 64 * s.MiB


# --- the rest of the contract -------------------------------------------------------------------

def test_non_bare_container_not_inspected():
    ci = inspect(s.qcow2(backing_file="/etc/passwd"), "qcow2", container_format="ova")
    assert ci.detected_format is None
    assert ci.virtual_size is None


def test_feed_after_finish_is_an_error():
    ci = inspect(s.raw(), "raw")
    ci.finish()  # a second finish() changes nothing
    with pytest.raises(RuntimeError):
        ci.feed(b"x")


def test_options_have_glances_names_and_defaults(tmp_path):
    conf = cfg.ConfigOpts()
    conf.register_opts(inspection.OPTS, group="image_format")
    conf(args=[], default_config_files=[])
    group = conf.image_format
    assert group.require_image_format_match is True
    assert group.vmdk_allowed_types == ["streamOptimized", "monolithicSparse"]
    assert group.gpt_safety_checks_nonfatal == []
    assert group.disk_formats == [
        "ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop"]
    assert "bare" in group.container_formats

    conf_file = tmp_path / "glance-api.conf"
    conf_file.write_text(
        "[DEFAULT]\ndisk_formats = raw,qcow2\n"
        "[image_format]\nrequire_image_format_match = false\nvmdk_allowed_types =\n"
    )
    conf = cfg.ConfigOpts()
    conf.register_opts(inspection.OPTS, group="image_format")
    conf(args=[], default_config_files=[str(conf_file)])
    assert conf.image_format.disk_formats == ["raw", "qcow2"]
    assert conf.image_format.require_image_format_match is False
    assert conf.image_format.vmdk_allowed_types == []
