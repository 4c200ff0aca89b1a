"""The installed name `segpapers` and the names it leaves free (README, Installed names)."""
import ast
import configparser
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
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


@pytest.fixture
def stand_ins(tmp_path):
    """Packages named like Hugging Face's `datasets` and `evaluate`, ahead of site-packages on the path:
    a project module that imported either bare name would get one of these and fail."""
    for name in ("datasets", "evaluate"):
        (tmp_path / "site" / name).mkdir(parents=True)
        (tmp_path / "site" / name / "__init__.py").write_text("HUGGING_FACE_STAND_IN = True\n")
    env = dict(os.environ, PYTHONPATH=str(tmp_path / "site"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    return env, elsewhere


def run(command, cwd, env):
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.mark.slow
def test_other_packages_named_datasets_and_evaluate_keep_their_names(stand_ins):
    env, elsewhere = stand_ins
    probe = ("import datasets, evaluate, segpapers.datasets, segpapers.evaluate\n"
             "print(datasets.HUGGING_FACE_STAND_IN, evaluate.HUGGING_FACE_STAND_IN,\n"
             "      segpapers.datasets.__file__, segpapers.evaluate.__file__)")
    stand_in_datasets, stand_in_evaluate, ours, our_script = run([sys.executable, "-c", probe], elsewhere,
                                                                 env).split()
    assert stand_in_datasets == stand_in_evaluate == "True"
    assert Path(ours) == REPO / "datasets" / "__init__.py" and Path(our_script) == REPO / "evaluate.py"


@pytest.mark.slow
@pytest.mark.parametrize("where", ["repo root", "elsewhere"])
def test_the_scripts_run_beside_other_datasets_and_evaluate(stand_ins, where):
    env, elsewhere = stand_ins
    cwd = REPO if where == "repo root" else elsewhere
    for script in SCRIPTS:
        assert "--output" in run([sys.executable, str(REPO / f"{script}.py"), "--help"], cwd, env)
    assert "--protocol" in run([sys.executable, "-m", "segpapers.benchmarks.run", "--help"], cwd, env)
