"""The emulated imgadm: list, get, install, import, delete, create, sources, vacuum.

Images are datasets ``<pool>/<uuid>`` with one snapshot ``@final`` (filesystems
for zone-dataset and lx-dataset, volumes for zvol); their manifests are cached
in ``state.images``. ``install`` checksums and decompresses real bytes and
receives them through the emulated ZFS, as imgadm does.

Modules: ``cli`` (dispatch, usage), ``common`` (errors, options, which datasets
are images), ``listing`` (list, get), ``install`` (install, import, sources,
delete, vacuum) and ``create``.
"""

from __future__ import annotations


def main(ctx) -> int:
    from openstack_smartos.sim.commands.imgadm import cli
    return cli.main(ctx)
