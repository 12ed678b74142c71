"""The dashboard's own flags, shared by `modelrollout dashboard` and `kubectl modelrollout dashboard`.

Apart from the command so that the plugin can offer them without importing the web stack.
"""

from __future__ import annotations

import argparse
from typing import Final

DEFAULT_PORT: Final = 3100


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port on 127.0.0.1 (default {DEFAULT_PORT}; 0: any free one)"
    )
    parser.add_argument(
        "--allow-actions",
        action="store_true",
        help="show promote/abort/pause/resume/retry buttons (default: read-only)",
    )
