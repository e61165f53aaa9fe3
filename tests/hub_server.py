#!/usr/bin/env python3
"""hub_server.py — a tiny stand-in for the Hugging Face hub, for tests/test_hub.c.

Standard library only. Usage:
    python3 hub_server.py --root DIR [--lifetime 120]
Writes the test repositories' files and DIR/manifest.json (commit and etag of
every file, computed here with hashlib: the independent reference for the C
side), binds 127.0.0.1 on a free port, prints "PORT <n>" on stdout and serves
until killed or until --lifetime seconds have passed (then it exits by itself).

It mimics what huggingface_hub talks to (file_download.py, hf_api.py):
  GET  /api/models/{repo}/revision/{rev}   -> {"sha", "siblings": [{"rfilename"}]}
  HEAD/GET /{repo}/resolve/{rev}/{file}
       small files: 200, ETag "<git blob sha1>", X-Repo-Commit, Content-Length
       LFS files (*.safetensors, *.bin): 302 to an absolute /cdn-lfs/<sha256>
       URL (a stand-in CDN), X-Linked-Etag "<sha256>", X-Linked-Size,
       X-Repo-Commit
  GET  /cdn-lfs/<sha256>                   -> the bytes; Range -> 206
  errors: 404 + X-Error-Code RepoNotFound / RevisionNotFound / EntryNotFound,
          401 / 403 + X-Error-Code GatedRepo (resolve of tsorg/gated without
          "Authorization: Bearer hf_good")
  GET  /_stats                             -> request counters (JSON)
Repositories: tsorg/tiny (revisions main, v1), distilgpt2, tsorg/tiny-sharded,
tsorg/pickle (only pytorch_model.bin), tsorg/gated, tsorg/corrupt (serves
bytes that do not match the etag), tsorg/flaky (drops the first download of
model.safetensors after FLAKY_CUT bytes), tsorg/norange (the same, and then
ignores Range: answers 200 with the whole file), tsorg/old-name (renamed: relative
307 redirects to tsorg/tiny).

Hostile repositories (issue 15; each serves the tiny checkpoint with one lie):
  tsorg/endless         announces 10 bytes for model.safetensors, streams up to 64 MiB
  tsorg/huge            announces 2^60 bytes
  tsorg/gopher, tsorg/dict, tsorg/file
                        model.safetensors redirects to gopher://, dict:// (the trap
                        port: a TCP listener that only counts connections) or
                        file:///etc/passwd
  tsorg/cdn-gopher      the CDN redirects once more, to gopher://
  tsorg/api-file        the model-info API redirects to file:///etc/passwd
  tsorg/trickle         the CDN sends model.safetensors at 2 bytes/s
  tsorg/longetag        config.json and vocab.json get 200-character etags that share
                        their first 150 characters
  tsorg/hexless         ETag "not-a-hash"
  tsorg/emptyredirect   302 with Content-Length 0, no X-Linked-Size, the etag of b""
  tsorg/evil-msg        404 whose X-Error-Message holds ESC sequences and a BEL
  tsorg/evil-shard      a weight_map naming "a<ESC>[2J.safetensors"
  tsorg/subdir-shards   a weight_map naming sub/dir/model-00001-of-00001.safetensors
  tsorg/bad-index       a weight_map entry that is a number (long tensor name)
Every hostile behaviour is bounded: the trickle and the stream end by
themselves, and the trap closes each connection it accepts.
"""
import argparse
import hashlib
import json
import os
import random
import signal
import struct
import sys
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

TOKEN = "hf_good"
FLAKY_CUT = 100_000
HOSTILE_SINGLE = ["tsorg/endless", "tsorg/huge", "tsorg/gopher", "tsorg/dict", "tsorg/file",
                  "tsorg/cdn-gopher", "tsorg/api-file", "tsorg/trickle", "tsorg/longetag",
                  "tsorg/hexless", "tsorg/emptyredirect", "tsorg/evil-msg"]
EVIL_MESSAGE = "\x1b[2J\x1b]0;pwned\x07 repository gone"


