"""Whether the machine was quiet while something was timed: the CPU time everything else took.

On a 2-core machine a speed figure moves with whatever else runs (a background training takes both
cores). `OtherLoad` reads the CPUs' busy time from the kernel (/proc/stat, steal time included: a
busy neighbour of a virtual machine slows it too) and this process's own CPU time with that of the
children it waited for (`os.times`): the difference is what the rest of the machine used meanwhile.
Linux only; elsewhere it records nothing rather than guess.
"""
import os
import time
from pathlib import Path

QUIET_SHARE = 0.05  # the rest of the machine took under 5 % of the CPUs' time: a quiet measurement


def busy_cpu_seconds():
    """The CPUs' busy time since boot (every state but idle and iowait), or None without /proc/stat."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds():
    """This process's CPU time and its waited-for children's."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


class OtherLoad:
    """Started at creation; `result()` says what the rest of the machine used since then."""

    def __init__(self):
        self.start = self.sample()

    @staticmethod
    def sample():
        return time.monotonic(), busy_cpu_seconds(), own_cpu_seconds()

    def result(self):
        """{"other_cpu_share": the share of all CPUs' time the rest of the machine took, "quiet": whether
        under QUIET_SHARE, "seconds"}, or None where the kernel does not say."""
        (start, busy_before, own_before), (end, busy_after, own_after) = self.start, self.sample()
        if busy_before is None or busy_after is None or end <= start:
            return None
        other = (busy_after - busy_before) - (own_after - own_before)
        # /proc/stat's first line sums every CPU, in clock ticks (10 ms): over a window of a few ticks
        # the rounding alone can reach past 0 or 1.
        share = min(1.0, max(0.0, other / ((end - start) * os.cpu_count())))
        return {"other_cpu_share": round(share, 4), "quiet": share < QUIET_SHARE, "seconds": round(end - start, 1)}
