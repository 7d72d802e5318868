"""Inspection of uploaded image data before the image becomes active.

A disk image is eventually opened by a hypervisor or by qemu-img on a compute host, so a crafted
one is an attack on that host: a qcow2 whose backing file or external data file names a host path,
a VMDK whose extents point at host files, or a file that claims to be raw but is really a format
qemu would interpret. The parsing is oslo.utils' format_inspector (the same code Glance and Nova
use); this module only decides, as Glance 33 does on upload, what a detection result means for an
image of a given disk_format, and keeps the cost per uploaded chunk close to zero.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from oslo_config import cfg
from oslo_utils.imageutils import format_inspector as fi

LOG = logging.getLogger(__name__)

# Group [image_format], with Glance's option names and defaults so a glance-api.conf carries over.
OPTS = [
    cfg.ListOpt(
        "container_formats",
        default=["ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed"],
        deprecated_opts=[cfg.DeprecatedOpt("container_formats", group="DEFAULT")],
        help="Values accepted for an image's container_format. Only 'bare' images have their "
        "content inspected on upload; the others wrap data the inspectors cannot see into.",
    ),
    cfg.ListOpt(
        "disk_formats",
        default=["ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso",
                 "ploop"],
        deprecated_opts=[cfg.DeprecatedOpt("disk_formats", group="DEFAULT")],
        help="Values accepted for an image's disk_format.",
    ),
    cfg.ListOpt(
        "vmdk_allowed_types",
        default=["streamOptimized", "monolithicSparse"],
        help="VMDK createType values an uploaded VMDK may have. Keep this to the single-file "
        "sparse variants: the others reference extents by file name, which a host would open. "
        "An empty list refuses every VMDK.",
    ),
    cfg.BoolOpt(
        "require_image_format_match",
        default=True,
        help="Refuse an upload whose content is not in the image's disk_format. Turning this off "
        "only works around a wrong detection; content that fails a safety check (a qcow2 backing "
        "or data file, an unsafe VMDK descriptor) is refused either way.",
    ),
    cfg.ListOpt(
        "gpt_safety_checks_nonfatal",
        default=[],
        help="Names of safety checks ('mbr', ...) whose failure on content detected as GPT/MBR "
        "only logs a warning instead of refusing the upload. MBR is loosely defined, so some "
        "bootable disks fail the strict checks; relaxing them weakens the format validation.",
    ),
]

# oslo's inspectors only need the start of a stream: qcow2, vhd, vdi and gpt look at 512 bytes,
# iso at 34 KiB, vhdx at its region table (192-256 KiB) and wherever that points (1 MiB or more;
# qemu writes the metadata at 3 MiB). An inspector still undecided after this many bytes is given
# up on, so data nobody recognises costs nothing past it.
INSPECT_LIMIT = 32 * 1024 * 1024

# The first HEAD_BYTES reach the inspectors as one chunk, whatever the client's chunking: oslo's
# VMDK inspector parses a text-only descriptor from the first chunk it sees, so this makes the
# result independent of how the body arrived and covers all of a descriptor qemu would read
# (< 1 MiB). It must not be larger: oslo's VHDX inspector looks up the virtual size item only in
# a chunk after the one that completed the metadata table, so both must not share a chunk; VHDX
# places its metadata region at 1 MiB or later.
HEAD_BYTES = 1024 * 1024

# Formats whose oslo virtual_size is the number of bytes seen: an inspector of these that matches
# the declared disk_format keeps being fed to the end.
_LENGTH_SIZED = frozenset({"gpt", "luks"})

# disk_formats whose content may legitimately look like a partitioned disk's MBR; a kernel or
# ramdisk can carry an intentionally invalid one, so the 'mbr' check is never fatal for them.
_MBR_TOLERANT = frozenset({"aki", "ari"})


class ImageFormatRejected(Exception):
    """The upload is refused; str() is the reason, safe to show to the user."""


class ContentInspector:
    """Watches an upload stream and judges it once complete (feed() each chunk, then finish())."""

    detected_format: str | None
    virtual_size: int | None

    def __init__(
        self,
        disk_format: str,
        *,
        require_format_match: bool,
        vmdk_allowed_types: Iterable[str],
        gpt_safety_checks_nonfatal: Iterable[str] = (),
        container_format: str | None = "bare",
    ) -> None:
        self.disk_format = disk_format
        self.require_format_match = require_format_match
        self.vmdk_allowed_types = frozenset(t.lower() for t in vmdk_allowed_types)
        self.gpt_nonfatal = frozenset(gpt_safety_checks_nonfatal)
        self.detected_format = None
        self.virtual_size = None
        # Glance inspects only bare images: other containers (ova, docker, ...) are archives whose
        # first bytes say nothing about the disk inside.
        self.enabled = container_format == "bare"
        self._size = 0  # bytes received
        self._fed = 0  # bytes given to the inspectors
        self._head: bytearray | None = bytearray()
        self._finished = False
        self._inspectors: list[fi.FileInspector] = []
        if self.enabled:
            self._inspectors = [cls() for name, cls in fi.ALL_FORMATS.items() if name != "raw"]
        # Those still being fed; shrinks as each one decides, usually to nothing within 256 KiB.
        self._active = list(self._inspectors)

    @property
    def wants_data(self) -> bool:
        """False once no inspector needs more bytes: feed() then only counts them."""
        return bool(self._active) and not self._finished

    def feed(self, chunk: bytes | memoryview) -> None:
        if self._finished:
            raise RuntimeError("feed() after finish()")
        self._size += len(chunk)
        if not self._active:
            return  # the usual case past the first few hundred KiB: nothing left to learn
        if self._head is not None:
            need = HEAD_BYTES - len(self._head)
            self._head += chunk[:need]
            if len(self._head) < HEAD_BYTES:
                return
            self._eat(bytes(self._head))
            self._head = None
            chunk = chunk[need:]
        self._eat(chunk)

    def _eat(self, chunk: bytes) -> None:
        if not chunk:
            return
        self._fed += len(chunk)
        still: list[fi.FileInspector] = []
        for insp in self._active:
            try:
                insp.eat_chunk(chunk)
                if self._wants_more(insp):
                    still.append(insp)
            except Exception as exc:  # any parse error just means "not this format"
                LOG.debug("%s inspector gave up: %s", insp.NAME, exc)
        self._active = still

    def _wants_more(self, insp: fi.FileInspector) -> bool:
        if _matches(insp):
            if not insp.complete:
                # Past the limit, only a wait for the end of the stream (a streamOptimized VMDK's
                # footer) is worth feeding to the end; a structure that is still missing then
                # leaves the inspector incomplete, which refuses the upload.
                return self._fed < INSPECT_LIMIT or _waits_for_end_only(insp)
            return insp.NAME == self.disk_format and insp.NAME in _LENGTH_SIZED
        return not insp.complete and self._fed < INSPECT_LIMIT

    def finish(self) -> None:
        """Judge the whole upload; raises ImageFormatRejected if it must not become active."""
        if self._finished:
            return
        self._finished = True
        if not self.enabled:
            return
        if self._head:
            self._eat(bytes(self._head))
        self._head = None
        self._active = []
        for insp in self._inspectors:
            insp.finish()
        # Inspectors that gave up on a parse error still count if their signature matched (as in
        # oslo's InspectWrapper): a broken VMDK or qcow2 must not pass for raw.
        self._judge([i for i in self._inspectors if _matches(i)])

    def _judge(self, matches: list[fi.FileInspector]) -> None:
        names = sorted(str(m) for m in matches)
        if names == ["gpt", "iso"]:
            # A hybrid ISO carries an MBR/GPT boot record in its system area, so it boots from a
            # disk as well as from a CD; it is an ISO.
            matches = [m for m in matches if str(m) == "iso"]
        elif len(matches) > 1:
            # Two valid headers in one file is how a format gets hidden behind another.
            self._mismatch(f"Image data matches several formats: {', '.join(names)}", matches)
            return

        chosen = matches[0] if matches else None
        found = str(chosen) if chosen else "raw"
        self.detected_format = found
        if found == self.disk_format:
            try:
                size = chosen.virtual_size if chosen else self._size
            except Exception as exc:  # a header oslo recognised but cannot size
                LOG.warning("Cannot compute virtual size of %s data: %s", found, exc)
                self._mismatch("Image format inspection failed", matches)
                return
        elif found == "raw" and self.disk_format not in fi.ALL_FORMATS:
            # ami, ari, aki, ploop: nothing can recognise them, so content that is nothing in
            # particular is what they look like; the size stays unknown.
            size = 0
        elif self.disk_format == "raw":
            # Declared raw, it will be used as raw, so a recognised header inside does no harm
            # (safety checks below still apply). The size is the byte count, as for any raw image.
            LOG.warning("Image declared raw contains %s data", found)
            size = self._size
        else:
            self._mismatch(
                f"Image data does not match disk_format {self.disk_format!r} (found {found!r})",
                matches,
            )
            return
        if chosen is None or self._safety(chosen, strict=self.require_format_match):
            self.virtual_size = size or None

    def _mismatch(self, message: str, matches: list[fi.FileInspector]) -> None:
        if self.require_format_match:
            raise ImageFormatRejected(message)
        LOG.warning("%s; accepted since require_image_format_match is off", message)
        # Stricter than Glance, which skips the safety checks here: a format we recognised but
        # which is not the declared one is still refused if it is unsafe.
        for insp in matches:
            self._safety(insp, strict=False)

    def _safety(self, insp: fi.FileInspector, *, strict: bool) -> bool:
        """Run insp's safety checks: raises on a failed check; False if they could not run."""
        if insp.NAME == "vmdk":
            self._check_vmdk_type(insp)
        try:
            insp.safety_check()
        except fi.SafetyCheckFailed as exc:
            fatal = set(exc.failures) - self.gpt_nonfatal
            if self.disk_format in _MBR_TOLERANT:
                fatal.discard("mbr")
            if insp.NAME == "gpt" and not fatal:
                LOG.warning("Ignoring failed %s safety checks: %s", insp.NAME, exc)
                return True
            reasons = ", ".join(f"{n} ({r})" for n, r in sorted(exc.failures.items()))
            raise ImageFormatRejected(f"Image failed safety checks: {reasons}") from None
        except Exception as exc:  # ImageFormatError, or a parser failing on crafted data
            # The header was recognised but its structures could not be read completely (e.g.
            # truncated), so safety cannot be established: treated as a format mismatch.
            if strict:
                raise ImageFormatRejected(f"Image {insp.NAME} data is invalid: {exc}") from None
            LOG.warning("Could not safety-check %s data: %s", insp.NAME, exc)
            return False
        return True

    def _check_vmdk_type(self, insp: fi.FileInspector) -> None:
        # oslo keeps the createType it parsed (lower-cased) in vmdktype; it refuses all but the
        # two sparse types itself, and the operator may narrow that further.
        vmdk_type = getattr(insp, "vmdktype", None)
        if vmdk_type in (None, "formatnotfound"):
            return  # no descriptor was parsed: oslo's own checks refuse it
        if not self.vmdk_allowed_types:
            raise ImageFormatRejected("VMDK images are not allowed (vmdk_allowed_types is empty)")
        if vmdk_type not in self.vmdk_allowed_types:
            raise ImageFormatRejected(f"VMDK createType {vmdk_type!r} is not allowed")


def _matches(insp: fi.FileInspector) -> bool:
    # format_match reads parsed header fields; on data that broke the parser halfway some
    # inspectors raise instead of answering, which means the data is not theirs.
    try:
        return bool(insp.format_match)
    except Exception as exc:
        LOG.debug("%s inspector cannot tell: %s", insp.NAME, exc)
        return False


def _waits_for_end_only(insp: fi.FileInspector) -> bool:
    pending = (insp.region(name) for name in insp.context_info)
    return all(isinstance(r, fi.EndCaptureRegion) for r in pending if not r.complete)
