"""Every colab/ notebook runs top to bottom (tiny settings, FASSL_NOTEBOOK_TINY=1) in a
fresh kernel from the repository root, so none can rot."""

import os
import shutil

import nbformat
import pytest
from conftest import REPO
from nbclient import NotebookClient

NOTEBOOKS = sorted(f for f in os.listdir(os.path.join(REPO, "colab")) if f.endswith(".ipynb"))


def test_there_are_the_four_notebooks():
    assert NOTEBOOKS == [
        "multidomain_corpus.ipynb",
        "quickstart.ipynb",
        "scaling_study.ipynb",
        "your_own_audio.ipynb",
    ]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_top_to_bottom(name, tmp_path, monkeypatch):
    if name == "multidomain_corpus.ipynb":
        from test_corpus import _require_packages

        _require_packages()  # its build needs data_prep/install.sh's packages
    # A scratch copy of the repository root's view: runs/ lands in tmp_path.
    work = tmp_path / "repo"
    work.mkdir()
    for entry in ("configs", "data_prep"):
        os.symlink(os.path.join(REPO, entry), work / entry)
    if os.environ.get("FASSL_DATA_DIR"):  # the kernel runs elsewhere: make it absolute
        monkeypatch.setenv("FASSL_DATA_DIR", os.path.abspath(os.environ["FASSL_DATA_DIR"]))
    monkeypatch.setenv("FASSL_NOTEBOOK_TINY", "1")
    monkeypatch.setenv("FASSL_NO_TCMALLOC", "1")
    monkeypatch.setenv("PYTHONPATH", str(work))
    nb = nbformat.read(os.path.join(REPO, "colab", name), as_version=4)
    client = NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(work)}}
    )
    client.execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    shutil.rmtree(work / "runs", ignore_errors=True)
