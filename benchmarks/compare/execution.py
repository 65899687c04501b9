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
import multiprocessing
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


def train_all(tasks, frame, budget, workers=1, report=None):
    """Trains every task and returns their results in task order.

    Args:
      tasks: list of (Variant, seed) pairs, each trained once.
      frame: the full data frame (each worker splits it by seed itself).
      budget: keyword arguments of `train_variant` (epochs, batch size, lr).
      workers: processes; 1 trains in this process.
      report: optional callback(index, task, result, elapsed_seconds) called
        as each training finishes.

    Returns:
      list of result dicts, aligned with `tasks`.
    """
    start = time.perf_counter()
    results = [None] * len(tasks)
    if workers <= 1:
        _initialise_worker(frame)
        for index, task in enumerate(tasks):
            results[index] = _train(task, budget)
            if report:
                report(index, task, results[index], time.perf_counter() - start)
        return results
    # "spawn": a fork of a process that already initialised TensorFlow's
    # thread pools can deadlock.
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context,
                                                initializer=_initialise_worker,
                                                initargs=(frame,)) as pool:
        futures = {pool.submit(_train, task, budget): index for index, task in enumerate(tasks)}
        for future in concurrent.futures.as_completed(futures):
            index = futures[future]
            results[index] = future.result()
            if report:
                report(index, tasks[index], results[index], time.perf_counter() - start)
    return results
