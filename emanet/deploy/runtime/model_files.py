"""Exported model files: which they are (by suffix) and what they hold.

An exported model is an ``.onnx`` file (either runtime; ONNX Runtime by
default) or an OpenVINO IR ``.xml`` with its ``.bin`` beside it (OpenVINO
only), e.g. the int8 model of ``tools/deployment/quantize.py``. Reading
one checks it and gives what the tools need (:class:`ExportedInfo`): the
data set's classes and palette stored by the export, the input dims and
what the file outputs (logits, probabilities or labels).
"""
import json
import os.path as osp
from typing import NamedTuple, Optional, Tuple

from emanet.utils.errors import UserError

from .export import META_KEY, OUTPUT_KEY, OUTPUTS, require

# what tools/test.py, init_model and the benchmarks take as an exported
# model rather than a checkpoint
EXPORTED_SUFFIXES = ('.onnx', '.xml')
# OpenVINO's own format (IR: .xml graph + .bin weights), OpenVINO only
IR_SUFFIX = '.xml'



class ExportedInfo(NamedTuple):
    """What the tools read from an exported file.

    Attributes:
        dataset_meta: the classes and palette stored by the export, or
            None.
        input_shape: the input dims, None where dynamic.
        output: one of :data:`~emanet.deploy.runtime.export.OUTPUTS`
            (``'logits'`` for files written before the entry existed).
    """
    dataset_meta: Optional[dict]
    input_shape: Tuple[Optional[int], ...]
    output: str = 'logits'


def _output_kind(model_file: str, stored: Optional[str],
                 output_name: str) -> str:
    """The file's output: its metadata entry, else its output's name."""
    kind = stored or (output_name if output_name in OUTPUTS else 'logits')
    if kind not in OUTPUTS:
        raise UserError(f'{model_file} says it outputs {kind!r}, not one of '
                        f'{", ".join(OUTPUTS)}: export it again with '
                        'tools/deployment/pytorch2onnx.py')
    return kind


def is_exported_model(path: Optional[str]) -> bool:
    """Whether a checkpoint argument names an exported model (by suffix:
    :data:`EXPORTED_SUFFIXES`)."""
    return bool(path) and str(path).lower().endswith(EXPORTED_SUFFIXES)


def is_openvino_ir(model_file: Optional[str]) -> bool:
    """Whether ``model_file`` names an OpenVINO IR (by suffix)."""
    return bool(model_file) and str(model_file).lower().endswith(IR_SUFFIX)


def read_onnx(model_file: str) -> ExportedInfo:
    """Check that ``model_file`` is an ONNX model; read what the tools
    need."""
    onnx = require('onnx')
    if not osp.isfile(model_file):
        raise UserError(f'ONNX model file not found: {model_file}')
    try:
        proto = onnx.load(model_file, load_external_data=False)
        if not proto.graph.node:
            raise ValueError('the graph is empty')
    except Exception as err:  # protobuf raises its own DecodeError
        raise UserError(
            f'{model_file} is not a readable ONNX model '
            f'({type(err).__name__}: {str(err)[:100]}); export one with '
            'tools/deployment/pytorch2onnx.py') from None
    meta = {p.key: p.value for p in proto.metadata_props}
    dataset_meta = json.loads(meta[META_KEY]) if META_KEY in meta else None
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    return ExportedInfo(
        dataset_meta,
        tuple(d.dim_value if d.HasField('dim_value') else None
              for d in dims),
        _output_kind(model_file, meta.get(OUTPUT_KEY),
                     proto.graph.output[0].name))


def read_ir(model_file: str) -> ExportedInfo:
    """Check that ``model_file`` is an OpenVINO IR with its ``.bin``; read
    what the tools need (as :func:`read_onnx`)."""
    ov = require('openvino')
    weights = osp.splitext(model_file)[0] + '.bin'
    if not osp.isfile(model_file):
        raise UserError(f'OpenVINO model file not found: {model_file}')
    if not osp.isfile(weights):
        raise UserError(f'{model_file} has no weights file {weights} beside '
                        'it: copy the .xml and .bin of '
                        'tools/deployment/quantize.py together')
    try:
        network = ov.Core().read_model(model_file, weights)
    except Exception as err:  # OpenVINO raises RuntimeError subclasses
        first = str(err).strip().splitlines()[0][:100] if str(err) else ''
        raise UserError(
            f'{model_file} is not a readable OpenVINO IR ({first}); write '
            'one with tools/deployment/quantize.py') from None
    dataset_meta = None
    if network.has_rt_info(META_KEY):
        dataset_meta = json.loads(network.get_rt_info(META_KEY).astype(str))
    stored = network.get_rt_info(OUTPUT_KEY).astype(str) \
        if network.has_rt_info(OUTPUT_KEY) else None
    dims = network.inputs[0].get_partial_shape()
    return ExportedInfo(
        dataset_meta,
        tuple(d.get_length() if d.is_static else None for d in dims),
        _output_kind(model_file, stored, network.outputs[0].get_any_name()))


def read_exported(model_file: str) -> ExportedInfo:
    """:func:`read_ir` or :func:`read_onnx`, by the file's suffix."""
    return (read_ir if is_openvino_ir(model_file) else read_onnx)(
        model_file)


def exported_input_shape(model_file: str) -> Tuple[Optional[int], ...]:
    """The input dims of an exported model, None where dynamic."""
    return read_exported(model_file).input_shape


def exported_output(model_file: str) -> str:
    """What an exported model outputs: ``'logits'``, ``'prob'`` or
    ``'label'`` (:data:`~emanet.deploy.runtime.export.OUTPUTS`)."""
    return read_exported(model_file).output
