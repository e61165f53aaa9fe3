#!/usr/bin/python3
"""Reference distributions for every sampler step (tests/test_sampler.c).

    /usr/bin/python3 tools/gen_sampler_ref.py > tests/data/sampler_ref.txt

Each step is written the way its peer's own source writes it, in float64:
  - Hugging Face transformers, generation/logits_process.py (torch): SequenceBias
    (length-1 biases), RepetitionPenaltyLogitsProcessor (gather / scatter over
    input_ids), NoRepeatNGramLogitsProcessor (the _get_ngrams dictionary form),
    TemperatureLogitsWarper, TopK, TopP, MinP, Typical, Epsilon, Eta warpers;
    the order of generation/utils.py _get_logits_processor;
  - OpenAI / vLLM presence and frequency penalties (counts of generated tokens);
  - llama.cpp src/llama-sampling.cpp (numpy, sorted candidate arrays):
    penalties (ring of the last n accepted tokens), top-n-sigma, top-k,
    typical, top-p, min-p, XTC, temp / temp-ext (dynatemp), mirostat and
    mirostat v2, in common/sampling.cpp's default order;
  - target entropy: T from scipy's brentq on log T.
It shares no code with src/sampling/sampler.c. tempscale's definitions where no
peer has one (T = 0, T = inf, the XTC coin, the positions of one peer's step in
the other peer's order) are written here from docs/sampling.md.

Format, one record per case (numbers with 17 significant digits):
    case NAME
    param KEY VALUE            (ts_sampler_params fields; order hf|llama)
    bias N tok val ...         (logit_bias)
    prompt N ids...
    generated N ids...
    step                       (one apply; several for Mirostat)
    logits V z_0 ... z_{V-1}   (float32 values, printed exactly; -inf allowed)
    expect p_0 ... p_{V-1}     (final distribution; 0 = not a candidate)
    accept ID                  (token accepted after this apply, -1 = none)
"""
import math

import numpy as np
import torch
from scipy.optimize import brentq

torch.set_default_dtype(torch.float64)
NEG = -math.inf

# ---------------------------------------------------------------------------
# Hugging Face (torch), as in logits_process.py; scores is [1, V] float64
# ---------------------------------------------------------------------------


def hf_sequence_bias(scores, bias):
    b = torch.zeros_like(scores)
    for tok, val in bias:
        b[0, tok] += val
    return scores + b


def hf_repetition_penalty(input_ids, scores, penalty):
    score = torch.gather(scores, 1, input_ids)
    score = torch.where(score < 0, score * penalty, score / penalty)
    return scores.scatter(1, input_ids, score)


def openai_presence_frequency(generated, scores, presence, frequency):
    # mu[j] -> mu[j] - c[j] * alpha_frequency - float(c[j] > 0) * alpha_presence,
    # c[j] = how often token j was sampled (vLLM: output tokens only)
    counts = torch.zeros_like(scores)
    for t in generated:
        counts[0, t] += 1
    return scores - frequency * counts - presence * (counts > 0).to(scores.dtype)


def hf_get_ngrams(ngram_size, tokens):
    generated = {}
    for ngram in zip(*[tokens[i:] for i in range(ngram_size)]):
        prev = tuple(ngram[:-1])
        generated[prev] = generated.get(prev, []) + [ngram[-1]]
    return generated


def hf_no_repeat_ngram(input_ids, scores, n):
    tokens = input_ids[0].tolist()
    cur_len = len(tokens)
    if cur_len + 1 < n:
        return scores
    ngrams = hf_get_ngrams(n, tokens)
    start = cur_len + 1 - n
    banned = ngrams.get(tuple(tokens[start:cur_len]), [])
    out = scores.clone()
    out[0, banned] = NEG
    return out


def hf_temperature(scores, t):
    if math.isinf(t):  # tempscale: T = inf is uniform over the finite scores
        return torch.where(torch.isinf(scores), scores, torch.zeros_like(scores))
    return scores / t


def hf_top_k(scores, k):
    k = min(k, scores.size(-1))
    remove = scores < torch.topk(scores, k)[0][..., -1, None]
    return scores.masked_fill(remove, NEG)


