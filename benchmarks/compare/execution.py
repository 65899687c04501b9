"""Runs the distinct trainings, serially or on a pool of worker processes.

One Keras training of these small rankers keeps about one core busy (the
Python-side graph tracing and the per-step op dispatch are single-threaded),
so a pool with one worker per core finishes the benchmark about twice as
fast on 2 cores. Every training is seeded on its own (`train_variant` calls
`tf.keras.utils.set_random_seed`), so its result does not depend on which
worker ran it or in which order.
"""
import concurrent.futures
import gc
import hashlib
import multiprocessing
import os
import pickle
import time

import tensorflow as tf

from compare.training import PreparedSplit, train_variant

# Per-process state of a worker: the data frame and its prepared splits.
_WORKER = {}


def _initialise_worker(frame):
    _WORKER["frame"] = frame
    _WORKER["splits"] = {}


def _split(seed):
    splits = _WORKER["splits"]
    if seed not in splits:
        splits[seed] = PreparedSplit.from_frame(_WORKER["frame"], seed)
    return splits[seed]


def _train(task, budget):
    """Trains one (variant, seed) task; returns its picklable result dict."""
    variant, seed = task
    result = train_variant(variant, _split(seed), **budget)
    # Dropping the finished model's graphs keeps a long run's memory flat.
    tf.keras.backend.clear_session()
    gc.collect()
    return result


class ResultCache:
    """Finished trainings on disk, so a crashed or interrupted run resumes where it stopped.

    One pickle per training, named by a hash of (task, budget, data): a rerun
    with the same settings reuses every training that finished, and a change of
    any of them trains anew. The library's code is not part of the key: clear
    the folder after changing wt_keras.
    """

    def __init__(self, directory, frame, budget):
        self.directory = directory
        os.makedirs(directory, exist_ok=True)
        data = hashlib.sha1(pd_hash(frame)).hexdigest()
        self._salt = repr((sorted(budget.items()), data))

    def _path(self, task):
        key = hashlib.sha1((repr(task) + self._salt).encode()).hexdigest()[:20]
        return os.path.join(self.directory, f"{key}.pkl")

    def get(self, task):
        path = self._path(task)
        if not os.path.exists(path):
            return None
        with open(path, "rb") as handle:
            return pickle.load(handle)

    def put(self, task, result):
        path = self._path(task)
        with open(path + ".tmp", "wb") as handle:
            pickle.dump(result, handle)
        os.replace(path + ".tmp", path)   # atomic: a kill never leaves half a file


def pd_hash(frame):
    """Bytes identifying a data frame's content."""
    import pandas as pd
    return pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes()


def train_all(tasks, frame, budget, workers=1, report=None, cache_dir=None):
    """Trains every task and returns their results in task order.

    Args:
      tasks: list of (Variant, seed) pairs, each trained once.
      frame: the full data frame (each worker splits it by seed itself).
      budget: keyword arguments of `train_variant` (epochs, batch size, lr).
      workers: processes; 1 trains in this process.
      report: optional callback(index, task, result, elapsed_seconds) called
        as each training finishes.
      cache_dir: optional folder of finished trainings (`ResultCache`): they
        are reused, and each new one is stored as soon as it finishes.

    Returns:
      list of result dicts, aligned with `tasks`.
    """
    start = time.perf_counter()
    results = [None] * len(tasks)
    cache = ResultCache(cache_dir, frame, budget) if cache_dir else None
    pending = []
    for index, task in enumerate(tasks):
        results[index] = cache.get(task) if cache else None
        if results[index] is None:
            pending.append(index)
        elif report:
            report(index, task, results[index], time.perf_counter() - start)

    def finished(index, result):
        results[index] = result
        if cache:
            cache.put(tasks[index], result)
        if report:
            report(index, tasks[index], result, time.perf_counter() - start)

    if workers <= 1 or len(pending) <= 1:
        _initialise_worker(frame)
        for index in pending:
            finished(index, _train(tasks[index], budget))
        return results
    # "spawn": a fork of a process that already initialised TensorFlow's
    # thread pools can deadlock.
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context,
                                                initializer=_initialise_worker,
                                                initargs=(frame,)) as pool:
        futures = {pool.submit(_train, tasks[index], budget): index for index in pending}
        for future in concurrent.futures.as_completed(futures):
            finished(futures[future], future.result())
    return results
