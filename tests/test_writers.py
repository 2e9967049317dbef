"""Every file refgraph writes goes through one writer (src/replacefile.c):
a temporary file beside the target, flushed and renamed over it.  So a full
disk leaves nothing partial under the name (and what was there stays), a
FIFO, a device or a directory is refused before anything is written (a
FIFO used to block forever, Graph.save with the GIL held), a replaced file
keeps its mode, and the OSError names the path the caller gave."""
import os
import shutil
import stat
import subprocess
import threading

import pytest

import refgraph


class Order:
    pass


@pytest.fixture
def held():
    """An object held by a list, and that list by this fixture."""
    box = [Order()]
    return box


@pytest.fixture
def report():
    kept = []
    return refgraph.find_leaks(lambda: kept.append(Order()), confirm=0)


def writers(held, report):
    """(name, write(path)) for each way refgraph writes a user-named file."""
    graph = refgraph.show_refs(held, output=_Null())
    return [
        ("show_backrefs(filename=...dot)", lambda p: refgraph.show_backrefs(held, filename=str(p) + ".dot")),
        ("Graph.save(.dot)", lambda p: graph.save(str(p) + ".dot")),
        ("Graph.save(.txt)", lambda p: graph.save(str(p) + ".txt")),
        ("LeakReport.save(.html)", lambda p: report.save(str(p) + ".html")),
        ("LeakReport.save(.txt)", lambda p: report.save(str(p) + ".txt")),
    ]


class _Null:
    def write(self, text):
        return len(text)


def _mount_tiny_tmpfs(where):
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a 1 MiB tmpfs needs root and mount(8)")
    where.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(where)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip("cannot mount a tmpfs here: %s" % done.stderr.strip())


@pytest.fixture
def full_disk(tmp_path):
    """A 1 MiB tmpfs with all but a few KiB taken: a disk that fills up."""
    where = tmp_path / "tiny"
    _mount_tiny_tmpfs(where)
    try:
        filler = where / "filler"
        with open(filler, "wb") as f:
            try:
                f.write(b"\0" * (1 << 20))
            except OSError:
                pass
        # Leave 4 KiB free: room to create a file and write a little of it.
        size = filler.stat().st_size
        os.truncate(filler, max(0, size - 4096))
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def test_a_full_disk_leaves_no_partial_file_and_keeps_the_old_one(held, report, full_disk):
    big = [Order() for _ in range(3000)]    # pictures and reports of more than 4 KiB
    kept_big = refgraph.show_refs(big, output=_Null(), max_nodes=None, too_many=3000)
    cases = writers(held, report) + [("Graph.save(big .dot)", lambda p: kept_big.save(str(p) + ".dot"))]
    for name, write in cases:
        target = full_disk / "out"
        try:
            write(target)
        except OSError as e:
            assert e.filename is not None and str(e.filename).startswith(str(target)), (name, e)
        left = sorted(os.listdir(full_disk))
        # Either written whole, or nothing but the filler: no temporary
        # file, no truncated file under the name.
        for entry in left:
            if entry == "filler":
                continue
            assert not entry.endswith(".tmp"), (name, left)
            path = full_disk / entry
            if path.suffix == ".html":
                assert path.read_text().rstrip().endswith("</html>"), name
            os.remove(path)
    # A file that was there stays whole when its replacement does not fit.
    old = full_disk / "keep.dot"
    old.write_text("old\n")
    with pytest.raises(OSError) as e:
        kept_big.save(str(old))
    assert e.value.filename == str(old)
    assert old.read_text() == "old\n" and sorted(os.listdir(full_disk)) == ["filler", "keep.dot"]