def hf_top_p(scores, top_p):
    sorted_logits, sorted_indices = torch.sort(scores, descending=False)
    cumulative_probs = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
    sorted_remove = cumulative_probs <= (1 - top_p)
    sorted_remove[..., -1:] = 0
    remove = sorted_remove.scatter(1, sorted_indices, sorted_remove)
    return scores.masked_fill(remove, NEG)


def hf_min_p(scores, min_p):
    probs = torch.softmax(scores, dim=-1)
    top_probs = probs.amax(dim=-1, keepdim=True)
    remove = probs < min_p * top_probs
    idx = torch.topk(probs, 1, dim=-1).indices
    remove.scatter_(-1, idx, False)
    return scores.masked_fill(remove, NEG)


def hf_typical(scores, mass):
    normalized = torch.nn.functional.log_softmax(scores, dim=-1)
    p = torch.exp(normalized)
    ent = -(normalized * p).nansum(-1, keepdim=True)
    shifted = torch.abs((-normalized) - ent)
    sorted_scores, sorted_indices = torch.sort(shifted, descending=False, stable=True)
    sorted_logits = scores.gather(-1, sorted_indices)
    cumulative_probs = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
    last_ind = (cumulative_probs < mass).sum(dim=1)
    last_ind.clamp_(max=sorted_scores.shape[-1] - 1)
    sorted_remove = sorted_scores > sorted_scores.gather(1, last_ind.view(-1, 1))
    sorted_remove[..., :1] = 0
    remove = sorted_remove.scatter(1, sorted_indices, sorted_remove)
    return scores.masked_fill(remove, NEG)


def hf_epsilon(scores, eps):
    probabilities = scores.softmax(dim=-1)
    remove = probabilities < eps
    remove = remove & (scores < torch.topk(scores, 1)[0][..., -1, None])
    return scores.masked_fill(remove, NEG)


def hf_eta(scores, eps):
    probabilities = scores.softmax(dim=-1)
    p = probabilities[probabilities > 0]
    entropy = -(p * torch.log(p)).sum()  # Categorical(logits=scores).entropy()
    eta = torch.min(torch.tensor(eps), torch.sqrt(torch.tensor(eps)) * torch.exp(-entropy))
    remove = probabilities < eta
    remove = remove & (scores < torch.topk(scores, 1)[0][..., -1, None])
    return scores.masked_fill(remove, NEG)


# ---------------------------------------------------------------------------
# llama.cpp (numpy), as in llama-sampling.cpp: cur is a list of [id, logit]
# ---------------------------------------------------------------------------


def ll_sort(cur):
    cur.sort(key=lambda c: (-c[1], c[0]))  # logit desc; ties: lower id (tempscale)


def ll_softmax(cur):
    ll_sort(cur)
    mx = cur[0][1]
    e = [math.exp(c[1] - mx) for c in cur]
    s = sum(e)
    return [x / s for x in e]


def ll_penalties(cur, window, repeat, freq, present):
    count = {}
    for t in window:
        count[t] = count.get(t, 0) + 1
    for c in cur:
        n = count.get(c[0], 0)
        if n == 0:
            continue
        c[1] = c[1] * repeat if c[1] <= 0 else c[1] / repeat
        c[1] -= n * freq + (1.0 if n > 0 else 0.0) * present


def ll_top_n_sigma(cur, n):
    if n <= 0 or len(cur) <= 1:
        return cur
    vals = [c[1] for c in cur if c[1] != NEG]
    mx = max(vals)
    mean = sum(vals) / len(vals)
    std = math.sqrt(sum((v - mean) ** 2 for v in vals) / len(vals))
    return [c for c in cur if not (c[1] < mx - n * std)]


def ll_top_k(cur, k):
    if k <= 0:
        return cur
    ll_sort(cur)
    return cur[:min(k, len(cur))]


def ll_typical(cur, p):
    if p >= 1.0:
        return cur
    probs = ll_softmax(cur)
    ent = -sum(q * math.log(q) for q in probs if q > 0)
    shifted = [abs(-math.log(q) - ent) if q > 0 else math.inf for q in probs]
    idx = sorted(range(len(cur)), key=lambda i: (shifted[i], i))  # ties: the ranking
    cum, last = 0.0, len(idx)
    for i, j in enumerate(idx):
        cum += probs[j]
        if cum > p:
            last = i + 1
            break
    return [cur[j] for j in idx[:last]]


