"""Batch and its environment (issue 9, items 13–15): a killed run leaves no worker behind and
its leftover is cleaned by the next; the output is never a device or a pipe; a folder that
cannot be written, a full disk, an empty --output or standard input are errors saying what and
where (exit 2), never 'internal error'."""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.batch.conftest import pctrules, read_rows

fcntl = pytest.importorskip("fcntl", reason="POSIX: file locks")
resource = pytest.importorskip("resource", reason="POSIX: resource limits")

HEADER = "id,date,person.practice,person.residence\n"
ROW = "2011-09-01,,E16000141\n"


def _cases(path: Path, n: int) -> Path:
    path.write_text(HEADER + "".join(f"r{i},{ROW}" for i in range(n)), encoding="utf-8")
    return path


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "pctrules", *args]


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "PCTRULES_DATA"}


def _children(pid: int) -> list[int]:
    """The child processes of `pid` (Linux /proc)."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with (
                contextlib.suppress(OSError, IndexError, ValueError),
                open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as f,
            ):
                if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(entry))
    return out


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _partials(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".partial"))


@contextlib.contextmanager
def _killed_batch(src: Path, out: Path) -> Iterator[list[int]]:
    """A batch run with two workers, killed with SIGKILL once its workers run; yields the
    workers' process ids, and kills any still there at the end (so that a failure of the test
    leaves nothing behind)."""
    proc = subprocess.Popen(
        _command("batch", str(src), "--output", str(out), "--per-case", "--workers", "2"),
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    workers: list[int] = []
    try:
        for _ in range(2400):  # the bundle loads, then two workers are forked
            workers = _children(proc.pid)
            if len(workers) >= 2 or proc.poll() is not None:
                break
            time.sleep(0.05)
        assert len(workers) >= 2, "the workers did not start"
        proc.kill()
        proc.wait()
        yield workers
    finally:
        for pid in workers:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_kill_9_of_the_parent_leaves_no_worker_and_the_next_run_cleans_up(tmp_path: Path) -> None:
    src, out = _cases(tmp_path / "in.csv", 300_000), tmp_path / "out.csv"
    with _killed_batch(src, out) as workers:
        for _ in range(400):
            if not any(map(_alive, workers)):
                break
            time.sleep(0.05)
        assert not any(map(_alive, workers)), "a worker outlived its parent"
    leftovers = _partials(tmp_path)
    assert len(leftovers) == 1  # the killed parent could not remove its temporary file
    small = _cases(tmp_path / "small.csv", 3)
    done = subprocess.run(
        _command("batch", str(small), "--output", str(out)),
        env=_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert _partials(tmp_path) == []
    assert len(read_rows(out)) == 3


def test_the_temporary_file_of_a_run_still_going_is_left_alone(tmp_path: Path) -> None:
    # Another run writing the same output holds a lock on its temporary file; a leftover of a
    # killed run does not.
    src, out = _cases(tmp_path / "in.csv", 3), tmp_path / "out.csv"
    live, dead = tmp_path / ".out.csv.live0000.partial", tmp_path / ".out.csv.dead0000.partial"
    live.write_text("a run still going", encoding="utf-8")
    dead.write_text("a run killed", encoding="utf-8")
    other = tmp_path / ".other.csv.dead0000.partial"  # another output's: not ours to remove
    other.write_text("x", encoding="utf-8")
    with live.open("rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        result = pctrules("batch", str(src), "--output", str(out))
    assert result.exit_code == 0, result.output
    assert _partials(tmp_path) == [other.name, live.name]


@pytest.mark.parametrize("kind", ["fifo", "link to /dev/null", "device"])
def test_output_onto_a_device_or_a_pipe_is_refused(tmp_path: Path, kind: str) -> None:
    src, out = _cases(tmp_path / "in.csv", 3), tmp_path / "out"
    if kind == "fifo":
        os.mkfifo(out)
        what = "a pipe (FIFO)"
    elif kind == "link to /dev/null":
        out.symlink_to("/dev/null")
        what = "a character device"
    else:
        try:
            os.mknod(out, 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # a /dev/null of our own
        except PermissionError:
            pytest.skip("making a device node needs privileges")
        what = "a character device"
    before = os.lstat(out)
    result = pctrules("batch", str(src), "--output", str(out))
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(
        f"error[E-io]: the output '{out}' is {what}, not a regular file\n"
    )
    after = os.lstat(out)
    assert (after.st_ino, after.st_mode) == (before.st_ino, before.st_mode)
    assert _partials(tmp_path) == []


def _unwritable_folder(tmp_path: Path) -> Path:
    """A folder this user cannot create files in: a read-only one, or (for root, whom modes do
    not stop) sysfs, which makes no files."""
    if os.geteuid() != 0:
        folder = tmp_path / "read-only"
        folder.mkdir()
        folder.chmod(0o555)
        return folder
    probe = Path("/sys/pctrules-probe")
    try:
        probe.touch()
    except OSError:
        return Path("/sys")
    probe.unlink()
    pytest.skip("no folder that root cannot write in")


def test_a_folder_that_cannot_be_written_is_an_io_error(tmp_path: Path) -> None:
    src = _cases(tmp_path / "in.csv", 3)
    folder = _unwritable_folder(tmp_path)
    result = pctrules("batch", str(src), "--output", str(folder / "out.csv"))
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(
        f"error[E-io]: cannot write in the folder '{folder}': permission denied\n"
    )


def _small_file_limit() -> None:
    # Each file this process writes may hold 64 KiB: like a disk that fills up, writing more
    # fails (EFBIG; Python ignores SIGXFSZ).
    resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536))


def test_a_full_disk_is_an_io_error_and_the_previous_output_stays(tmp_path: Path) -> None:
    src, out = _cases(tmp_path / "in.csv", 20_000), tmp_path / "out.csv"
    out.write_text("the previous output\n", encoding="utf-8")
    done = subprocess.run(
        _command("batch", str(src), "--output", str(out)),
        env=_env(),
        capture_output=True,
        text=True,
        check=False,
        preexec_fn=_small_file_limit,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(
        f"error[E-io]: cannot write '{out}': file too large; it was not written\n"
    )
    assert out.read_text(encoding="utf-8") == "the previous output\n"
    assert _partials(tmp_path) == []


def test_an_empty_output_name_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # where an empty name would have put the output
    src = _cases(tmp_path / "in.csv", 3)
    result = pctrules("batch", str(src), "--output", "")
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--output': is empty; name the file to write" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]


@pytest.mark.parametrize("name", ["/dev/stdin", "fifo"])
def test_standard_input_or_a_pipe_as_input_is_a_usage_error(tmp_path: Path, name: str) -> None:
    out = tmp_path / "out.csv"
    if name == "fifo":
        os.mkfifo(tmp_path / "fifo")
        name = str(tmp_path / "fifo")
    done = subprocess.run(
        _command("batch", name, "--output", str(out)),
        env=_env(),
        input=HEADER + f"a,{ROW}",
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"error[E-io]: '{name}' is a pipe (FIFO), not a regular file\n")
    assert not out.exists()


def test_the_output_gets_the_mode_of_a_new_file_or_of_the_file_it_replaces(tmp_path: Path) -> None:
    src = _cases(tmp_path / "in.csv", 3)
    new, old = tmp_path / "new.csv", tmp_path / "old.csv"
    old.write_text("x", encoding="utf-8")
    old.chmod(0o640)
    umask = os.umask(0o022)
    try:
        for out in (new, old):
            assert pctrules("batch", str(src), "--output", str(out)).exit_code == 0
    finally:
        os.umask(umask)
    assert stat.S_IMODE(new.stat().st_mode) == 0o644
    assert stat.S_IMODE(old.stat().st_mode) == 0o640
