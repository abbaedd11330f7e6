"""Training and testing machinery plugged into mmengine's Runner.

Nothing is imported here, so that loading weights
(:mod:`emanet.engine.checkpoint.loading`) does not import the Runner or the
hooks. The registries of :mod:`emanet.registry` import the modules that
register (``runner``, ``hooks``, ``loops``, ``optim_wrappers``) the first
time they are searched.
"""
