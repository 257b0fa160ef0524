# Ablation (paper Table 1): W encoder -- a single w repeated on every row -- with the same
# backbone, data and loss as pSp.
_base_ = ['./psp_small_inversion_synthfaces-64.py']

model = dict(encoder=dict(type='WEncoder', _delete_=True,
                          backbone={{_base_.model.encoder.backbone}}))
