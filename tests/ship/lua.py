"""Running Argo CD's Lua scripts under a real Lua 5.1 interpreter (the dialect Argo CD embeds)."""

from __future__ import annotations

import math
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

LUA = "lua5.1"


def interpreter() -> str:
    path = shutil.which(LUA)
    if path is None:
        pytest.skip(f"{LUA} is not installed (apt-get install -y lua5.1)")
    return path


def _string(value: str) -> str:
    out = []
    for ch in value:
        code = ord(ch)
        if ch in {'"', "\\"}:
            out.append("\\" + ch)
        elif 32 <= code < 127:
            out.append(ch)
        else:
            # Lua 5.1 has no \u escapes: spell out the UTF-8 bytes in decimal.
            out.extend(f"\\{b}" for b in ch.encode())
    return '"' + "".join(out) + '"'


def _scalar(value: bool | int | float | str | None) -> str:
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"no Lua literal for {value!r}")
    return _string(value) if isinstance(value, str) else repr(value)


def literal(value: Any) -> str:
    """`value` (JSON-like) as Lua table source, the way Argo CD hands objects to Lua."""
    if value is None or isinstance(value, bool | int | float | str):
        return _scalar(value)
    if isinstance(value, list):
        return "{" + ", ".join(literal(v) for v in value) + "}"
    if isinstance(value, dict):
        items = (f"[{_string(str(k))}] = {literal(v)}" for k, v in value.items() if v is not None)
        return "{" + ", ".join(items) + "}"
    raise TypeError(f"no Lua literal for {type(value).__name__}")


# Prints a table as `path<TAB>value` lines, keys sorted, so Python can read the result back.
_DUMP = """
local function dump(prefix, value)
  if type(value) == "table" then
    local keys = {}
    for k in pairs(value) do table.insert(keys, tostring(k)) end
    table.sort(keys)
    for _, k in ipairs(keys) do
      local v = value[k]
      if v == nil then v = value[tonumber(k)] end
      dump(prefix .. "/" .. k, v)
    end
  else
    io.write(prefix, "\\t", type(value), "\\t", tostring(value), "\\n")
  end
end
"""


def run(script: Path, obj: dict[str, Any]) -> dict[str, str]:
    """Run `script` with the global `obj` bound; return what it returned, flattened."""
    program = f"{_DUMP}\nobj = {literal(obj)}\nlocal result = dofile({_string(str(script))})\ndump('', result)\n"
    done = subprocess.run([interpreter(), "-"], input=program, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, f"{script.name} failed under {LUA}:\n{done.stderr}"
    flat: dict[str, str] = {}
    for line in done.stdout.splitlines():
        path, kind, value = line.split("\t", 2)
        flat[path] = value if kind == "string" else f"<{kind}>{value}"
    return flat
