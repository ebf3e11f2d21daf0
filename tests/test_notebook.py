"""notebooks/quickstart.ipynb: committed without outputs, and run top to bottom, headless, on tiny synthetic data.

The run goes through the notebook's own settings (environment variables): FER-2013 by its Kaggle name, served by a
stand-in ``kagglehub`` that returns a synthetic folder; a drawn photo; one epoch per training.
"""

import os
from pathlib import Path

import cv2
import pytest
import synth
from conftest import YUNET, YUNET_ALT, face_image

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "quickstart.ipynb"

nbformat = pytest.importorskip("nbformat")

FAKE_KAGGLEHUB = """
import os


def dataset_download(handle, *args, **kwargs):
    with open(os.environ["FAKE_KAGGLE_LOG"], "a") as f:
        f.write(handle + "\\n")
    return os.environ["FAKE_KAGGLE_DIR"]
"""


def test_the_committed_notebook_has_no_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, "no code cells"
    for i, cell in enumerate(code):
        assert cell.outputs == [] and cell.execution_count is None, f"code cell {i} has outputs: clear them"
    params = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1 and "FERKIT_NB_EPOCHS" in params[0].source


@pytest.mark.timeout(240)
def test_the_notebook_runs_top_to_bottom(tmp_path, monkeypatch):
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    synth.write_fer2013_folders(tmp_path / "download" / "fer2013", train=20, test=4)
    fake = tmp_path / "fakehub" / "kagglehub"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text(FAKE_KAGGLEHUB)
    photo = tmp_path / "photo.jpg"
    cv2.imwrite(str(photo), face_image(((200, 240, 100), (450, 220, 80))))
    yunet = next((p for p in (YUNET.resolve(), YUNET_ALT) if p.is_file()), tmp_path / "none.onnx")  # none: Haar
    path = [str(tmp_path / "fakehub"), str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]
    for key, value in {
        "FERKIT_NB_DATA": "kaggle:msambare/fer2013",
        "FERKIT_NB_PHOTO": str(photo),
        "FERKIT_NB_EPOCHS": "1",
        "FERKIT_NB_FINETUNE_EPOCHS": "1",
        "FERKIT_NB_WORK": str(tmp_path / "work"),
        "FERKIT_YUNET": str(yunet),
        "FAKE_KAGGLE_DIR": str(tmp_path / "download"),
        "FAKE_KAGGLE_LOG": str(tmp_path / "kaggle.log"),
        "PYTHONPATH": os.pathsep.join(p for p in path if p),
    }.items():
        monkeypatch.setenv(key, value)  # the kernel inherits them (and FERKIT_CACHE, a tmp dir, from conftest)

    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=150, kernel_name="python3", resources={"metadata": {"path": str(ROOT / "notebooks")}}
    )
    client.execute()  # a failing cell raises CellExecutionError, with the cell and its traceback

    code = [c for c in nb.cells if c.cell_type == "code"]
    images = [sum("image/png" in o.get("data", {}) for o in c.outputs) for c in code]
    # install, settings: nothing to show; every other cell shows a figure (training: its live curves)
    assert images[:2] == [0, 0] and all(n >= 1 for n in images[2:]), images
    assert (tmp_path / "kaggle.log").read_text().split() == ["msambare/fer2013"]  # fetched once
    for f in ("seed/model.ferkit", "seed/curves.png", "finetune/model.ferkit", "finetuned.onnx"):
        assert (tmp_path / "work" / f).is_file(), f
