"""common.machine_load: what the rest of the machine took while something was timed."""
import os
import subprocess
import sys
import time

import pytest

from segpapers.common import machine_load

pytestmark = pytest.mark.skipif(machine_load.busy_cpu_seconds() is None, reason="no /proc/stat on this system")


def test_the_share_is_the_machines_busy_time_less_this_process_and_its_children(monkeypatch):
    clock, busy, own = iter([10.0, 12.0]), iter([100.0, 104.0]), iter([5.0, 6.0])
    monkeypatch.setattr(machine_load.time, "monotonic", lambda: next(clock))
    monkeypatch.setattr(machine_load, "busy_cpu_seconds", lambda: next(busy))
    monkeypatch.setattr(machine_load, "own_cpu_seconds", lambda: next(own))
    monkeypatch.setattr(machine_load.os, "cpu_count", lambda: 2)
    # 4 busy CPU-seconds in 2 s on 2 CPUs, 1 of them ours: the rest took 3 of 4, 75 %.
    assert machine_load.OtherLoad().result() == {"other_cpu_share": 0.75, "quiet": False, "seconds": 2.0}


def test_processes_running_beside_a_measurement_make_it_not_quiet():
    spin = "import time\nend = time.time() + 60\nwhile time.time() < end: pass"
    load = machine_load.OtherLoad()
    busy = [subprocess.Popen([sys.executable, "-c", spin]) for _ in range(os.cpu_count())]
    time.sleep(2.0)  # every CPU spinning outside this process
    result = load.result()
    for process in busy:
        process.kill()
        process.wait()
    assert result["other_cpu_share"] > 0.5 and not result["quiet"]


def test_a_waited_for_child_counts_as_the_measurement_itself():
    load = machine_load.OtherLoad()
    subprocess.run([sys.executable, "-c", "import time\nwhile time.process_time() < 1.0: pass"], check=True)
    own = machine_load.OtherLoad.sample()[2] - load.start[2]
    assert own >= 1.0  # the child's CPU time is ours: a speed child of benchmarks.speed is not "the rest"
