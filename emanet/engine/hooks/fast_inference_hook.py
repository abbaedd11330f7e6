"""Validate and test on the inference fast path (``fast_inference``)."""
import copy
import inspect
from typing import Any, Optional

import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from emanet.models.segmentors.unwrap import unwrap_segmentor
from emanet.registry import HOOKS
from emanet.utils.errors import ConfigError, ConfigTypeError


def check_fast_inference_options(options: Any) -> dict:
    """Check ``fast_inference`` options against ``prepare_for_inference``.

    Args:
        options: the value of the config key ``fast_inference``: a dict of
            keyword arguments of :func:`emanet.deploy.prepare_for_inference`
            (``{}`` for its defaults).

    Returns:
        dict: ``options``.

    Raises:
        ConfigTypeError: ``options`` is not a dict.
        ConfigError: an option is not an argument of
            ``prepare_for_inference``.
    """
    from emanet.deploy import prepare_for_inference
    if not isinstance(options, dict):
        raise ConfigTypeError('fast_inference in the config must be a dict '
                              'of prepare_for_inference options, got '
                              f'{options!r}')
    known = set(inspect.signature(prepare_for_inference).parameters)
    known -= {'model', 'example_inputs'}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ConfigError(f'fast_inference in the config has unknown '
                          f'option(s) {unknown}; known: {sorted(known)}')
    return options


@HOOKS.register_module()
class FastInferenceHook(Hook):
    """Run testing and validation on the inference fast path.

    ``SegRunner`` registers it when the config sets ``fast_inference``
    (``tools/test.py --fast`` too).

    - Testing: the loaded model itself is prepared, at ``before_test``,
      after the Runner has loaded the checkpoint (folding BatchNorm
      rewrites the weights, so it must come after). Nothing trains it
      afterwards.
    - Validation (during training too): a prepared deep copy of the model
      is validated. It replaces ``runner.model`` from ``before_val_epoch``
      until ``after_val_epoch``, where the trained model is put back before
      any other hook (e.g. the best-checkpoint save) sees the model, so the
      weights training continues with are untouched. The copy costs the
      memory of one model while validating. A stop during validation
      (``InterruptHook``) puts the trained model back first
      (:meth:`put_back_trained_model`), so its checkpoint holds the
      trained weights, not the folded ones.

    Args:
        options (dict): keyword arguments of
            :func:`emanet.deploy.prepare_for_inference` (``{}`` for its
            defaults).
        val (bool): Also validate on the fast path. Defaults to True.
    """

    priority = 'VERY_HIGH'

    def __init__(self, options: dict, val: bool = True) -> None:
        self.options = check_fast_inference_options(options)
        self.val = val
        self._trained_model: Optional[nn.Module] = None

    def prepared_copy(self, model: nn.Module) -> nn.Module:
        """A fast-path copy of ``model``; ``model`` itself is unchanged.

        Args:
            model: the runner's model; a DDP wrapper is left out of the
                copy (validation runs each rank's copy on its own data).

        Returns:
            nn.Module: the copy, with its segmentor prepared.
        """
        from emanet.deploy import prepare_for_inference
        fast = copy.deepcopy(model.module if is_model_wrapper(model)
                             else model)
        for param in fast.parameters():
            param.grad = None  # the copy never trains
        prepare_for_inference(unwrap_segmentor(fast)[0], **self.options)
        return fast

    def before_test(self, runner) -> None:
        from emanet.deploy import prepare_for_inference
        prepare_for_inference(unwrap_segmentor(runner.model)[0],
                              **self.options)

    def before_val_epoch(self, runner) -> None:
        if not self.val:
            return
        self._trained_model = runner.model
        runner.model = self.prepared_copy(runner.model)

    def after_val_epoch(self, runner, metrics=None) -> None:
        self.put_back_trained_model(runner)

    def put_back_trained_model(self, runner) -> None:
        """Make the model that trains ``runner.model`` again, where the
        validation's fast-path copy replaces it (nothing otherwise)."""
        if self._trained_model is not None:
            runner.model = self._trained_model
            self._trained_model = None
