/*
 * cmd_compare.c — `tempscale compare`. Not written yet: its issue owns this file.
 */
#include "cli.h"

int ts_cmd_compare(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return ts_cli_error("'compare' is not implemented yet");
}
