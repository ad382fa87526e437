"""python -m pyserini_diffretriever.verify DIR [--level fast|full] [--json]

Checks every folder at or below DIR that holds a MANIFEST.json (the dense store, its FAISS and
compressed indexes, an encoded corpus's chunks) and prints one line per folder: ``ok``,
``unverified`` (written by an older version, no manifest) or ``damaged`` with the file, what
differed and the command to re-run. Exit status 0 when nothing is damaged, 2 otherwise.
"""
from __future__ import annotations

import argparse
import json
import sys

from ..cli import EXIT_ERROR, EXIT_OK, HelpFormatter, run_command
from ..integrity import verify_tree


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pyserini_diffretriever.verify",
        description="Check an index folder (and every folder below it) against the sizes and checksums "
                    "recorded when pyserini-diffretriever wrote it.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("dir", metavar="DIR", help="index or output folder to check (searched recursively)")
    parser.add_argument("--level", choices=["fast", "full"], default="fast",
                        help="fast: sizes, small files hashed, large files hashed unless a previous check "
                             "stamped them unchanged; full: every file hashed")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of one line per folder")
    args = parser.parse_args(argv)

    def body() -> int:
        statuses = verify_tree(args.dir, args.level)
        damaged = [s for s in statuses if s.state == "damaged"]
        if args.json:
            print(json.dumps({"ok": not damaged, "level": args.level, "folders": [s.to_json() for s in statuses]}))
        else:
            for status in statuses:
                print(status.line())
        if damaged:
            print(f"error: {len(damaged)} of {len(statuses)} folders damaged", file=sys.stderr)
            return EXIT_ERROR
        return EXIT_OK

    return run_command(body, interrupted=lambda: "verification stopped; nothing was changed")


if __name__ == "__main__":
    sys.exit(main())
