"""A smaller install (no PyTorch) gets one line naming the extra to install, never a traceback; the help is plain."""

import contextlib
import os
import subprocess
import sys
from pathlib import Path

from ferkit.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
NO_TORCH = """
import sys
for name in ("torch", "kornia", "onnx"):
    sys.modules[name] = None  # as if ferkit[train] were not installed
from ferkit.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _run(*argv, cwd):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "FERKIT_CACHE": str(cwd / "cache")}
    return subprocess.run([sys.executable, "-c", NO_TORCH, *argv], env=env, cwd=cwd, capture_output=True, text=True)


def test_torch_free_install_names_the_extra(tmp_path, model_file):
    for argv in (["train", "epochs=1", f"out={tmp_path / 'run'}"], ["export", str(model_file), "--out", "m.onnx"]):
        r = _run(*argv, cwd=tmp_path)
        assert r.returncode == 1, r.stderr
        assert r.stderr == f"ferkit {argv[0]} needs PyTorch: pip install 'ferkit[train]'\n"


def test_help_is_plain_text(capsys):
    parser = build_parser()
    for verb in ("data", "train", "eval", "predict", "video", "export", "serve", "fetch-models"):
        with contextlib.suppress(SystemExit):
            parser.parse_args([verb, "--help"])
        text = capsys.readouterr().out
        assert "``" not in text and "example" in text, verb
