/*
 * cmd_sweep.c — `tempscale sweep`. Not written yet: its issue owns this file.
 */
#include "cli.h"

int ts_cmd_sweep(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return ts_cli_error("'sweep' is not implemented yet");
}
