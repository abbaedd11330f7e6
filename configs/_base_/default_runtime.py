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
# SIGTERM / Ctrl-C (set save_on_interrupt=True to checkpoint first); log
# peak host memory on CPU (mmengine logs GPU memory itself).
custom_hooks = [
    dict(type='NonFiniteLossHook'),
    dict(type='InterruptHook', save_on_interrupt=False),
    dict(type='CPUMemoryLogHook'),
]
log_level = 'INFO'
load_from = None
resume = False

tta_model = dict(type='SegTTAModel')
