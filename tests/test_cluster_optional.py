"""Ray stays optional: without it, ``--engine ray`` says which install command is missing (in one line)."""

import sys

from ferkit.cli import main


def test_engine_ray_without_the_extra(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    assert main(["predict", str(tmp_path), "--engine", "ray", "--out", str(tmp_path / "o")]) == 1
    assert capsys.readouterr().err.strip() == "ferkit predict needs Ray: pip install 'ferkit[ray]'"