def ll_top_p(cur, p):
    if p >= 1.0:
        return cur
    probs = ll_softmax(cur)
    cum, last = 0.0, len(cur)
    for i, q in enumerate(probs):
        cum += q
        if cum >= p:
            last = i + 1
            break
    return cur[:last]


def ll_min_p(cur, p):
    if p <= 0:
        return cur
    mx = max(c[1] for c in cur)
    min_logit = mx + math.log(p)
    return [c for c in cur if c[1] >= min_logit]


def ll_xtc(cur, probability, threshold, coin):
    if probability <= 0 or threshold > 0.5 or len(cur) < 2:
        return cur
    if coin > probability:
        return cur
    probs = ll_softmax(cur)
    pos_last = 0
    for i, q in enumerate(probs):
        if q >= threshold:
            pos_last = i
        else:
            break
    if pos_last > 0:
        return cur[pos_last:]
    return cur


def ll_temp(cur, t):
    if t <= 0:
        ll_sort(cur)
        return [cur[0]], 1.0
    return cur, t


def ll_temp_ext(cur, temp, delta, exponent):
    """Returns (cur, effective temperature)."""
    if delta > 0:
        if math.isinf(temp):
            return cur, temp
        lo, hi = max(0.0, temp - delta), temp + delta
        if len(cur) <= 1:
            return cur, 1.0
        max_entropy = -math.log(1.0 / len(cur))
        probs = ll_softmax(cur)
        ent = -sum(q * math.log(q) for q in probs if q > 0)
        dyn = lo + (hi - lo) * (ent / max_entropy) ** exponent
        return ll_temp(cur, dyn)
    return ll_temp(cur, temp)


def ll_scaled_probs(cur, t):
    if math.isinf(t):
        return [1.0 / len(cur)] * len(cur)
    ll_sort(cur)
    mx = cur[0][1]
    e = [math.exp((c[1] - mx) / t) for c in cur]
    s = sum(e)
    return [x / s for x in e]


def ll_mirostat(cur, t, tau, eta, mu, n_vocab, m=100):
    probs = ll_scaled_probs(cur, t)
    sum_tb = sum_tt = 0.0
    for i in range(min(m - 1, len(cur) - 1)):
        ti = math.log((i + 2) / (i + 1))
        bi = math.log(probs[i] / probs[i + 1])
        sum_tb += ti * bi
        sum_tt += ti * ti
    s_hat = sum_tb / sum_tt
    eps_hat = s_hat - 1
    k = ((eps_hat * 2 ** mu) / (1 - n_vocab ** (-eps_hat))) ** (1 / s_hat)
    k = max(int(min(k, len(cur))), 1)
    return cur[:k]


def ll_mirostat_v2(cur, t, mu):
    probs = ll_scaled_probs(cur, t)
    n = len(cur)
    for i, q in enumerate(probs):
        if -math.log2(q) > mu:
            n = i
            break
    return cur[:max(n, 1)]


# ---------------------------------------------------------------------------
# tempscale's own definitions
# ---------------------------------------------------------------------------

MASK64 = (1 << 64) - 1


def mix64(x):
    x = (x + 0x9E3779B97F4A7C15) & MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK64
    return x ^ (x >> 31)


def counter_uniform(a, b, c, d):
    h = mix64(a)
    h = mix64(h ^ b)
    h = mix64(h ^ c)
    h = mix64(h ^ d)
    return ((h >> 11) + 0.5) * 2.0 ** -53


XTC_TAG = 0x58544321


