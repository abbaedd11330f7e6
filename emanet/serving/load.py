"""Load on a service, and the same images through ``inference_model`` in
this process: throughput and latency percentiles for the benchmark."""
import itertools
import threading
import time
from dataclasses import dataclass, field
from typing import List, Optional, Sequence

import numpy as np


@dataclass
class Timings:
    """Requests (or direct calls) of one run.

    Attributes:
        latencies: seconds of each answered request (or call).
        images: images answered.
        errors: requests answered with an error or not at all.
        seconds: wall time of the run.
    """
    latencies: List[float] = field(default_factory=list)
    images: int = 0
    errors: int = 0
    seconds: float = 0.0

    @property
    def throughput(self) -> float:
        """Images per second."""
        return self.images / self.seconds if self.seconds > 0 else 0.0

    def percentile_ms(self, q: float) -> float:
        """The ``q``-th percentile latency in ms (NaN without any)."""
        if not self.latencies:
            return float('nan')
        return 1000 * float(np.percentile(self.latencies, q))


def post_image(client, url: str, data: bytes, **query) -> 'object':
    """``POST URL/predict`` with the image file's bytes as the body."""
    return client.post(f'{url.rstrip("/")}/predict', content=data,
                       params=query or None,
                       headers={'content-type': 'application/octet-stream'})


def load_service(url: str, payloads: Sequence[bytes], concurrency: int,
                 requests: int, timeout: float = 120.0) -> Timings:
    """``requests`` predictions sent by ``concurrency`` client threads.

    Each thread keeps one connection and sends its next request as soon
    as its last is answered; the images are taken in turn.
    """
    import httpx
    timings = Timings()
    counter = itertools.count()
    lock = threading.Lock()
    start = threading.Barrier(concurrency + 1)

    def worker() -> None:
        with httpx.Client(timeout=timeout) as client:
            start.wait()
            while (i := next(counter)) < requests:
                began = time.perf_counter()
                try:
                    ok = post_image(client, url, payloads[i % len(payloads)]
                                    ).status_code == 200
                except httpx.HTTPError:
                    ok = False
                spent = time.perf_counter() - began
                with lock:
                    if ok:
                        timings.latencies.append(spent)
                        timings.images += 1
                    else:
                        timings.errors += 1

    threads = [threading.Thread(target=worker, daemon=True)
               for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    timings.seconds = time.perf_counter() - began
    return timings


def run_direct(model, payloads: Sequence[bytes], batch_size: int,
               requests: int) -> Timings:
    """The service's work in this process: decode the file bytes, run
    ``inference_model`` on ``batch_size`` images at a time, encode the
    label PNGs. Latency is per call (one batch)."""
    from .decoding import decode_image
    from .encoding import label_map, png_bytes
    from .predictor import segment_images
    timings = Timings()
    began = time.perf_counter()
    for first in range(0, requests, batch_size):
        count = min(batch_size, requests - first)
        call = time.perf_counter()
        images = [decode_image(payloads[(first + i) % len(payloads)],
                               max_pixels=1 << 40) for i in range(count)]
        for sample in segment_images(model, images):
            if isinstance(sample, Exception):
                raise sample
            png_bytes(label_map(sample))
        timings.latencies.append(time.perf_counter() - call)
        timings.images += count
    timings.seconds = time.perf_counter() - began
    return timings


def ratio(value: float, reference: Optional[float]) -> str:
    """``'0.93x'``, or ``'-'`` without a reference."""
    if not reference or value != value:
        return '-'
    return f'{value / reference:.2f}x'


@dataclass
class Row:
    """One line of the benchmark table.

    Attributes:
        path: what was timed (a service, or ``inference_model``).
        concurrency: client threads; None for a direct run.
        timings: the run.
        reference: the direct run it is held against, if any.
    """
    path: str
    concurrency: Optional[int]
    timings: Timings
    reference: Optional[Timings] = None


def table(rows: Sequence[Row]) -> List[str]:
    """The rows as a Markdown table: images/s (and the ratio to the
    reference), p50/p95/p99 latency and errors."""
    lines = ['| path | concurrency | images/s | vs inference_model | '
             'p50 ms | p95 ms | p99 ms | errors |',
             '|---|---|---|---|---|---|---|---|']
    for row in rows:
        t = row.timings
        versus = ratio(t.throughput, row.reference.throughput
                       if row.reference else None)
        lines.append(
            f'| {row.path} | {row.concurrency or "-"} | '
            f'{t.throughput:.2f} | {versus} | {t.percentile_ms(50):.1f} | '
            f'{t.percentile_ms(95):.1f} | {t.percentile_ms(99):.1f} | '
            f'{t.errors} |')
    return lines


def p99_lines(rows: Sequence[Row], direct: Timings) -> List[str]:
    """p99 latency at concurrency 1 of each service against one direct
    call (batch 1, decoding and PNG encoding included)."""
    reference = direct.percentile_ms(99)
    return [f'p99 at concurrency 1: {row.path} '
            f'{row.timings.percentile_ms(99):.1f} ms = '
            f'{ratio(row.timings.percentile_ms(99), reference)} of '
            f'inference_model (batch 1) {reference:.1f} ms'
            for row in rows if row.concurrency == 1]
