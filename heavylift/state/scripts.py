"""Lua scripts, kept as ``.lua`` files (``heavylift/state/lua/``) and registered once per
Redis client.

Every multi-key change Heavylift makes beside Dramatiq is one script, so it is atomic: a
submission, a retry, a recovery, a replay. Each file starts with comments documenting its
KEYS and ARGV; a ``-- include: <name>`` line pastes in another file (a shared Lua function).
:func:`script` hands out a ``redis.commands.core.Script`` per client and name, made once, so
a call is one EVALSHA (redis-py loads the script itself the first time Redis lacks it).
"""

from __future__ import annotations

import re
import threading
import weakref
from functools import cache
from pathlib import Path

import redis
from redis.commands.core import Script

LUA_DIR = Path(__file__).with_name("lua")
_INCLUDE = re.compile(r"^-- include: (\w+)$", re.M)

_registered: weakref.WeakKeyDictionary[redis.Redis, dict[str, Script]] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


@cache
def source(name: str) -> str:
    """The script's text, its includes pasted in."""
    text = (LUA_DIR / f"{name}.lua").read_text()
    return _INCLUDE.sub(lambda match: source(match.group(1)), text)


def script(client: redis.Redis, name: str) -> Script:
    """The script ``name`` for ``client``, registered the first time it is asked for. Every
    submission asks, so the found case takes no lock (a dict read is atomic in CPython)."""
    scripts = _registered.get(client)
    found = scripts.get(name) if scripts is not None else None
    if found is not None:
        return found
    with _lock:
        scripts = _registered.setdefault(client, {})
        found = scripts.get(name)
        if found is None:
            found = scripts[name] = client.register_script(source(name))
        return found