def entropy_of(scores, t):
    s = np.asarray(scores, dtype=np.float64)
    if math.isinf(t):
        return math.log(len(s))
    w = np.exp((s - s.max()) / t)
    p = w / w.sum()
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def solve_temperature(scores, target):
    """T with entropy(softmax(scores / T)) = target; inf / 0+ limits when unreachable."""
    s = np.asarray(scores, dtype=np.float64)
    n_ties = int((s == s.max()).sum())
    if len(s) <= 1:
        return 1.0
    if target == 0 and n_ties == 1:
        return 0.0
    if target >= math.log(len(s)):
        return math.inf
    if target <= math.log(n_ties):
        return -1.0  # the T -> 0+ limit: uniform over the ties
    f = lambda u: entropy_of(s, math.exp(u)) - target
    u = brentq(f, -60, 60, xtol=1e-15, rtol=1e-15)
    return math.exp(u)


# ---------------------------------------------------------------------------
# the chains (docs/sampling.md)
# ---------------------------------------------------------------------------


def final_from_scores_hf(scores):
    return torch.softmax(scores, dim=-1)[0].numpy()


def chain_hf(z, P, prompt, generated, apply_index):
    """The HF order: processors, then warpers. Returns (probs, effective T)."""
    V = len(z)
    scores = torch.tensor(np.asarray(z, dtype=np.float64)).view(1, V)
    input_ids = torch.tensor([prompt + generated], dtype=torch.long)
    if P["bias"]:
        scores = hf_sequence_bias(scores, P["bias"])
    if P["repetition_penalty"] != 1.0 and input_ids.shape[1] > 0:
        scores = hf_repetition_penalty(input_ids, scores, P["repetition_penalty"])
    if P["presence_penalty"] != 0 or P["frequency_penalty"] != 0:
        scores = openai_presence_frequency(generated, scores, P["presence_penalty"],
                                           P["frequency_penalty"])
    if P["no_repeat_ngram_size"] > 0:
        scores = hf_no_repeat_ngram(input_ids, scores, P["no_repeat_ngram_size"])
    T = P["temperature"]
    if P["mirostat"]:
        return chain_mirostat(scores[0].numpy(), P, T)
    if P["target_entropy"] >= 0:
        fin = [float(x) for x in scores[0] if not math.isinf(float(x))]
        T = solve_temperature(fin, P["target_entropy"])
        if T < 0:  # ties: keep the maxima, uniform
            mx = scores.max()
            scores = torch.where(scores == mx, torch.zeros_like(scores), torch.full_like(scores, NEG))
            T = math.inf
    elif P["dynatemp_range"] > 0:
        cur = [[i, float(scores[0, i])] for i in range(V) if not math.isinf(float(scores[0, i]))]
        _, T = ll_temp_ext(cur, T, P["dynatemp_range"], P["dynatemp_exponent"])
    if T == 0:
        out = np.zeros(V)
        s = scores[0].numpy()
        out[int(np.argmax(s))] = 1.0  # first maximum
        return out, 0.0
    pre_t = scores.clone()
    scores = hf_temperature(scores, T)
    if P["top_n_sigma"] > 0:
        cur = [[i, float(scores[0, i])] for i in range(V)]
        kept = {c[0] for c in ll_top_n_sigma(cur, P["top_n_sigma"])}
        scores = torch.tensor([[float(scores[0, i]) if i in kept else NEG for i in range(V)]])
    if P["top_k"] > 0 and math.isinf(T):
        # tempscale: top-k keeps exactly k by the ranking of the scores before the
        # temperature (HF would keep every tie: at T = inf, everything)
        order = sorted(range(V), key=lambda i: (-float(pre_t[0, i]), i))
        keep = set(order[:P["top_k"]])
        scores = torch.tensor([[float(scores[0, i]) if i in keep else NEG for i in range(V)]])
    elif P["top_k"] > 0:
        scores = hf_top_k(scores, P["top_k"])
    if P["top_p"] < 1.0:
        scores = hf_top_p(scores, P["top_p"])
    if P["min_p"] > 0:
        scores = hf_min_p(scores, P["min_p"])
    if P["typical_p"] < 1.0:
        scores = hf_typical(scores, P["typical_p"])
    if 0 < P["epsilon_cutoff"] < 1:
        scores = hf_epsilon(scores, P["epsilon_cutoff"])
    if 0 < P["eta_cutoff"] < 1:
        scores = hf_eta(scores, P["eta_cutoff"])
    if P["xtc_probability"] > 0:
        cur = [[i, float(scores[0, i])] for i in range(V) if not math.isinf(float(scores[0, i]))]
        coin = counter_uniform(P["seed"], XTC_TAG, apply_index, 0)
        kept = {c[0] for c in ll_xtc(cur, P["xtc_probability"], P["xtc_threshold"], coin)}
        scores = torch.tensor([[float(scores[0, i]) if i in kept else NEG for i in range(V)]])
    return final_from_scores_hf(scores), T


