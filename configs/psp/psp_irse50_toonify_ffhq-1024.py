# Toonify: the inversion recipe against a toon generator (e.g. Doron Adler's
# FFHQ-fine-tuned cartoon StyleGAN2 converted to the rosinality layout), with the official
# README's changes: id 1 (not 0.1), w-norm 0.025, about 6,000 iterations.
_base_ = ['./psp_irse50_inversion_ffhq-1024.py']

model = dict(
    generator=dict(weights='pretrained_models/ffhq_cartoon_blended.pt'),
    losses=dict(
        id=dict(loss_weight=1.0),
        w_norm=dict(type='WNormLoss', loss_weight=0.025),
    ))
train_cfg = dict(max_iters=6000)
