/*
 * hub.c — models by name: the Hugging Face hub cache and `tempscale pull`.
 *
 * The cache layout is huggingface_hub's, byte for byte (file_download.py:
 * hf_hub_download, repo_folder_name, _create_symlink,
 * _cache_commit_hash_for_specific_revision; constants.py for the
 * environment), so transformers and tempscale share one cache:
 *
 *   <cache>/models--{org}--{name}/            repo_folder_name: "/" -> "--"
 *       refs/{revision}                       the commit hash, 40 hex, no newline;
 *                                             only written when revision != commit
 *       blobs/{etag}                          file contents; etag = sha256 (LFS files,
 *                                             from X-Linked-Etag) or git blob sha1
 *       blobs/{etag}.incomplete               a download in progress (resumable)
 *       snapshots/{commit}/{file}             relative symlink ../../blobs/{etag}
 *   <cache>/.locks/models--{org}--{name}/{etag}.lock   flock held while downloading
 *
 * Protocol (hf_hub_download / get_hf_file_metadata / hf_api.model_info):
 *   1. GET  {endpoint}/api/models/{repo}/revision/{quote(rev, safe="")}
 *      -> JSON {"sha": commit, "siblings": [{"rfilename": ...}, ...]}
 *   2. HEAD {endpoint}/{repo}/resolve/{commit}/{quote(file)} without following
 *      redirects except relative ones (a renamed repo); Accept-Encoding:
 *      identity. Headers: X-Repo-Commit, X-Linked-Etag or ETag (W/ and quotes
 *      stripped), X-Linked-Size or Content-Length, Location (a CDN for LFS
 *      files).
 *   3. GET the Location (without Authorization when it differs from the
 *      resolve URL) or the resolve URL, with "Range: bytes=N-" when
 *      blobs/{etag}.incomplete already holds N bytes.
 *   Errors carry X-Error-Code: RepoNotFound, RevisionNotFound, EntryNotFound,
 *   GatedRepo (and X-Error-Message).
 *
 * Unlike huggingface_hub we also verify every blob against its etag before
 * the rename (sha256, or sha1 of "blob <size>\0" + data for git files), and
 * create the snapshot symlinks and the ref only after every blob is in
 * place, so a failed pull never leaves a half snapshot behind.
 *
 * The server is not trusted (docs/security.md). Everything it says goes
 * through small parsers that neither allocate nor block (ts_http_head_line,
 * ts_hub_head_meta, ts_hub_check_url, ts_hub_parse_model_info: fuzzed in
 * tests/fuzz/): an etag must be a sha1 / sha256 (so every blob is verified
 * and named safely), a size must be announced and bounds the download, every
 * redirect is followed here (never by libcurl) after its URL passed the
 * http(s) policy, the token goes only to the endpoint's origin, shard names
 * pass the loader's own rule (ts_weight_map_load), and messages quoting the
 * server are escaped by ts_errorf.
 */
#include "internal.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pwd.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#define HUB_DEFAULT_ENDPOINT "https://huggingface.co"
#define HUB_MAX_FILES        256
#define HUB_URL_MAX          8192

/* ---- small helpers ------------------------------------------------------ */

static const char *env_nonempty(const char *name)
{
    const char *v = getenv(name);
    return v && v[0] ? v : NULL;
}

/* snprintf for paths: false (and out truncated) when it does not fit. */
static bool pathf(char *out, size_t out_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static bool pathf(char *out, size_t out_size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, out_size, fmt, ap);
    va_end(ap);
    return n >= 0 && (size_t)n < out_size;
}

static bool is_lower_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return false;
    return true;
}

/* huggingface_hub's REGEX_COMMIT_HASH: ^[0-9a-f]{40}$ */
static bool is_commit_hash(const char *s)
{
    return strlen(s) == 40 && is_lower_hex(s, 40);
}

static bool is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode); /* follows symlinks */
}

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* mkdir -p of every component of path (not only its parent). */
static ts_status mkdir_p(const char *path, char *err, size_t err_size)
{
    char buf[TS_HUB_PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return ts_errorf(err, err_size, TS_ERR_INVALID, "%s: path too long", path);
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char saved = *p;
            *p = '\0';
            if (mkdir(buf, 0777) != 0 && errno != EEXIST)
                return ts_errorf(err, err_size, TS_ERR_IO, "%s: cannot create directory: %s", buf,
                                 strerror(errno));
            if (!is_dir(buf))
                return ts_errorf(err, err_size, TS_ERR_IO, "%s: exists and is not a directory",
                                 buf);
            *p = saved;
            if (saved == '\0') break;
        }
    }
    return TS_OK;
}

static ts_status mkdir_parent(const char *path, char *err, size_t err_size)
{
    char buf[TS_HUB_PATH_MAX];
    snprintf(buf, sizeof buf, "%s", path);
    char *slash = strrchr(buf, '/');
    if (!slash || slash == buf) return TS_OK;
    *slash = '\0';
    return mkdir_p(buf, err, err_size);
}

/* A revision as a path under refs/ ("refs/pr/1"): relative, no "..", no empty parts. */
static bool safe_relpath(const char *s)
{
    if (!s[0] || s[0] == '/' || strlen(s) > 512 || strchr(s, '\\')) return false;
    const char *p = s;
    while (*p) {
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return false;
        p += n;
        if (*p == '/') p++;
        if (e && !*p) return false; /* trailing slash */
    }
    return true;
}

/* ---- cache location ----------------------------------------------------- */

static ts_status expand_home(const char *in, char *out, size_t out_size, char *err, size_t err_size)
{
    if (in[0] == '~' && (in[1] == '/' || in[1] == '\0')) {
        const char *home = env_nonempty("HOME");
        if (!home) {
            struct passwd *pw = getpwuid(getuid());
            home = pw ? pw->pw_dir : NULL;
        }
        if (!home) return ts_errorf(err, err_size, TS_ERR_IO, "%s: cannot expand ~ (no HOME)", in);
        if (snprintf(out, out_size, "%s%s", home, in + 1) >= (int)out_size)
            return ts_errorf(err, err_size, TS_ERR_RANGE, "%s: path too long", in);
        return TS_OK;
    }
    if (snprintf(out, out_size, "%s", in) >= (int)out_size)
        return ts_errorf(err, err_size, TS_ERR_RANGE, "%s: path too long", in);
    return TS_OK;
}

ts_status ts_hub_cache_dir(char *out, size_t out_size, char *err, size_t err_size)
{
    const char *v;
    char tmp[TS_HUB_PATH_MAX];
    /* constants.py: HF_HUB_CACHE > HUGGINGFACE_HUB_CACHE > HF_HOME/hub >
     * $XDG_CACHE_HOME/huggingface/hub > ~/.cache/huggingface/hub */
    if ((v = env_nonempty("HF_HUB_CACHE")) || (v = env_nonempty("HUGGINGFACE_HUB_CACHE")))
        return expand_home(v, out, out_size, err, err_size);
    if ((v = env_nonempty("HF_HOME"))) {
        if (snprintf(tmp, sizeof tmp, "%s/hub", v) >= (int)sizeof tmp)
            return ts_errorf(err, err_size, TS_ERR_RANGE, "HF_HOME: path too long");
    } else if ((v = env_nonempty("XDG_CACHE_HOME"))) {
        if (snprintf(tmp, sizeof tmp, "%s/huggingface/hub", v) >= (int)sizeof tmp)
            return ts_errorf(err, err_size, TS_ERR_RANGE, "XDG_CACHE_HOME: path too long");
    } else {
        snprintf(tmp, sizeof tmp, "~/.cache/huggingface/hub");
    }
    return expand_home(tmp, out, out_size, err, err_size);
}

/* ---- repo ids and revisions --------------------------------------------- */

/* huggingface_hub's validate_repo_id: ^(\b[\w\-.]+\b/)?\b[\w\-.]+\b$, no "--" / "..", <= 96. */
static bool valid_repo_id(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > 96) return false;
    if (strstr(id, "--") || strstr(id, "..")) return false;
    if (n >= 4 && strcmp(id + n - 4, ".git") == 0) return false;
    int slashes = 0;
    const char *part = id;
    for (const char *p = id;; p++) {
        if (*p == '/' || *p == '\0') {
            size_t len = (size_t)(p - part);
            if (len == 0) return false;
            /* \b...\b: a part starts and ends with a word character. */
            char a = part[0], b = part[len - 1];
            if (a == '-' || a == '.' || b == '-' || b == '.') return false;
            if (*p == '\0') break;
            if (++slashes > 1) return false;
            part = p + 1;
            continue;
        }
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return false;
    }
    return true;
}

