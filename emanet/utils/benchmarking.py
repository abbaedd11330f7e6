"""What the benchmark tools share: timing, peak memory, the device line,
the images they time and the comparison of their predictions.

Used by ``tools/analysis_tools/benchmark.py`` (inference),
``benchmark_train.py`` (training steps), ``benchmark_backends.py`` (CPU
inference paths side by side) and ``tools/deployment/pytorch2onnx.py``
(``--verify``).
"""
import copy
import ctypes
import platform
import resource
import time
from typing import Callable, Dict, List, Optional, Tuple, TypeVar, Union

import torch
from mmengine.config import Config
from mmengine.structures import PixelData

from emanet.structures import SegDataSample

from .errors import UserError
from .precision import cpu_description

DeviceType = Union[str, torch.device]


class Timer:
    """Wall-clock timing that waits for queued device work first.

    Args:
        device: where the timed work runs; CUDA work is synchronised
            before each reading.
    """

    def __init__(self, device: DeviceType) -> None:
        self.cuda = torch.device(device).type == 'cuda'

    def sync(self) -> None:
        """Wait for the device's queued work."""
        if self.cuda:
            torch.cuda.synchronize()

    def now(self) -> float:
        """Seconds (``time.perf_counter``) once queued work is done."""
        self.sync()
        return time.perf_counter()


Result = TypeVar('Result')


class CallClock:
    """``call`` that adds up the seconds it runs in ``seconds``.

    E.g. a backend segmentor's ``run_network`` put in its own place
    (``with segmentor.use_network(clock):``), so that the time inside the
    runtime shows apart from the time around it.

    Args:
        call: the function to time.
    """

    def __init__(self, call: Callable[..., Result]) -> None:
        self.call = call
        self.seconds = 0.0

    def __call__(self, *args) -> Result:
        start = time.perf_counter()
        try:
            return self.call(*args)
        finally:
            self.seconds += time.perf_counter() - start


def _reset_cpu_peak() -> bool:
    """Reset the process's peak RSS (Linux ``clear_refs``); False if not.

    Freed heap is handed back to the OS first (glibc ``malloc_trim``), so
    memory released while the model was built does not count.
    """
    try:
        ctypes.CDLL('libc.so.6').malloc_trim(0)
    except (OSError, AttributeError):
        pass
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        return True
    except OSError:
        return False


def _cpu_peak_mib() -> float:
    """Peak RSS: ``VmHWM`` (resettable) or ``ru_maxrss`` (process life)."""
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak_memory(device: DeviceType) -> None:
    """Start measuring peak memory on ``device`` from now.

    On CUDA the allocator's peak is reset; on the CPU the process's peak
    RSS where Linux allows it (else :func:`peak_memory` reports the peak
    of the process's life).
    """
    device = torch.device(device)
    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats(device)
    else:
        _reset_cpu_peak()


def peak_memory(device: DeviceType) -> Tuple[float, str]:
    """Peak memory since :func:`reset_peak_memory`, in MiB, and its kind.

    Returns:
        tuple: MiB, and ``'CUDA max allocated'`` or ``'CPU peak RSS of the
        process'``.
    """
    device = torch.device(device)
    if device.type == 'cuda':
        return (torch.cuda.max_memory_allocated(device) / 2**20,
                'CUDA max allocated')
    return _cpu_peak_mib(), 'CPU peak RSS of the process'


def cpu_name() -> str:
    """The CPU's model name (Linux), else what ``platform`` knows."""
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or 'unknown CPU'


def device_description(device: DeviceType) -> str:
    """The device of a benchmark line: the GPU's name, or ``cpu: <model>
    (<ISA>, bf16 native|emulated, <n> threads)``."""
    device = torch.device(device)
    if device.type == 'cuda':
        return torch.cuda.get_device_name(device)
    return f'cpu: {cpu_name()} ({cpu_description()})'


