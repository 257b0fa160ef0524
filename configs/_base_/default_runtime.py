# Runtime shared by every p2s training config.
default_scope = 'p2s'

env_cfg = dict(cudnn_benchmark=False, mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
               dist_cfg=dict(backend='nccl'))
randomness = dict(seed=0, deterministic=False)
log_level = 'INFO'
# validation metrics as measured (MMEngine's LogProcessor averages them over 50 validations)
log_processor = dict(type='P2SLogProcessor', window_size=50, by_epoch=False)

default_hooks = dict(
    # loss scalars reach the host once per logging interval, not once per iteration
    runtime_info=dict(type='DeferredRuntimeInfoHook'),
    timer=dict(type='IterTimerHook'),
    # validation scalars at the iteration they were measured (MMEngine's default: the epoch, always 0 here)
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # temp file + rename; keeps the latest and the best (lowest validation loss)
    checkpoint=dict(type='AtomicCheckpointHook', interval=5000, by_epoch=False, max_keep_ckpts=2,
                    save_best='val/loss', rule='less', save_last=True),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    # CPU runs keep freed memory for reuse (no page faults); this bounds what they keep
    host_memory=dict(type='HostMemoryTrimHook'),
)
custom_hooks = [
    dict(type='SafeCheckpointHook'),   # weights_only-loadable checkpoints (safe --resume)
    dict(type='RNGStateHook'),         # --resume continues the same random streams
    dict(type='ImageGridHook', interval=100),  # source | output | target grids
    dict(type='TranslationConfigHook'),        # checkpoints carry what `p2s translate` needs
]
visualizer = dict(type='Visualizer', vis_backends=[dict(type='LocalVisBackend'),
                                                   dict(type='TensorboardVisBackend')])
# DDP under torchrun (--launcher pytorch); also runs on CPU with gloo. The "p2s." prefix
# is needed: MMEngine looks the wrapper up in its root registry by this exact name.
model_wrapper_cfg = dict(type='p2s.P2SDistributedDataParallel', broadcast_buffers=False)
load_from = None
resume = False