static bool valid_revision(const char *rev)
{
    if (!rev[0] || strlen(rev) > 255) return false;
    for (const char *p = rev; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == '\\') return false;
    return safe_relpath(rev);
}

bool ts_hub_is_repo_spec(const char *s)
{
    char repo[128], rev[256];
    return s && ts_hub_parse_spec(s, repo, sizeof repo, rev, sizeof rev, NULL, 0) == TS_OK;
}

ts_status ts_hub_parse_spec(const char *spec, char *repo_id, size_t repo_size, char *revision,
                            size_t rev_size, char *err, size_t err_size)
{
    const char *at = strchr(spec, '@');
    size_t n = at ? (size_t)(at - spec) : strlen(spec);
    if (n + 1 > repo_size || n > 96)
        return ts_errorf(err, err_size, TS_ERR_INVALID, "'%s': repo id too long", spec);
    memcpy(repo_id, spec, n);
    repo_id[n] = '\0';
    const char *rev = at ? at + 1 : "main";
    if (snprintf(revision, rev_size, "%s", rev) >= (int)rev_size)
        return ts_errorf(err, err_size, TS_ERR_INVALID, "'%s': revision too long", spec);
    if (!valid_repo_id(repo_id))
        return ts_errorf(err, err_size, TS_ERR_INVALID,
                         "'%s' is not a valid repo id (expected NAME or ORG/NAME of letters, "
                         "digits, '-', '_', '.', optionally @REVISION)",
                         spec);
    if (!valid_revision(revision))
        return ts_errorf(err, err_size, TS_ERR_INVALID, "'%s': invalid revision '%s'", spec,
                         revision);
    return TS_OK;
}

/* <cache>/models--org--name */
static ts_status repo_folder(const char *cache, const char *repo_id, char *out, size_t out_size,
                             char *err, size_t err_size)
{
    char name[256] = "models";
    size_t k = strlen(name);
    name[k++] = '-';
    name[k++] = '-';
    for (const char *p = repo_id; *p && k + 3 < sizeof name; p++) {
        if (*p == '/') {
            name[k++] = '-';
            name[k++] = '-';
        } else {
            name[k++] = *p;
        }
    }
    name[k] = '\0';
    if (snprintf(out, out_size, "%s/%s", cache, name) >= (int)out_size)
        return ts_errorf(err, err_size, TS_ERR_RANGE, "%s: cache path too long", cache);
    return TS_OK;
}

/* ---- what a usable snapshot holds --------------------------------------- */

static const char *const REQUIRED_FILES[] = {"config.json", "vocab.json", "merges.txt"};
#define N_REQUIRED (sizeof REQUIRED_FILES / sizeof REQUIRED_FILES[0])

typedef struct name_list {
    char *names[HUB_MAX_FILES];
    size_t n;
} name_list;

static void names_free(name_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->names[i]);
    l->n = 0;
}

static bool names_has(const name_list *l, const char *s)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->names[i], s) == 0) return true;
    return false;
}

static ts_status names_add(name_list *l, const char *s, char *err, size_t err_size)
{
    if (names_has(l, s)) return TS_OK;
    if (l->n == HUB_MAX_FILES)
        return ts_errorf(err, err_size, TS_ERR_RANGE, "more than %d files", HUB_MAX_FILES);
    l->names[l->n] = strdup(s);
    if (!l->names[l->n]) return ts_errorf(err, err_size, TS_ERR_NOMEM, "out of memory");
    l->n++;
    return TS_OK;
}

/* The distinct shard names of a model.safetensors.index.json (the one weight_map reader). */
static ts_status index_shards(const char *index_path, name_list *shards, char *err, size_t err_size)
{
    ts_weight_map map;
    ts_status st = ts_weight_map_load(index_path, &map, err, err_size);
    for (size_t i = 0; st == TS_OK && i < map.n_shards; i++)
        st = names_add(shards, map.shards[i], err, err_size);
    ts_weight_map_free(&map);
    return st;
}

/*
 * TS_OK when dir holds every file a model needs (through its symlinks);
 * otherwise TS_ERR_NOT_FOUND naming the first missing file.
 */
static ts_status snapshot_complete(const char *dir, char *err, size_t err_size)
{
    char path[TS_HUB_PATH_MAX];
    for (size_t i = 0; i < N_REQUIRED; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, REQUIRED_FILES[i]);
        if (!is_file(path))
            return ts_errorf(err, err_size, TS_ERR_NOT_FOUND, "%s is missing", path);
    }
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (is_file(path)) return TS_OK;
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    if (!is_file(path))
        return ts_errorf(err, err_size, TS_ERR_NOT_FOUND,
                         "%s/model.safetensors (or model.safetensors.index.json) is missing", dir);
    name_list shards = {0};
    ts_status st = index_shards(path, &shards, err, err_size);
    for (size_t i = 0; st == TS_OK && i < shards.n; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, shards.names[i]);
        if (!is_file(path)) st = ts_errorf(err, err_size, TS_ERR_NOT_FOUND, "%s is missing", path);
    }
    names_free(&shards);
    return st;
}

/* Commit of revision from refs/ (or the revision itself when it is a commit). */
static bool read_ref(const char *repo_dir, const char *revision, char commit[41])
{
    if (is_commit_hash(revision)) {
        memcpy(commit, revision, 41);
        return true;
    }
    char path[TS_HUB_PATH_MAX];
    if (snprintf(path, sizeof path, "%s/refs/%s", repo_dir, revision) >= (int)sizeof path)
        return false;
    char *text = NULL;
    size_t n = 0;
    if (ts_read_file_max(path, 64, &text, &n, NULL, 0) != TS_OK) return false;
    char buf[65];
    memcpy(buf, text, n);
    free(text);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
        n--;
    buf[n] = '\0';
    if (!is_commit_hash(buf)) return false;
    memcpy(commit, buf, 41);
    return true;
}

ts_status ts_hub_resolve_cached(const char *cache_dir, const char *repo_id, const char *revision,
                                char *dir_out, size_t dir_size, char *err, size_t err_size)
{
    char cache[TS_HUB_PATH_MAX], repo_dir[TS_HUB_PATH_MAX];
    if (!revision) revision = "main";
    if (!repo_id || !valid_repo_id(repo_id))
        return ts_errorf(err, err_size, TS_ERR_INVALID, "'%s' is not a valid repo id",
                         repo_id ? repo_id : "(null)");
    if (!valid_revision(revision))
        return ts_errorf(err, err_size, TS_ERR_INVALID, "invalid revision '%s'", revision);
    ts_status st = cache_dir ? (snprintf(cache, sizeof cache, "%s", cache_dir), TS_OK)
                             : ts_hub_cache_dir(cache, sizeof cache, err, err_size);
    if (st != TS_OK) return st;
    st = repo_folder(cache, repo_id, repo_dir, sizeof repo_dir, err, err_size);
    if (st != TS_OK) return st;
    const char *at = strcmp(revision, "main") == 0 ? "" : "@";
    const char *rv = strcmp(revision, "main") == 0 ? "" : revision;
    if (!is_dir(repo_dir))
        return ts_errorf(
            err, err_size, TS_ERR_NOT_FOUND,
            "%s%s%s is not in the Hugging Face cache (%s); run 'tempscale pull %s%s%s'", repo_id,
            at, rv, repo_dir, repo_id, at, rv);
    char commit[41];
    if (!read_ref(repo_dir, revision, commit))
        return ts_errorf(err, err_size, TS_ERR_NOT_FOUND,
                         "%s: revision '%s' is not in the cache (no %s/refs/%s); run 'tempscale "
                         "pull %s%s%s'",
                         repo_id, revision, repo_dir, revision, repo_id, at, rv);
    char snap[TS_HUB_PATH_MAX], why[TS_ERR_SIZE] = "";
    if (snprintf(snap, sizeof snap, "%s/snapshots/%s", repo_dir, commit) >= (int)sizeof snap)
        return ts_errorf(err, err_size, TS_ERR_RANGE, "%s: path too long", repo_dir);
    if (snapshot_complete(snap, why, sizeof why) != TS_OK)
        return ts_errorf(err, err_size, TS_ERR_NOT_FOUND,
                         "%s%s%s is only partly in the cache (%s); run 'tempscale pull %s%s%s'",
                         repo_id, at, rv, why, repo_id, at, rv);
    if (snprintf(dir_out, dir_size, "%s", snap) >= (int)dir_size)
        return ts_errorf(err, err_size, TS_ERR_RANGE, "%s: path too long", snap);
    return TS_OK;
}

