/*
 * cmd_pull.c — `tempscale pull`. Not written yet: its issue owns this file.
 */
#include "cli.h"

int ts_cmd_pull(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return ts_cli_error("'pull' is not implemented yet");
}
