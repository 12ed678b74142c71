"""`modelrollout crd`: print (or write) the CRD generated from the API models."""

from __future__ import annotations

import argparse
from pathlib import Path

from modelrollout.api import crds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="modelrollout crd", description=__doc__)
    parser.add_argument("-o", "--output", type=Path, help="write to this file instead of standard output")
    args = parser.parse_args(argv)
    text = crds.render()
    if args.output:
        args.output.write_text(text)
    else:
        print(text, end="")
    return 0