/* ---- digests ------------------------------------------------------------ */

ts_status ts_hub_file_digest(const char *path, bool git_blob, char *hex, size_t hex_size, char *err,
                             size_t err_size)
{
    const EVP_MD *md = git_blob ? EVP_sha1() : EVP_sha256();
    size_t dlen = (size_t)EVP_MD_get_size(md);
    if (hex_size < 2 * dlen + 1)
        return ts_errorf(err, err_size, TS_ERR_RANGE, "digest buffer too small");
    int fd;
    uint64_t fsize;
    ts_status s = ts_open_regular(path, UINT64_MAX, &fd, &fsize, err, err_size);
    if (s != TS_OK) return s;
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        close(fd);
        return ts_errorf(err, err_size, TS_ERR_NOMEM, "%s: out of memory", path);
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || !EVP_DigestInit_ex(ctx, md, NULL)) {
        EVP_MD_CTX_free(ctx);
        fclose(f);
        return ts_errorf(err, err_size, TS_ERR_NOMEM, "cannot start a digest");
    }
    if (git_blob) { /* git's object id: sha1("blob <size>\0" + contents) */
        struct stat st;
        if (fstat(fileno(f), &st) != 0) {
            EVP_MD_CTX_free(ctx);
            fclose(f);
            return ts_errorf(err, err_size, TS_ERR_IO, "%s: %s", path, strerror(errno));
        }
        char hdr[32];
        int n = snprintf(hdr, sizeof hdr, "blob %lld", (long long)st.st_size);
        EVP_DigestUpdate(ctx, hdr, (size_t)n + 1);
    }
    static unsigned char buf[1 << 16];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, f)) > 0)
        EVP_DigestUpdate(ctx, buf, got);
    int bad = ferror(f);
    fclose(f);
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int dl = 0;
    EVP_DigestFinal_ex(ctx, d, &dl);
    EVP_MD_CTX_free(ctx);
    if (bad) return ts_errorf(err, err_size, TS_ERR_IO, "%s: read error", path);
    for (unsigned int i = 0; i < dl; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
    return TS_OK;
}

/* ---- HTTP: reading what a server says (no I/O) ------------------------------ */

void ts_http_head_reset(ts_http_head *h)
{
    memset(h, 0, sizeof *h);
    h->linked_size = h->content_length = -1;
}

static void mark_bad(ts_http_head *h, const char *name)
{
    if (!h->bad[0]) snprintf(h->bad, sizeof h->bad, "%s", name);
}

/* Copy v[0..n) into dst; false (dst empty) when it does not fit: never cut silently. */
static bool copy_value(char *dst, size_t dst_size, const char *v, size_t n)
{
    if (n >= dst_size) {
        dst[0] = '\0';
        return false;
    }
    memcpy(dst, v, n);
    dst[n] = '\0';
    return true;
}

/* Decimal digits only (no sign, no spaces), at most INT64_MAX. */
static bool parse_size(const char *v, size_t n, int64_t *out)
{
    if (n == 0 || n > 19) return false;
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9') return false;
        x = x * 10 + (uint64_t)(v[i] - '0');
    }
    if (x > (uint64_t)INT64_MAX) return false;
    *out = (int64_t)x;
    return true;
}

static void set_size(ts_http_head *h, int64_t *field, const char *name, const char *v, size_t n)
{
    int64_t x;
    if (!parse_size(v, n, &x) || (*field >= 0 && *field != x))
        mark_bad(h, name); /* malformed, or given twice with two values */
    else
        *field = x;
}

void ts_http_head_line(ts_http_head *h, const char *line, size_t n)
{
    if (n >= 5 && memcmp(line, "HTTP/", 5) == 0) {
        ts_http_head_reset(h); /* a new response (after a redirect or a 100) */
        /* "HTTP/1.1 200 OK": exactly three digits after the first space. */
        const char *sp = memchr(line, ' ', n);
        size_t at = sp ? (size_t)(sp - line) + 1 : n;
        if (n - at >= 3) {
            const char *d = line + at;
            bool digits = d[0] >= '1' && d[0] <= '5' && d[1] >= '0' && d[1] <= '9' && d[2] >= '0' &&
                          d[2] <= '9';
            bool ends = n - at == 3 || d[3] == ' ' || d[3] == '\r' || d[3] == '\n';
            if (digits && ends) h->status = (d[0] - '0') * 100 + (d[1] - '0') * 10 + (d[2] - '0');
        }
        return;
    }
    const char *colon = memchr(line, ':', n);
    if (!colon) return;
    size_t klen = (size_t)(colon - line);
    const char *v = colon + 1;
    size_t vlen = n - klen - 1;
    while (vlen > 0 && (*v == ' ' || *v == '\t'))
        v++, vlen--;
    while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' ' ||
                        v[vlen - 1] == '\t'))
        vlen--;
#define HDR(name) (klen == sizeof(name) - 1 && strncasecmp(line, name, klen) == 0)
#define KEEP(field, name)                                                                          \
    do {                                                                                           \
        if (!copy_value(h->field, sizeof h->field, v, vlen)) mark_bad(h, name);                    \
    } while (0)
    if (HDR("ETag"))
        KEEP(etag, "ETag");
    else if (HDR("X-Linked-Etag"))
        KEEP(linked_etag, "X-Linked-Etag");
    else if (HDR("X-Repo-Commit"))
        KEEP(commit, "X-Repo-Commit");
    else if (HDR("Location"))
        KEEP(location, "Location");
    else if (HDR("X-Error-Code"))
        KEEP(error_code, "X-Error-Code");
    else if (HDR("X-Error-Message")) /* only shown (escaped): cut to fit */
        copy_value(h->error_message, sizeof h->error_message, v,
                   vlen < sizeof h->error_message ? vlen : sizeof h->error_message - 1);
    else if (HDR("X-Linked-Size"))
        set_size(h, &h->linked_size, "X-Linked-Size", v, vlen);
    else if (HDR("Content-Length"))
        set_size(h, &h->content_length, "Content-Length", v, vlen);
#undef KEEP
#undef HDR
}

ts_status ts_hub_head_meta(const ts_http_head *h, const char *url, const char *commit,
                           char etag[65], int64_t *size, char *err, size_t err_size)
{
    etag[0] = '\0';
    *size = -1;
    if (h->bad[0])
        return ts_errorf(err, err_size, TS_ERR_FORMAT, "%s: header %s is malformed or too long",
                         url, h->bad);
    if (!h->commit[0])
        return ts_errorf(err, err_size, TS_ERR_FORMAT,
                         "%s: no X-Repo-Commit header (is HF_ENDPOINT a Hugging Face hub?)", url);
    if (strcmp(h->commit, commit) != 0)
        return ts_errorf(err, err_size, TS_ERR_FORMAT,
                         "%s: X-Repo-Commit %s differs from the requested commit %s", url,
                         h->commit, commit);
    /* _normalize_etag: X-Linked-Etag (LFS sha256) wins over ETag; strip W/ and quotes. */
    const char *e = h->linked_etag[0] ? h->linked_etag : h->etag;
    if (e[0] == 'W' && e[1] == '/') e += 2;
    size_t n = strlen(e);
    while (n > 0 && *e == '"')
        e++, n--;
    while (n > 0 && e[n - 1] == '"')
        n--;
    if (n == 0) return ts_errorf(err, err_size, TS_ERR_FORMAT, "%s: no ETag header", url);
    if (!((n == 40 || n == 64) && is_lower_hex(e, n)))
        return ts_errorf(err, err_size, TS_ERR_FORMAT,
                         "%s: ETag '%.*s%s' is neither a git sha1 (40 hex) nor a sha256 (64 hex); "
                         "the file could not be verified, so it is not downloaded",
                         url, n > 80 ? 80 : (int)n, e, n > 80 ? "..." : "");
    memcpy(etag, e, n);
    etag[n] = '\0';
    /* A redirect's Content-Length is the length of the redirect itself. */
    bool redirect = h->status >= 300 && h->status <= 399;
    int64_t s = h->linked_size >= 0 || redirect ? h->linked_size : h->content_length;
    if (s < 0)
        return ts_errorf(err, err_size, TS_ERR_FORMAT,
                         redirect ? "%s: HTTP %ld redirect without X-Linked-Size: the file's size "
                                    "is unknown, so the download could not be bounded"
                                  : "%s: HTTP %ld without X-Linked-Size or Content-Length: the "
                                    "file's size is unknown, so the download could not be bounded",
                         url, h->status);
    *size = s;
    return TS_OK;
}

