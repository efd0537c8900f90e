"""The process's memory as the kernel counts it, for the benchmarks that state a memory goal (a CSV's peak
RSS): /proc/self/status figures and resetting the peak before a step. Linux only; elsewhere None/False."""

from __future__ import annotations


def read_status(key: str) -> int | None:
    """A `kB` figure of /proc/self/status (VmHWM, VmRSS) in bytes; None where there is no such file."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(f"{key}:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def reset_peak_rss() -> bool:
    """Resets the kernel's peak RSS counter (VmHWM) to the current RSS (Linux 4.0+); False when it cannot."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    return read_status("VmHWM") is not None
