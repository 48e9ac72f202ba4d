"""Installed images of the emulated host (what imgadm keeps in
/var/imgadm/images/<pool>-<uuid>.json), read by the vmadm emulation.

An image is installed when the dataset <pool>/<uuid> with a snapshot @final
exists and its manifest is recorded here.
"""

from __future__ import annotations

import json

from openstack_smartos.sim.host import register_schema

register_schema("""
CREATE TABLE IF NOT EXISTS images (
    uuid TEXT PRIMARY KEY,
    zpool TEXT NOT NULL,
    manifest TEXT NOT NULL,
    source TEXT
);
""")


def get_image(host, uuid, zpool=None) -> dict | None:
    """The cached manifest of an installed image, or None."""
    row = host.db.execute("SELECT manifest, zpool FROM images WHERE uuid = ?",
                          (uuid,)).fetchone()
    if row is None or (zpool and row["zpool"] != zpool):
        return None
    return json.loads(row["manifest"])


def all_images(host) -> list[dict]:
    rows = host.db.execute("SELECT uuid, zpool, manifest, source FROM images "
                           "ORDER BY uuid").fetchall()
    return [{"manifest": json.loads(r["manifest"]), "zpool": r["zpool"],
             "source": r["source"]} for r in rows]


def put_image(host, manifest, zpool, source=None):
    host.db.execute("INSERT OR REPLACE INTO images (uuid, zpool, manifest, source) "
                    "VALUES (?, ?, ?, ?)",
                    (manifest["uuid"], zpool, json.dumps(manifest), source))


def delete_image(host, uuid):
    host.db.execute("DELETE FROM images WHERE uuid = ?", (uuid,))