/* Scheme, host (lower case; IPv6 in brackets) and port (default filled in) of url. */
typedef struct url_parts {
    char scheme[16];
    char host[256];
    long port;
} url_parts;

static bool url_split(const char *url, url_parts *p)
{
    memset(p, 0, sizeof *p);
    p->port = -1;
    CURLU *u = curl_url();
    if (!u) return false;
    char *scheme = NULL, *host = NULL, *port = NULL;
    bool ok = curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK &&
              curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
              snprintf(p->scheme, sizeof p->scheme, "%s", scheme) < (int)sizeof p->scheme;
    if (ok && curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK)
        ok = snprintf(p->host, sizeof p->host, "%s", host) < (int)sizeof p->host;
    if (ok && curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK)
        p->port = strtol(port, NULL, 10);
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    for (char *c = p->scheme; *c; c++)
        *c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
    for (char *c = p->host; *c; c++)
        *c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
    return ok;
}

static bool is_loopback_host(const char *host)
{
    if (strcmp(host, "localhost") == 0 || strcmp(host, "[::1]") == 0) return true;
    /* 127.0.0.0/8, dotted decimal */
    unsigned a, b, c, d;
    char tail;
    return sscanf(host, "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) == 4 && a == 127 && b < 256 &&
           c < 256 && d < 256;
}

ts_status ts_hub_check_url(const char *endpoint, const char *url, char *err, size_t err_size)
{
    url_parts e, u;
    if (!url_split(url, &u))
        return ts_errorf(err, err_size, TS_ERR_NETWORK, "'%s' is not a URL tempscale can fetch",
                         url);
    if (strcmp(u.scheme, "http") != 0 && strcmp(u.scheme, "https") != 0)
        return ts_errorf(err, err_size, TS_ERR_NETWORK,
                         "'%s': only http and https URLs are fetched (not %s)", url, u.scheme);
    if (!u.host[0]) return ts_errorf(err, err_size, TS_ERR_NETWORK, "'%s': no host", url);
    bool endpoint_http = url_split(endpoint, &e) && strcmp(e.scheme, "http") == 0;
    if (strcmp(u.scheme, "http") == 0 && !endpoint_http && !is_loopback_host(u.host))
        return ts_errorf(err, err_size, TS_ERR_NETWORK,
                         "'%s': plain http is refused when the hub (%s) is https", url, endpoint);
    return TS_OK;
}

static bool same_origin(const char *a, const char *b)
{
    url_parts x, y;
    return url_split(a, &x) && url_split(b, &y) && strcmp(x.scheme, y.scheme) == 0 &&
           strcmp(x.host, y.host) == 0 && x.port == y.port;
}

/* huggingface_hub follows a redirect itself only when Location has no scheme and no host. */
static bool is_relative_location(const char *loc)
{
    if (loc[0] == '/' && loc[1] == '/') return false;
    for (const char *p = loc; *p && *p != '/' && *p != '?' && *p != '#'; p++)
        if (*p == ':') return false;
    return true;
}

/* ---- HTTP: requests ---------------------------------------------------------- */

typedef struct http_resp {
    ts_http_head head;
    char *body; /* small bodies only (API JSON, error pages) */
    size_t body_len;
} http_resp;

typedef struct hub_ctx {
    CURL *curl;
    const char *cache; /* cache root */
    const char *endpoint;
    const char *token;
    long connect_s, stall_s, lock_wait_s;
    ts_hub_progress_fn progress;
    void *user;
    ts_hub_pull_result *out;
    char curl_err[CURL_ERROR_SIZE];
} hub_ctx;

/* curl calls this once per header line, for every response (one per request: we follow). */
static size_t on_header(char *line, size_t size, size_t nitems, void *user)
{
    size_t n = size * nitems;
    ts_http_head_line(user, line, n);
    return n;
}

#define HUB_BODY_MAX (16u << 20)

static size_t on_body_mem(char *data, size_t size, size_t nmemb, void *user)
{
    http_resp *r = user;
    size_t n = size * nmemb;
    if (r->body_len + n > HUB_BODY_MAX) return 0;
    char *nb = realloc(r->body, r->body_len + n + 1);
    if (!nb) return 0;
    memcpy(nb + r->body_len, data, n);
    r->body = nb;
    r->body_len += n;
    r->body[r->body_len] = '\0';
    return n;
}

/*
 * Common options of every request: only http(s), no redirect followed by
 * libcurl (perform() checks each one), a connect timeout, a stall limit (an
 * average below TS_HUB_MIN_SPEED bytes/s over stall_s seconds fails), and
 * for the small metadata requests an overall deadline; auth, UA; proxies
 * come from the environment.
 */
#define TS_HUB_MIN_SPEED 1024L
static struct curl_slist *setup_request(hub_ctx *h, const char *url, bool auth, bool metadata,
                                        const char *extra_header)
{
    CURL *c = h->curl;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, h->curl_err);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, h->connect_s);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, TS_HUB_MIN_SPEED);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, h->stall_s);
    if (metadata) curl_easy_setopt(c, CURLOPT_TIMEOUT, h->connect_s + h->stall_s);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "tempscale/" TS_VERSION " (libcurl)");
    h->curl_err[0] = '\0';
    struct curl_slist *hl = NULL;
    if (auth && h->token) {
        char hdr[1024];
        snprintf(hdr, sizeof hdr, "Authorization: Bearer %s", h->token);
        hl = curl_slist_append(hl, hdr);
    }
    if (extra_header) hl = curl_slist_append(hl, extra_header);
    if (hl) curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    return hl;
}

static ts_status curl_failure(hub_ctx *h, CURLcode rc, const char *url, char *err, size_t err_size)
{
    if (rc == CURLE_OPERATION_TIMEDOUT && !strstr(h->curl_err, "onnect"))
        return ts_errorf(err, err_size, TS_ERR_NETWORK,
                         "%s: the transfer stalled (under %ld bytes/s for %ld s, or a metadata "
                         "request over %ld s; see --stall-timeout): %s",
                         url, TS_HUB_MIN_SPEED, h->stall_s, h->connect_s + h->stall_s,
                         h->curl_err[0] ? h->curl_err : curl_easy_strerror(rc));
    return ts_errorf(err, err_size, TS_ERR_NETWORK, "%s: %s%s%s", url, curl_easy_strerror(rc),
                     h->curl_err[0] ? ": " : "", h->curl_err);
}

/* Map a failed HTTP answer to a status and a message a user can act on. */
static ts_status http_failure(hub_ctx *h, const ts_http_head *r, const char *repo_id,
                              const char *revision, const char *url, char *err, size_t err_size)
{
    char extra[300] = "";
    if (r->error_message[0]) snprintf(extra, sizeof extra, " (server: %s)", r->error_message);
    if (strcmp(r->error_code, "RevisionNotFound") == 0)
        return ts_errorf(err, err_size, TS_ERR_NOT_FOUND,
                         "revision '%s' not found in repository '%s' on %s (HTTP %ld)%s", revision,
                         repo_id, h->endpoint, r->status, extra);
    if (strcmp(r->error_code, "EntryNotFound") == 0)
        return ts_errorf(err, err_size, TS_ERR_NOT_FOUND, "%s: file not found (HTTP %ld)%s", url,
                         r->status, extra);
    if (strcmp(r->error_code, "GatedRepo") == 0 || r->status == 403 ||
        (r->status == 401 && strcmp(r->error_code, "RepoNotFound") != 0))
        return ts_errorf(err, err_size, TS_ERR_AUTH,
                         "repository '%s' is gated or private (HTTP %ld): %s accept its licence "
                         "at %s/%s and set HF_TOKEN to a token with read access%s",
                         repo_id, r->status,
                         h->token ? "the token was refused;" : "no token was sent;", h->endpoint,
                         repo_id, extra);
    if (strcmp(r->error_code, "RepoNotFound") == 0 || r->status == 404)
        return ts_errorf(err, err_size, TS_ERR_NOT_FOUND,
                         "repository '%s' not found on %s (HTTP %ld)%s%s", repo_id, h->endpoint,
                         r->status, h->token ? "" : "; if it is private or gated, set HF_TOKEN",
                         extra);
    return ts_errorf(err, err_size, TS_ERR_NETWORK, "%s: HTTP %ld%s", url, r->status, extra);
}

