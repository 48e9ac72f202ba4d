"""The pool's tables in the host database and the triggers that keep its space accounting."""

from __future__ import annotations

from openstack_smartos.sim.host import register_schema


_SCHEMA = """
CREATE TABLE IF NOT EXISTS zfs_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS zfs_datasets (
  id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, type TEXT NOT NULL,
  guid INTEGER NOT NULL, creation INTEGER NOT NULL, createtxg INTEGER NOT NULL,
  layer INTEGER NOT NULL, origin INTEGER, volsize INTEGER,
  props TEXT NOT NULL DEFAULT '{}');
CREATE TABLE IF NOT EXISTS zfs_snapshots (
  id INTEGER PRIMARY KEY, ds INTEGER NOT NULL, snapname TEXT NOT NULL,
  guid INTEGER NOT NULL, creation INTEGER NOT NULL, createtxg INTEGER NOT NULL,
  layer INTEGER NOT NULL, volsize INTEGER, props TEXT NOT NULL DEFAULT '{}',
  UNIQUE (ds, snapname));
CREATE INDEX IF NOT EXISTS zfs_snapshots_guid ON zfs_snapshots (guid);
CREATE TABLE IF NOT EXISTS zfs_holds (
  snap INTEGER NOT NULL, tag TEXT NOT NULL, created INTEGER NOT NULL,
  PRIMARY KEY (snap, tag));
CREATE TABLE IF NOT EXISTS zfs_layers (
  id INTEGER PRIMARY KEY, parent INTEGER, owner INTEGER NOT NULL,
  written INTEGER NOT NULL DEFAULT 0, shadowed INTEGER NOT NULL DEFAULT 0,
  refer INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS zfs_layers_parent ON zfs_layers (parent);
CREATE INDEX IF NOT EXISTS zfs_layers_owner ON zfs_layers (owner);
CREATE TABLE IF NOT EXISTS zfs_files (
  layer INTEGER NOT NULL, path TEXT NOT NULL, size INTEGER NOT NULL,
  PRIMARY KEY (layer, path)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS zfs_bmap (
  layer INTEGER NOT NULL, path TEXT NOT NULL, idx INTEGER NOT NULL,
  hash BLOB, size INTEGER NOT NULL,
  PRIMARY KEY (layer, path, idx)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS zfs_store (
  hash BLOB PRIMARY KEY, pack TEXT NOT NULL, offset INTEGER NOT NULL,
  length INTEGER NOT NULL, refs INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS zfs_store_pack ON zfs_store (pack);
CREATE TABLE IF NOT EXISTS zfs_packs (
  name TEXT PRIMARY KEY, size INTEGER NOT NULL DEFAULT 0,
  live INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS zfs_partial (
  target TEXT PRIMARY KEY, ds INTEGER, state TEXT NOT NULL);
"""
register_schema(_SCHEMA)

# Space accounting, kept up to date by triggers so that "used"/"available" of
# one dataset (and the pool's total) cost O(depth) instead of a walk over every
# dataset. One row per dataset: w/s = SUM(written)/SUM(shadowed) of the layers
# it owns, refres/res = its refreservation/reservation, child = usedbychildren
# (the sum over its children of max(used, reservation)). A dataset's
# used = w + child + max(0, refres - (w - s)); what it charges its parent is
# max(used, res). Changes propagate to the parent row, recursively (the host
# connection enables recursive_triggers). Rows of a host created before this
# table existed are rebuilt on first mutation (Pool._ensure_space).
_CHARGE = "max({t}.w + {t}.child + max(0, {t}.refres - {t}.w + {t}.s), {t}.res)"
_SPACE_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS zfs_space (
  ds INTEGER PRIMARY KEY, parent INTEGER,
  w INTEGER NOT NULL DEFAULT 0, s INTEGER NOT NULL DEFAULT 0,
  refres INTEGER NOT NULL DEFAULT 0, res INTEGER NOT NULL DEFAULT 0,
  child INTEGER NOT NULL DEFAULT 0);
