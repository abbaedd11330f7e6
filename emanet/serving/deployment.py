"""The HTTP service: a Ray Serve deployment with a FastAPI ingress.

Each replica builds the model once (:class:`Predictor`) and answers
``POST /predict``, ``GET /health`` and ``GET /meta``; requests are
gathered into batches by ``@serve.batch`` (``max_batch_size``,
``batch_wait_ms``) and run one batch at a time on a worker thread, so the
event loop keeps taking requests meanwhile. Importing this module needs
the ``serve`` extra.
"""
import asyncio
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from typing import List, Tuple, Union

import numpy as np
import ray
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from ray import serve
from ray.serve import Application
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from emanet.version import __version__

from .decoding import decode_image, max_body_bytes
from .encoding import Encoded
from .errors import RequestError, error_body
from .options import ServeOptions
from .predictor import Predictor
from .queries import QUERY_VALUES, Query, parse_query

logger = logging.getLogger('ray.serve')

api = FastAPI(
    title='EMANet segmentation',
    version=__version__,
    description='Semantic segmentation of one image per request, batched '
    'across requests. Errors answer 4xx with one JSON line '
    '`{"error": "..."}`.')


@api.exception_handler(RequestError)
async def _request_error(request: Request, err: RequestError):
    return JSONResponse(error_body(err.message), status_code=err.status)


@api.exception_handler(HTTPException)
async def _http_error(request: Request, err: HTTPException):
    return JSONResponse(error_body(err.detail), status_code=err.status_code)


def _query_parameters() -> list:
    return [dict(name=key, **{'in': 'query'}, required=False,
                 schema=dict(type='string', enum=list(values),
                             default=values[0]))
            for key, values in QUERY_VALUES.items()]


PREDICT_DOC = dict(
    parameters=_query_parameters(),
    requestBody=dict(required=True, content={
        'image/*': dict(schema=dict(type='string', format='binary')),
        'multipart/form-data': dict(schema=dict(
            type='object', required=['file'],
            properties=dict(file=dict(type='string', format='binary')))),
    }))
PREDICT_RESPONSES = {
    200: dict(description='the label map as a PNG of train ids (default); '
              'format=json: class names, pixel shares, files in base64; '
              'probs=1: .npz of labels and float16 probs; overlay=1: the '
              'colour overlay PNG',
              content={'image/png': {}, 'application/x-npz': {}}),
    400: dict(description='not an image, empty, truncated, or a wrong '
              'query'),
    413: dict(description='more pixels than --max-pixels'),
    422: dict(description='the model cannot take this image'),
}


async def read_upload(request: Request, limit: int) -> bytes:
    """The image bytes: the raw body or the multipart field ``file``."""
    length = request.headers.get('content-length')
    if length and length.isdigit() and int(length) > limit:
        raise RequestError(413, f'body of {length} bytes is more than the '
                           f'service takes ({limit} bytes)')
    if request.headers.get('content-type', '').startswith(
            'multipart/form-data'):
        form = await request.form(max_files=1, max_fields=8)
        upload = form.get('file')
        if not isinstance(upload, UploadFile):
            raise RequestError(400, 'the multipart body has no file field '
                               'named "file"')
        data = await upload.read()
    else:
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise RequestError(413, 'body is more than the service '
                                   f'takes ({limit} bytes)')
            chunks.append(chunk)
        data = b''.join(chunks)
    return data


@serve.deployment(name='Segmenter')
@serve.ingress(api)
class Segmenter:
    """One replica: the model, the batching and the routes."""

    def __init__(self, options: ServeOptions) -> None:
        self.options = options
        self.predictor = None
        resources = ray.get_runtime_context().get_assigned_resources()
        threads = options.threads or max(1, int(resources.get('CPU', 1)))
        device = 'cuda' if resources.get('GPU', 0) > 0 else 'cpu'
        context = serve.get_replica_context()
        self.replica = context.replica_tag
        self.replicas = context.world_size
        self._segment.set_max_batch_size(options.max_batch_size)
        self._segment.set_batch_wait_timeout_s(options.batch_wait_ms / 1000)
        # One batch at a time; the model's own threads do the work.
        self._executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix='segment')
        self.predictor = Predictor(options.config, options.model,
                                   threads=threads, device=device,
                                   cfg_options=options.cfg_options)
        logger.info(
            'replica %s (pid %d) uses %d threads (%s CPUs reserved, %s) for '
            '%s, batches of up to %d waiting %.1f ms', self.replica,
            os.getpid(), self.predictor.threads, resources.get('CPU', 0),
            device, self.predictor.info['model_file'],
            options.max_batch_size, options.batch_wait_ms)

    def check_health(self) -> None:
        """Ray Serve's health check: the model is built."""
        if self.predictor is None:
            raise RuntimeError('the model is not loaded')

    @api.get('/health', summary='ready once the model is loaded')
    async def health(self):
        if self.predictor is None:
            return JSONResponse({'status': 'loading'}, status_code=503)
        return {'status': 'ready', 'replica': self.replica,
                'pid': os.getpid()}

    @api.get('/meta', summary='the model and the service settings')
    async def meta(self):
        options = self.options
        return dict(self.predictor.info,
                    threads=self.predictor.threads,
                    replicas=self.replicas,
                    max_batch_size=options.max_batch_size,
                    batch_wait_ms=options.batch_wait_ms,
                    max_pixels=options.max_pixels)

    @api.post('/predict', summary='segment one image',
              openapi_extra=PREDICT_DOC, responses=PREDICT_RESPONSES)
    async def predict(self, request: Request) -> Response:
        query = parse_query(request.query_params.multi_items())
        data = await read_upload(request,
                                 max_body_bytes(self.options.max_pixels))
        # decoded beside the running batch, not on the event loop
        image = await asyncio.get_running_loop().run_in_executor(
            None, decode_image, data, self.options.max_pixels)
        answer = await self._segment((image, query))
        if isinstance(answer, RequestError):
            raise answer
        if isinstance(answer, Exception):
            logger.error('prediction failed: %r', answer)
            return JSONResponse(
                error_body(f'internal error: {type(answer).__name__}: '
                           f'{answer}'), status_code=500)
        return Response(content=answer.body, media_type=answer.media_type,
                        headers={'X-Replica': self.replica,
                                 'X-Batch-Size': str(answer.batch_size)})

    @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.005)
    async def _segment(self, items: List[Tuple[np.ndarray, Query]]
                       ) -> List[Union[Encoded, Exception]]:
        """A batch of ``(image, query)`` requests, on the worker thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor,
                                          self.predictor.run, items)


def build_app(options: ServeOptions) -> Application:
    """The Ray Serve application of ``options`` (for ``serve.run``)."""
    return Segmenter.options(**options.deployment_options()).bind(options)
