"""The benchmark's load, direct runs and table (the benchmark tool on the
running service: tests/serving/test_deployment.py)."""
import math

import pytest

from emanet.serving.load import Row, Timings, p99_lines, run_direct, table


def test_timings_give_throughput_and_percentiles():
    t = Timings(latencies=[0.01 * i for i in range(1, 101)], images=100,
                errors=2, seconds=4.0)
    assert t.throughput == 25
    assert t.percentile_ms(50) == pytest.approx(505)
    assert t.percentile_ms(99) == pytest.approx(990.1)  # interpolated
    assert math.isnan(Timings().percentile_ms(99))
    assert Timings().throughput == 0


def test_table_and_p99_lines():
    direct = Timings([0.1] * 4, 4, 0, 0.4)
    served = Timings([0.11] * 4, 4, 1, 0.5)
    rows = [Row('http://x (max batch 1)', 1, served, direct),
            Row('inference_model (batch 1)', None, direct)]
    assert table(rows) == [
        '| path | concurrency | images/s | vs inference_model | p50 ms | '
        'p95 ms | p99 ms | errors |',
        '|---|---|---|---|---|---|---|---|',
        '| http://x (max batch 1) | 1 | 8.00 | 0.80x | 110.0 | 110.0 | '
        '110.0 | 1 |',
        '| inference_model (batch 1) | - | 10.00 | - | 100.0 | 100.0 | '
        '100.0 | 0 |']
    assert p99_lines(rows, direct) == [
        'p99 at concurrency 1: http://x (max batch 1) 110.0 ms = 1.10x of '
        'inference_model (batch 1) 100.0 ms']


@pytest.mark.serving
def test_direct_run_counts_images_and_calls(models):
    from emanet.apis import init_model
    model = init_model(models.config, models.checkpoint, device='cpu')
    payloads = [open(p, 'rb').read() for p in models.images[:3]]
    timings = run_direct(model, payloads, batch_size=2, requests=5)
    assert timings.images == 5 and len(timings.latencies) == 3
    assert timings.throughput > 0