CREATE TRIGGER IF NOT EXISTS zfs_space_ds_ins AFTER INSERT ON zfs_datasets BEGIN
  INSERT OR REPLACE INTO zfs_space (ds, parent, refres, res) VALUES (NEW.id,
    (SELECT id FROM zfs_datasets
     WHERE name = rtrim(rtrim(NEW.name, replace(NEW.name, '/', '')), '/')),
    COALESCE(json_extract(NEW.props, '$.refreservation'), 0),
    COALESCE(json_extract(NEW.props, '$.reservation'), 0));
END;
CREATE TRIGGER IF NOT EXISTS zfs_space_ds_props AFTER UPDATE OF props ON zfs_datasets BEGIN
  UPDATE zfs_space SET refres = COALESCE(json_extract(NEW.props, '$.refreservation'), 0),
    res = COALESCE(json_extract(NEW.props, '$.reservation'), 0) WHERE ds = NEW.id;
END;
CREATE TRIGGER IF NOT EXISTS zfs_space_ds_del AFTER DELETE ON zfs_datasets BEGIN
  DELETE FROM zfs_space WHERE ds = OLD.id;
END;
CREATE TRIGGER IF NOT EXISTS zfs_space_layer_ins AFTER INSERT ON zfs_layers
WHEN NEW.written != 0 OR NEW.shadowed != 0 BEGIN
  UPDATE zfs_space SET w = w + NEW.written, s = s + NEW.shadowed WHERE ds = NEW.owner;
END;
CREATE TRIGGER IF NOT EXISTS zfs_space_layer_del AFTER DELETE ON zfs_layers
WHEN OLD.written != 0 OR OLD.shadowed != 0 BEGIN
  UPDATE zfs_space SET w = w - OLD.written, s = s - OLD.shadowed WHERE ds = OLD.owner;
END;
CREATE TRIGGER IF NOT EXISTS zfs_space_layer_upd
AFTER UPDATE OF written, shadowed, owner ON zfs_layers
WHEN OLD.written != NEW.written OR OLD.shadowed != NEW.shadowed
  OR OLD.owner IS NOT NEW.owner BEGIN
  UPDATE zfs_space SET w = w - OLD.written, s = s - OLD.shadowed WHERE ds = OLD.owner;
  UPDATE zfs_space SET w = w + NEW.written, s = s + NEW.shadowed WHERE ds = NEW.owner;
END;
CREATE TRIGGER IF NOT EXISTS zfs_space_ins AFTER INSERT ON zfs_space
WHEN NEW.parent IS NOT NULL BEGIN
  UPDATE zfs_space SET child = child + {_CHARGE.format(t="NEW")} WHERE ds = NEW.parent;
END;
CREATE TRIGGER IF NOT EXISTS zfs_space_del AFTER DELETE ON zfs_space
WHEN OLD.parent IS NOT NULL BEGIN
  UPDATE zfs_space SET child = child - {_CHARGE.format(t="OLD")} WHERE ds = OLD.parent;
END;
CREATE TRIGGER IF NOT EXISTS zfs_space_upd AFTER UPDATE ON zfs_space
WHEN OLD.parent IS NEW.parent AND {_CHARGE.format(t="OLD")} != {_CHARGE.format(t="NEW")}
BEGIN
  UPDATE zfs_space SET child = child + {_CHARGE.format(t="NEW")} - {_CHARGE.format(t="OLD")}
  WHERE ds = NEW.parent;
END;
CREATE TRIGGER IF NOT EXISTS zfs_space_move AFTER UPDATE OF parent ON zfs_space
WHEN OLD.parent IS NOT NEW.parent BEGIN
  UPDATE zfs_space SET child = child - {_CHARGE.format(t="OLD")} WHERE ds = OLD.parent;
  UPDATE zfs_space SET child = child + {_CHARGE.format(t="NEW")} WHERE ds = NEW.parent;
END;
"""
register_schema(_SPACE_SCHEMA)
