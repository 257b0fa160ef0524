# Toonify: the inversion recipe against a toon generator (e.g. Doron Adler's
# FFHQ-fine-tuned cartoon StyleGAN2 converted to the rosinality layout).
_base_ = ['./psp_irse50_inversion_ffhq-1024.py']

model = dict(generator=dict(weights='pretrained_models/ffhq_cartoon_blended.pt'))
