"""Fault (a): a run killed with SIGKILL during the physics steps, then rerun.

A reader must never see a half-written store, and the rerun must produce exactly what an
uninterrupted run produces. Two levels: a writer killed while its temporary store is on disk
(deterministic: the store is large enough that the write takes a while), and the whole per-slide
pipeline killed in a ``dagster`` subprocess as MH-PR starts.
"""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import numpy as np
import pytest
from dagster import DagsterInstance
from dagster._core.instance.ref import InstanceRef

from holo_pipeline.datasets.stores import open_field_store, write_field_store
from holo_pipeline.definitions import build_definitions
from holo_pipeline.defs.instance import install_instance_config
from holo_pipeline_tests.defs.conftest import env_for_subprocess
from holo_pipeline_tests.ops.outputs import assert_identical, materialize_slide, slide_outputs

HERE = Path(__file__).parent
WRITER = """
import sys, numpy as np
from holo_pipeline.datasets.stores import write_field_store
rng = np.random.default_rng(int(sys.argv[2]))
field = (rng.standard_normal((48, 512, 512)) + 1j).astype(np.complex64)
seed = int(sys.argv[2])
write_field_store(
    sys.argv[1], field, residuals=np.ones((48, 3)), z2=np.ones((48, 8)), attrs={"seed": seed}
)
"""


def _wait_for(predicate, proc: subprocess.Popen, timeout_s: float = 90.0) -> bool:
    """Poll ``predicate`` every 5 ms while ``proc`` runs; True if it held before ``proc`` ended."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        if predicate():
            return True
        time.sleep(0.005)
    return False


def _kill(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGKILL)  # the process group: Dask workers die with it
    proc.wait(timeout=30)


def _temporaries(folder: Path) -> list[Path]:
    return sorted(folder.glob(".*.tmp-*")) + sorted(folder.glob(".*.old-*"))


@pytest.mark.slow
def test_a_writer_killed_mid_write_leaves_the_previous_store_whole(tmp_path):
    final = tmp_path / "mhpr_ground_truth" / "s-1.zarr"
    # a complete previous version (seed 1) that readers are using
    rng = np.random.default_rng(1)
    old = (rng.standard_normal((48, 512, 512)) + 1j).astype(np.complex64)
    write_field_store(
        final, old, residuals=np.ones((48, 3)), z2=np.ones((48, 8)), attrs={"seed": 1}
    )

    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(final), "2"], start_new_session=True)
    assert _wait_for(lambda: bool(_temporaries(final.parent)), proc), "no temporary seen"
    _kill(proc)
    assert proc.returncode == -signal.SIGKILL

    # the half-written store is only a hidden temporary; readers still get the old version whole
    assert _temporaries(final.parent)
    store = open_field_store(final)
    assert store.attrs["seed"] == 1
    assert store.field[...].tobytes() == old.tobytes()

    # the next write clears the leftover and replaces the store completely
    subprocess.run([sys.executable, "-c", WRITER, str(final), "2"], check=True)
    assert _temporaries(final.parent) == []
    assert open_field_store(final).attrs["seed"] == 2


@pytest.mark.slow
def test_a_pipeline_killed_during_mhpr_reruns_to_the_uninterrupted_result(
    env, slide_cache, tmp_path, instance
):
    slide = slide_cache("s-kill", seed=7)
    reference_root, killed_root = tmp_path / "reference", tmp_path / "killed"
    for root in (reference_root, killed_root):
        shutil.copytree(slide, root / "landing" / "s-kill")
    assert materialize_slide(build_definitions(root=reference_root), instance, "s-kill").success

    home = tmp_path / "dagster_home"
    install_instance_config(home)
    sub_env = env_for_subprocess(killed_root, home)
    sub_env["HOLO_DASK_SCHEDULER"] = "threads"  # the reference run's scheduler (demo profile)
    cmd = [sys.executable, str(HERE / "outputs.py"), "s-kill"]
    proc = subprocess.Popen(
        cmd, env=sub_env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    mhpr_dir = killed_root / "mhpr_ground_truth"
    heights = killed_root / "autofocused_heights" / "s-kill.parquet"
    # MH-PR starts right after autofocused_heights is written (and checked): kill then, or at the
    # first sign of its temporary store, whichever the 5 ms poll sees first
    started = _wait_for(
        lambda: heights.exists() or (mhpr_dir.is_dir() and bool(_temporaries(mhpr_dir))), proc
    )
    assert started, proc.stderr.read().decode()[-2000:]
    _kill(proc)

    # what a reader can see now: complete stores or none, never a temporary under a real name
    for name in ("super_resolved_holograms", "mhpr_ground_truth", "patch_dataset"):
        folder = killed_root / name
        visible = (
            sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))
            if (folder.is_dir())
            else []
        )
        assert visible in ([], ["s-kill.zarr"]), (name, visible)
    assert (killed_root / "super_resolved_holograms" / "s-kill.zarr").is_dir()

    rerun = subprocess.run(cmd, env=sub_env, capture_output=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr.decode()[-3000:]
    for name in ("super_resolved_holograms", "mhpr_ground_truth", "patch_dataset"):
        assert _temporaries(killed_root / name) == []
    # the killed run was failed and its pool slot freed by the rerun; none is held now
    with DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as inst:
        runs = inst.get_runs()
        assert [r.status for r in runs] == [
            dg.DagsterRunStatus.SUCCESS,
            dg.DagsterRunStatus.FAILURE,
        ]
        assert not inst.event_log_storage.get_concurrency_info("holo_cpu").claimed_slots
    assert_identical(slide_outputs(reference_root, "s-kill"), slide_outputs(killed_root, "s-kill"))
