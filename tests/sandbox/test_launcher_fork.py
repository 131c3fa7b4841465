"""launcher.fork_for_parent: the template's fork, whose child is the zygote's.

The template forks every run's process with clone3(CLONE_PARENT) instead of
os.fork, and runs Python's fork hooks itself. These tests play the zygote
(this process) and the template (a process forked from it): the template's
children must be this process's children, which it reaps, and each must be a
working interpreter of its own, as after os.fork.
"""

from __future__ import annotations

import json
import os
import socket

import pytest

from zoobar.sandbox import launcher

READ_CHUNK = 4096


def child_report(out_fd: int) -> None:
    """In a child of fork_for_parent: what it sees of itself, on `out_fd`."""
    import random
    import threading

    seen = []
    thread = threading.Thread(target=seen.append, args=("thread ran",))
    thread.start()
    thread.join()
    report = {"pid": os.getpid(), "ppid": os.getppid(), "random": random.random(),
              "thread": seen, "threads": threading.active_count()}
    os.write(out_fd, json.dumps(report).encode() + b"\n")


def template(out_fd: int, children: int) -> None:
    """The template's part, in a process forked from the test: `children`
    processes from fork_for_parent, their pids on `out_fd`. Never returns."""
    try:
        pids = []
        for _ in range(children):
            pid = launcher.fork_for_parent()
            if pid == 0:
                try:
                    child_report(out_fd)
                finally:
                    os._exit(0)
            pids.append(pid)
        os.write(out_fd, json.dumps({"template": os.getpid(), "forked": pids}).encode() + b"\n")
    finally:
        os._exit(0)


def read_all(fd: int) -> bytes:
    data = b""
    while chunk := os.read(fd, READ_CHUNK):
        data += chunk
    return data


def read_lines(fd: int) -> list[dict]:
    return [json.loads(line) for line in read_all(fd).splitlines()]


def test_the_templates_children_are_its_parents_and_each_a_fresh_interpreter():
    read, write = os.pipe()
    template_pid = os.fork()
    if template_pid == 0:
        os.close(read)
        template(write, 2)
    os.close(write)
    try:
        lines = read_lines(read)
    finally:
        os.close(read)
    assert os.waitpid(template_pid, 0)[1] == 0
    forked = next(line for line in lines if "template" in line)["forked"]
    reports = [line for line in lines if "pid" in line]
    assert sorted(r["pid"] for r in reports) == sorted(forked)
    for pid in forked:                  # this process's children: it reaps them
        assert os.waitpid(pid, 0) == (pid, 0)
    for r in reports:
        assert r["ppid"] == os.getpid()
        assert r["thread"] == ["thread ran"] and r["threads"] == 1
    # random reseeds in each child (an os.register_at_fork hook): the hooks ran
    assert reports[0]["random"] != reports[1]["random"]


def test_a_failed_clone_is_an_error_in_the_caller(monkeypatch):
    monkeypatch.setattr(launcher, "SYS_CLONE3", -1)    # no such system call: ENOSYS
    with pytest.raises(OSError, match="clone3"):
        launcher.fork_for_parent()


def test_a_template_that_cannot_fork_refuses_and_says_why():
    """template_loop in a child of this test (the zygote's part): with clone3
    unavailable, each request gets the refusal and the log (stderr) the cause."""
    mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    err_read, err_write = os.pipe()
    zygote_pid = os.getpid()
    pid = os.fork()
    if pid == 0:
        try:
            mine.close()
            os.close(err_read)
            os.dup2(err_write, 2)
            launcher.SYS_CLONE3 = -1            # no such system call: ENOSYS
            launcher.template_loop(theirs, zygote_pid)
        finally:
            os._exit(70)
    theirs.close()
    os.close(err_write)
    try:
        mine.settimeout(10)
        for _ in range(2):                      # it goes on after a refusal
            mine.send(b"null")
            assert mine.recv(64) == b"-1"
    finally:
        mine.close()                            # the template ends with its zygote
        status = os.waitpid(pid, 0)[1]
        log = read_all(err_read).decode()
        os.close(err_read)
    assert status == 0, log
    assert log.count("no process for the next run") == 2 and "clone3" in log, log


def test_a_template_whose_zygote_hangs_up_ends_without_a_word():
    """A zygote (a child of this test) asks for a process and hangs up at
    once: the template's answer finds nobody, and it exits, logging nothing
    (only a refusal is the operator's business). What it forked is the
    zygote's, and dies with it."""
    err_read, err_write = os.pipe()
    result_read, result_write = os.pipe()
    zygote = os.fork()
    if zygote == 0:
        try:
            os.close(err_read)
            os.close(result_read)
            mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            template_pid = os.fork()
            if template_pid == 0:
                mine.close()
                os.dup2(err_write, 2)
                launcher.template_loop(theirs, os.getppid())
            theirs.close()
            os.close(err_write)
            mine.send(b"null")
            mine.close()
            os.write(result_write, b"%d" % os.waitpid(template_pid, 0)[1])
        finally:
            os._exit(0)
    os.close(err_write)
    os.close(result_write)
    status, log = read_all(result_read), read_all(err_read).decode()
    os.close(result_read)
    os.close(err_read)
    assert os.waitpid(zygote, 0)[1] == 0
    assert status == b"0" and log == "", log
