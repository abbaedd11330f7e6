"""The HTTP service (optional extra ``serve``): a Ray Serve deployment with
a FastAPI ingress around :func:`emanet.apis.init_model` and
:func:`emanet.apis.inference_model`.

``tools/deployment/serve.py CONFIG MODEL`` starts it; so does Ray's own
``serve run emanet.serving:app config=CONFIG model=MODEL`` (or a
``serve_config.yaml``, see ``docs/serving.md``). Importing this package
imports neither Ray nor FastAPI.
"""
from typing import Any, Dict

from .extra import require_serve, serve_unavailable
from .options import ServeOptions

__all__ = ['ServeOptions', 'app', 'require_serve', 'serve_unavailable']


def app(args: Dict[str, Any]):
    """Ray Serve application builder: ``serve run emanet.serving:app
    config=... model=... [max_batch_size=8] [batch_wait_ms=5] ...``.

    Args:
        args: the keys of :class:`ServeOptions` (strings from the command
            line, or the ``args`` of a ``serve_config.yaml``).

    Returns:
        ray.serve.Application: the service's application.
    """
    require_serve()
    from .deployment import build_app
    return build_app(ServeOptions.from_args(args))