def cur_to_probs(cur, V, t):
    out = np.zeros(V)
    probs = ll_scaled_probs(cur, t)
    for c, q in zip(cur, probs):
        out[c[0]] = q
    return out


def chain_llama(z, P, prompt, generated, apply_index):
    V = len(z)
    cur = [[i, float(z[i])] for i in range(V)]
    for tok, val in P["bias"]:
        cur[tok][1] += val
    hist = prompt + generated
    if P["mirostat"]:
        cur = [c for c in cur if c[1] != NEG]
        return chain_mirostat_cur(cur, P, P["temperature"], V)
    n = P["penalty_last_n"]
    if n != 0 and (P["repetition_penalty"] != 1 or P["frequency_penalty"] != 0
                   or P["presence_penalty"] != 0):
        window = hist if n < 0 else hist[-n:] if n > 0 else []
        ll_penalties(cur, window, P["repetition_penalty"], P["frequency_penalty"],
                     P["presence_penalty"])
    if P["no_repeat_ngram_size"] > 0:
        scores = torch.tensor([[c[1] for c in cur]])
        scores = hf_no_repeat_ngram(torch.tensor([hist], dtype=torch.long), scores,
                                    P["no_repeat_ngram_size"])
        cur = [[i, float(scores[0, i])] for i in range(V)]
    cur = [c for c in cur if c[1] != NEG]
    cur = ll_top_n_sigma(cur, P["top_n_sigma"])
    cur = ll_top_k(cur, P["top_k"])
    cur = ll_typical(cur, P["typical_p"])
    cur = ll_top_p(cur, P["top_p"])
    cur = ll_min_p(cur, P["min_p"])
    if P["epsilon_cutoff"] > 0 or P["eta_cutoff"] > 0:
        scores = torch.full((1, V), NEG)
        for c in cur:
            scores[0, c[0]] = c[1]
        if P["epsilon_cutoff"] > 0:
            scores = hf_epsilon(scores, P["epsilon_cutoff"])
        if P["eta_cutoff"] > 0:
            scores = hf_eta(scores, P["eta_cutoff"])
        cur = [[i, float(scores[0, i])] for i in range(V) if not math.isinf(float(scores[0, i]))]
    coin = counter_uniform(P["seed"], XTC_TAG, apply_index, 0)
    cur = ll_xtc(cur, P["xtc_probability"], P["xtc_threshold"], coin)
    if P["target_entropy"] >= 0:
        T = solve_temperature([c[1] for c in cur], P["target_entropy"])
        if T < 0:
            mx = max(c[1] for c in cur)
            cur = [c for c in cur if c[1] == mx]
            T = math.inf
        if T == 0:
            cur, T = ll_temp(cur, 0)
    else:
        cur, T = ll_temp_ext(cur, P["temperature"], P["dynatemp_range"], P["dynatemp_exponent"])
    return cur_to_probs(cur, V, T), T


MIRO = {}  # case name -> mu


def chain_mirostat(scores, P, T):
    cur = [[i, float(scores[i])] for i in range(len(scores)) if not math.isinf(float(scores[i]))]
    return chain_mirostat_cur(cur, P, T, len(scores))


def chain_mirostat_cur(cur, P, T, V):
    cur, t = ll_temp(cur, T)
    ll_sort(cur)
    mu = P["_mu"]
    if P["mirostat"] == 1:
        cur = ll_mirostat(cur, t, P["mirostat_tau"], P["mirostat_eta"], mu, V)
    else:
        cur = ll_mirostat_v2(cur, t, mu)
    return cur_to_probs(cur, V, t), T


# ---------------------------------------------------------------------------

