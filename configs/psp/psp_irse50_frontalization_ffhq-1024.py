# Face frontalization (paper Appendix A): id 1; l2 0.01 / lpips 0.8 inside the face crop,
# 0.001 / 0.08 on the whole image; w-norm 0.005; source and target are each randomly flipped.
_base_ = ['../_base_/models/psp_irse50_ffhq-1024.py', '../_base_/datasets/folder.py',
          '../_base_/schedules/ranger_500k.py', '../_base_/default_runtime.py']

task = dict(type='Frontalization')
face_crop = (35, 223, 32, 220)
model = dict(
    losses=dict(
        id=dict(type='IDLoss', loss_weight=1.0, weights='pretrained_models/model_ir_se50.pth'),
        l2=dict(type='L2Loss', loss_weight=0.001),
        l2_crop=dict(type='L2Loss', loss_weight=0.01, crop=face_crop, loss_name='loss_l2_crop'),
        lpips=dict(type='LPIPSLoss', loss_weight=0.08, net='alex'),
        lpips_crop=dict(type='LPIPSLoss', loss_weight=0.8, net='alex', crop=face_crop,
                        loss_name='loss_lpips_crop'),
        w_norm=dict(type='WNormLoss', loss_weight=0.005),
    ))
train_dataloader = dict(dataset=dict(root='data/ffhq', task=task))
val_dataloader = dict(dataset=dict(root='data/celebahq_test', task=task))
