"""The installed name `segpapers` and the names it leaves free (README, Installed names)."""
import ast
import configparser
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
from tests.paths import REPO

FOLDERS = ("benchmarks", "common", "datasets", "experiment", "papers")
SCRIPTS = ("train", "evaluate", "predict")


def project_files():
    for folder in (*FOLDERS, "tests"):
        yield from (REPO / folder).rglob("*.py")
    for script in SCRIPTS:
        yield REPO / f"{script}.py"


def test_setup_cfg_lists_every_package_folder():
    config = configparser.ConfigParser()
    config.read(REPO / "setup.cfg")
    listed = set(config["options"]["packages"].split())
    folders = {"segpapers." + ".".join(init.parent.relative_to(REPO).parts)
               for folder in FOLDERS for init in (REPO / folder).rglob("__init__.py")}
    assert listed == {"segpapers"} | folders
    assert config["options"]["package_dir"].split() == ["segpapers", "=", "."]


def test_no_module_imports_a_bare_project_name():
    bare = set(FOLDERS) | set(SCRIPTS)
    offenders = []
    for path in project_files():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import) else
                     [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
            offenders += [f"{path.relative_to(REPO)}:{node.lineno} {name}" for name in names
                          if name.split(".")[0] in bare]
    assert offenders == []


def run(command, cwd):
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("datasets") is None or importlib.util.find_spec("evaluate") is None,
                    reason="Hugging Face's datasets and evaluate are not installed (pip install -e '.[test]')")
def test_hugging_face_datasets_and_evaluate_keep_their_names_beside_the_scripts(tmp_path):
    """Hugging Face's packages are what the bare names give outside the repository root, while the scripts run
    from anywhere (a script's own folder leads its sys.path, so the working directory does not matter for
    them) and the benchmarks module from the root and elsewhere (`-m` puts the working directory first)."""
    probe = ("import datasets, evaluate, segpapers.datasets, segpapers.evaluate\n"
             "print(datasets.load_dataset.__module__, evaluate.load.__module__,\n"
             "      segpapers.datasets.__file__, segpapers.evaluate.__file__)")
    hf_datasets, hf_evaluate, ours, our_script = run([sys.executable, "-c", probe], tmp_path).split()
    assert hf_datasets.startswith("datasets.") and hf_evaluate.startswith("evaluate.")
    assert Path(ours) == REPO / "datasets" / "__init__.py" and Path(our_script) == REPO / "evaluate.py"
    for script in SCRIPTS:
        assert "--output" in run([sys.executable, str(REPO / f"{script}.py"), "--help"], tmp_path)
    for cwd in (REPO, tmp_path):
        assert "--protocol" in run([sys.executable, "-m", "segpapers.benchmarks.run", "--help"], cwd)
