"""SQLite under the many threads of one service process.

oslo.db opens every transaction with a deferred ``BEGIN``: two threads that
both read and then write one file deadlock on the lock upgrade, and SQLite
answers one of them at once with "database is locked" (its busy timeout does
not apply to an upgrade). Two computes building at the same time hit it.
Every SQLite connection therefore gets a write-ahead log (readers never
block the writer) and a 30 s busy timeout, and every transaction starts with
``BEGIN IMMEDIATE``, so it waits for the write lock up front instead of
failing half-way. The listeners sit on the Engine class, so they run before
the ones oslo.db adds to each engine, and oslo.db's own ``BEGIN`` is skipped
through its ``in_transaction`` marker. Writers are serialised per file,
which a demo's load does not notice.
"""

from __future__ import annotations

_installed = False


def tune():
    global _installed
    if _installed:
        return
    import sqlalchemy
    from sqlalchemy import event

    @event.listens_for(sqlalchemy.engine.Engine, "connect")
    def _on_connect(dbapi_connection, _record):
        if type(dbapi_connection).__module__.startswith("sqlite3"):
            dbapi_connection.execute("PRAGMA busy_timeout = 30000")
            dbapi_connection.execute("PRAGMA journal_mode = WAL")

    @event.listens_for(sqlalchemy.engine.Engine, "begin")
    def _on_begin(connection):
        if connection.dialect.name == "sqlite" and "in_transaction" not in connection.info:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
            connection.info["in_transaction"] = True

    _installed = True