def bytes_to_unicode():
    """GPT-2's byte -> printable unicode map (encoder.py)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def tiny_gpt2(seed):
    """config.json, vocab.json, merges.txt and the tensors of a 1-layer GPT-2."""
    byte_tokens = [bytes_to_unicode()[b] for b in range(256)]
    merges = [("t", "h"), ("th", "e"), ("\u0120", "the")]
    vocab = {t: i for i, t in enumerate(byte_tokens)}
    for a, b in merges:
        vocab[a + b] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    V, P, C = len(vocab), 32, 64
    config = {
        "model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "vocab_size": V,
        "n_positions": P, "n_ctx": P, "n_embd": C, "n_layer": 1, "n_head": 4,
        "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5,
        "bos_token_id": V - 1, "eos_token_id": V - 1,
    }
    rng = random.Random(seed)

    def rand(*shape):
        n = 1
        for s in shape:
            n *= s
        return shape, [rng.gauss(0.0, 0.02) for _ in range(n)]

    def const(v, *shape):
        return shape, [v] * shape[0]

    tensors = {
        "wte.weight": rand(V, C), "wpe.weight": rand(P, C),
        "h.0.ln_1.weight": const(1.0, C), "h.0.ln_1.bias": const(0.0, C),
        "h.0.attn.c_attn.weight": rand(C, 3 * C), "h.0.attn.c_attn.bias": rand(3 * C),
        "h.0.attn.c_proj.weight": rand(C, C), "h.0.attn.c_proj.bias": rand(C),
        "h.0.ln_2.weight": const(1.0, C), "h.0.ln_2.bias": const(0.0, C),
        "h.0.mlp.c_fc.weight": rand(C, 4 * C), "h.0.mlp.c_fc.bias": rand(4 * C),
        "h.0.mlp.c_proj.weight": rand(4 * C, C), "h.0.mlp.c_proj.bias": rand(C),
        "ln_f.weight": const(1.0, C), "ln_f.bias": const(0.0, C),
    }
    files = {
        "config.json": json.dumps(config, indent=2, sort_keys=True).encode() + b"\n",
        "vocab.json": json.dumps(vocab, ensure_ascii=False).encode(),
        "merges.txt": ("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges)).encode(),
    }
    return files, tensors


def safetensors_bytes(tensors):
    """The safetensors format: u64 LE header length, JSON header, raw F32 data."""
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    for name, (shape, values) in tensors.items():
        data = struct.pack(f"<{len(values)}f", *values)
        header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)


def commit_of(name):
    return hashlib.sha1(name.encode()).hexdigest()


def is_lfs(name):
    return name.endswith(".safetensors") or name.endswith(".bin")


def etag_of(data, name):
    if is_lfs(name):
        return hashlib.sha256(data).hexdigest()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def build_repos():
    base, tensors = tiny_gpt2(1234)
    single = dict(base)
    single["model.safetensors"] = safetensors_bytes(tensors)
    single["README.md"] = b"# tiny\n"
    names = list(tensors)
    half = len(names) // 2
    sharded = dict(base)
    shard_names = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    weight_map = {}
    for i, part in enumerate([names[:half], names[half:]]):
        sharded[shard_names[i]] = safetensors_bytes({n: tensors[n] for n in part})
        for n in part:
            weight_map[n] = shard_names[i]
    sharded["model.safetensors.index.json"] = json.dumps(
        {"metadata": {"total_size": sum(len(sharded[s]) for s in shard_names)},
         "weight_map": weight_map}, indent=2).encode()
    pickle = dict(base)
    pickle["pytorch_model.bin"] = b"PK\x03\x04 not really a pickle, never fetched"
    def with_index(weight_map, shard_files):
        d = dict(base)
        d.update(shard_files)
        d["model.safetensors.index.json"] = json.dumps({"weight_map": weight_map}).encode()
        return d

    one_shard = safetensors_bytes(tensors)
    subdir = with_index({n: "sub/dir/model-00001-of-00001.safetensors" for n in names},
                        {"sub/dir/model-00001-of-00001.safetensors": one_shard})
    evil_shard = with_index({n: "a\x1b[2J.safetensors" for n in names},
                            {"a\x1b[2J.safetensors": one_shard})
    bad_index = with_index({"transformer.h.11.mlp.c_proj.weight.of.a.long.tensor.name": 12345},
                           {})
    repos = {}
    for repo, files in [("tsorg/tiny", single), ("distilgpt2", single),
                        ("tsorg/tiny-sharded", sharded), ("tsorg/pickle", pickle),
                        ("tsorg/gated", single), ("tsorg/corrupt", single),
                        ("tsorg/flaky", single), ("tsorg/norange", single)] + \
            [(r, single) for r in HOSTILE_SINGLE] + \
            [("tsorg/subdir-shards", subdir), ("tsorg/evil-shard", evil_shard),
             ("tsorg/bad-index", bad_index)]:
        commit = commit_of(repo)
        revs = {"main": commit, commit: commit}
        if repo == "tsorg/tiny":
            revs["v1"] = commit
        repos[repo] = {"commit": commit, "revisions": revs, "files": files}
    return repos


class Hub(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        # A client that hangs up mid-transfer (the disk-full test) is expected.
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet
        pass

    # -- helpers -----------------------------------------------------------
    def send(self, code, headers=None, body=b"", head=False):
        self.send_response(code)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if "Content-Length" not in (headers or {}):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head and body:
            self.wfile.write(body)

    def error(self, code, error_code, message, head=False):
        body = json.dumps({"error": message}).encode()
        self.send(code, {"X-Error-Code": error_code, "X-Error-Message": message,
                         "Content-Type": "application/json"}, body, head)

    def count(self, key, value=1):
        with self.server.lock:
            st = self.server.stats
            if isinstance(st.get(key), list):
                st[key].append(value)
            else:
                st[key] = st.get(key, 0) + value

    def split_repo(self, parts):
        """Longest known repo id at the start of parts: (repo, rest) or (None, parts)."""
        for n in (2, 1):
            rid = "/".join(parts[:n])
            if rid in self.server.repos or rid == "tsorg/old-name":
                return rid, parts[n:]
        return None, parts

    # -- routes ------------------------------------------------------------
    def do_GET(self):
        self.route(head=False)

    def do_HEAD(self):
        self.route(head=True)

    def route(self, head):
        path = self.path.split("?", 1)[0]
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if parts == ["_stats"]:
            with self.server.lock:
                body = json.dumps(self.server.stats).encode()
            return self.send(200, {"Content-Type": "application/json"}, body, head)
        if parts[0] == "cdn-lfs" and len(parts) == 2:
            return self.cdn(parts[1], head)
        if parts == ["cdn-hop"]:  # a CDN that redirects once more (to ?to=...)
            to = unquote(self.path.split("?to=", 1)[1]) if "?to=" in self.path else "/"
            return self.send(302, {"Location": to}, b"", head)
        if parts[:2] == ["api", "models"]:
            self.count("api")
            repo, rest = self.split_repo(parts[2:])
            if repo == "tsorg/old-name":
                loc = "/api/models/tsorg/tiny/" + "/".join(rest)
                return self.send(307, {"Location": loc}, b"", head)
            if repo is None:
                return self.error(404, "RepoNotFound", "Repository not found", head)
            if len(rest) != 2 or rest[0] != "revision":
                return self.error(400, "BadRequest", "expected /revision/{rev}", head)
            return self.api_info(repo, rest[1], head)
        repo, rest = self.split_repo(parts)
        if len(rest) >= 3 and rest[0] == "resolve":
            if repo == "tsorg/old-name":
                loc = "/tsorg/tiny/" + "/".join(rest)
                return self.send(307, {"Location": loc}, b"", head)
            return self.resolve(repo, rest[1], "/".join(rest[2:]), head)
        if repo is None and len(parts) >= 3 and "resolve" in parts:
            self.count("heads" if head else "resolve_gets")
            return self.error(404, "RepoNotFound", "Repository not found", head)
        return self.error(404, "EntryNotFound", "no such route", head)

    def api_info(self, repo, rev, head):
        if repo == "tsorg/evil-msg":
            return self.error(404, "RepoNotFound", EVIL_MESSAGE, head)
        if repo == "tsorg/api-file":
            return self.send(307, {"Location": "file:///etc/passwd"}, b"", head)
        r = self.server.repos[repo]
        if rev not in r["revisions"]:
            return self.error(404, "RevisionNotFound", "Invalid rev id: " + rev, head)
        body = json.dumps({
            "_id": commit_of("id" + repo), "id": repo, "modelId": repo,
            "sha": r["revisions"][rev], "private": False,
            "gated": "manual" if repo == "tsorg/gated" else False,
            "siblings": [{"rfilename": f} for f in sorted(r["files"])],
        }).encode()
        return self.send(200, {"Content-Type": "application/json"}, body, head)

    def resolve(self, repo, rev, name, head):
        self.count("heads" if head else "resolve_gets")
        if repo is None:
            return self.error(404, "RepoNotFound", "Repository not found", head)
        r = self.server.repos[repo]
        auth = self.headers.get("Authorization")
        if auth:
            self.count("auth_on_resolve")
        if repo == "tsorg/gated" and auth != "Bearer " + TOKEN:
            code = 403 if auth else 401
            return self.error(code, "GatedRepo", "Access to model tsorg/gated is restricted.",
                              head)
        if rev not in r["revisions"]:
            return self.error(404, "RevisionNotFound", "Invalid rev id: " + rev, head)
        commit = r["revisions"][rev]
        if name not in r["files"]:
            return self.error(404, "EntryNotFound", name + " does not exist", head)
        data = r["files"][name]
        if is_lfs(name):
            sha = etag_of(data, name)
            host = self.headers.get("Host", "127.0.0.1")
            loc = f"http://{host}/cdn-lfs/{sha}?repo={repo}&file={name}"
            self.server.cdn_map[sha] = (repo, name)
            pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha}\n" \
                      f"size {len(data)}\n".encode()
            headers = {"Location": loc, "X-Repo-Commit": commit,
                       "X-Linked-Etag": f'"{sha}"', "X-Linked-Size": str(len(data)),
                       "ETag": f'"{etag_of(pointer, "pointer")}"', "Content-Length": "0"}
            trap = f"127.0.0.1:{self.server.trap_port}"
            if repo == "tsorg/endless":
                headers["X-Linked-Size"] = "10"
            elif repo == "tsorg/huge":
                headers["X-Linked-Size"] = str(1 << 60)
            elif repo == "tsorg/gopher":
                headers["Location"] = f"gopher://{trap}/1x"
            elif repo == "tsorg/dict":
                headers["Location"] = f"dict://{trap}/d:x"
            elif repo == "tsorg/file":
                headers["Location"] = "file:///etc/passwd"
            elif repo == "tsorg/cdn-gopher":
                headers["Location"] = f"http://{host}/cdn-hop?to=gopher://{trap}/1x"
            elif repo == "tsorg/emptyredirect":
                del headers["X-Linked-Size"]
                headers["X-Linked-Etag"] = f'"{hashlib.sha256(b"").hexdigest()}"'
            return self.send(302, headers, b"", head)
        headers = {"X-Repo-Commit": commit, "ETag": f'"{etag_of(data, name)}"',
                   "Content-Type": "application/octet-stream"}
        if repo == "tsorg/longetag" and name in ("config.json", "vocab.json"):
            headers["ETag"] = '"' + "a" * 150 + name.ljust(50, "x") + '"'
        elif repo == "tsorg/hexless":
            headers["ETag"] = '"not-a-hash"'
        if not head:
            self.count("data_gets")
        return self.send(200, headers, data, head)

    def stream(self, length, chunk, pause, data=None, code=200, headers=None):
        """Promise length bytes, send data (or zeros) chunk by chunk; stop when the client goes."""
        self.send_response(code)
        for k, v in (headers or {"Content-Length": str(length)}).items():
            self.send_header(k, v)
        self.end_headers()
        data = data if data is not None else bytes(length)
        sent = 0
        try:
            for i in range(0, len(data), chunk):
                self.wfile.write(data[i:i + chunk])
                self.wfile.flush()
                sent += len(data[i:i + chunk])
                if pause:
                    time.sleep(pause)
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.count("bytes_sent", sent)
        self.close_connection = True

    def cdn(self, sha, head):
        if self.headers.get("Authorization"):
            self.count("auth_on_cdn")
        if sha not in self.server.cdn_map:
            return self.send(404, {}, b"not found", head)
        repo, name = self.server.cdn_map[sha]
        data = self.server.repos[repo]["files"][name]
        if repo == "tsorg/corrupt":
            data = bytearray(data)
            data[len(data) // 2] ^= 0xFF
            data = bytes(data)
        if head:
            return self.send(200, {"Content-Length": str(len(data))}, b"", head)
        self.count("data_gets")
        rng = self.headers.get("Range")
        self.count("ranges", rng or "")
        start = 0
        if rng:
            if not rng.startswith("bytes=") or not rng[6:].endswith("-"):
                return self.send(416, {}, b"bad range")
            start = int(rng[6:-1])
            if start >= len(data):
                return self.send(416, {"Content-Range": f"bytes */{len(data)}"}, b"")
        if repo == "tsorg/norange":  # a server that ignores Range: always 200, whole file
            start, rng = 0, None
        body = data[start:]
        headers = {"Content-Type": "application/octet-stream", "Accept-Ranges": "bytes",
                   "Content-Length": str(len(body))}
        code = 200
        if rng:
            code = 206
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        if repo == "tsorg/endless":  # far more than the 10 bytes announced
            return self.stream(64 << 20, 1 << 16, 0.0)
        if repo == "tsorg/trickle":  # 2 bytes a second, 40 bytes at most
            return self.stream(len(body), 2, 1.0, body[:40], code, headers)
        if repo in ("tsorg/flaky", "tsorg/norange"):
            with self.server.lock:
                first = repo not in self.server.cut_done
                self.server.cut_done.add(repo)
            if first:  # promise everything, send FLAKY_CUT bytes, hang up
                self.send_response(code)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body[:FLAKY_CUT])
                self.wfile.flush()
                self.close_connection = True
                return
        self.count("bytes_sent", len(body))
        self.send(code, headers, body)


def trap(sock, server):
    """Count and close every connection: where gopher:// and dict:// redirects point."""
    while True:
        conn, _ = sock.accept()
        with server.lock:
            server.stats["trap_connections"] += 1
        conn.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--lifetime", type=int, default=120)
    args = ap.parse_args()
    signal.alarm(args.lifetime)  # default action: terminate; never outlives the test
    repos = build_repos()
    manifest = {}
    for repo, r in repos.items():
        d = os.path.join(args.root, "repos", repo)
        os.makedirs(d, exist_ok=True)
        files = {}
        for name, data in r["files"].items():
            os.makedirs(os.path.dirname(os.path.join(d, name)), exist_ok=True)
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
            files[name] = {"etag": etag_of(data, name), "size": len(data)}
        manifest[repo] = {"commit": r["commit"], "files": files}
    with open(os.path.join(args.root, "manifest.json"), "w") as f:
        json.dump({"flaky_cut": FLAKY_CUT, "token": TOKEN, "repos": manifest}, f, indent=1)
    srv = Hub(("127.0.0.1", 0), Handler)
    srv.repos = repos
    srv.lock = threading.Lock()
    srv.stats = {"api": 0, "heads": 0, "resolve_gets": 0, "data_gets": 0, "bytes_sent": 0,
                 "auth_on_resolve": 0, "auth_on_cdn": 0, "ranges": []}
    srv.cdn_map = {}
    srv.cut_done = set()
    srv.stats["trap_connections"] = 0
    trap_sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    trap_sock.bind(("127.0.0.1", 0))
    trap_sock.listen(8)
    srv.trap_port = trap_sock.getsockname()[1]
    threading.Thread(target=trap, args=(trap_sock, srv), daemon=True).start()
    print(f"PORT {srv.server_address[1]}", flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
