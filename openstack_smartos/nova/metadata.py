"""What the guest reads with ``mdata-get`` (and cloud-init's SmartOS datasource).

SmartOS has no metadata service or config drive: the guest asks the host's
metadata agent for keys over a zone socket (containers) or the second serial
port (HVM). The agent answers from the VM's ``customer_metadata``, except
keys ending in ``_pw`` (served from ``internal_metadata``, which the guest
cannot change or list) and ``sdc:*`` keys (computed from the VM itself:
``sdc:uuid``, ``sdc:nics``, ``sdc:resolvers``, ...).

Keys written to ``customer_metadata``
-------------------------------------

* ``hostname``: the instance hostname (cloud-init's local-hostname).
* ``root_authorized_keys``: the instance key pair's public key, when it has
  one (cloud-init's public-keys; SmartOS images install it for root).
* user data, base64-decoded and stored as text (metadata values are strings):

  - ``user-data``: always; written by the guest to
    ``/var/db/mdata-user-data``, never executed.
  - a script (text starting with ``#!``) goes to ``user-script``, which every
    SmartOS guest runs at each boot: native zones through mdata-execute,
    cloud-init guests through the SmartOS datasource's per-boot hook. It is
    *not* also put in ``cloud-init:user-data``, or cloud-init guests would
    run it twice on first boot. Note the SmartOS semantics: every boot, where
    cloud-init on other clouds runs a user-data script once.
  - anything else (``#cloud-config``, MIME multipart, ``#include``...) goes
    to ``cloud-init:user-data``, the key cloud-init reads its user data from.
  - user data that is not UTF-8 text (e.g. gzip-compressed cloud-config)
    raises ``MetadataError``: vmadm stores metadata as JSON strings and the
    agent returns them as UTF-8, so arbitrary bytes cannot reach the guest
    intact. Send it uncompressed.

* the instance's nova metadata (``openstack server set --property k=v``):
  each key ``k`` is copied as ``k`` so ``mdata-get k`` works as users expect,
  except keys the driver sets itself (``RESERVED_CUSTOMER_KEYS``), ``sdc:*``
  keys (the agent would never serve them) and ``openstack:*`` keys (this
  driver's namespace); ``ignored_metadata_keys`` lists those for logging.
  A key ending in ``_pw`` goes to ``internal_metadata``, the only place the
  agent serves it from.
* ``extra`` (from the driver or operator, trusted) is applied last and may
  override anything above; its ``_pw`` keys go to ``internal_metadata`` too.

Keys written to ``internal_metadata``
-------------------------------------

* ``root_pw`` and ``admin_pw``: nova's admin password, only when one is
  given (SmartOS images set the root and admin users' passwords from them).
* ``openstack:instance_uuid``: the nova instance uuid.
"""

from __future__ import annotations

import base64
import binascii

HOSTNAME_KEY = "hostname"
AUTHORIZED_KEYS_KEY = "root_authorized_keys"
USER_DATA_KEY = "user-data"
USER_SCRIPT_KEY = "user-script"
CLOUD_INIT_USER_DATA_KEY = "cloud-init:user-data"
RESERVED_CUSTOMER_KEYS = (HOSTNAME_KEY, AUTHORIZED_KEYS_KEY, USER_DATA_KEY, USER_SCRIPT_KEY,
                          CLOUD_INIT_USER_DATA_KEY)
AGENT_PREFIX = "sdc:"
DRIVER_PREFIX = "openstack:"
PASSWORD_SUFFIX = "_pw"
PASSWORD_KEYS = ("root_pw", "admin_pw")
INSTANCE_UUID_KEY = "openstack:instance_uuid"


class MetadataError(ValueError):
    """Instance data that cannot be handed to the guest as SmartOS metadata."""


def decode_user_data(user_data_b64: str | bytes | None) -> str | None:
    """nova's base64 user data as text, or None when there is none."""
    if not user_data_b64:
        return None
    try:
        raw = base64.b64decode(user_data_b64, validate=False)
    except (binascii.Error, ValueError) as exc:
        raise MetadataError(f"user data is not valid base64: {exc}") from None
    if not raw:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise MetadataError(
            "user data is not UTF-8 text (compressed or binary?); SmartOS metadata "
            "carries text only, so send the user data uncompressed") from None


def user_data_keys(user_data: str | None) -> dict:
    """The customer_metadata keys carrying this user data."""
    if not user_data:
        return {}
    channel = USER_SCRIPT_KEY if user_data.startswith("#!") else CLOUD_INIT_USER_DATA_KEY
    return {USER_DATA_KEY: user_data, channel: user_data}


def _is_ignored(key: str) -> bool:
    return (key in RESERVED_CUSTOMER_KEYS or key.startswith(AGENT_PREFIX)
            or key.startswith(DRIVER_PREFIX))


def ignored_metadata_keys(instance_metadata: dict | None) -> list:
    """The nova metadata keys ``guest_metadata`` does not copy (to log them)."""
    return [key for key in (instance_metadata or {}) if _is_ignored(str(key))]


def _place(key: str, value, customer: dict, internal: dict):
    target = internal if key.endswith(PASSWORD_SUFFIX) else customer
    target[key] = value if isinstance(value, str) else str(value)


def guest_metadata(*, hostname: str, key_data: str | None = None,
                   user_data_b64: str | None = None, instance_metadata: dict | None = None,
                   admin_password: str | None = None, instance_uuid: str,
                   extra: dict | None = None) -> tuple[dict, dict]:
    """Return ``(customer_metadata, internal_metadata)`` (rules: module docstring)."""
    customer, internal = {}, {}
    for key, value in (instance_metadata or {}).items():
        key = str(key)
        if not _is_ignored(key) and value is not None:
            _place(key, value, customer, internal)
    customer[HOSTNAME_KEY] = hostname
    if key_data:
        customer[AUTHORIZED_KEYS_KEY] = key_data
    customer.update(user_data_keys(decode_user_data(user_data_b64)))
    for key, value in (extra or {}).items():
        if value is not None:
            _place(str(key), value, customer, internal)
    if admin_password:
        for key in PASSWORD_KEYS:
            internal[key] = admin_password
    internal[INSTANCE_UUID_KEY] = instance_uuid
    return customer, internal
