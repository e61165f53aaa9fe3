/*
 * main.c — tempscale's entry point: dispatches `tempscale <command> [options]`
 * to cli/cmd_<command>.c, and answers --version, --help and `help <command>`.
 */
#include "cli.h"

#include <string.h>

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv); /* NULL: an analysis of the request layer */
    const char *summary;
} command;

static const command commands[] = {
    {"demo", ts_cmd_demo, "the whole temperature walkthrough, step by step (--html report)"},
    {"softmax", NULL, NULL},
    {"tokenize", NULL, NULL},
    {"top", NULL, NULL},
    {"generate", NULL, NULL},
    {"sample", NULL, NULL},
    {"sweep", NULL, NULL},
    {"compare", NULL, NULL},
    {"calibrate", NULL, NULL},
    {"batch", ts_cmd_batch, "run a JSONL file of requests (OpenAI Batch format), resumable"},
    {"serve", ts_cmd_serve, "the explorer page and an OpenAI-compatible API over HTTP"},
    {"pull", ts_cmd_pull, "download a model from the Hugging Face hub into the HF cache"},
    {"bench", ts_cmd_bench, "measure load, prefill and decode speed"},
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static const char *summary_of(const command *c)
{
    return c->run ? c->summary : ts_analysis_summary(ts_analysis_find(c->name));
}

/* Run command c with argv[0] = its name. */
static int run_command(const command *c, int argc, char **argv)
{
    if (c->run) return c->run(argc, argv);
    return ts_cli_run_analysis(ts_analysis_find(c->name), argc, argv);
}

static void print_help(FILE *f)
{
    fprintf(f,
            "tempscale %s — see, choose and fit the temperature of a language model\n\n"
            "Usage: tempscale <command> [options]\n"
            "       tempscale help <command>\n"
            "       tempscale --version\n\n"
            "Commands:\n",
            TS_VERSION);
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, summary_of(&commands[i]));
    fprintf(f, "\nWith no --model, model commands use the bundled tiny-shakespeare GPT-2.\n"
               "Start with: tempscale demo\n");
}

static const command *find(const char *name)
{
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0) return &commands[i];
    return NULL;
}

/* One line naming the commands there are. */
static int unknown_command(const char *name)
{
    char list[256] = "";
    size_t used = 0;
    for (size_t i = 0; i < N_COMMANDS && used < sizeof list; i++)
        used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "",
                                 commands[i].name);
    return ts_cli_error("unknown command '%s' (commands: %s; see 'tempscale --help')", name, list);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        print_help(stderr);
        return TS_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "--version") == 0 || strcmp(name, "version") == 0) {
        printf("tempscale %s\n", TS_VERSION);
        return TS_EXIT_OK;
    }
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 ||
        (strcmp(name, "help") == 0 && argc == 2)) {
        print_help(stdout);
        return TS_EXIT_OK;
    }
    if (strcmp(name, "help") == 0) {
        const command *c = find(argv[2]);
        if (!c) return unknown_command(argv[2]);
        char *hargv[] = {(char *)c->name, "--help", NULL};
        return run_command(c, 2, hargv);
    }
    const command *c = find(name);
    if (!c) return unknown_command(name);
    return run_command(c, argc - 1, argv + 1);
}
