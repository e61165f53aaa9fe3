/*
 * model_path.c — how the CLI turns --model into a loaded model.
 *
 * Resolution order for --model ARG:
 *   1. ARG omitted: the bundled model "tiny-shakespeare", looked up in
 *      $TEMPSCALE_MODELS, then beside the executable (<exe dir>/../share/
 *      tempscale/models, so an installed tree can be moved), then the
 *      configured install tree (TS_DATA_DIR/models, i.e.
 *      <prefix>/share/tempscale/models), and last the source tree the binary
 *      was built from (TS_SOURCE_DIR/models).
 *   2. ARG is an existing directory: used as is.
 *   3. Otherwise ARG names a bundled model, then a Hugging Face repo id
 *      ("distilgpt2", "openai-community/gpt2", "org/name@revision") looked up
 *      in the local HF cache (src/hub/hub.c: refs/{revision} -> snapshots/{commit}),
 *      used in place. Nothing is ever downloaded here: a repo id that is not
 *      cached is an error telling the user to run `tempscale pull ID`.
 */
#include "cli.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TS_DEFAULT_MODEL "tiny-shakespeare"

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/*
 * The canonical path of <exe dir>/../share/tempscale/models (from
 * /proc/self/exe) into out, which holds PATH_MAX bytes; false when the
 * executable's path is unknown (not Linux) or that directory does not exist.
 */
static bool exe_models_dir(char *out)
{
    char exe[PATH_MAX + 32];
    ssize_t n = readlink("/proc/self/exe", exe, PATH_MAX);
    if (n <= 0) return false;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash) return false;
    strcpy(slash, "/../share/tempscale/models");
    return realpath(exe, out) != NULL;
}

/* Look for models/<name> in the places a bundled model can live (order above). */
static bool find_bundled(const char *name, char *dir, size_t dir_size)
{
    char exe_models[PATH_MAX];
    const char *roots[4] = {getenv("TEMPSCALE_MODELS"),
                            exe_models_dir(exe_models) ? exe_models : NULL,
                            TS_DATA_DIR "/models", TS_SOURCE_DIR "/models"};
    for (int i = 0; i < 4; i++) {
        if (!roots[i] || !roots[i][0]) continue;
        if (snprintf(dir, dir_size, "%s/%s", roots[i], name) >= (int)dir_size) continue;
        if (is_dir(dir)) return true;
    }
    return false;
}

bool ts_cli_resolve_model(const char *arg, char *dir, size_t dir_size)
{
    if (!arg) {
        if (find_bundled(TS_DEFAULT_MODEL, dir, dir_size)) return true;
        ts_cli_error("the bundled model '%s' was not found (looked in $TEMPSCALE_MODELS, "
                     "<exe dir>/../share/tempscale/models, %s/models and %s/models); "
                     "pass --model DIR",
                     TS_DEFAULT_MODEL, TS_DATA_DIR, TS_SOURCE_DIR);
        return false;
    }
    if (is_dir(arg)) {
        if (snprintf(dir, dir_size, "%s", arg) >= (int)dir_size) {
            ts_cli_error("--model: path too long");
            return false;
        }
        return true;
    }
    if (strchr(arg, '/') == NULL && strchr(arg, '@') == NULL && find_bundled(arg, dir, dir_size))
        return true;
    if (ts_hub_is_repo_spec(arg)) {
        char repo[128], rev[256], err[TS_ERR_SIZE] = "";
        ts_status st = ts_hub_parse_spec(arg, repo, sizeof repo, rev, sizeof rev, err, sizeof err);
        if (st == TS_OK)
            st = ts_hub_resolve_cached(NULL, repo, rev, dir, dir_size, err, sizeof err);
        if (st == TS_OK) return true;
        ts_cli_error("option --model: %s: not a directory, not a bundled model, and %s", arg, err);
        return false;
    }
    struct stat st;
    if (stat(arg, &st) == 0)
        ts_cli_error("option --model: %s is a file, not a checkpoint directory (give the folder "
                     "that holds config.json, model.safetensors, vocab.json and merges.txt)",
                     arg);
    else
        ts_cli_error("option --model: %s: no such directory (expected config.json, "
                     "model.safetensors, vocab.json and merges.txt in it), no bundled model and "
                     "not a Hugging Face repo id",
                     arg);
    return false;
}

ts_model *ts_cli_load_model(const char *arg)
{
    char dir[4096];
    if (!ts_cli_resolve_model(arg, dir, sizeof dir)) return NULL;
    ts_model_params mp = ts_model_default_params();
    ts_model *model = NULL;
    char err[TS_ERR_SIZE] = "";
    ts_status st = ts_model_load(dir, &mp, &model, err, sizeof err);
    if (st != TS_OK) {
        ts_cli_error("%s", err[0] ? err : ts_status_str(st));
        return NULL;
    }
    return model;
}
