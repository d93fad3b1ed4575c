"""Reading training batches in the data tests, and comparing two streams of them."""
import itertools

import torch

from partreid.data.shutdown import close_loader_iterator

BATCH_KEYS = ("images", "targets", "camids", "modalities", "indices")


def take(loader, count):
    """The first `count` batches; the iterator is closed at once (left to the garbage collector, an
    endless loader's workers would be joined whenever a later test happens to trigger it)."""
    iterator = iter(loader)
    batches = list(itertools.islice(iterator, count))
    close_loader_iterator(iterator)
    return batches


def assert_same_batches(a, b):
    """Two lists of batches hold the same tensors, dtypes included, key by key."""
    assert len(a) == len(b)
    for x, y in zip(a, b):
        for key in BATCH_KEYS:
            assert x[key].dtype == y[key].dtype and torch.equal(x[key], y[key]), key
