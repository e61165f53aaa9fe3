/*
 * fuzz_index.c — model.safetensors.index.json, through its one reader
 * (ts_weight_map_load) as the loader uses it (ts_safetensors_open beside two
 * real shards, a.safetensors holding "x" and b.safetensors holding "y") and as
 * the hub cache uses it (ts_hub_resolve_cached on a snapshot whose index is
 * the input). Every shard name accepted must pass the one shard-name rule.
 */
#include "fuzz.h"

#define COMMIT "0123456789abcdef0123456789abcdef01234567"

/* A one-tensor F32 safetensors file holding `name` = [1, 2]. */
static void write_shard(const char *rel, const char *name)
{
    char hdr[128];
    int n = snprintf(hdr, sizeof hdr,
                     "{\"%s\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", name);
    while (n % 8)
        hdr[n++] = ' ';
    unsigned char buf[8 + 128 + 8];
    for (int i = 0; i < 8; i++)
        buf[i] = (unsigned char)(((uint64_t)n >> (8 * i)) & 0xff);
    memcpy(buf + 8, hdr, (size_t)n);
    const float v[2] = {1.0f, 2.0f};
    memcpy(buf + 8 + n, v, 8);
    fuzz_file(rel, buf, 8 + (size_t)n + 8);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    write_shard("model/a.safetensors", "x");
    write_shard("model/b.safetensors", "y");
    /* A cached snapshot: refs/main -> COMMIT, the files a model needs. */
    const char *snap = "cache/models--o--n/snapshots/" COMMIT;
    char rel[256];
    fuzz_file("cache/models--o--n/refs/main", COMMIT, 40);
    const char *names[] = {"config.json", "vocab.json", "merges.txt"};
    for (int i = 0; i < 3; i++) {
        snprintf(rel, sizeof rel, "%s/%s", snap, names[i]);
        fuzz_file(rel, "{}", 2);
    }
    snprintf(rel, sizeof rel, "%s/a.safetensors", snap);
    write_shard(rel, "x");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[TS_ERR_SIZE] = "";
    const char *index = fuzz_file("model/model.safetensors.index.json", data, size);

    ts_weight_map map;
    if (ts_weight_map_load(index, &map, err, sizeof err) == TS_OK) {
        FUZZ_CHECK(map.n > 0 && map.n_shards > 0 && map.n_shards <= map.n);
        for (size_t i = 0; i < map.n_shards; i++) {
            FUZZ_CHECK(ts_shard_name_ok(map.shards[i]));
            if (i) FUZZ_CHECK(strcmp(map.shards[i - 1], map.shards[i]) < 0);
        }
        for (size_t i = 0; i < map.n; i++)
            FUZZ_CHECK(ts_shard_name_ok(map.shard[i]));
        ts_weight_map_free(&map);
    } else {
        fuzz_check_message(err);
    }

    ts_safetensors *st = NULL;
    char dir[512];
    snprintf(dir, sizeof dir, "%s/model", fuzz_dir());
    if (ts_safetensors_open(dir, &st, err, sizeof err) == TS_OK)
        ts_safetensors_close(st);
    else
        fuzz_check_message(err);

    fuzz_file("cache/models--o--n/snapshots/" COMMIT "/model.safetensors.index.json", data, size);
    char cache[512], out[TS_HUB_PATH_MAX];
    snprintf(cache, sizeof cache, "%s/cache", fuzz_dir());
    if (ts_hub_resolve_cached(cache, "o/n", "main", out, sizeof out, err, sizeof err) != TS_OK)
        fuzz_check_message(err);
    return 0;
}
