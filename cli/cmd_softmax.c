/*
 * cmd_softmax.c — `tempscale softmax`. Not written yet: its issue owns this file.
 */
#include "cli.h"

int ts_cmd_softmax(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return ts_cli_error("'softmax' is not implemented yet");
}
