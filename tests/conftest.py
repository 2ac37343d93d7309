import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture()
def out(tmp_path):
    """A fresh output root for run folders."""
    return tmp_path / "outputs"
