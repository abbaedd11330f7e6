"""Start a service: Ray (a local instance or a cluster), Serve's HTTP
proxy, the application; stop them. ``tools/deployment/serve.py`` and the
tests call these."""
import os
import re
import signal
import threading
from typing import List, Optional, Sequence, Tuple

from emanet.utils.errors import UserError

from .extra import require_serve
from .options import ServeOptions


def connect(address: Optional[str] = None, **init_kwargs) -> None:
    """Start a local Ray instance (``address`` None) or join a cluster.

    Args:
        address: ``'auto'`` (the cluster of ``ray start`` on this
            machine), ``'ray://HOST:10001'`` (Ray Client) or a GCS
            address; None starts a new local instance.
        init_kwargs: more ``ray.init`` arguments (``num_cpus``,
            ``include_dashboard``, ...), for a local instance.
    """
    require_serve()
    import ray
    if address is None:
        # Ray reports usage statistics over the network unless told not to
        os.environ.setdefault('RAY_USAGE_STATS_ENABLED', '0')
        ray.init(address='local', **init_kwargs)
        return
    try:
        ray.init(address=address, **init_kwargs)
    except ConnectionError as err:
        raise UserError(f'cannot reach the Ray cluster at {address}: '
                        f'{str(err).splitlines()[0]}') from None


def check_resources(apps: Sequence[ServeOptions]) -> None:
    """Refuse replicas that the Ray instance can never place (they would
    wait forever): more CPUs or GPUs than it has in all."""
    import ray
    total = ray.cluster_resources()
    for key, per_replica in (('CPU', 'cpus_per_replica'),
                             ('GPU', 'gpus_per_replica')):
        need = sum(getattr(o, per_replica) * o.replicas for o in apps)
        have = total.get(key, 0)
        if need > have:
            raise UserError(
                f'the replicas need {need:g} {key}s in all but the Ray '
                f'instance has {have:g}: lower --replicas or '
                '--cpus-per-replica/--gpus-per-replica')


def deploy(options: ServeOptions, host: str = '127.0.0.1',
           port: int = 8000, name: str = 'emanet',
           route_prefix: str = '/', check: bool = True) -> str:
    """Start Serve's HTTP proxy (if not running) and the application;
    return once every replica has loaded the model.

    Returns:
        str: the service's URL.
    """
    return deploy_many([(name, route_prefix, options)], host, port,
                       check)[0]


def deploy_many(apps: Sequence[Tuple[str, str, ServeOptions]],
                host: str = '127.0.0.1', port: int = 8000,
                check: bool = True) -> List[str]:
    """:func:`deploy` for several applications at once, their replicas
    starting side by side.

    Args:
        apps: ``(name, route prefix, options)`` of each application.
        check: refuse replicas that the Ray instance has too few CPUs or
            GPUs for (off for a cluster that adds nodes on demand).

    Returns:
        list: the URL of each application.
    """
    from ray import serve

    from .deployment import build_app
    if check:
        check_resources([options for _, _, options in apps])
    serve.start(http_options={'host': host, 'port': port})
    try:
        serve.run_many([serve.RunTarget(target=build_app(options),
                                        name=name, route_prefix=prefix)
                        for name, prefix, options in apps])
    except RuntimeError:  # Serve names only the deployment that failed
        reason = startup_error([name for name, _, _ in apps])
        if reason is None:
            raise
        raise UserError(reason) from None
    shown = 'localhost' if host in ('0.0.0.0', '::') else host
    return [f'http://{shown}:{port}{prefix.rstrip("/")}'
            for _, prefix, _ in apps]


def startup_error(names: Sequence[str]) -> Optional[str]:
    """Why an application did not start: the last line of a replica's
    traceback in ``serve.status()`` (a :class:`UserError`'s own message,
    as the tools print it), or None if none is there."""
    from ray import serve
    applications = serve.status().applications
    for name in names:
        app = applications.get(name)
        for deployment in (app.deployments.values() if app else []):
            lines = re.findall(r'^([\w.]*?)(\w+(?:Error|Exception)): (.+)$',
                               deployment.message or '', re.M)
            if lines:
                module, kind, message = lines[-1]
                if module.startswith('emanet.'):
                    return message
                return f'the service {name!r} did not start: {kind}: ' \
                    f'{message}'
    return None


def shutdown(serve_too: bool = True) -> None:
    """Disconnect from Ray (ending a local instance); with ``serve_too``
    delete the applications and Serve first."""
    import ray
    from ray import serve
    if ray.is_initialized():
        if serve_too:
            serve.shutdown()
        ray.shutdown()


def wait_for_stop() -> None:
    """Block until SIGINT (Ctrl-C) or SIGTERM."""
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set())
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stop.wait(1.0):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