/* Percent-encode s like Python's urllib.parse.quote(s, safe). */
static void url_quote(char *out, size_t out_size, const char *s, bool keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t k = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p && k + 4 < out_size; p++) {
        unsigned char c = *p;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '_' || c == '.' || c == '-' || c == '~' || (keep_slash && c == '/')) {
            out[k++] = (char)c;
        } else {
            out[k++] = '%';
            out[k++] = hex[c >> 4];
            out[k++] = hex[c & 15];
        }
    }
    out[k] = '\0';
}

typedef enum follow_mode {
    FOLLOW_NONE,     /* the caller reads the redirect */
    FOLLOW_RELATIVE, /* only Locations without scheme and host (a renamed repo) */
    FOLLOW_ALL,      /* every redirect ts_hub_check_url allows */
} follow_mode;

typedef struct request {
    bool auth;     /* send the token (only ever to the endpoint's origin) */
    bool head;     /* HEAD instead of GET */
    bool metadata; /* small answer: an overall deadline applies */
    follow_mode follow;
    const char *extra_header;     /* e.g. a Range */
    curl_write_callback write_fn; /* GET bodies; NULL = keep in r->body (capped) */
    void *write_data;
} request;

/*
 * Perform rq on url (HUB_URL_MAX bytes, updated to the last URL requested),
 * following redirects ourselves: each target must pass ts_hub_check_url, at
 * most 10 hops, and the token goes only to the endpoint's origin. r gets the
 * headers of the last response (its status from libcurl). TS_OK whatever the
 * HTTP status; TS_ERR_NETWORK when the transfer itself failed (*rc).
 */
static ts_status perform(hub_ctx *h, char *url, const request *rq, http_resp *r, CURLcode *rc_out,
                         char *err, size_t err_size)
{
    *rc_out = CURLE_OK;
    for (int hop = 0;; hop++) {
        ts_http_head_reset(&r->head);
        free(r->body);
        r->body = NULL;
        r->body_len = 0;
        bool auth = rq->auth && same_origin(url, h->endpoint);
        struct curl_slist *hl = setup_request(h, url, auth, rq->metadata, rq->extra_header);
        curl_easy_setopt(h->curl, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(h->curl, CURLOPT_HEADERDATA, &r->head);
        if (rq->head) {
            curl_easy_setopt(h->curl, CURLOPT_NOBODY, 1L);
        } else {
            curl_easy_setopt(h->curl, CURLOPT_WRITEFUNCTION,
                             rq->write_fn ? rq->write_fn : on_body_mem);
            curl_easy_setopt(h->curl, CURLOPT_WRITEDATA, rq->write_fn ? rq->write_data : r);
        }
        CURLcode rc = curl_easy_perform(h->curl);
        curl_slist_free_all(hl);
        long code = 0;
        curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &code);
        r->head.status = code;
        if (rc != CURLE_OK) {
            *rc_out = rc;
            return curl_failure(h, rc, url, err, err_size);
        }
        if (code < 300 || code > 399 || !r->head.location[0] || rq->follow == FOLLOW_NONE)
            return TS_OK;
        if (rq->follow == FOLLOW_RELATIVE && !is_relative_location(r->head.location))
            return TS_OK; /* an absolute redirect (the CDN) is the caller's */
        char *next = NULL;
        curl_easy_getinfo(h->curl, CURLINFO_REDIRECT_URL, &next);
        if (!next)
            return ts_errorf(err, err_size, TS_ERR_FORMAT, "%s: HTTP %ld to an unusable Location",
                             url, code);
        if (hop == 10)
            return ts_errorf(err, err_size, TS_ERR_NETWORK, "%s: more than 10 redirects", url);
        ts_status st = ts_hub_check_url(h->endpoint, next, err, err_size);
        if (st != TS_OK) return st;
        if (!pathf(url, HUB_URL_MAX, "%s", next))
            return ts_errorf(err, err_size, TS_ERR_FORMAT, "%s: redirect URL too long", url);
    }
}

/* The metadata of one file, as get_hf_file_metadata returns it. */
typedef struct file_meta {
    char name[520];
    char etag[65];
    int64_t size;          /* as announced; bounds the download */
    char url[HUB_URL_MAX]; /* what to GET */
    bool send_auth;        /* false when url is a redirect target */
    bool cached;           /* blob already present */
} file_meta;

static ts_status head_file(hub_ctx *h, const char *repo_id, const char *revision,
                           const char *commit, file_meta *m, char *err, size_t err_size)
{
    char qfile[2048], url[HUB_URL_MAX];
    url_quote(qfile, sizeof qfile, m->name, true);
    snprintf(url, sizeof url, "%s/%s/resolve/%s/%s", h->endpoint, repo_id, commit, qfile);
    http_resp r = {0};
    /* Follow only relative redirects (renamed repos), as _request_wrapper does. */
    request rq = {.auth = true,
                  .head = true,
                  .metadata = true,
                  .follow = FOLLOW_RELATIVE,
                  .extra_header = "Accept-Encoding: identity"};
    CURLcode rc;
    ts_status st = perform(h, url, &rq, &r, &rc, err, err_size);
    free(r.body);
    if (st != TS_OK) return st;
    long code = r.head.status;
    if (code >= 400) return http_failure(h, &r.head, repo_id, revision, url, err, err_size);
    if (!((code >= 200 && code < 300) || (code >= 300 && code <= 399)))
        return ts_errorf(err, err_size, TS_ERR_NETWORK, "%s: unexpected HTTP %ld", url, code);
    if (code >= 300 && !r.head.location[0])
        return ts_errorf(err, err_size, TS_ERR_FORMAT, "%s: HTTP %ld without a Location header",
                         url, code);
    st = ts_hub_head_meta(&r.head, url, commit, m->etag, &m->size, err, err_size);
    if (st != TS_OK) return st;
    if (code >= 300) {
        char *target = NULL;
        curl_easy_getinfo(h->curl, CURLINFO_REDIRECT_URL, &target);
        if (!target || !pathf(m->url, sizeof m->url, "%s", target))
            return ts_errorf(err, err_size, TS_ERR_FORMAT, "%s: unusable Location '%s'", url,
                             r.head.location);
        st = ts_hub_check_url(h->endpoint, m->url, err, err_size);
        if (st != TS_OK) return st;
        m->send_auth = false; /* hf_hub_download pops Authorization for the CDN */
    } else {
        snprintf(m->url, sizeof m->url, "%s", url);
        m->send_auth = true;
    }
    return TS_OK;
}

/* ---- downloading one blob ----------------------------------------------- */

typedef struct dl_state {
    hub_ctx *h;
    FILE *f;
    http_resp resp;
    uint64_t resumed, done, total;
    int write_errno;
    bool restarted, too_much;
    ts_hub_progress ev;
} dl_state;

static size_t on_body_file(char *data, size_t size, size_t nmemb, void *user)
{
    dl_state *d = user;
    size_t n = size * nmemb;
    if (d->resp.head.status < 200 || d->resp.head.status >= 300) /* an error page or a redirect */
        return on_body_mem(data, size, nmemb, &d->resp) ? n : 0;
    if (d->resumed > 0 && d->resp.head.status == 200 && !d->restarted) {
        /* The server ignored our Range: start the file over. */
        if (fflush(d->f) != 0 || ftruncate(fileno(d->f), 0) != 0 || fseek(d->f, 0, SEEK_SET)) {
            d->write_errno = errno;
            return 0;
        }
        d->restarted = true;
        d->resumed = 0;
        d->done = 0;
    }
    /* Never a byte beyond the announced size: stop the transfer instead. */
    if (n > d->total - d->done) {
        d->too_much = true;
        return 0;
    }
    if (fwrite(data, 1, n, d->f) != n) {
        d->write_errno = errno ? errno : EIO;
        return 0;
    }
    d->done += n;
    d->h->out->bytes_downloaded += n;
    if (d->h->progress) {
        d->ev.event = TS_HUB_EV_FILE_BYTES;
        d->ev.done = d->done;
        d->ev.resumed_from = d->resumed;
        d->h->progress(&d->ev, d->h->user);
    }
    return n;
}

static ts_status write_failure(const char *path, int e, char *err, size_t err_size)
{
    if (e == ENOSPC || e == EDQUOT)
        return ts_errorf(err, err_size, TS_ERR_IO,
                         "%s: disk full (%s); free some space and run pull again to resume", path,
                         strerror(e));
    return ts_errorf(err, err_size, TS_ERR_IO, "%s: write failed: %s", path, strerror(e));
}