def test_fifos_devices_and_directories_are_refused_before_writing(held, report, tmp_path):
    for name, write in writers(held, report):
        ext = name.split("(")[1].split(")")[0].split(".")[-1]
        # a FIFO under the exact name the writer writes
        path = tmp_path / ("pipe.%s" % ext)
        if not path.exists():
            os.mkfifo(path)
        outcome = []
        worker = threading.Thread(target=lambda: outcome.append(_raises(write, tmp_path / "pipe")))
        worker.start()
        worker.join(20)
        assert outcome, "%s blocked on a FIFO" % name
        assert isinstance(outcome[0], OSError) and "not a regular file" in str(outcome[0]), (name, outcome)
        assert outcome[0].filename == str(path), (name, outcome[0].filename)
        directory = tmp_path / ("dir.%s" % ext)
        directory.mkdir(exist_ok=True)
        error = _raises(write, tmp_path / "dir")
        assert isinstance(error, OSError), (name, error)
        assert stat.S_ISFIFO(os.stat(path).st_mode)    # still the FIFO
    # A link to a device: the link's target would be replaced.
    os.symlink("/dev/null", tmp_path / "null.txt")
    with pytest.raises(OSError, match="not a regular file"):
        report.save(tmp_path / "null.txt")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode) and os.path.islink(tmp_path / "null.txt")


def _raises(write, path):
    try:
        write(path)
    except Exception as e:
        return e
    return None


def test_a_replaced_file_keeps_its_mode_and_a_new_one_follows_the_umask(held, report, tmp_path):
    for name, write in writers(held, report):
        ext = name.split("(")[1].split(")")[0].split(".")[-1]
        target = tmp_path / ("kept.%s" % ext)
        target.write_text("old")
        os.chmod(target, 0o640)
        write(tmp_path / "kept")
        assert stat.S_IMODE(os.stat(target).st_mode) == 0o640, name
        assert target.read_text() != "old", name
        fresh = tmp_path / ("fresh.%s" % ext)
        old_umask = os.umask(0o027)
        try:
            write(tmp_path / "fresh")
        finally:
            os.umask(old_umask)
        assert stat.S_IMODE(os.stat(fresh).st_mode) == 0o640, name
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_an_unwritable_directory_names_the_file(report, tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        report.save(str(tmp_path / "no" / "such" / "dir" / "r.html"))
    assert e.value.filename == str(tmp_path / "no" / "such" / "dir" / "r.html")


def test_the_writer_takes_bytes_and_str_only(tmp_path):
    with pytest.raises(TypeError, match="data must be bytes or str, not int"):
        refgraph._core._write_file(str(tmp_path / "x"), 5)
    refgraph._core._write_file(str(tmp_path / "x"), "caf\u00e9")
    assert (tmp_path / "x").read_bytes() == "caf\u00e9".encode()


def test_a_file_being_replaced_is_readable_by_no_one_else_meanwhile(tmp_path):
    """The temporary file was created 0644 (less the umask) and got the
    replaced file's mode only at the end: a 0600 snapshot's data was
    readable while it was written.  It is 0600 until then now."""
    target = tmp_path / "secret.rgsnap"
    target.write_bytes(b"old")
    os.chmod(target, 0o600)
    seen = []

    def look(done, total):
        for name in os.listdir(tmp_path):
            if name.endswith(".tmp"):
                seen.append(stat.S_IMODE(os.stat(tmp_path / name).st_mode))
    heap = [{"k%d" % i: i * 0.5} for i in range(50000)]
    refgraph.snapshot().save(target, progress=look)
    del heap
    assert seen and set(seen) == {0o600}, seen
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600


def test_root_replacing_another_users_file_keeps_it_theirs(held, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("changing a file's owner needs root")
    target = tmp_path / "theirs.dot"
    target.write_text("old")
    os.chown(target, 65534, 65534)
    os.chmod(target, 0o600)
    refgraph.show_refs(held, filename=str(target))
    st = os.stat(target)
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (65534, 65534, 0o600)


def test_a_long_name_and_a_relative_dangling_link(held, tmp_path):
    """A name of 246 bytes is legal, but '.NAME.PID.K.tmp' was not; a
    dangling relative link's target was not found."""
    long_name = tmp_path / ("a" * 246 + ".dot")
    refgraph.show_refs(held, filename=str(long_name))
    assert long_name.read_text().startswith("digraph")
    os.symlink("made-by-the-link.dot", tmp_path / "link.dot")
    refgraph.show_refs(held, filename=str(tmp_path / "link.dot"))
    assert os.path.islink(tmp_path / "link.dot") and (tmp_path / "made-by-the-link.dot").read_text()
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]