DEFAULTS = dict(temperature=1.0, top_k=0, top_p=1.0, min_p=0.0, order="hf", seed=0,
                repetition_penalty=1.0, penalty_last_n=64, presence_penalty=0.0,
                frequency_penalty=0.0, no_repeat_ngram_size=0, typical_p=1.0,
                epsilon_cutoff=0.0, eta_cutoff=0.0, top_n_sigma=-1.0, xtc_probability=0.0,
                xtc_threshold=0.1, dynatemp_range=0.0, dynatemp_exponent=1.0,
                target_entropy=-1.0, mirostat=0, mirostat_tau=5.0, mirostat_eta=0.1, bias=[])


def fmt(x):
    x = float(x)
    if math.isinf(x):
        return "-inf" if x < 0 else "inf"
    return repr(x) if x != int(x) or abs(x) > 1e15 else "%.17g" % x


def logits_vec(rng, V, scale=3.0, masked=()):
    z = (rng.standard_normal(V) * scale).astype(np.float32)
    for m in masked:
        z[m] = -np.inf
    return z


def emit(name, P, prompt, generated, steps):
    """steps: list of (z, accept) ; accept = 'top' to accept the top candidate."""
    print("case", name)
    for k, v in P.items():
        if k == "bias" or k.startswith("_"):
            continue
        print("param", k, v if isinstance(v, str) else fmt(v))
    print("bias", len(P["bias"]), " ".join("%d %s" % (t, fmt(b)) for t, b in P["bias"]))
    print("prompt", len(prompt), " ".join(map(str, prompt)))
    print("generated", len(generated), " ".join(map(str, generated)))
    gen = list(generated)
    P["_mu"] = 2.0 * P["mirostat_tau"]
    for i, (z, acc) in enumerate(steps):
        chain = chain_hf if P["order"] == "hf" else chain_llama
        probs, _ = chain(z, P, list(prompt), gen, i)
        assert abs(probs.sum() - 1) < 1e-12, name
        print("step")
        print("logits", len(z), " ".join(fmt(np.float32(x)) for x in z))
        print("expect", " ".join("%.17g" % p for p in probs))
        if acc is None:
            print("accept -1")
            continue
        if acc == "top":
            tok = int(np.argmax(probs))
        elif acc == "last":  # the least likely candidate: a large surprise
            tok = int(np.where(probs > 0, probs, np.inf).argmin())
        else:
            tok = int(acc)
        assert probs[tok] > 0, (name, tok)
        if P["mirostat"]:
            P["_mu"] -= P["mirostat_eta"] * (-math.log2(probs[tok]) - P["mirostat_tau"])
        gen.append(tok)
        print("accept", tok)


