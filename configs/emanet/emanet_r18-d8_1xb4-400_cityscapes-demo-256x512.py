# EMANet with a ResNetV1c-18-D8 backbone trained from scratch on the
# generated demo data (configs/_base_/datasets/cityscapes_demo.py): the
# README's CPU demo, train + validation in minutes on 2 cores.
_base_ = [
    '../_base_/models/emanet_r50-d8.py',
    '../_base_/datasets/cityscapes_demo.py',
    '../_base_/default_runtime.py'
]
crop_size = (128, 256)
norm_cfg = dict(type='BN', requires_grad=True)
data_preprocessor = dict(size=crop_size)
# Median-frequency class weights (square root) of the demo train set, so
# that thin and small classes (pole, traffic light / sign, person, terrain)
# are learned within the short schedule; classes absent from it keep 1.
class_weight = [
    0.5, 0.5, 0.5, 1.0, 1.0, 2.5, 4.0, 4.0, 1.0, 2.5, 0.5, 2.5, 1.0, 0.8,
    1.0, 1.0, 1.0, 1.0, 1.0
]
model = dict(
    data_preprocessor=data_preprocessor,
    pretrained=None,
    backbone=dict(depth=18, norm_cfg=norm_cfg),
    decode_head=dict(
        in_channels=512,
        channels=128,
        ema_channels=128,
        num_bases=32,
        norm_cfg=norm_cfg,
        loss_decode=dict(
            type='CrossEntropyLoss',
            use_sigmoid=False,
            loss_weight=1.0,
            class_weight=class_weight)),
    auxiliary_head=dict(
        in_channels=256,
        channels=64,
        norm_cfg=norm_cfg,
        loss_decode=dict(
            type='CrossEntropyLoss',
            use_sigmoid=False,
            loss_weight=0.4,
            class_weight=class_weight)))

max_iters = 400
optimizer = dict(type='SGD', lr=0.05, momentum=0.9, weight_decay=0.0005)
# bfloat16 autocast (no loss scaling needed): 1.8-2.2x faster on CPUs
# with native bfloat16 (AVX512-BF16 or AMX). CPUs without it would emulate
# bfloat16 100x or more slower, so there the wrapper trains in float32 and
# says so in one log line. The EM iterations always run in float32.
# For float32 training everywhere set dtype=None here, or pass
# --cfg-options optim_wrapper.dtype=None.
optim_wrapper = dict(
    type='CPUAmpOptimWrapper',
    dtype='bfloat16',
    optimizer=optimizer,
    clip_grad=None)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, begin=0, end=20, by_epoch=False),
    dict(
        type='PolyLR',
        eta_min=1e-4,
        power=0.9,
        begin=20,
        end=max_iters,
        by_epoch=False)
]
train_cfg = dict(
    type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=10, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(
        type='CheckpointHook', by_epoch=False, interval=max_iters),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
env_cfg = dict(cudnn_benchmark=False)
randomness = dict(seed=0)
