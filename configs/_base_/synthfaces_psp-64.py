# What every synthetic-face encoder config shares: the small model, the data, and a
# short schedule (the shipped encoders: 3,000 iterations of batch 8, about 17 minutes
# on one CPU core; at 1,200 they were about 25 % worse on the held-out set).
_base_ = ['./models/psp_small_synthfaces-64.py', './datasets/synthfaces.py', './default_runtime.py']

# eps 1e-5: the value the shipped encoders were trained with (Ranger's default is now
# pSp's 6.1e-5), so `benchmarks/synthfaces_pipeline.sh` keeps reproducing them
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='Ranger', lr=1e-3, eps=1e-5))
train_cfg = dict(type='IterBasedTrainLoop', max_iters=3000, val_interval=600)
val_cfg = dict(type='ValLoop')
val_evaluator = dict(type='LossMetric')
default_hooks = dict(logger=dict(interval=50), checkpoint=dict(interval=500, max_keep_ckpts=1))
custom_hooks = [
    dict(type='SafeCheckpointHook'),
    dict(type='RNGStateHook'),
    dict(type='ImageGridHook', interval=250, tile_size=128),
    dict(type='TranslationConfigHook'),
]
