"""``ferkit fetch-models``: download the face detector's model (YuNet) into the user cache now.

Predictors never wait on the network when they are built: YuNet is downloaded the first time a face is detected,
with a short timeout, and a failure is remembered for an hour. This verb downloads on purpose (before going
offline, or after such a failure), with a longer timeout.
"""

from __future__ import annotations

import argparse

EXAMPLES = """examples:
  ferkit fetch-models                      download YuNet into ~/.cache/ferkit (or $FERKIT_CACHE)
  FERKIT_CACHE=/opt/ferkit ferkit fetch-models

exit codes: 0 the model is there, 1 the download failed
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "fetch-models",
        help="download the face detector's model now",
        description="Download YuNet (OpenCV Zoo, 230 kB, sha256-checked) into the user cache.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ferkit.inference.yunet_file import cache_path, fetch_yunet, sha256_file

    had = cache_path().is_file()
    path = fetch_yunet()
    print(f"YuNet {'already ' if had else ''}at {path} (sha256 {sha256_file(path)[:16]}...)")
    return 0