/*
 * Fetch m into blobs_dir/{etag} via {etag}.incomplete: resume, verify, rename.
 * The announced size bounds everything: the free disk space is checked first,
 * and a server sending more than it announced is cut off (the partial file is
 * deleted). On a network failure the .incomplete file is kept for the next
 * pull; on a checksum mismatch it is deleted.
 */
static ts_status download_blob(hub_ctx *h, const char *repo_id, const char *revision,
                               const char *blobs_dir, const file_meta *m, size_t index,
                               size_t n_files, char *err, size_t err_size)
{
    char blob[TS_HUB_PATH_MAX], part[TS_HUB_PATH_MAX];
    if (!pathf(blob, sizeof blob, "%s/%s", blobs_dir, m->etag) ||
        !pathf(part, sizeof part, "%s/%s.incomplete", blobs_dir, m->etag))
        return ts_errorf(err, err_size, TS_ERR_RANGE, "%s: path too long", blobs_dir);

    dl_state d = {0};
    d.h = h;
    d.total = (uint64_t)m->size;
    d.ev.file = m->name;
    d.ev.file_index = index;
    d.ev.n_files = n_files;
    d.ev.total = d.total;
    struct stat st;
    if (lstat(part, &st) == 0 && !S_ISREG(st.st_mode))
        return ts_errorf(err, err_size, TS_ERR_IO, "%s: not a regular file", part);
    if (stat(part, &st) == 0 && st.st_size > 0) {
        d.resumed = (uint64_t)st.st_size;
        if (d.resumed > d.total) { /* longer than the file: stale */
            unlink(part);
            d.resumed = 0;
        }
    }
    struct statvfs vfs;
    if (statvfs(blobs_dir, &vfs) == 0) {
        uint64_t avail = (uint64_t)vfs.f_bavail * (uint64_t)vfs.f_frsize;
        if (d.total - d.resumed > avail)
            return ts_errorf(err, err_size, TS_ERR_IO,
                             "%s: disk full: %s needs %llu more bytes, %llu are free in %s; free "
                             "some space and run pull again",
                             part, m->name, (unsigned long long)(d.total - d.resumed),
                             (unsigned long long)avail, blobs_dir);
    }
    d.f = fopen(part, "ab");
    if (!d.f) return write_failure(part, errno, err, err_size);
    d.done = d.resumed;
    if (d.resumed > 0) h->out->resumed = true;
    if (h->progress) {
        d.ev.event = TS_HUB_EV_FILE_START;
        d.ev.done = d.resumed;
        d.ev.resumed_from = d.resumed;
        h->progress(&d.ev, h->user);
    }
    ts_status status = TS_OK;
    if (d.resumed < d.total) {
        char range[64], url[HUB_URL_MAX];
        snprintf(range, sizeof range, "Range: bytes=%llu-", (unsigned long long)d.resumed);
        snprintf(url, sizeof url, "%s", m->url);
        request rq = {.auth = m->send_auth,
                      .follow = FOLLOW_ALL,
                      .extra_header = d.resumed > 0 ? range : NULL,
                      .write_fn = on_body_file,
                      .write_data = &d};
        errno = 0;
        CURLcode rc;
        char neterr[TS_ERR_SIZE] = "";
        ts_status pst = perform(h, url, &rq, &d.resp, &rc, neterr, sizeof neterr);
        long code = d.resp.head.status;
        if (d.write_errno) {
            status = write_failure(part, d.write_errno, err, err_size);
        } else if (d.too_much) {
            unlink(part);
            status = ts_errorf(err, err_size, TS_ERR_FORMAT,
                               "%s: the server sent more than the %llu bytes it announced; the "
                               "download was stopped and deleted",
                               m->name, (unsigned long long)d.total);
        } else if (pst != TS_OK && rc != CURLE_OK) {
            status = ts_errorf(err, err_size, pst,
                               "%s (the partial download is kept in %s; run pull again to "
                               "resume)",
                               neterr, part);
        } else if (pst != TS_OK) {
            status = ts_errorf(err, err_size, pst, "%s", neterr);
        } else if (code == 416) {
            unlink(part); /* our .incomplete does not fit the file: start over next time */
            status = ts_errorf(err, err_size, TS_ERR_NETWORK,
                               "%s: HTTP 416 for a resumed download; run pull again", url);
        } else if (code >= 400 || code < 200 || code >= 300) {
            status = http_failure(h, &d.resp.head, repo_id, revision, url, err, err_size);
        } else if (d.resumed > 0 && code != 206 && !d.restarted) {
            status = ts_errorf(err, err_size, TS_ERR_NETWORK, "%s: HTTP %ld for a Range request",
                               url, code);
        }
        free(d.resp.body);
    }
    int bad = 0;
    if (fflush(d.f) != 0) bad = errno;
    if (!bad && fsync(fileno(d.f)) != 0 && errno != EINVAL) bad = errno;
    if (fclose(d.f) != 0 && !bad) bad = errno;
    if (status != TS_OK) return status;
    if (bad) return write_failure(part, bad, err, err_size);

    if (stat(part, &st) != 0)
        return ts_errorf(err, err_size, TS_ERR_IO, "%s: %s", part, strerror(errno));
    if ((uint64_t)st.st_size != d.total) {
        unlink(part);
        return ts_errorf(err, err_size, TS_ERR_FORMAT,
                         "%s: received %lld bytes, the hub announced %lld; deleted, run pull again",
                         m->name, (long long)st.st_size, (long long)m->size);
    }
    /* Verify against the etag: sha256 for LFS files, git blob sha1 otherwise. */
    size_t elen = strlen(m->etag);
    char hex[2 * EVP_MAX_MD_SIZE + 1];
    status = ts_hub_file_digest(part, elen == 40, hex, sizeof hex, err, err_size);
    if (status != TS_OK) return status;
    if (strcmp(hex, m->etag) != 0) {
        unlink(part);
        return ts_errorf(err, err_size, TS_ERR_FORMAT,
                         "%s: checksum mismatch: %s %s, expected %s (the etag); the download "
                         "was deleted",
                         m->name, elen == 64 ? "sha256" : "git sha1", hex, m->etag);
    }
    if (rename(part, blob) != 0)
        return ts_errorf(err, err_size, TS_ERR_IO, "%s: cannot rename to %s: %s", part, blob,
                         strerror(errno));
    h->out->n_downloaded++;
    if (h->progress) {
        d.ev.event = TS_HUB_EV_FILE_DONE;
        d.ev.done = (uint64_t)st.st_size;
        h->progress(&d.ev, h->user);
    }
    return TS_OK;
}

/*
 * Take huggingface_hub's per-blob lock, <cache>/.locks/models--{org}--{name}/
 * {etag}.lock (an flock, which is what Python's filelock takes on Unix), so a
 * concurrent tempscale pull or transformers download of the same blob waits
 * instead of writing the same .incomplete file. Waits up to timeout_s.
 * Returns the locked fd (close it to unlock) or -1 with err set.
 */
