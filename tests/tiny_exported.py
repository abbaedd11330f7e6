"""The session's tiny trained model exported, and its int8 model.

Built once per session from ``tiny_trained.py``'s checkpoint: the
dynamic ``.onnx`` files of ``tools/deployment/pytorch2onnx.py``
(``--output logits`` and ``label``) and the int8 ``.xml`` of
``quantize.py``, quantized in a process of its own (NNCF's threads stay
out of the test process, whose signal tests run later).
"""
import os
import os.path as osp
import subprocess
import sys
from typing import Dict

from tiny_trained import tiny_trained
from tool_loader import REPO

_FILES: Dict[str, Dict[str, str]] = {}


def tiny_exported(tmp_path_factory, demo_data_root: str,
                  int8: bool = False) -> Dict[str, str]:
    """``config``, ``checkpoint``, ``onnx``, ``label_onnx`` (and, with
    ``int8``, ``int8``): files to treat as read-only."""
    files = _FILES.setdefault(demo_data_root, {})
    if 'onnx' not in files:
        from emanet.apis import init_model
        from emanet.deploy.runtime.export import export_onnx
        config, ckpt = tiny_trained(tmp_path_factory, demo_data_root)
        folder = tmp_path_factory.mktemp('tiny_exported')
        model = init_model(config, ckpt, device='cpu')
        for key, output in (('onnx', 'logits'), ('label_onnx', 'label')):
            path = str(folder / f'tiny_{output}.onnx')
            export_onnx(model, path, (64, 128), dynamic=True,
                        dataset_meta=model.dataset_meta, output=output)
            files[key] = path
        files.update(config=config, checkpoint=ckpt, folder=str(folder))
    if int8 and 'int8' not in files:
        xml = osp.join(files['folder'], 'tiny_int8.xml')
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            filter(None, [REPO, os.environ.get('PYTHONPATH')])))
        proc = subprocess.run(
            [sys.executable, osp.join(REPO, 'tools/deployment/quantize.py'),
             files['config'], files['onnx'], '--output-file', xml,
             '--num-calib', '2', '--num-val', '1'],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True)
        assert proc.returncode == 0, proc.stdout[-3000:]
        files['int8'] = xml
    return files
