"""llama_ref.py — an independent numpy reference of the Llama family's forward pass, for the tests
(issue 13): the oracle the C implementation is compared with, never imported by it.

    read_llama2c(path)          -> (config dict, weights dict)   llama2.c .bin, legacy v0 header
    read_llama2c_tokenizer(path, vocab_size) -> (pieces, scores, max_token_length)
    Llama(config, weights).logits(tokens)      full-sequence forward, float64, (T, vocab)
    Llama.greedy(n_steps, bos=1)               llama2.c's `run -t 0.0`: tokens after BOS
    decode(pieces, prev, tok)                  llama2.c's decode (leading space after BOS, <0xXX>)

Weights use the Hugging Face orientation, W [out, in], y = W @ x. RoPE comes in both layouts:
"interleaved" (llama2.c / Meta: pairs (x[2i], x[2i+1])) and "half" (Hugging Face rotate_half:
pairs (x[i], x[i + hd/2])); rope_theta, rms_norm_eps, grouped-query attention (n_kv_heads <
n_heads), head_dim, optional q/k/v biases and tied or untied embeddings are config fields.

Written from the llama2.c format description (karpathy/llama2.c, run.c's reading order) and the
Llama architecture, in plain numpy; float64 throughout so that it is the exact side of a comparison.
"""
import struct

import numpy as np


def read_llama2c(path):
    """The legacy (v0) llama2.c checkpoint: 7 int32 (dim, hidden_dim, n_layers, n_heads, n_kv_heads,
    vocab_size, seq_len; a negative vocab_size means a separate classifier), then float32 tensors
    in run.c's order, each [out, in] row-major; the RoPE tables (seq_len x head_size/2, twice) are
    skipped; the classifier last when not shared."""
    with open(path, "rb") as f:
        data = f.read()
    dim, hidden, n_layers, n_heads, n_kv, vocab, seq_len = struct.unpack("<7i", data[:28])
    shared = vocab > 0
    vocab = abs(vocab)
    hd = dim // n_heads
    kv_dim = n_kv * hd
    x = np.frombuffer(data, dtype="<f4", offset=28).astype(np.float64)
    off = 0

    def take(*shape):
        nonlocal off
        n = int(np.prod(shape))
        if off + n > x.size:
            raise ValueError("%s: truncated (need %d more floats)" % (path, off + n - x.size))
        a = x[off:off + n].reshape(shape)
        off += n
        return a

    w = {"embed": take(vocab, dim), "attn_norm": take(n_layers, dim), "wq": take(n_layers, dim, dim),
         "wk": take(n_layers, kv_dim, dim), "wv": take(n_layers, kv_dim, dim),
         "wo": take(n_layers, dim, dim), "ffn_norm": take(n_layers, dim),
         "w1": take(n_layers, hidden, dim), "w2": take(n_layers, dim, hidden),
         "w3": take(n_layers, hidden, dim), "norm": take(dim)}
    take(seq_len, hd // 2)   # freq_cis_real (unused: recomputed)
    take(seq_len, hd // 2)   # freq_cis_imag
    w["lm_head"] = w["embed"] if shared else take(vocab, dim)
    cfg = {"dim": dim, "hidden_dim": hidden, "n_layers": n_layers, "n_heads": n_heads,
           "n_kv_heads": n_kv, "vocab_size": vocab, "seq_len": seq_len, "head_dim": hd,
           "rope_theta": 10000.0, "rms_norm_eps": 1e-5, "rope": "interleaved",
           "tied": shared, "bias": False}
    return cfg, w


def read_llama2c_tokenizer(path, vocab_size):
    """tokenizer.bin: int32 max_token_length, then per token float32 score, int32 length, bytes."""
    with open(path, "rb") as f:
        data = f.read()
    (max_len,) = struct.unpack_from("<i", data, 0)
    off = 4
    pieces, scores = [], []
    for _ in range(vocab_size):
        score, n = struct.unpack_from("<fi", data, off)
        off += 8
        pieces.append(data[off:off + n])
        scores.append(score)
        off += n
    return pieces, scores, max_len


def decode(pieces, prev, tok):
    """llama2.c's decode: after BOS (1) a leading space is dropped; "<0xXX>" is the raw byte."""
    p = pieces[tok]
    if prev == 1 and p.startswith(b" "):
        p = p[1:]
    if len(p) == 6 and p.startswith(b"<0x") and p.endswith(b">"):
        try:
            return bytes([int(p[3:5], 16)])
        except ValueError:
            pass
    return p


def rms_norm(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def rope(x, pos, theta, layout):
    """x (T, n_heads, hd) rotated by position pos (T,)."""
    hd = x.shape[-1]
    inv = theta ** (-np.arange(0, hd, 2, dtype=np.float64) / hd)          # (hd/2,)
    ang = pos[:, None] * inv[None, :]                                       # (T, hd/2)
    c, s = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
    out = np.empty_like(x)
    if layout == "interleaved":
        a, b = x[..., 0::2], x[..., 1::2]
        out[..., 0::2] = a * c - b * s
        out[..., 1::2] = a * s + b * c
    elif layout == "half":
        h = hd // 2
        a, b = x[..., :h], x[..., h:]
        out[..., :h] = a * c - b * s
        out[..., h:] = a * s + b * c
    else:
        raise ValueError("rope layout %r" % layout)
    return out


class Llama:
    def __init__(self, cfg, w):
        self.c, self.w = cfg, w

    def logits(self, tokens):
        c, w = self.c, self.w
        T = len(tokens)
        H, KV, hd = c["n_heads"], c["n_kv_heads"], c["head_dim"]
        pos = np.arange(T, dtype=np.float64)
        x = w["embed"][np.asarray(tokens)]
        mask = np.triu(np.full((T, T), -np.inf), 1)
        for l in range(c["n_layers"]):
            h = rms_norm(x, w["attn_norm"][l], c["rms_norm_eps"])
            q, k, v = h @ w["wq"][l].T, h @ w["wk"][l].T, h @ w["wv"][l].T
            if c.get("bias"):
                q, k, v = q + w["bq"][l], k + w["bk"][l], v + w["bv"][l]
            q = rope(q.reshape(T, H, hd), pos, c["rope_theta"], c["rope"])
            k = rope(k.reshape(T, KV, hd), pos, c["rope_theta"], c["rope"])
            v = v.reshape(T, KV, hd)
            rep = H // KV                      # query head j uses key/value head j // rep
            k, v = np.repeat(k, rep, axis=1), np.repeat(v, rep, axis=1)
            att = np.einsum("thd,shd->hts", q, k) / np.sqrt(hd) + mask
            att = np.exp(att - att.max(axis=-1, keepdims=True))
            att /= att.sum(axis=-1, keepdims=True)
            o = np.einsum("hts,shd->thd", att, v).reshape(T, H * hd)
            x = x + o @ w["wo"][l].T
            h = rms_norm(x, w["ffn_norm"][l], c["rms_norm_eps"])
            g, u = h @ w["w1"][l].T, h @ w["w3"][l].T
            x = x + ((g / (1 + np.exp(-g))) * u) @ w["w2"][l].T
        return rms_norm(x, w["norm"], c["rms_norm_eps"]) @ w["lm_head"].T

    def greedy(self, n_steps, bos=1):
        """llama2.c's generate with an empty prompt at temperature 0: from BOS, n_steps forwards,
        stopping early at BOS; returns the generated tokens."""
        toks = [bos]
        for _ in range(n_steps):
            nxt = int(np.argmax(self.logits(toks)[-1]))
            if nxt == bos:
                break
            toks.append(nxt)
        return toks[1:]
