"""`restore` with no options on PolyU's real camera JPEGs (issue 15): PSNR of the output
against the averaged ("mean") reference, per image, and how many got better / worse.

    python benchmarks/restore_polyu.py STEP OUT.json   # every STEP-th pair (1: all 100)

PolyU's references are averages of many frames of the same (often soft) shot: sharpening a
blurred scene lowers PSNR against them, so a deblur step can read as "worse" here.
"""
import glob, sys, json, numpy as np
from restora.data import data_root
from restora.io import read_image
from restora.metrics import psnr
from restora.pipeline import RestorePipeline
pipe=RestorePipeline(device='cpu')
step=int(sys.argv[1]) if len(sys.argv)>1 else 10
fs=sorted(glob.glob(str(data_root() / 'test' / 'PolyU' / '*_real.JPG')))[1::step]
rows=[]
for f in fs:
    r=read_image(f); m=read_image(f.replace('_real','_mean'))
    res=pipe.restore(r, path=f)
    steps=[s.name+('(dropped)' if s.dropped else '') for s in res.plan.steps]
    a,b=psnr(r,m), psnr(np.clip(res.image,0,1),m)
    rows.append({'image':f.split('/')[-1],'input':a,'auto':b,'steps':steps})
    print(f.split('/')[-1][:30], '%.2f -> %.2f'%(a,b), steps, flush=True)
d=[r['auto']-r['input'] for r in rows]
print('n %d mean gain %.2f, better %d, worse %d, worst %.2f'%(len(d), np.mean(d), sum(x>0.01 for x in d), sum(x<-0.01 for x in d), min(d)))
json.dump(rows, open(sys.argv[2] if len(sys.argv)>2 else '/tmp/polyu_auto.json','w'), indent=1)
