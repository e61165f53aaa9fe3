#!/usr/bin/env python3
"""openai_bpe.py — a second, independent oracle: OpenAI's original GPT-2 encoder.py
algorithm (gpt-2/src/encoder.py: bytes_to_unicode, get_pairs, Encoder.bpe/encode),
run with Debian's python3-regex on the strings of strings.jsonl, and compared with
the gpt-3-encoder ids committed in tests/data/tokenizer_cases.jsonl.

Usage: /usr/bin/python3 openai_bpe.py VOCAB_DIR CASES_JSONL
Prints each disagreement (text, both id lists) and a summary; exits 0 either way
(disagreements are documented in docs/tokenizer.md, the JS oracle is the reference).
"""
import json
import sys
from functools import lru_cache

import regex as re


@lru_cache()
def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\xa1"), ord("\xac") + 1)) + \
        list(range(ord("\xae"), ord("\xff") + 1))
    cs = bs[:]
    n = 0
    for b in range(2**8):
        if b not in bs:
            bs.append(b)
            cs.append(2**8 + n)
            n += 1
    return dict(zip(bs, [chr(n) for n in cs]))


def get_pairs(word):
    pairs = set()
    prev_char = word[0]
    for char in word[1:]:
        pairs.add((prev_char, char))
        prev_char = char
    return pairs


class Encoder:
    def __init__(self, encoder, bpe_merges):
        self.encoder = encoder
        self.byte_encoder = bytes_to_unicode()
        self.bpe_ranks = dict(zip(bpe_merges, range(len(bpe_merges))))
        self.cache = {}
        self.pat = re.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")

    def bpe(self, token):
        if token in self.cache:
            return self.cache[token]
        word = tuple(token)
        pairs = get_pairs(word)
        if not pairs:
            return token
        while True:
            bigram = min(pairs, key=lambda pair: self.bpe_ranks.get(pair, float('inf')))
            if bigram not in self.bpe_ranks:
                break
            first, second = bigram
            new_word = []
            i = 0
            while i < len(word):
                try:
                    j = word.index(first, i)
                    new_word.extend(word[i:j])
                    i = j
                except ValueError:
                    new_word.extend(word[i:])
                    break
                if word[i] == first and i < len(word) - 1 and word[i + 1] == second:
                    new_word.append(first + second)
                    i += 2
                else:
                    new_word.append(word[i])
                    i += 1
            word = tuple(new_word)
            if len(word) == 1:
                break
            pairs = get_pairs(word)
        word = ' '.join(word)
        self.cache[token] = word
        return word

    def encode(self, text):
        bpe_tokens = []
        for token in re.findall(self.pat, text):
            token = ''.join(self.byte_encoder[b] for b in token.encode('utf-8'))
            bpe_tokens.extend(self.encoder[bpe_token] for bpe_token in self.bpe(token).split(' '))
        return bpe_tokens

    def pieces(self, text):
        return re.findall(self.pat, text)


def main():
    vocab_dir, cases = sys.argv[1], sys.argv[2]
    with open(vocab_dir + '/vocab.json', encoding='utf-8') as f:
        encoder = json.load(f)
    with open(vocab_dir + '/merges.txt', encoding='utf-8') as f:
        bpe_data = f.read()
    bpe_merges = [tuple(merge_str.split()) for merge_str in bpe_data.split('\n')[1:-1]]
    enc = Encoder(encoder, bpe_merges)
    n = bad = 0
    for line in open(cases, encoding='utf-8'):
        rec = json.loads(line)
        n += 1
        ids = enc.encode(rec['text'])
        if ids != rec['ids']:
            bad += 1
            print('DISAGREE %s\n  python pieces %s\n  python %s\n  js     %s' % (
                json.dumps(rec['text']), json.dumps(enc.pieces(rec['text'])), ids, rec['ids']))
    print('%d cases, %d disagreements between OpenAI encoder.py (python3-regex %s) and gpt-3-encoder'
          % (n, bad, re.__version__))


if __name__ == '__main__':
    main()
