# pSp's optimisation: Ranger (RAdam + Lookahead), constant learning rate 1e-4.
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='Ranger', lr=1e-4))
train_cfg = dict(type='IterBasedTrainLoop', max_iters=500000, val_interval=2500)
val_cfg = dict(type='ValLoop')
val_evaluator = dict(type='LossMetric')
