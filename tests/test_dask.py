"""tracegrad.dask on a LocalCluster of two worker processes on 127.0.0.1.

The cluster is started once for the module and stopped at its end, and the teardown checks
that no worker process outlives it.  Most tests run the reference interpreter on the workers
(``compile="never"``): what is tested here is the splitting and the reduction, and each
worker process would otherwise compile every program again.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import traceback

import numpy as np
import pytest

import tracegrad as tg
from tracegrad import config, optim

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
psutil = pytest.importorskip("psutil")  # a dependency of distributed

import tracegrad.dask as tgd  # noqa: E402  (after the skips: it imports dask)

ROWS, FEATURES, HIDDEN = 1000, 4, 3


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",  # loopback, any free port
        silence_logs=logging.ERROR,
        timeout=60,
    )
    workers: list[psutil.Process] = []
    try:
        with distributed.Client(cluster, timeout=60) as c:
            yield c
            # The worker processes now (the nanny restarts one that died); not the resource
            # tracker Python's multiprocessing keeps until this process exits.
            workers = [psutil.Process(pid) for pid in c.run(os.getpid).values()]
    finally:
        cluster.close(timeout=30)
    _, alive = psutil.wait_procs(workers, timeout=30)
    for p in alive:
        p.kill()
    assert not alive, f"worker processes outlived the cluster: {alive}"


def loss(params, x, y):
    hidden = np.tanh(x @ params["w"] + params["b"])
    return np.mean((hidden @ params["v"] - y) ** 2)


def summed_loss(params, x, y):
    return np.sum((np.tanh(x @ params["w"] + params["b"]) @ params["v"] - y) ** 2)


def problem(seed=0, rows=ROWS):
    rng = np.random.default_rng(seed)
    params = {
        "w": rng.normal(size=(FEATURES, HIDDEN)),
        "b": rng.normal(size=HIDDEN),
        "v": rng.normal(size=HIDDEN),
    }
    x = rng.normal(size=(rows, FEATURES))
    y = np.sin(x.sum(axis=1))
    return params, x, y


def assert_same(got, expected):
    (value, grads), (ref_value, ref_grads) = got, expected
    np.testing.assert_allclose(value, ref_value, rtol=1e-12)
    assert grads.keys() == ref_grads.keys()
    for name in ref_grads:
        np.testing.assert_allclose(grads[name], ref_grads[name], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize(
    ("chunks", "fan_in"),
    [((250, 250, 250, 250), 8), ((400, 100, 233, 100, 167), 2), ((1000,), 8)],
    ids=["even", "uneven-deep-tree", "one"],
)
def test_gradient_equals_single_process(client, chunks, fan_in) -> None:
    params, x, y = problem()
    expected = tg.value_and_grad(loss, compile="never")(params, x, y)
    xs = da.from_array(x, chunks=(chunks, FEATURES))
    ys = da.from_array(y, chunks=(chunks,))
    f = tgd.value_and_grad(loss, compile="never", fan_in=fan_in)
    assert_same(f(params, xs, ys), expected)
    assert f.last_step.rows == ROWS and f.last_step.shards == len(chunks)


def test_sum_reduction(client) -> None:
    params, x, y = problem(1)
    expected = tg.value_and_grad(summed_loss, compile="never")(params, x, y)
    xs, ys = da.from_array(x, chunks=(300, FEATURES)), da.from_array(y, chunks=300)
    assert_same(tgd.value_and_grad(summed_loss, reduce="sum", compile="never")(params, xs, ys),
                expected)  # fmt: skip


def test_compiled_once_per_worker(client) -> None:
    """Two steps of compiled code: each worker builds the program at most once."""
    if config.read().backend != "numba":
        pytest.skip("TRACEGRAD_BACKEND is not numba: nothing is compiled")
    params, x, y = problem(2)
    expected = tg.value_and_grad(loss, compile="sync")(params, x, y)
    xs, ys = da.from_array(x, chunks=(250, FEATURES)), da.from_array(y, chunks=250)
    before = client.run(tg.compile_stats)
    f = tgd.value_and_grad(loss, compile="sync")
    for _ in range(2):
        assert_same(f(params, xs, ys), expected)
    after = client.run(tg.compile_stats)
    built = {w: after[w].programs - before[w].programs for w in after}
    rebuilt = {w: after[w].memory_hits - before[w].memory_hits for w in after}
    assert all(n <= 1 for n in built.values()) and sum(built.values()) >= 1, built
    assert not any(rebuilt.values()), rebuilt  # not traced again for the second step


def test_delayed_shards_with_aux(client) -> None:
    params, x, y = problem(3)

    def with_aux(params, x, y):
        return loss(params, x, y), np.max(np.abs(y))

    bounds = [0, 100, 600, 1000]
    xs = [dask.delayed(x[a:b]) for a, b in zip(bounds, bounds[1:], strict=False)]
    ys = [dask.delayed(y[a:b]) for a, b in zip(bounds, bounds[1:], strict=False)]
    (value, auxes), grads = tgd.value_and_grad(with_aux, has_aux=True, compile="never")(
        params, xs, ys
    )
    assert_same((value, grads), tg.value_and_grad(loss, compile="never")(params, x, y))
    expected_aux = [np.max(np.abs(y[a:b])) for a, b in zip(bounds, bounds[1:], strict=False)]
    np.testing.assert_array_equal(auxes, expected_aux)


def _message(error: BaseException) -> str:
    return "".join(traceback.format_exception_only(error))  # with the notes (Python >= 3.11)


def test_shard_of_wrong_width_is_named(client) -> None:
    params, x, y = problem(4)
    xs = [dask.delayed(x[:500]), dask.delayed(np.ones((500, FEATURES + 1)))]
    ys = [dask.delayed(y[:500]), dask.delayed(y[500:])]
    with pytest.raises(Exception) as caught:  # the loss's own error, with the shard in a note
        tgd.value_and_grad(loss, compile="never")(params, xs, ys)
    if sys.version_info >= (3, 11):
        assert "shard 1" in _message(caught.value)


def test_shard_of_wrong_dtype_is_named(client) -> None:
    params, x, y = problem(5)
    xs = [dask.delayed(x[:300]), dask.delayed(x[300:600]), dask.delayed(x[600:].astype("f4"))]
    ys = [dask.delayed(y[:300]), dask.delayed(y[300:600]), dask.delayed(y[600:])]
    with pytest.raises(tgd.ShardError, match=r"shard 2 has .*float32.* but shard 0 has"):
        tgd.value_and_grad(loss, compile="never")(params, xs, ys)


def test_chunk_not_as_declared_is_named(client) -> None:
    params, x, y = problem(6)
    liar = da.from_delayed(dask.delayed(x[500:, :2]), shape=(500, FEATURES), dtype=x.dtype)
    xs = da.concatenate([da.from_array(x[:500]), liar])
    ys = da.from_array(y, chunks=500)
    with pytest.raises(tgd.ShardError, match=r"shard 1 of argument 1 \(x\) has shape \(500, 2\)"):
        tgd.value_and_grad(loss, compile="never")(params, xs, ys)
    short = da.from_delayed(dask.delayed(x[500:900]), shape=(500, FEATURES), dtype=x.dtype)
    xs = da.concatenate([da.from_array(x[:500]), short])
    with pytest.raises(tgd.ShardError, match=r"shard 1 of .* has 400 rows, but .* declares 500"):
        tgd.value_and_grad(loss, compile="never")(params, xs, ys)


def test_arguments_that_are_not_sharded_alike() -> None:
    params, x, y = problem()
    xs = da.from_array(x, chunks=(500, FEATURES))
    f = tgd.value_and_grad(loss)
    with pytest.raises(tgd.ShardError, match=r"argument 2 \(y\) is chunked \(600, 400\)"):
        f(params, xs, da.from_array(y, chunks=600))
    with pytest.raises(tgd.ShardError, match=r"argument 2 \(y\) is a ndarray of NumPy data"):
        f(params, xs, y)
    with pytest.raises(tgd.ShardError, match=r"argument 1 \(x\) is chunked along axis 1"):
        f(params, da.from_array(x, chunks=(500, 2)), da.from_array(y, chunks=500))
    with pytest.raises(tgd.ShardError, match="argument 2 .y. has 3 shards but argument 1"):
        f(params, [dask.delayed(x)] * 2, [dask.delayed(y)] * 3)
    with pytest.raises(ValueError, match="reduce is 'max'"):
        tgd.value_and_grad(loss, reduce="max")


def _shard_that_kills_its_worker(x: np.ndarray, flag: str) -> np.ndarray:
    """Return ``x``; the first time (no ``flag`` file yet), end this worker process instead."""
    if not os.path.exists(flag):
        with open(flag, "w"):
            pass
        os._exit(1)
    return x


def test_worker_killed_mid_step(client, tmp_path) -> None:
    params, x, y = problem(7)
    flag = str(tmp_path / "killed-once")
    xs = [
        dask.delayed(x[:500]),
        dask.delayed(_shard_that_kills_its_worker, pure=False)(x[500:], flag),
    ]
    ys = [dask.delayed(y[:500]), dask.delayed(y[500:])]
    got = tgd.value_and_grad(loss, compile="never")(params, xs, ys)
    assert os.path.exists(flag)  # a worker did die, and Dask ran its shard again
    assert_same(got, tg.value_and_grad(loss, compile="never")(params, x, y))
    client.wait_for_workers(2, timeout=60)  # the nanny restarts it


def test_threaded_scheduler_and_fit(client) -> None:
    """Without a distributed scheduler the same steps run on threads; fit equals a loop."""
    params, x, y = problem(8)
    xs, ys = da.from_array(x, chunks=(300, FEATURES)), da.from_array(y, chunks=300)
    opt = optim.momentum(0.1, m=0.9)
    with dask.config.set(scheduler="threads"):
        result = tgd.fit(loss, params, [xs, ys], opt, steps=3, compile="never")
    local = tg.value_and_grad(loss, compile="never")
    expected, state, losses = params, opt.init(params), []
    for _ in range(3):
        value, grads = local(expected, x, y)
        updates, state = opt.update(grads, state, expected)
        expected = optim.apply_updates(expected, updates)
        losses.append(value)
    np.testing.assert_allclose(result.losses, losses, rtol=1e-12)
    for name in expected:
        np.testing.assert_allclose(result.params[name], expected[name], rtol=1e-12)
    assert losses[-1] < losses[0]


def test_pickles_with_cloudpickle() -> None:
    """The function travels (into a task of its own, say) and computes the same there."""
    cloudpickle = pytest.importorskip("cloudpickle")
    params, x, y = problem(9)
    xs, ys = da.from_array(x, chunks=(500, FEATURES)), da.from_array(y, chunks=500)
    f = tgd.value_and_grad(loss, compile="never")
    with dask.config.set(scheduler="threads"):
        assert_same(cloudpickle.loads(cloudpickle.dumps(f))(params, xs, ys), f(params, xs, ys))


def test_import_tracegrad_does_not_import_dask() -> None:
    code = "import sys, tracegrad; print(sorted(m for m in sys.modules if m.startswith('dask')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
