"""Firewall rules of the emulated host (table ``fw_rules``): the objects ``fwadm get`` prints."""

from __future__ import annotations

import json

from openstack_smartos.sim.host import register_schema


register_schema("""CREATE TABLE IF NOT EXISTS fw_rules (
    seq  INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    body TEXT NOT NULL
);""")


def _db(host):
    return host.db


# -- storage ------------------------------------------------------------------

def load_rules(host) -> list[dict]:
    return [json.loads(row["body"])
            for row in _db(host).execute("SELECT body FROM fw_rules ORDER BY seq")]


def get_rule(host, uuid) -> dict | None:
    row = _db(host).execute("SELECT body FROM fw_rules WHERE uuid = ?",
                          (uuid.lower(),)).fetchone()
    return json.loads(row["body"]) if row else None


def _save(host, rule):
    _db(host).execute("INSERT INTO fw_rules (uuid, body) VALUES (?, ?) "
                    "ON CONFLICT(uuid) DO UPDATE SET body = excluded.body",
                    (rule["uuid"], json.dumps(rule)))


def _delete(host, uuid):
    _db(host).execute("DELETE FROM fw_rules WHERE uuid = ?", (uuid,))
