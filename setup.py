"""Install the emanet toolbox: ``pip install -e .`` (``.[tests]`` for CI)."""
from importlib.metadata import PackageNotFoundError, distribution

from setuptools import find_packages, setup


def mmcv_requirement() -> str:
    """Keep a full mmcv install if present, else ask for ``mmcv-lite``.

    Both distributions provide the ``mmcv`` import; installing the lite one
    next to the full one would overwrite its compiled ops.
    """
    try:
        distribution('mmcv')
        return 'mmcv>=2.0.0'
    except PackageNotFoundError:
        return 'mmcv-lite>=2.0.0'


SERVE = ['ray[serve]>=2.60,<3', 'python-multipart', 'httpx']


def read_version() -> str:
    namespace: dict = {}
    with open('emanet/version.py', encoding='utf-8') as f:
        exec(f.read(), namespace)
    return namespace['__version__']


setup(
    name='emanet',
    version=read_version(),
    description='EMANet semantic segmentation toolbox (mmsegmentation '
    '1.x compatible configs and checkpoints)',
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    packages=find_packages(include=['emanet', 'emanet.*']),
    python_requires='>=3.8',
    install_requires=[
        'torch>=2.1',
        'mmengine>=0.10.0,<0.11.0',
        mmcv_requirement(),
        'numpy',
        # the cv2 package mmengine and mmcv-lite require; a second one
        # (-headless) would overwrite the same module
        'opencv-python',
        'matplotlib',
        'tqdm',
    ],
    extras_require={
        'cityscapes': ['cityscapesscripts>=2.2'],
        'deploy': ['onnx>=1.14', 'onnxruntime>=1.16', 'openvino>=2024.0',
                   'nncf>=3.4'],
        # the HTTP service (emanet/serving/) and its benchmark client
        'serve': SERVE,
        'tests': ['pytest', 'ruff', 'cityscapesscripts>=2.2', 'onnx>=1.14',
                  'onnxruntime>=1.16', 'openvino>=2024.0', 'nncf>=3.4',
                  'selenium>=4.10', *SERVE],
    },
    license='Apache License 2.0',
    zip_safe=False,
)
