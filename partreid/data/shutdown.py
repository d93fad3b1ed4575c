"""Closing a data loader's iterator at once, with every worker under one deadline.

torch shuts a multi-process loader iterator down when it is exhausted or garbage collected:
it tells the workers to stop, then joins them one after another with a 5 s timeout each, so
one stuck worker costs 5 s and twelve slow ones a minute; an endless training loader is never
exhausted, so that only happens when a garbage collection finds it. `close_loader_iterator`
does it when the caller decides, in a bounded time: it tells every worker to stop at once,
waits for all of them under one shared deadline, terminates those still alive, and then lets
torch's own shutdown close the queues (it finds the workers gone and returns at once).
"""
import logging
import time

from torch.utils.data import _utils as loader_utils

logger = logging.getLogger(__name__)

# Seconds every worker together gets to finish its current batch and exit before it is
# terminated, and seconds a terminated worker gets before it is killed.
JOIN_DEADLINE_S = 1.0
TERMINATE_GRACE_S = 0.5


def close_loader_iterator(iterator, deadline_s: float = JOIN_DEADLINE_S) -> None:
    """Shut down `iterator` (what `iter(DataLoader)` returned) now, in at most about
    `deadline_s + TERMINATE_GRACE_S` seconds, whatever its workers are doing. A single-process
    iterator has nothing to shut down; any other iterator with a `close()` (a generator) is
    closed. Safe to call twice and on None.

    This reads the attributes torch's `_MultiProcessingDataLoaderIter._shutdown_workers` uses
    (torch/utils/data/dataloader.py: `_workers`, `_index_queues`, `_workers_done_event`,
    the pin-memory thread, the SIGCHLD watch of the worker pids), in the order its shutdown
    notes give: the pin-memory thread first (it reads the queue the workers write to), then the
    workers. Only the joins are done here; the rest stays torch's."""
    if iterator is None:
        return
    workers = getattr(iterator, "_workers", None)
    if workers is None:
        close = getattr(iterator, "close", None)
        if callable(close):
            close()
        return
    if getattr(iterator, "_shutdown", True):
        return
    deadline = time.monotonic() + deadline_s

    def remaining() -> float:
        return max(0.0, deadline - time.monotonic())

    pin_thread = getattr(iterator, "_pin_memory_thread", None)
    if pin_thread is not None:
        iterator._pin_memory_thread_done_event.set()
        iterator._worker_result_queue.put((None, None))  # wakes the thread if it waits on the queue
        pin_thread.join(remaining())
    # A worker stops at the None in its index queue once the done event is set (it skips the
    # indices queued before it): all are told before any is waited for.
    iterator._workers_done_event.set()
    for worker, index_queue in zip(workers, iterator._index_queues):
        if worker.is_alive():
            index_queue.put(None)
    for worker in workers:
        worker.join(remaining())
    stragglers = [worker for worker in workers if worker.is_alive()]
    if stragglers:
        # torch's SIGCHLD handler raises in this process when a watched worker dies by a signal:
        # stop watching before terminating (torch's shutdown does the same before it kills).
        if getattr(iterator, "_worker_pids_set", False):
            loader_utils.signal_handling._remove_worker_pids(id(iterator))
            iterator._worker_pids_set = False
        for worker in stragglers:
            worker.terminate()
        grace = time.monotonic() + TERMINATE_GRACE_S
        for worker in stragglers:
            worker.join(max(0.0, grace - time.monotonic()))
            if worker.is_alive():
                worker.kill()
                worker.join()
        logger.warning(f"Data loader: {len(stragglers)} of {len(workers)} workers did not stop within "
                       f"{deadline_s:.1f}s (a batch still loading) and were terminated")
    iterator._shutdown_workers()
