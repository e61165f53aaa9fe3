/*
 * cmd_bench.c — `tempscale bench`. Not written yet: its issue owns this file.
 */
#include "cli.h"

int ts_cmd_bench(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return ts_cli_error("'bench' is not implemented yet");
}
