"""Where the tests find the repository and the reference data: `../shared/data`, read-only, beside the
checkout. A test that needs the reference data skips, naming what is missing, where it is absent."""
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def needs_shared_data(*relative):
    """Skips the test unless every path in `relative` (under SHARED_DATA) exists."""
    missing = [str(SHARED_DATA / path) for path in relative if not (SHARED_DATA / path).exists()]
    return pytest.mark.skipif(bool(missing), reason=f"reference data not on this machine: {', '.join(missing)}")
