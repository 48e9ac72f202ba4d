"""What ``refreservation=auto`` means for a volume: volsize plus its metadata.

This reproduces libzfs's ``zvol_volsize_to_reservation`` (libzfs_dataset.c) for
the emulated pool, whose one top-level vdev is a plain (non-raidz) disk. There
``volsize_from_vdevs`` returns ``nblocks * volblocksize`` unchanged (the raidz
scaling only applies to raidz vdevs), so the formula is:

* ``nblocks = volsize // volblocksize``;
* metadata blocks: 7 for the meta-dnode levels L0-L6, plus every level of
  indirect blocks, each holding ``DNODES_PER_LEVEL`` = 2**(17 - 7) = 1024 block
  pointers (DN_MAX_INDBLKSHIFT 17, SPA_BLKPTRSHIFT 7), rounding up, until one
  block is left;
* the metadata is stored ``min(SPA_DVAS_PER_BP = 3, copies + 1)`` times, in
  128 KiB (1 << DN_MAX_INDBLKSHIFT) blocks; the data ``copies`` times.

``refreservation = volsize * copies + numdb * min(3, copies + 1) * 128 KiB``.
Example: 10 GiB at 8 KiB blocks -> 1290 metadata blocks -> 10563 MiB rounded up
(what ``vmadm get`` shows as ``disks[].refreservation``).

``zfs create`` sets it on a non-sparse volume (the value ``zfs create -nP``
prints), ``zfs set refreservation=auto`` recomputes it, and ``zfs set volsize``
moves it along when the volume's refreservation equals the auto value of its
old size (libzfs ``zfs_add_synthetic_resv``).
"""

from __future__ import annotations

DN_MAX_INDBLKSHIFT = 17
SPA_BLKPTRSHIFT = 7
DNODES_PER_LEVEL = 1 << (DN_MAX_INDBLKSHIFT - SPA_BLKPTRSHIFT)
SPA_DVAS_PER_BP = 3
DEFAULT_VOLBLOCKSIZE = 8192


def auto_refreservation(volsize: int, volblocksize: int = DEFAULT_VOLBLOCKSIZE,
                        copies: int = 1) -> int:
    """The refreservation, in bytes, that ``auto`` stands for."""
    volblocksize = int(volblocksize or DEFAULT_VOLBLOCKSIZE)
    copies = int(copies or 1)
    nblocks = int(volsize) // volblocksize
    data = nblocks * volblocksize          # volsize_from_vdevs: no raidz vdev
    numdb = 7
    while nblocks > 1:
        nblocks = (nblocks + DNODES_PER_LEVEL - 1) // DNODES_PER_LEVEL
        numdb += nblocks
    numdb *= min(SPA_DVAS_PER_BP, copies + 1)
    return data * copies + numdb * (1 << DN_MAX_INDBLKSHIFT)
