default_scope = 'emanet'
# SegRunner: safe checkpoint loading, atomic checkpoint writes, exact resume
# (emanet/engine/runner.py).
runner_type = 'SegRunner'
env_cfg = dict(
    cudnn_benchmark=True,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(
    type='SegLocalVisualizer', vis_backends=vis_backends, name='visualizer')
log_processor = dict(by_epoch=False)
# Stop at the first NaN/Inf loss before it is checkpointed; stop cleanly on
# SIGTERM / Ctrl-C after writing a checkpoint of the last iteration, so
# that a preempted job resumes where it stopped (save_on_interrupt=False
# stops without one); keep validation from moving the training random
# generators; run the final validation a run resumed from its final
# checkpoint missed; log peak host memory on CPU (mmengine logs GPU memory
# itself). SegRunner adds the first four, with one log line, to a config
# whose custom_hooks lacks them.
custom_hooks = [
    dict(type='NonFiniteLossHook'),
    dict(type='InterruptHook', save_on_interrupt=True),
    dict(type='ValRandomStateHook'),
    dict(type='FinalValidationHook'),
    dict(type='CPUMemoryLogHook'),
]
# fast_inference = dict()  # validate and test on the inference fast path:
# emanet.deploy.prepare_for_inference options ({} for its defaults); the
# validation runs on a prepared copy, so training keeps its own weights.
# Load load_from / test weights that lack some keys of the model or hold
# others (e.g. a backbone only); refused, naming the keys, when False.
allow_partial_weights = False
log_level = 'INFO'
load_from = None
resume = False

tta_model = dict(type='SegTTAModel')
