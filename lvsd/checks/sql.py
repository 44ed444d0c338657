"""The mysql, pgsql and oracle negotiate checks (DBI in ldirectord), on asyncio drivers.

Connect as ``login``/``passwd`` to ``database``, run ``request`` (without its
leading ``/``) once, and be up when it returns (or touches) at least one row.
``login`` and ``request`` are required (the config is refused without them,
where ldirectord logs an error at every check). The drivers are optional
extras: ``pip install 'lvsd[mysql]'`` (aiomysql), ``'lvsd[pgsql]'`` (asyncpg),
``'lvsd[oracle]'`` (python-oracledb, thin mode; not tested against a real
Oracle server). Unlike ldirectord, the check's deadline covers the connection
and the query, and the query runs once, not twice.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from lvsd.checks.base import CheckSpec


def query_of(spec: CheckSpec) -> str:
    return spec.request.lstrip("/")


def _verdict(rows: int, query: str) -> tuple[bool, str]:
    shown = query if len(query) <= 60 else query[:60] + "..."
    if rows > 0:
        return True, f"{shown!r}: {rows} row{'s' if rows != 1 else ''}"
    return False, f"{shown!r}: no rows, expected at least one"


async def mysql(spec: CheckSpec) -> tuple[bool, str]:
    import aiomysql

    conn: Any = None
    try:
        conn = await aiomysql.connect(host=spec.host, port=spec.port, user=spec.login, password=spec.passwd,
                                      db=spec.database or None, connect_timeout=spec.timeout, autocommit=True)
        async with conn.cursor() as cur:
            rows = await cur.execute(query_of(spec))
            return _verdict(int(rows or cur.rowcount or 0), query_of(spec))
    except aiomysql.Error as exc:
        return False, f"MySQL: {_mysql_error(exc)}"
    finally:
        if conn is not None:
            conn.close()  # closes the socket at once (no QUIT round trip)


def _mysql_error(exc: BaseException) -> str:
    args: tuple[object, ...] = exc.args
    if len(args) == 2 and isinstance(args[0], int):
        return f"{args[1]} ({args[0]})"
    return str(exc) or type(exc).__name__


async def pgsql(spec: CheckSpec) -> tuple[bool, str]:
    import asyncpg

    conn: Any = None
    try:
        conn = await asyncpg.connect(host=spec.host, port=spec.port, user=spec.login, password=spec.passwd or None,
                                     database=spec.database or None, timeout=spec.timeout, ssl=False)
        status = await conn.execute(query_of(spec))
        m = re.search(r"(\d+)$", status or "")
        return _verdict(int(m.group(1)) if m else 0, query_of(spec))
    except asyncpg.PostgresError as exc:
        return False, f"PostgreSQL: {exc}"
    finally:
        if conn is not None:
            conn.terminate()  # drop the connection at once, also after a timeout


async def oracle(spec: CheckSpec) -> tuple[bool, str]:
    import oracledb

    conn: Any = None
    try:
        dsn = oracledb.makedsn(spec.host, spec.port, sid=spec.database)
        conn = await oracledb.connect_async(user=spec.login, password=spec.passwd, dsn=dsn,
                                            tcp_connect_timeout=spec.timeout)
        with conn.cursor() as cur:
            await cur.execute(query_of(spec))
            fetched = await cur.fetchall() if cur.description else []
            return _verdict(max(len(fetched), cur.rowcount or 0), query_of(spec))
    except oracledb.Error as exc:
        return False, f"Oracle: {str(exc).splitlines()[0]}"
    finally:
        if conn is not None:
            try:  # a polite close, but never past the deadline by more than a moment
                async with asyncio.timeout(0.05):
                    await conn.close()
            except (Exception, asyncio.CancelledError):  # closing a broken connection must not hide the verdict
                pass
