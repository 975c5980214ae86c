"""The PyTorch yardstick for npm run bench:gpu: the same shapes on nn.LSTM (cuDNN on a CUDA GPU),
whole training windows as deeprnn times them — one-hot input, forward, cross-entropy, backward,
global-norm clipping to 1, an SGD step — in tokens per second, as JSON lines.
Usage: python3 scripts/gpu/lstm_cudnn.py [seconds]  (run by scripts/gpu-check.sh where torch sees CUDA)"""
import json, sys, time, torch
from torch import nn

SHAPES = {'d2l': (2, 256, 28, 32, 35), 'large': (2, 1024, 28, 128, 100)}
seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
dev = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
print(json.dumps({'kind': 'torch', 'device': torch.cuda.get_device_name(0) if dev.type == 'cuda' else 'cpu',
                  'torch': torch.__version__, 'cudnn': torch.backends.cudnn.version() if dev.type == 'cuda' else None}))
for name, (L, H, V, B, T) in SHAPES.items():
    torch.manual_seed(0)
    rnn = nn.LSTM(V, H, L).to(dev)
    lin = nn.Linear(H, V).to(dev)
    params = list(rnn.parameters()) + list(lin.parameters())
    opt = torch.optim.SGD(params, lr=0.5)
    x = torch.randint(1, V, (T, B), device=dev)
    y = torch.randint(1, V, (T, B), device=dev)
    state = None
    def window():
        global state
        opt.zero_grad(set_to_none=True)
        out, state = rnn(nn.functional.one_hot(x, V).float(), state)
        state = tuple(s.detach() for s in state)
        loss = nn.functional.cross_entropy(lin(out.reshape(-1, H)), y.reshape(-1), reduction='mean')
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        return loss.item()  # one read back per window, as deeprnn's engines
    for _ in range(3): window()
    if dev.type == 'cuda': torch.cuda.synchronize()
    t0 = time.time(); n = 0
    while n < 3 or time.time() - t0 < seconds:
        window(); n += 1
    if dev.type == 'cuda': torch.cuda.synchronize()
    print(json.dumps({'kind': 'train', 'shape': name, 'engine': 'torch-cudnn' if dev.type == 'cuda' else 'torch-cpu',
                      'tokensPerSecond': round(n * B * T / (time.time() - t0)), 'windows': n}))
