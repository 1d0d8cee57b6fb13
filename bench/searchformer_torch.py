"""The Searchformer encoder-decoder in PyTorch eager, timed by `bench/train_pytorch.py` and
`bench/decode_pytorch.py` (loaded by path through `bench/torch_model.py`).

Re-implemented from the architecture description in the project notes' reference summary
(`searchformer.md` §3.1): pre-RMSNorm eps 1e-5, interleaved RoPE in self-attention only, SDPA,
SwiGLU with hidden 256*ceil(floor(8d/3)/256), no biases, unmasked encoder self-attention,
decoder cross-attention with the prompt padding mask, encoder head RMSNorm+Linear(De->D),
decoder head RMSNorm+Linear(D->V). Moved here unchanged (model classes only) from
`crates/planform-train/scripts/bench_pytorch.py`, which the core reshape removed.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


class RMSNorm(nn.Module):
    def __init__(self, d, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        xf = x.float()
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return xf.type_as(x) * self.weight


def rope(x, inv_freq):
    # x: [B, L, H, hd]; rotate interleaved pairs (x[..., 0::2], x[..., 1::2]).
    pos = torch.arange(x.shape[1], device=x.device, dtype=torch.float32)
    ang = torch.outer(pos, inv_freq)  # [L, hd/2]
    cos, sin = ang.cos()[None, :, None, :], ang.sin()[None, :, None, :]
    xe, xo = x[..., 0::2].float(), x[..., 1::2].float()
    out = torch.stack((xe * cos - xo * sin, xe * sin + xo * cos), dim=-1).flatten(-2)
    return out.type_as(x)


class Attention(nn.Module):
    def __init__(self, d, heads, kv_dim=None):
        super().__init__()
        kv_dim = kv_dim or d
        self.h, self.hd = heads, d // heads
        self.wq = nn.Linear(d, d, bias=False)
        self.wk = nn.Linear(kv_dim, d, bias=False)
        self.wv = nn.Linear(kv_dim, d, bias=False)
        self.wo = nn.Linear(d, d, bias=False)

    def forward(self, x, kv, inv_freq=None, causal=False, mask=None):
        b, lq, _ = x.shape
        lk = kv.shape[1]
        q = self.wq(x).view(b, lq, self.h, self.hd)
        k = self.wk(kv).view(b, lk, self.h, self.hd)
        v = self.wv(kv).view(b, lk, self.h, self.hd)
        if inv_freq is not None:
            q, k = rope(q, inv_freq), rope(k, inv_freq)
        o = F.scaled_dot_product_attention(
            q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), attn_mask=mask, is_causal=causal)
        return self.wo(o.transpose(1, 2).reshape(b, lq, -1))


class FFN(nn.Module):
    def __init__(self, d):
        super().__init__()
        h = 256 * ((int(2 * 4 * d / 3) + 255) // 256)
        self.w1 = nn.Linear(d, h, bias=False)
        self.w2 = nn.Linear(h, d, bias=False)
        self.w3 = nn.Linear(d, h, bias=False)

    def forward(self, x):
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class EncBlock(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.n1, self.att, self.n2, self.ffn = RMSNorm(d), Attention(d, heads), RMSNorm(d), FFN(d)

    def forward(self, x, inv_freq):
        h = self.n1(x)
        x = x + self.att(h, h, inv_freq)
        return x + self.ffn(self.n2(x))


class DecBlock(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.n1, self.att = RMSNorm(d), Attention(d, heads)
        self.n2, self.cross = RMSNorm(d), Attention(d, heads)
        self.n3, self.ffn = RMSNorm(d), FFN(d)

    def forward(self, x, mem, mask, inv_freq):
        h = self.n1(x)
        x = x + self.att(h, h, inv_freq, causal=True)
        x = x + self.cross(self.n2(x), mem, mask=mask)
        return x + self.ffn(self.n3(x))


class EncoderDecoder(nn.Module):
    def __init__(self, vocab, d, layers, heads):
        super().__init__()
        self.enc_emb = nn.Embedding(vocab, d)
        self.enc = nn.ModuleList([EncBlock(d, heads) for _ in range(layers)])
        self.enc_norm, self.enc_proj = RMSNorm(d), nn.Linear(d, d, bias=False)
        self.dec_emb = nn.Embedding(vocab, d)
        self.dec = nn.ModuleList([DecBlock(d, heads) for _ in range(layers)])
        self.dec_norm, self.head = RMSNorm(d), nn.Linear(d, vocab, bias=False)
        hd = d // heads
        self.register_buffer("inv_freq", 1.0 / (1e4 ** (torch.arange(0, hd, 2).float() / hd)),
                             persistent=False)

    def forward(self, prompt, prompt_mask, dec):
        x = self.enc_emb(prompt)
        for blk in self.enc:  # reference: no padding mask in the encoder
            x = blk(x, self.inv_freq)
        mem = self.enc_proj(self.enc_norm(x))
        mask = prompt_mask[:, None, None, :].bool()
        y = self.dec_emb(dec)
        for blk in self.dec:
            y = blk(y, mem, mask, self.inv_freq)
        return self.head(self.dec_norm(y))
