"""Small but well-formed disk images, built in memory from the formats' published layouts.

Each builder lays out the structures qemu-img itself reads (not only the few fields the
inspectors look at), so the samples are images qemu-img accepts, just tiny and empty.
"""

from __future__ import annotations

import math
import struct
import uuid
import zlib

KiB = 1024
MiB = 1024 * KiB
SECTOR = 512


def _pad(data: bytes, size: int) -> bytes:
    assert len(data) <= size, (len(data), size)
    return data + bytes(size - len(data))


def _align(n: int, to: int) -> int:
    return (n + to - 1) // to * to


def raw(size: int = 64 * KiB, fill: bytes = b"\x5a") -> bytes:
    return (fill * size)[:size]


# --- qcow2 (docs/interop/qcow2.txt in qemu) -------------------------------------------------

QCOW2_INCOMPAT_DATA_FILE = 1 << 2


def qcow2(
    virtual_size: int = 64 * MiB,
    *,
    version: int = 3,
    backing_file: str | None = None,
    data_file: str | None = None,
    incompatible: int = 0,
) -> bytes:
    """An empty qcow2 image: header, refcount table and block, and an all-zero L1 table."""
    cluster_bits = 16
    cluster = 1 << cluster_bits
    l2_reach = cluster * (cluster // 8)
    l1_size = max(1, math.ceil(virtual_size / l2_reach))
    refcount_table, refcount_block, l1_table = cluster, 2 * cluster, 3 * cluster
    header_length = 104 if version >= 3 else 72

    extensions = b""
    if data_file is not None:
        assert version >= 3, "external data files need qcow2 v3"
        incompatible |= QCOW2_INCOMPAT_DATA_FILE
        name = data_file.encode()
        extensions += struct.pack(">II", 0x44415441, len(name)) + _pad(name, _align(len(name), 8))
    if version >= 3 or extensions:
        extensions += struct.pack(">II", 0, 0)  # end of extensions
    backing_offset = backing_size = 0
    tail = b""
    if backing_file is not None:
        backing_offset = header_length + len(extensions)
        tail = backing_file.encode()
        backing_size = len(tail)

    header = struct.pack(
        ">4sIQIIQIIQQIIQ",
        b"QFI\xfb", version, backing_offset, backing_size, cluster_bits, virtual_size,
        0,  # no encryption
        l1_size, l1_table, refcount_table, 1,
        0, 0,  # no snapshots
    )
    if version >= 3:
        header += struct.pack(">QQQII", incompatible, 0, 0, 4, header_length)
    out = bytearray(4 * cluster)
    first = header + extensions + tail
    out[: len(first)] = first
    out[refcount_table : refcount_table + 8] = struct.pack(">Q", refcount_block)
    for n in range(4):  # clusters 0-3 are in use, refcount 1 (16-bit entries)
        out[refcount_block + 2 * n : refcount_block + 2 * n + 2] = struct.pack(">H", 1)
    return bytes(out)


# --- VMDK (VMware Virtual Disk Format 1.1) --------------------------------------------------

VMDK_GD_AT_END = 0xFFFFFFFFFFFFFFFF


def vmdk_descriptor(
    create_type: str,
    extents: list[str],
    *,
    cid: str = "5a5a5a5a",
) -> str:
    lines = [
        "# Disk DescriptorFile",
        "version=1",
        f"CID={cid}",
        "parentCID=ffffffff",
        f'createType="{create_type}"',
        "",
        "# Extent description",
        *extents,
        "",
        "# The Disk Data Base",
        "#DDB",
        "",
        'ddb.virtualHWVersion = "4"',
        'ddb.geometry.cylinders = "130"',
        'ddb.geometry.heads = "16"',
        'ddb.geometry.sectors = "63"',
        'ddb.adapterType = "ide"',
    ]
    return "\n".join(lines) + "\n"


def _vmdk_header(
    *, version: int, flags: int, capacity: int, desc_sectors: int, rgd: int, gd: int,
    overhead: int, compress: int = 0,
) -> bytes:
    header = struct.pack(
        "<4sIIQQQQIQQQB4sH",
        b"KDMV", version, flags, capacity, 128, 1, desc_sectors, 512, rgd, gd, overhead,
        0, b"\n \r\n", compress,
    )
    return _pad(header, SECTOR)


def vmdk_sparse(
    virtual_size: int = 64 * MiB,
    *,
    create_type: str = "monolithicSparse",
    extent_file: str = "disk.vmdk",
) -> bytes:
    """A hosted sparse extent with its descriptor embedded, as qemu-img writes one."""
    capacity = virtual_size // SECTOR
    desc_sectors = 20
    n_gt = math.ceil(capacity / (128 * 512))
    gd_sectors = math.ceil(n_gt * 4 / SECTOR)
    rgd = 1 + desc_sectors
    gd = rgd + gd_sectors + 4 * n_gt
    end = gd + gd_sectors + 4 * n_gt
    overhead = _align(end, 128)
    out = bytearray(overhead * SECTOR)
    out[:SECTOR] = _vmdk_header(
        version=1, flags=3, capacity=capacity, desc_sectors=desc_sectors, rgd=rgd, gd=gd,
        overhead=overhead,
    )
    desc = vmdk_descriptor(create_type, [f'RW {capacity} SPARSE "{extent_file}"']).encode()
    out[SECTOR : SECTOR + len(desc)] = desc
    # Grain directories point at (empty) grain tables that follow them.
    for directory in (rgd, gd):
        for n in range(n_gt):
            table = directory + gd_sectors + 4 * n
            pos = directory * SECTOR + 4 * n
            out[pos : pos + 4] = struct.pack("<I", table)
    return bytes(out)


def _vmdk_marker(value: int, kind: int) -> bytes:
    return struct.pack("<QII", value, 0, kind) + bytes(496)


def vmdk_stream_optimized(
    virtual_size: int = 64 * MiB, *, padding: int = 0, footer_marker: int = 3
) -> bytes:
    """A streamOptimized VMDK whose grain directory location is only in the footer (as VMware
    writes them), followed by the end-of-stream marker; padding adds unused sectors before it."""
    capacity = virtual_size // SECTOR
    desc_sectors = 20
    n_gt = math.ceil(capacity / (128 * 512))
    gd_sectors = math.ceil(n_gt * 4 / SECTOR)
    # Header and descriptor fill the first grain (the "overhead"); grains and markers follow.
    overhead = 128
    pad_sectors = overhead - 1 - desc_sectors + _align(padding, SECTOR) // SECTOR
    gd = 1 + desc_sectors + pad_sectors + 1

    def header(gd_offset: int) -> bytes:
        return _vmdk_header(
            version=3, flags=0x30001, capacity=capacity, desc_sectors=desc_sectors, rgd=0,
            gd=gd_offset, overhead=overhead, compress=1,
        )

    desc = vmdk_descriptor("streamOptimized", [f'RW {capacity} SPARSE "disk.vmdk"']).encode()
    return b"".join([
        header(VMDK_GD_AT_END),
        _pad(desc, desc_sectors * SECTOR),
        bytes(pad_sectors * SECTOR),
        _vmdk_marker(gd_sectors, 2),  # grain directory marker
        bytes(gd_sectors * SECTOR),   # no grain tables: the disk is empty
        _vmdk_marker(1, footer_marker),
        header(gd),
        _vmdk_marker(0, 0),  # end of stream
    ])


def vmdk_text(create_type: str, extents: list[str]) -> bytes:
    """A descriptor-only VMDK: a text file naming the extents that hold the data."""
    return vmdk_descriptor(create_type, extents).encode()


# --- VHD (Microsoft Virtual Hard Disk Image Format Specification) -------------------------------

def _vhd_checksum(data: bytes) -> int:
    return ~sum(data) & 0xFFFFFFFF


def _chs(size: int) -> tuple[int, int, int]:
    sectors = min(size // SECTOR, 65535 * 16 * 255)
    if sectors >= 65535 * 16 * 63:
        spt, heads = 255, 16
        cyl_heads = sectors // spt
    else:
        spt = 17
        cyl_heads = sectors // spt
        heads = max((cyl_heads + 1023) // 1024, 4)
        if cyl_heads >= heads * 1024 or heads > 16:
            spt, heads = 31, 16
            cyl_heads = sectors // spt
        if cyl_heads >= heads * 1024:
            spt, heads = 63, 16
            cyl_heads = sectors // spt
    return cyl_heads // heads, heads, spt


def vhd_dynamic(virtual_size: int = 64 * MiB) -> bytes:
    """A dynamic VHD: footer copy, dynamic header, empty block table, footer."""
    block = 2 * MiB
    entries = math.ceil(virtual_size / block)
    bat_offset = 3 * SECTOR
    cyl, heads, spt = _chs(virtual_size)

    def footer() -> bytes:
        fields = [
            b"conectix", 2, 0x00010000, SECTOR, 0, b"win ", 0x000A0000, b"Wi2k",
            virtual_size, virtual_size, cyl, heads, spt, 3, 0,
            uuid.UUID(int=0x5A).bytes, 0,
        ]
        fmt = ">8sIIQI4sI4sQQHBBII16sB427x"
        fields[14] = _vhd_checksum(struct.pack(fmt, *fields))
        return struct.pack(fmt, *fields)

    dyn = [b"cxsparse", 0xFFFFFFFFFFFFFFFF, bat_offset, 0x00010000, entries, block, 0,
           bytes(16), 0, 0, bytes(512), bytes(192)]
    dfmt = ">8sQQIIII16sII512s192s256x"
    dyn[6] = _vhd_checksum(struct.pack(dfmt, *dyn))
    bat = _pad(b"\xff" * (4 * entries), _align(4 * entries, SECTOR))
    return footer() + struct.pack(dfmt, *dyn) + bat + footer()


# --- VHDX (MS-VHDX) -------------------------------------------------------------------------

def _crc32c_table() -> list[int]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC32C = _crc32c_table()


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for b in data:
        crc = _CRC32C[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _guid(text: str) -> bytes:
    return uuid.UUID(text).bytes_le


def _with_crc(data: bytearray, at: int) -> bytes:
    data[at : at + 4] = struct.pack("<I", crc32c(bytes(data)))
    return bytes(data)


VHDX_BAT = "2DC27766-F623-4200-9D64-115E9BFD4A08"
VHDX_METADATA = "8B7CA206-4790-4B9A-B8FE-575F050F886E"


def vhdx(
    virtual_size: int = 64 * MiB, *, metadata_at: int = 3 * MiB, size_item: bool = True,
    padding: int = 0,
) -> bytes:
    """An empty dynamic VHDX; by default laid out as qemu-img lays one out (log at 1 MiB, BAT at
    2, metadata at 3), metadata_at moves the metadata region to another of those slots.
    size_item=False leaves out the (required) virtual disk size, making the file invalid."""
    block = 32 * MiB
    assert metadata_at in (1 * MiB, 2 * MiB, 3 * MiB)
    log_offset, bat_offset = (x for x in (1 * MiB, 2 * MiB, 3 * MiB) if x != metadata_at)
    meta_offset = metadata_at
    out = bytearray(4 * MiB)
    out[:SECTOR] = _pad(b"vhdxfile" + "spyglass".encode("utf-16-le"), SECTOR)
    for seq, at in ((1, 64 * KiB), (2, 128 * KiB)):
        head = bytearray(4 * KiB)
        struct.pack_into(
            "<4sIQ16s16s16sHHIQ", head, 0, b"head", 0, seq, _guid(VHDX_BAT), _guid(VHDX_BAT),
            bytes(16), 0, 1, 1 * MiB, log_offset,
        )
        out[at : at + len(head)] = _with_crc(head, 4)
    table = bytearray(64 * KiB)
    struct.pack_into("<4sIII", table, 0, b"regi", 0, 2, 0)
    struct.pack_into("<16sQII", table, 16, _guid(VHDX_BAT), bat_offset, 1 * MiB, 1)
    struct.pack_into("<16sQII", table, 48, _guid(VHDX_METADATA), meta_offset, 1 * MiB, 1)
    table_bytes = _with_crc(table, 4)
    out[192 * KiB : 256 * KiB] = table_bytes
    out[256 * KiB : 320 * KiB] = table_bytes

    items = [  # (item GUID, flags: 2 = virtual disk, 4 = required, payload)
        ("CAA16737-FA36-4D43-B3B6-33F0AA44E76B", 4, struct.pack("<II", block, 0)),
        ("2FA54224-CD1B-4876-B211-5DBED83BF4B8", 6, struct.pack("<Q", virtual_size)),
        ("BECA12AB-B2E6-4523-93EF-C309E000C746", 6, uuid.UUID(int=0x5A).bytes_le),
        ("8141BF1D-A96F-4709-BA47-F233A8FAAB5F", 6, struct.pack("<I", 512)),
        ("CDA348C7-445D-4471-9CC9-E9885251C556", 6, struct.pack("<I", 4096)),
    ]
    if not size_item:
        del items[1]
    meta = bytearray(1 * MiB)
    struct.pack_into("<8sHH", meta, 0, b"metadata", 0, len(items))
    data_at = 64 * KiB
    for n, (guid, flags, payload) in enumerate(items):
        struct.pack_into("<16sIII", meta, 32 + 32 * n, _guid(guid), data_at, len(payload), flags)
        meta[data_at : data_at + len(payload)] = payload
        data_at += _align(len(payload), 8)
    out[meta_offset : meta_offset + len(meta)] = meta
    return bytes(out) + bytes(padding)  # the BAT stays zero: no block is present


# --- VDI (VirtualBox, as read by qemu's block/vdi.c) -----------------------------------------

def vdi(virtual_size: int = 64 * MiB) -> bytes:
    block = 1 * MiB
    blocks = math.ceil(virtual_size / block)
    bmap_size = _align(4 * blocks, SECTOR)
    offset_bmap, offset_data = SECTOR, SECTOR + bmap_size
    header = struct.pack(
        "<64sIIIII256sIIIIIIIQIIII16s16s16s16s56x",
        b"<<< Spyglass VM Virtual Disk Image >>>\n", 0xBEDA107F, 0x00010001, 0x180, 1, 0,
        b"", offset_bmap, offset_data, 0, 0, 0, SECTOR, 0, virtual_size, block, 0, blocks, 0,
        uuid.UUID(int=0x5A).bytes, bytes(16), bytes(16), bytes(16),
    )
    return header + _pad(b"\xff" * (4 * blocks), bmap_size)


# --- QED (qemu's block/qed.h) ----------------------------------------------------------------

def qed(virtual_size: int = 64 * MiB) -> bytes:
    cluster = 64 * KiB
    header = struct.pack(
        "<4sIIIQQQQQII", b"QED\x00", cluster, 4, 1, 0, 0, 0, cluster, virtual_size, 0, 0,
    )
    return _pad(header, 5 * cluster)  # header cluster, then the empty 4-cluster L1 table


# --- ISO 9660 (ECMA-119) ---------------------------------------------------------------------

def _both16(n: int) -> bytes:
    return struct.pack("<H", n) + struct.pack(">H", n)


def _both32(n: int) -> bytes:
    return struct.pack("<I", n) + struct.pack(">I", n)


def _dir_record(extent: int, size: int, name: bytes) -> bytes:
    body = (
        struct.pack("<BB", 0, 0) + _both32(extent) + _both32(size)
        + bytes([125, 1, 1, 0, 0, 0, 0])  # recording date 2025-01-01 00:00:00 UTC
        + bytes([0x02, 0, 0]) + _both16(1) + bytes([len(name)]) + name
    )
    length = _align(len(body) + 1, 2)
    return _pad(bytes([length]) + body[1:], length)


def iso9660(blocks: int = 32, *, system_area: bytes = b"") -> bytes:
    """An ISO 9660 volume with an empty root directory; system_area fills its first 32 KiB
    (a hybrid ISO puts an MBR there)."""
    block = 2048
    root_at, path_at = 18, 19
    pvd = bytearray(block)
    pvd[0:7] = b"\x01CD001\x01"
    pvd[8:40] = b"SPYGLASS".ljust(32)
    pvd[40:72] = b"SAMPLE".ljust(32)
    pvd[80:88] = _both32(blocks)
    pvd[120:124] = _both16(1)
    pvd[124:128] = _both16(1)
    pvd[128:132] = _both16(block)
    pvd[132:140] = _both32(10)
    pvd[140:144] = struct.pack("<I", path_at)
    pvd[148:152] = struct.pack(">I", path_at + 1)
    pvd[156:190] = _dir_record(root_at, block, b"\x00")
    pvd[881] = 1
    terminator = _pad(b"\xffCD001\x01", block)
    root = _pad(_dir_record(root_at, block, b"\x00") + _dir_record(root_at, block, b"\x01"), block)
    path_l = _pad(struct.pack("<BBIH", 1, 0, root_at, 1) + b"\x00\x00", block)
    path_m = _pad(struct.pack(">BBIH", 1, 0, root_at, 1) + b"\x00\x00", block)
    volume = _pad(system_area, 16 * block) + pvd + terminator + root + path_l + path_m
    return _pad(volume, blocks * block)


# --- MBR and GPT partitioned disks (UEFI 2.10 chapter 5) -------------------------------------

def _mbr(entries: list[bytes], *, signature: bool = True) -> bytearray:
    sector = bytearray(SECTOR)
    sector[440:444] = struct.pack("<I", 0x5A5A5A5A)  # disk signature
    for n, entry in enumerate(entries):
        sector[446 + 16 * n : 462 + 16 * n] = entry
    if signature:
        sector[510:512] = b"\x55\xaa"
    return sector


def _pte(boot: int, chs_start: bytes, kind: int, chs_end: bytes, lba: int, count: int) -> bytes:
    return struct.pack("<B3sB3sII", boot, chs_start, kind, chs_end, lba, count)


def mbr_disk(size: int = 2 * MiB, *, partitions: int = 1) -> bytes:
    """A DOS-partitioned disk with Linux partitions (type 0x83) starting at 1 MiB."""
    sectors = size // SECTOR
    per = (sectors - 2048) // max(partitions, 1)
    entries = [
        _pte(0x80 if n == 0 else 0, b"\xfe\xff\xff", 0x83, b"\xfe\xff\xff", 2048 + n * per, per)
        for n in range(partitions)
    ]
    return bytes(_mbr(entries)) + bytes(size - SECTOR)


def gpt_disk(size: int = 2 * MiB) -> bytes:
    """A GPT disk: protective MBR, primary and backup headers and one Linux partition."""
    sectors = size // SECTOR
    last = sectors - 1
    pmbr = _mbr([_pte(0, b"\x00\x02\x00", 0xEE, b"\xff\xff\xff", 1, min(last, 0xFFFFFFFF))])
    entry = bytearray(128 * 128)
    struct.pack_into(
        "<16s16sQQQ", entry, 0, _guid("0FC63DAF-8483-4772-8E79-3D69D8477DE4"),
        uuid.UUID(int=0x5A5A).bytes_le, 2048, last - 34, 0,
    )
    entry[56:56 + 8] = "data".encode("utf-16-le")
    entries_crc = zlib.crc32(entry)

    def header(mine: int, other: int, table: int) -> bytes:
        fields = [b"EFI PART", 0x00010000, 92, 0, 0, mine, other, 34, last - 33,
                  uuid.UUID(int=0x5A).bytes_le, table, 128, 128, entries_crc]
        fmt = "<8sIIIIQQQQ16sQIII"
        fields[3] = zlib.crc32(struct.pack(fmt, *fields))
        return _pad(struct.pack(fmt, *fields), SECTOR)

    out = bytearray(size)
    out[0:SECTOR] = pmbr
    out[SECTOR : 2 * SECTOR] = header(1, last, 2)
    out[2 * SECTOR : 34 * SECTOR] = entry
    out[(last - 32) * SECTOR : last * SECTOR] = entry
    out[last * SECTOR :] = header(last, 1, last - 32)
    return bytes(out)


def hybrid_iso(blocks: int = 32) -> bytes:
    """An ISO whose system area holds an MBR with one bootable partition over the whole
    volume, as isohybrid writes so the same file also boots from a USB disk."""
    entry = _pte(0x80, b"\x00\x01\x00", 0x17, b"\xfe\xff\xff", 0, blocks * 4)
    return iso9660(blocks, system_area=bytes(_mbr([entry])))


def mbr_without_partitions(size: int = 64 * KiB) -> bytes:
    """Boot-sector signature but an empty partition table: fails oslo's 'mbr' check."""
    return bytes(_mbr([])) + bytes(size - SECTOR)


def fat_boot_sector(size: int = 64 * KiB) -> bytes:
    """A FAT volume's boot record: it ends in 0x55AA like an MBR but is a filesystem."""
    sector = _mbr([], signature=True)
    struct.pack_into(
        "<3s8sHBHBHHBH", sector, 0, b"\xeb\x3c\x90", b"MSDOS5.0", 512, 4, 1, 2, 512,
        size // SECTOR, 0xF8, 1,
    )
    return bytes(sector) + bytes(size - SECTOR)