def main():
    rng = np.random.default_rng(20240612)
    V = 48
    print("# generated by tools/gen_sampler_ref.py; see its docstring")

    def case(name, order, prompt=(), generated=(), steps=None, z=None, **kw):
        P = dict(DEFAULTS)
        P["order"] = order
        P.update(kw)
        if steps is None:
            steps = [(z if z is not None else logits_vec(rng, V), None)]
        emit(name, P, list(prompt), list(generated), steps)

    hist_p = [3, 7, 7, 12, 40, 3]
    hist_g = [12, 5, 5, 5, 30, 7]
    for order in ("hf", "llama"):
        o = order
        case(f"{o}_plain", o)
        case(f"{o}_t07_topk10", o, temperature=0.7, top_k=10)
        case(f"{o}_logit_bias", o, bias=[(0, 2.5), (5, -1.25), (9, NEG)], temperature=1.3)
        case(f"{o}_repetition", o, hist_p, hist_g, repetition_penalty=1.3)
        case(f"{o}_repetition_reward", o, hist_p, hist_g, repetition_penalty=0.7, temperature=0.8)
        case(f"{o}_presence_frequency", o, hist_p, hist_g, presence_penalty=0.6,
             frequency_penalty=0.35)
        case(f"{o}_penalties_all", o, hist_p, hist_g, repetition_penalty=1.2,
             presence_penalty=-0.4, frequency_penalty=0.8, temperature=1.1)
        case(f"{o}_ngram2", o, [1, 2, 3, 1, 2, 4, 1], [2, 9, 1], no_repeat_ngram_size=2)
        case(f"{o}_ngram3", o, [1, 2, 3, 1, 2, 4, 1, 2], [], no_repeat_ngram_size=3)
        case(f"{o}_ngram1", o, [4, 4, 8], [11], no_repeat_ngram_size=1)
        case(f"{o}_typical", o, typical_p=0.6, temperature=1.2)
        case(f"{o}_typical_topk", o, typical_p=0.4, top_k=20)
        case(f"{o}_epsilon", o, epsilon_cutoff=0.02, temperature=0.9)
        case(f"{o}_eta", o, eta_cutoff=0.05, temperature=1.4)
        case(f"{o}_top_n_sigma", o, top_n_sigma=1.0, temperature=1.5)
        case(f"{o}_top_n_sigma_t03", o, top_n_sigma=0.5, temperature=0.3)
        case(f"{o}_xtc_always", o, xtc_probability=1.0, xtc_threshold=0.05, seed=3)
        for sd in range(4):  # the coin: u(seed, step) <= 0.5 fires
            case(f"{o}_xtc_coin_seed{sd}", o, xtc_probability=0.5, xtc_threshold=0.08, seed=sd)
        case(f"{o}_dynatemp", o, dynatemp_range=0.8, temperature=1.0)
        case(f"{o}_dynatemp_exp", o, dynatemp_range=0.5, dynatemp_exponent=2.5, temperature=0.7,
             top_k=25)
        case(f"{o}_dynatemp_t0", o, dynatemp_range=1.5, temperature=0.0)
        case(f"{o}_target_entropy", o, target_entropy=1.7)
        case(f"{o}_target_entropy_topk", o, target_entropy=1.2, top_k=12)
        case(f"{o}_target_entropy_zero", o, target_entropy=0.0)
        case(f"{o}_target_entropy_max", o, target_entropy=9.0, top_k=5)
        case(f"{o}_greedy_penalised", o, hist_p, hist_g, temperature=0.0, repetition_penalty=3.0,
             presence_penalty=1.5)
        case(f"{o}_t_inf_bias", o, temperature=math.inf, bias=[(2, NEG), (3, NEG)])
        case(f"{o}_full", o, hist_p, hist_g, bias=[(1, 1.5)], repetition_penalty=1.15,
             presence_penalty=0.2, frequency_penalty=0.1, no_repeat_ngram_size=3, temperature=0.9,
             top_k=30, top_p=0.95, min_p=0.02, typical_p=0.97, epsilon_cutoff=0.003,
             eta_cutoff=0.002, top_n_sigma=2.5, xtc_probability=1.0, xtc_threshold=0.15)
        for m in (1, 2):
            steps = [(logits_vec(rng, V, 2.5), "top"), (logits_vec(rng, V, 2.5), "last"),
                     (logits_vec(rng, V, 2.5), "top"), (logits_vec(rng, V, 2.5), None)]
            case(f"{o}_mirostat{m}", o, hist_p, [], steps=steps, mirostat=m, mirostat_tau=3.0,
                 mirostat_eta=0.3, temperature=0.9, repetition_penalty=1.2)
    # window conventions of llama.cpp: -1 = the whole history, 0 = off, n = last n
    for n in (-1, 0, 3):
        case(f"llama_penalty_last_n_{n}", "llama", hist_p, hist_g, repetition_penalty=1.5,
             frequency_penalty=0.5, penalty_last_n=n)
    # a larger vocabulary with masked tokens
    V2 = 600
    z = logits_vec(rng, V2, 4.0, masked=(7, 300))
    case("hf_large_full", "hf", [5, 6, 7, 8, 5], [9, 9, 10], z=z, repetition_penalty=1.3,
         presence_penalty=0.5, top_p=0.9, typical_p=0.95, eta_cutoff=0.001, temperature=1.2)
    z = logits_vec(rng, V2, 4.0, masked=(11,))
    case("llama_large_full", "llama", [5, 6, 7, 8, 5], [9, 9, 10], z=z, repetition_penalty=1.3,
         frequency_penalty=0.3, top_n_sigma=2.0, top_k=200, typical_p=0.9, min_p=0.01,
         xtc_probability=1.0, xtc_threshold=0.02, dynatemp_range=0.4)


if __name__ == "__main__":
    main()
