"""Training on a stream (`--streaming`): endless batches of this process's part, pass after pass,
and the position a checkpoint records so that a resumed run continues exactly where it was.

Why the position is a row count and not `datasets.IterableDataset.state_dict()`: a stream
shuffled through a buffer saves its reader's position without the buffer's content, and on
loading refills the buffer from later rows (datasets warns so), so a resumed run would train on
other rows in another order than the uninterrupted one. Here a resumed run re-reads the pass from
its start and skips the rows already trained on: the shuffle is seeded, so the rows that follow
are those an uninterrupted run reads next. Images stay encoded in the stream (the collate decodes
them), so the skipped rows are read but never decoded.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import islice
from typing import Any, Callable, Iterator

from torch.utils.data import DataLoader, IterableDataset


@dataclass
class StreamPosition:
    """Where this process is in its stream: the pass (epoch of the stream) and the rows of that
    pass already trained on."""

    pass_index: int = 0
    rows: int = 0


class _ResumedPass(IterableDataset):
    """One pass of `stream` in which every loader worker (or the loader itself, without workers)
    skips its first `skip_rows` rows."""

    def __init__(self, stream: Any) -> None:
        self.stream, self.skip_rows = stream, 0

    def __iter__(self) -> Iterator[Any]:
        return islice(iter(self.stream), self.skip_rows, None)


def stream_batches(
    stream: Any, position: StreamPosition, batch_size: int, make_loader: Callable[[IterableDataset], DataLoader]
) -> Iterator[Any]:
    """Batches of `stream` (a `datasets.IterableDataset` or any iterable dataset with `set_epoch`)
    from `position` on, without end: at the end of a pass the next one starts, reshuffled by
    `set_epoch`. `position` is advanced as batches are handed out. A pass that gives no batch at
    all is an error (the stream has fewer rows than one batch).

    With W loader workers, each worker reads its own shards and the loader takes one batch from
    each worker in turn, always starting with worker 0. So to continue after B batches, every
    worker skips the rows of its B // W batches of the whole rounds, and the loader's first
    B % W batches (of the round that was under way) are read again and dropped."""
    while True:
        stream.set_epoch(position.pass_index)
        resumed = _ResumedPass(stream)
        loader = make_loader(resumed)
        rounds, partial = divmod(position.rows // batch_size, max(loader.num_workers, 1))
        resumed.skip_rows = rounds * batch_size
        given = False
        for index, batch in enumerate(loader):
            if index < partial:
                continue
            given = True
            position.rows += batch_size
            yield batch
        if not given and position.rows == 0:
            raise ValueError(
                f"This process's part of the stream holds fewer rows than one batch ({batch_size}); lower "
                "--per_device_train_batch_size or use fewer processes."
            )
        position.pass_index, position.rows = position.pass_index + 1, 0
