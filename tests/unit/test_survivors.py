"""Survivor detection on plain data: the marker, /proc's formats, the decision.

Real processes (a SIGKILLed iacdrift, an orphaned marked process) are in
tests/integration/test_process_survivors.py.
"""

from __future__ import annotations

import os
from pathlib import Path

from iacdrift.engine import survivors as sv
from iacdrift.engine.survivors import ParentMarker, ProcessFacts, Survivor

# A real /proc/<pid>/stat line of a provider plugin, and one whose command name holds
# a space and a parenthesis.
STAT = (
    "17539 (terraform-provi) S 17510 17509 17509 0 -1 1077936384 2613 0 0 0 9 2 0 0 20 0 "
    "14 0 2265771 1335177216 14005 18446744073709551615 1 1 0 0 0 0 0 0 2143420159 0 0 0 "
    "17 1 0 0 0 0 0 0 0 0 0 0 0 0 0"
)
ODD_STAT = STAT.replace("(terraform-provi)", "(a b) c)").replace(" S ", " Z ", 1)


def facts(pid: int, marker: ParentMarker | None, alive: bool) -> ProcessFacts:
    return ProcessFacts(pid, 1000 + pid, ("tofu", "plan", "-input=false", "-out=x"), marker, alive)


def test_parse_stat_state_and_start_time() -> None:
    assert sv.parse_stat(STAT) == ("S", 2265771)
    assert sv.parse_stat(ODD_STAT) == ("Z", 2265771)


def test_parse_environ_and_marker() -> None:
    raw = b"PATH=/bin\0IACDRIFT_PARENT_PID=4242\0IACDRIFT_PARENT_START=99\0EMPTY=\0junk\0"
    environ = sv.parse_environ(raw)
    assert environ == {
        "PATH": "/bin",
        "IACDRIFT_PARENT_PID": "4242",
        "IACDRIFT_PARENT_START": "99",
        "EMPTY": "",
    }
    assert sv.parse_marker(environ) == ParentMarker(4242, 99)
    assert sv.parse_marker({"IACDRIFT_PARENT_PID": "4242"}) == ParentMarker(4242, None)
    assert sv.parse_marker({"IACDRIFT_PARENT_PID": "x1"}) is None
    assert sv.parse_marker({"PATH": "/bin"}) is None


def test_parent_marker_names_this_process_with_its_start_time() -> None:
    marker = sv.parse_marker(sv.parent_marker())
    assert marker is not None and marker.pid == os.getpid()
    assert marker.start_time == sv.read_start_time(os.getpid())
    assert sv.parent_alive(marker, {os.getpid(): marker.start_time})


def test_parent_alive_needs_the_same_start_time() -> None:
    marker = ParentMarker(10, 500)
    assert sv.parent_alive(marker, {10: 500, 11: 7})
    # The pid was reused by another process: the marked parent is gone.
    assert not sv.parent_alive(marker, {10: 900})
    assert not sv.parent_alive(marker, {11: 500})
    # A start time nobody could read: the pid alone decides.
    assert sv.parent_alive(ParentMarker(10, None), {10: 900})
    assert sv.parent_alive(marker, {10: None})


def test_survivors_are_marked_processes_whose_parent_is_gone_sorted_by_pid() -> None:
    found = sv.survivors(
        [
            facts(30, ParentMarker(7, 1), alive=False),
            facts(20, ParentMarker(8, 1), alive=True),  # its iacdrift still runs
            facts(25, None, alive=False),  # unmarked: not ours
            facts(12, ParentMarker(7, 1), alive=False),
        ]
    )
    assert found == [
        Survivor(12, 1012, ("tofu", "plan", "-input=false"), 7),
        Survivor(30, 1030, ("tofu", "plan", "-input=false"), 7),
    ]


def test_survivor_command_words_are_bounded() -> None:
    long = ProcessFacts(5, None, ("python", "x" * 5000), ParentMarker(1, None), False)
    (survivor,) = sv.survivors([long])
    assert survivor.command == ("python", "x" * 200)


def write_proc(root: Path, pid: int, stat: str, cmdline: bytes, environ: bytes | None) -> None:
    directory = root / str(pid)
    directory.mkdir()
    (directory / "stat").write_text(stat)
    (directory / "cmdline").write_bytes(cmdline)
    if environ is not None:
        (directory / "environ").write_bytes(environ)


def stat_of(pid: int, start: int, state: str = "S") -> str:
    return (
        STAT.replace("17539", str(pid), 1)
        .replace(" S ", f" {state} ", 1)
        .replace("2265771", str(start))
    )


def test_find_survivors_reads_a_proc_tree_and_skips_what_it_cannot_read(tmp_path: Path) -> None:
    marker = b"IACDRIFT_PARENT_PID=100\0IACDRIFT_PARENT_START=5\0"
    write_proc(tmp_path, 100, stat_of(100, 6), b"other\0", b"")  # pid 100 reused
    write_proc(tmp_path, 101, stat_of(101, 9), b"tofu\0plan\0", b"A=1\0" + marker)
    write_proc(tmp_path, 102, stat_of(102, 9, "Z"), b"", marker)  # a zombie
    write_proc(tmp_path, 103, stat_of(103, 9), b"secret\0", None)  # environ unreadable
    write_proc(tmp_path, 104, "garbage", b"x\0", marker)  # a malformed stat
    (tmp_path / "self").mkdir()
    assert sv.find_survivors(tmp_path) == [Survivor(101, 9, ("tofu", "plan"), 100)]
    assert sv.find_survivors(tmp_path / "missing") == []


def test_kill_survivors_leaves_a_reused_pid_alone(tmp_path: Path) -> None:
    # Our own pid, with another start time recorded: it is "gone", never signalled.
    me = os.getpid()
    start = sv.read_start_time(me)
    assert start is not None
    report = sv.kill_survivors([Survivor(me, start + 1, ("pytest",), 1)])
    assert (report.killed, report.failed) == ([], [])
    assert [s.pid for s in report.gone] == [me]


def test_kill_survivors_reports_a_vanished_process_as_gone() -> None:
    pid = 2**22 + 12345  # above Linux's highest pid_max
    report = sv.kill_survivors([Survivor(pid, None, ("x",), 1)])
    assert [s.pid for s in report.gone] == [pid] and not report.killed and not report.failed


def test_a_marker_from_another_pid_namespace_is_not_judged_here(tmp_path: Path) -> None:
    """A container's child seen from the host: its marked parent pid means nothing in
    our namespace, so it is never a survivor here; ours, with its stack, is."""
    (tmp_path / "self" / "ns").mkdir(parents=True)
    (tmp_path / "self" / "ns" / "pid").write_text("")
    ours = (tmp_path / "self" / "ns" / "pid").stat().st_ino
    marker = b"IACDRIFT_PARENT_PID=100\0IACDRIFT_PARENT_START=5\0IACDRIFT_STACK=prod-app\0"
    write_proc(
        tmp_path,
        101,
        stat_of(101, 9),
        b"tofu\0",
        marker + f"IACDRIFT_PARENT_PIDNS={ours}\0".encode(),
    )
    write_proc(
        tmp_path,
        102,
        stat_of(102, 9),
        b"tofu\0",
        marker + f"IACDRIFT_PARENT_PIDNS={ours + 1}\0".encode(),
    )
    assert sv.find_survivors(tmp_path) == [Survivor(101, 9, ("tofu",), 100, "prod-app")]