static int lock_blob(const char *cache, const char *repo_folder_name, const char *etag,
                     long timeout_s, char *err, size_t err_size)
{
    char dir[TS_HUB_PATH_MAX], path[TS_HUB_PATH_MAX];
    if (!pathf(dir, sizeof dir, "%s/.locks/%s", cache, repo_folder_name) ||
        !pathf(path, sizeof path, "%s/%s.lock", dir, etag)) {
        ts_errorf(err, err_size, TS_ERR_RANGE, "%s: path too long", cache);
        return -1;
    }
    if (mkdir_p(dir, err, err_size) != TS_OK) return -1;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        ts_errorf(err, err_size, TS_ERR_IO, "%s: %s", path, strerror(errno));
        return -1;
    }
    for (long waited_ms = 0;; waited_ms += 200) {
        if (flock(fd, LOCK_EX | LOCK_NB) == 0) return fd;
        if (errno != EWOULDBLOCK || waited_ms >= timeout_s * 1000) {
            ts_errorf(err, err_size, TS_ERR_IO,
                      "%s: another download of this file is in progress (lock held for %ld s)",
                      path, timeout_s);
            close(fd);
            return -1;
        }
        struct timespec ts = {0, 200 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

/* ---- snapshot and refs -------------------------------------------------- */

/* snapshots/{commit}/{name} -> ../../blobs/{etag} (one more ../ per '/' in name). */
static ts_status link_pointer(const char *snap_dir, const file_meta *m, char *err, size_t err_size)
{
    char path[TS_HUB_PATH_MAX], tmp[TS_HUB_PATH_MAX], target[TS_HUB_PATH_MAX] = "";
    if (snprintf(path, sizeof path, "%s/%s", snap_dir, m->name) >= (int)sizeof path)
        return ts_errorf(err, err_size, TS_ERR_RANGE, "%s: path too long", snap_dir);
    ts_status st = mkdir_parent(path, err, err_size);
    if (st != TS_OK) return st;
    size_t k = 0;
    for (const char *p = m->name; *p; p++)
        if (*p == '/') k += (size_t)snprintf(target + k, sizeof target - k, "../");
    snprintf(target + k, sizeof target - k, "../../blobs/%s", m->etag);
    char cur[TS_HUB_PATH_MAX];
    ssize_t n = readlink(path, cur, sizeof cur - 1);
    if (n >= 0) {
        cur[n] = '\0';
        if (strcmp(cur, target) == 0) return TS_OK;
    }
    if (!pathf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()))
        return ts_errorf(err, err_size, TS_ERR_RANGE, "%s: path too long", path);
    unlink(tmp);
    if (symlink(target, tmp) != 0 || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return ts_errorf(err, err_size, TS_ERR_IO, "%s: cannot create symlink: %s", path,
                         strerror(e));
    }
    return TS_OK;
}

/* refs/{revision} <- commit, atomically, only when it changes (as huggingface_hub). */
static ts_status write_ref(const char *repo_dir, const char *revision, const char *commit,
                           char *err, size_t err_size)
{
    if (strcmp(revision, commit) == 0) return TS_OK;
    char cur[41];
    if (read_ref(repo_dir, revision, cur) && strcmp(cur, commit) == 0) return TS_OK;
    char path[TS_HUB_PATH_MAX], tmp[TS_HUB_PATH_MAX + 32];
    if (snprintf(path, sizeof path, "%s/refs/%s", repo_dir, revision) >= (int)sizeof path)
        return ts_errorf(err, err_size, TS_ERR_RANGE, "%s: path too long", repo_dir);
    ts_status st = mkdir_parent(path, err, err_size);
    if (st != TS_OK) return st;
    FILE *f = NULL;
    st = ts_atomic_open(path, &f, tmp, sizeof tmp, err, err_size);
    if (st != TS_OK) return st;
    fputs(commit, f);
    return ts_atomic_commit(f, tmp, path, err, err_size);
}

/* ---- pull ----------------------------------------------------------------- */

ts_hub_pull_params ts_hub_pull_default_params(void)
{
    ts_hub_pull_params p = {0};
    p.revision = "main";
    p.offline = -1;
    return p;
}

static bool env_true(const char *v)
{
    return v && (strcasecmp(v, "1") == 0 || strcasecmp(v, "ON") == 0 || strcasecmp(v, "YES") == 0 ||
                 strcasecmp(v, "TRUE") == 0);
}

/* constants.HF_HUB_OFFLINE = _is_true(HF_HUB_OFFLINE or TRANSFORMERS_OFFLINE) */
static bool env_offline(void)
{
    const char *v = env_nonempty("HF_HUB_OFFLINE");
    if (!v) v = env_nonempty("TRANSFORMERS_OFFLINE");
    return env_true(v);
}

ts_status ts_hub_parse_model_info(const char *what, const char *body, size_t len,
                                  const char *repo_id, char commit[41], const char **weights,
                                  char *err, size_t err_size)
{
    commit[0] = '\0';
    *weights = NULL;
    cJSON *info = NULL;
    ts_status st = ts_json_parse(what, body ? body : "", body ? len : 0, TS_JSON_MAX_VALUES, &info,
                                 err, err_size);
    if (st != TS_OK) return st;
    const cJSON *sha = cJSON_GetObjectItemCaseSensitive(info, "sha");
    const cJSON *siblings = cJSON_GetObjectItemCaseSensitive(info, "siblings");
    if (!cJSON_IsString(sha) || !is_commit_hash(sha->valuestring) || !cJSON_IsArray(siblings)) {
        cJSON_Delete(info);
        return ts_errorf(err, err_size, TS_ERR_FORMAT,
                         "%s: expected \"sha\" (40 hex) and \"siblings\" (array) in the answer",
                         what);
    }
    memcpy(commit, sha->valuestring, 41);
    /* Which files the repository has, of those that matter. */
    bool has_single = false, has_index = false, has_bin = false, has_req[N_REQUIRED] = {false};
    const cJSON *sib;
    cJSON_ArrayForEach(sib, siblings)
    {
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(sib, "rfilename");
        if (!cJSON_IsString(f)) continue;
        const char *n = f->valuestring;
        size_t len_n = strlen(n);
        has_single |= strcmp(n, "model.safetensors") == 0;
        has_index |= strcmp(n, "model.safetensors.index.json") == 0;
        has_bin |=
            strncmp(n, "pytorch_model", 13) == 0 && len_n > 4 && strcmp(n + len_n - 4, ".bin") == 0;
        for (size_t i = 0; i < N_REQUIRED; i++)
            has_req[i] |= strcmp(n, REQUIRED_FILES[i]) == 0;
    }
    cJSON_Delete(info);
    if (has_single) {
        *weights = "model.safetensors";
    } else if (has_index) {
        *weights = "model.safetensors.index.json";
    } else if (has_bin) {
        return ts_errorf(err, err_size, TS_ERR_UNSUPPORTED,
                         "%s@%.12s has only PyTorch pickle weights (pytorch_model.bin): tempscale "
                         "never loads pickle files, for safety; look for a revision with "
                         "model.safetensors (e.g. a refs/pr/N safetensors conversion) and pass "
                         "--revision",
                         repo_id, commit);
    } else {
        return ts_errorf(err, err_size, TS_ERR_NOT_FOUND,
                         "%s@%.12s has no model.safetensors or model.safetensors.index.json",
                         repo_id, commit);
    }
    for (size_t i = 0; i < N_REQUIRED; i++)
        if (!has_req[i]) {
            *weights = NULL;
            return ts_errorf(err, err_size, TS_ERR_NOT_FOUND,
                             "%s@%.12s has no %s (tempscale needs a GPT-2 style checkpoint: "
                             "config.json, vocab.json, merges.txt, safetensors weights)",
                             repo_id, commit, REQUIRED_FILES[i]);
        }
    return TS_OK;
}

static ts_status pull_online(hub_ctx *h, const char *repo_id, const char *revision,
                             const char *repo_dir, char *err, size_t err_size)
{
    ts_hub_pull_result *out = h->out;
    char qrev[1024], url[HUB_URL_MAX];
    url_quote(qrev, sizeof qrev, revision, false);
    snprintf(url, sizeof url, "%s/api/models/%s/revision/%s", h->endpoint, repo_id, qrev);
    http_resp r = {0};
    request rq = {.auth = true, .metadata = true, .follow = FOLLOW_ALL};
    CURLcode rc;
    ts_status st = perform(h, url, &rq, &r, &rc, err, err_size);
    if (st == TS_OK && r.head.status != 200)
        st = http_failure(h, &r.head, repo_id, revision, url, err, err_size);
    const char *weights = NULL;
    if (st == TS_OK)
        st = ts_hub_parse_model_info(url, r.body, r.body_len, repo_id, out->commit, &weights, err,
                                     err_size);
    free(r.body);
    if (st != TS_OK) return st;
    bool sharded = strcmp(weights, "model.safetensors.index.json") == 0;
    name_list files = {0};
    for (size_t i = 0; st == TS_OK && i < N_REQUIRED; i++)
        st = names_add(&files, REQUIRED_FILES[i], err, err_size);
    if (st == TS_OK) st = names_add(&files, weights, err, err_size);
    if (st != TS_OK) {
        names_free(&files);
        return st;
    }

    char snap[TS_HUB_PATH_MAX], blobs[TS_HUB_PATH_MAX];
    if (!pathf(snap, sizeof snap, "%s/snapshots/%s", repo_dir, out->commit) ||
        !pathf(blobs, sizeof blobs, "%s/blobs", repo_dir) ||
        !pathf(out->snapshot_dir, sizeof out->snapshot_dir, "%s", snap)) {
        names_free(&files);
        return ts_errorf(err, err_size, TS_ERR_RANGE, "%s: path too long", repo_dir);
    }

    /* Already complete: metadata only, no file requests. */
    char why[TS_ERR_SIZE];
    if (snapshot_complete(snap, why, sizeof why) == TS_OK) {
        names_free(&files);
        name_list shards = {0};
        char idx[TS_HUB_PATH_MAX];
        pathf(idx, sizeof idx, "%s/model.safetensors.index.json", snap);
        size_t n = N_REQUIRED + 1;
        if (sharded && index_shards(idx, &shards, why, sizeof why) == TS_OK) n += shards.n;
        names_free(&shards);
        out->n_files = n;
        out->up_to_date = true;
        return write_ref(repo_dir, revision, out->commit, err, err_size);
    }

    st = mkdir_p(blobs, err, err_size);
    file_meta *metas = calloc(HUB_MAX_FILES, sizeof *metas);
    if (!metas) st = ts_errorf(err, err_size, TS_ERR_NOMEM, "out of memory");
    size_t n_meta = 0;
    /* Every blob first; the snapshot only once all of them are verified. */
    for (size_t i = 0; st == TS_OK && i < files.n; i++) {
        file_meta *m = &metas[n_meta++];
        snprintf(m->name, sizeof m->name, "%s", files.names[i]);
        st = head_file(h, repo_id, revision, out->commit, m, err, err_size);
        if (st != TS_OK) break;
        char blob[TS_HUB_PATH_MAX];
        pathf(blob, sizeof blob, "%s/%s", blobs, m->etag);
        if (is_file(blob)) {
            m->cached = true;
            if (h->progress) {
                ts_hub_progress ev = {TS_HUB_EV_FILE_CACHED, m->name, i, files.n, 0, 0, 0};
                struct stat bs;
                if (stat(blob, &bs) == 0) ev.done = ev.total = (uint64_t)bs.st_size;
                h->progress(&ev, h->user);
            }
        } else {
            const char *folder = strrchr(repo_dir, '/') + 1;
            int lock = lock_blob(h->cache, folder, m->etag, h->lock_wait_s, err, err_size);
            if (lock < 0)
                st = TS_ERR_IO;
            else if (is_file(blob))
                m->cached = true; /* finished by the lock's holder */
            else
                st = download_blob(h, repo_id, revision, blobs, m, i, files.n, err, err_size);
            if (lock >= 0) close(lock);
        }
        if (st == TS_OK && sharded && strcmp(m->name, "model.safetensors.index.json") == 0) {
            name_list shards = {0};
            st = index_shards(blob, &shards, err, err_size);
            for (size_t k = 0; st == TS_OK && k < shards.n; k++)
                st = names_add(&files, shards.names[k], err, err_size);
            names_free(&shards);
        }
    }
    for (size_t i = 0; st == TS_OK && i < n_meta; i++)
        st = link_pointer(snap, &metas[i], err, err_size);
    if (st == TS_OK) st = write_ref(repo_dir, revision, out->commit, err, err_size);
    out->n_files = n_meta;
    out->up_to_date = st == TS_OK && out->n_downloaded == 0;
    free(metas);
    names_free(&files);
    return st;
}

/*
 * The token `huggingface-cli login` stored: $HF_TOKEN_PATH, else $HF_HOME/token,
 * else $XDG_CACHE_HOME/huggingface/token, else ~/.cache/huggingface/token
 * (constants.HF_TOKEN_PATH). Whitespace trimmed. False when there is none.
 */
static bool read_stored_token(char *out, size_t out_size)
{
    char raw[TS_HUB_PATH_MAX], path[TS_HUB_PATH_MAX];
    const char *v;
    if ((v = env_nonempty("HF_TOKEN_PATH")))
        pathf(raw, sizeof raw, "%s", v);
    else if ((v = env_nonempty("HF_HOME")))
        pathf(raw, sizeof raw, "%s/token", v);
    else if ((v = env_nonempty("XDG_CACHE_HOME")))
        pathf(raw, sizeof raw, "%s/huggingface/token", v);
    else
        pathf(raw, sizeof raw, "~/.cache/huggingface/token");
    if (expand_home(raw, path, sizeof path, NULL, 0) != TS_OK) return false;
    char *text = NULL;
    size_t n = 0;
    if (ts_read_file_max(path, out_size - 1, &text, &n, NULL, 0) != TS_OK) return false;
    memcpy(out, text, n + 1);
    free(text);
    char *b = out;
    while (*b == ' ' || *b == '\t' || *b == '\n' || *b == '\r')
        b++;
    memmove(out, b, strlen(b) + 1);
    n = strlen(out);
    while (n > 0 &&
           (out[n - 1] == ' ' || out[n - 1] == '\n' || out[n - 1] == '\r' || out[n - 1] == '\t'))
        out[--n] = '\0';
    return n > 0 && !strpbrk(out, "\r\n");
}

ts_status ts_hub_pull(const ts_hub_pull_params *params, ts_hub_progress_fn progress, void *user,
                      ts_hub_pull_result *out, char *err, size_t err_size)
{
    memset(out, 0, sizeof *out);
    const char *revision = params->revision ? params->revision : "main";
    if (!params->repo_id || !valid_repo_id(params->repo_id))
        return ts_errorf(err, err_size, TS_ERR_INVALID,
                         "'%s' is not a valid repo id (expected NAME or ORG/NAME)",
                         params->repo_id ? params->repo_id : "(null)");
    if (!valid_revision(revision))
        return ts_errorf(err, err_size, TS_ERR_INVALID, "invalid revision '%s'", revision);
    char cache[TS_HUB_PATH_MAX], repo_dir[TS_HUB_PATH_MAX];
    ts_status st = params->cache_dir
                       ? expand_home(params->cache_dir, cache, sizeof cache, err, err_size)
                       : ts_hub_cache_dir(cache, sizeof cache, err, err_size);
    if (st != TS_OK) return st;
    st = repo_folder(cache, params->repo_id, repo_dir, sizeof repo_dir, err, err_size);
    if (st != TS_OK) return st;

    bool offline = params->offline < 0 ? env_offline() : params->offline > 0;
    /* A commit revision already complete on disk needs no network (hf_hub_download's shortcut). */
    if (offline || is_commit_hash(revision)) {
        char why[TS_ERR_SIZE] = "";
        st = ts_hub_resolve_cached(cache, params->repo_id, revision, out->snapshot_dir,
                                   sizeof out->snapshot_dir, why, sizeof why);
        if (st == TS_OK) {
            char commit[41];
            read_ref(repo_dir, revision, commit);
            memcpy(out->commit, commit, 41);
            out->offline = true;
            out->up_to_date = true;
            out->n_files = N_REQUIRED + 1;
            return TS_OK;
        }
        if (offline)
            return ts_errorf(err, err_size, TS_ERR_NETWORK,
                             "offline mode (HF_HUB_OFFLINE is set) and %s@%s is not complete in "
                             "the cache %s: %s",
                             params->repo_id, revision, cache, why);
    }

    const char *endpoint = params->endpoint ? params->endpoint : env_nonempty("HF_ENDPOINT");
    if (!endpoint) endpoint = HUB_DEFAULT_ENDPOINT;
    char ep[1024];
    if (snprintf(ep, sizeof ep, "%s", endpoint) >= (int)sizeof ep)
        return ts_errorf(err, err_size, TS_ERR_INVALID, "HF_ENDPOINT too long");
    size_t eplen = strlen(ep);
    while (eplen > 0 && ep[eplen - 1] == '/')
        ep[--eplen] = '\0';
    char why[TS_ERR_SIZE];
    if (ts_hub_check_url(ep, ep, why, sizeof why) != TS_OK)
        return ts_errorf(err, err_size, TS_ERR_INVALID, "HF_ENDPOINT %s", why);

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return ts_errorf(err, err_size, TS_ERR_NETWORK, "cannot initialise libcurl");
    hub_ctx h = {0};
    h.curl = curl_easy_init();
    if (!h.curl) {
        curl_global_cleanup();
        return ts_errorf(err, err_size, TS_ERR_NOMEM, "cannot create a libcurl handle");
    }
    h.endpoint = ep;
    h.cache = cache;
    char stored_token[512];
    h.token = params->token ? params->token : env_nonempty("HF_TOKEN");
    if (!params->token && !h.token && read_stored_token(stored_token, sizeof stored_token))
        h.token = stored_token;
    if (h.token && !h.token[0]) h.token = NULL;
    long t = params->timeout_s > 0 ? params->timeout_s : 30;
    h.connect_s = params->connect_timeout_s > 0 ? params->connect_timeout_s : t;
    h.stall_s = params->stall_timeout_s > 0 ? params->stall_timeout_s : t;
    h.lock_wait_s = t;
    h.progress = progress;
    h.user = user;
    h.out = out;
    st = pull_online(&h, params->repo_id, revision, repo_dir, err, err_size);
    curl_easy_cleanup(h.curl);
    curl_global_cleanup();
    return st;
}
