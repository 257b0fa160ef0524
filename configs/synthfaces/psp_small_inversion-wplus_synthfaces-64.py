# Ablation (paper Table 1): naive W+ encoder -- one linear layer from the backbone's last
# feature map to every W+ row -- with the same backbone, data and loss as pSp.
_base_ = ['./psp_small_inversion_synthfaces-64.py']

model = dict(encoder=dict(type='WPlusEncoder', _delete_=True,
                          backbone={{_base_.model.encoder.backbone}}))
