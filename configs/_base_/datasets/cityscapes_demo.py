# Generated demo street scenes in the Cityscapes layout (60 train + 12 val
# images of 256x512, real Cityscapes label ids); the tools generate it at
# data_root before the first run (as tools/misc/make_demo_data.py does) and
# CityscapesDemoDataset only reads it. Training takes 128x256 crops at
# scales 0.75-1.25 (full-resolution detail for thin poles and small signs at
# a quarter of the cost of whole images); no photometric distortion, since
# the demo classes are told apart by colour and a short schedule has no
# time to learn invariance to it. Testing uses the whole 256x512 image; the
# multi-scale + flip tta_pipeline is Cityscapes'.
_base_ = './cityscapes.py'
dataset_type = 'CityscapesDemoDataset'
data_root = 'data/cityscapes_demo/'
crop_size = (128, 256)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(
        type='RandomResize',
        scale=(512, 256),
        ratio_range=(0.75, 1.25),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(512, 256), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]
train_dataloader = dict(
    batch_size=4,
    num_workers=1,
    dataset=dict(
        type=dataset_type, data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    num_workers=1,
    dataset=dict(
        type=dataset_type, data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