def random_batches(shape: Tuple[int, int], num: int, seed: int = 0,
                   batch_size: int = 1, num_classes: Optional[int] = None
                   ) -> List[Dict[str, list]]:
    """``num`` batches of random uint8 ``[3, H, W]`` images.

    Args:
        shape: ``(H, W)`` of the images.
        num: number of batches.
        seed: of the generator; the same arguments give the same batches.
        batch_size: images per batch.
        num_classes: with it, each sample gets a random ``gt_sem_seg``
            ``[1, H, W]`` of labels below it, 5% of pixels ignored (255),
            for training steps.

    Returns:
        list: ``dict(inputs=[...], data_samples=[...])`` per batch, as a
        data loader gives them to ``test_step`` / ``train_step``.
    """
    gen = torch.Generator().manual_seed(seed)
    h, w = shape
    batches = []
    for _ in range(num):
        inputs, samples = [], []
        for _ in range(batch_size):
            inputs.append(torch.randint(0, 256, (3, h, w), dtype=torch.uint8,
                                        generator=gen))
            sample = SegDataSample(metainfo=dict(ori_shape=(h, w),
                                                 img_shape=(h, w)))
            if num_classes is not None:
                label = torch.randint(0, num_classes, (1, h, w),
                                      generator=gen)
                label[torch.rand(1, h, w, generator=gen) < 0.05] = 255
                sample.gt_sem_seg = PixelData(data=label)
            samples.append(sample)
        batches.append(dict(inputs=inputs, data_samples=samples))
    return batches


def config_test_shape(cfg: Config) -> Tuple[int, int]:
    """``(H, W)`` of test images: the test ``Resize`` scale or crop size."""
    pipeline = cfg.get('test_pipeline') or \
        cfg.get('test_dataloader', {}).get('dataset', {}).get('pipeline', [])
    for transform in pipeline:
        if transform.get('type') == 'Resize' and transform.get('scale'):
            scale = transform['scale']
            # mmcv scales are (w, h); keep_ratio treats them as (long, short)
            return (min(scale), max(scale)) if transform.get(
                'keep_ratio') else (scale[1], scale[0])
    crop = cfg.get('crop_size')
    if crop:
        return tuple(crop)
    raise UserError('no test Resize scale or crop_size in the config; '
                    'pass --shape H W')


def network_input_shape(cfg: Config) -> Tuple[int, int]:
    """``(H, W)`` the network sees at test time: the slide crop or the
    test image size."""
    test_cfg = cfg.model.get('test_cfg') or {}
    if test_cfg.get('mode') == 'slide':
        crop = test_cfg['crop_size']
        return (crop, crop) if isinstance(crop, int) else tuple(crop)
    return config_test_shape(cfg)


def load_test_batches(cfg: Config, num: int) -> Optional[List[dict]]:
    """Up to ``num`` single-image batches of the test set (cycled).

    Returns None when the test set cannot be built (files missing).
    """
    from mmengine.dataset import pseudo_collate

    from emanet.registry import DATASETS
    try:
        dataset = DATASETS.build(copy.deepcopy(cfg.test_dataloader.dataset))
        if len(dataset) == 0:
            return None
    except (FileNotFoundError, KeyError, ValueError, OSError,
            UserError) as err:
        print(f'test set not available ({type(err).__name__}: '
              f'{str(err).splitlines()[0] if str(err) else ""}); '
              'using random images')
        return None
    cache = [dataset[i] for i in range(min(num, len(dataset)))]
    return [pseudo_collate([cache[i % len(cache)]]) for i in range(num)]


def compare(reference: List[SegDataSample], other: List[SegDataSample],
            normalise: bool = False) -> Tuple[float, float]:
    """Max ``|dlogit|`` and the fraction of pixels with the same label.

    ``normalise`` compares log-probabilities (``log_softmax``), e.g. of a
    model whose file outputs probabilities; the first number is NaN where
    a sample holds labels only (a file of ``--output label``).
    """
    max_diff, same, total = float('nan'), 0, 0
    for ref, out in zip(reference, other):
        if 'seg_logits' in ref and 'seg_logits' in out:
            a, b = ref.seg_logits.data.float(), out.seg_logits.data.float()
            if normalise:
                a, b = a.log_softmax(dim=0), b.log_softmax(dim=0)
            diff = (a - b).abs().max().item()
            max_diff = diff if max_diff != max_diff else max(max_diff, diff)
        same += (ref.pred_sem_seg.data == out.pred_sem_seg.data).sum().item()
        total += ref.pred_sem_seg.data.numel()
    return max_diff, same / total
