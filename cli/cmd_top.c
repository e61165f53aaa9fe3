/*
 * cmd_top.c — `tempscale top`. Not written yet: its issue owns this file.
 */
#include "cli.h"

int ts_cmd_top(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return ts_cli_error("'top' is not implemented yet");
}
